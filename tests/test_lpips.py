"""LPIPS: offline weight resolution (never the network), and the same numbers as the `lpips` package's
own model when both hold the same backbone weights. The backbones here are random (torchvision
architectures with weights=None), so nothing is downloaded and no ImageNet weights are needed."""

from __future__ import annotations

import types

import lpips
import numpy as np
import pytest
import torch
import torchvision
from lpips import pretrained_networks

from bench.core.errors import BenchError
from bench.metrics.lpips import (
    LPIPS,
    LPIPS_ABSENT_NOTE,
    LPIPS_ENV,
    LPIPS_HELP,
    find_lpips_weights,
    linear_weights_path,
    load_lpips,
    lpips_per_pair,
)

ALEX_FILE = "alexnet-owt-7be5be79.pth"
VGG_FILE = "vgg16-397923af.pth"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """An empty hub cache and no variable; any download attempt fails the test."""
    hub = tmp_path / "torch_home" / "hub"
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(LPIPS_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    return hub


@pytest.fixture(scope="module")
def alex_state() -> dict:
    """A torchvision AlexNet state dict with random weights, classifier included (the real file's layout)."""
    torch.manual_seed(0)
    return torchvision.models.alexnet(weights=None).state_dict()


@pytest.fixture(scope="module")
def vgg_features() -> torch.nn.Sequential:
    """torchvision VGG-16's `features` with random weights, built without the 120M-parameter classifier."""
    torch.manual_seed(1)
    return torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory, alex_state):
    """The `features.*` part only (9 MB instead of 244 MB): all that LPIPS reads."""
    path = tmp_path_factory.mktemp("alex") / ALEX_FILE
    torch.save({k: v for k, v in alex_state.items() if k.startswith("features.")}, path)
    return path


@pytest.fixture(scope="module")
def alex_full_file(tmp_path_factory, alex_state):
    """The whole state dict, laid out as torchvision's file is (the classifier is ignored)."""
    path = tmp_path_factory.mktemp("alex_full") / ALEX_FILE
    torch.save(alex_state, path)
    return path


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory, vgg_features):
    path = tmp_path_factory.mktemp("vgg") / VGG_FILE
    torch.save({f"features.{k}": v for k, v in vgg_features.state_dict().items()}, path)
    return path


def _images(seed: int, n: int = 3, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # Smooth images with noise, in [0,1]: closer to photos than white noise.
    base = torch.nn.functional.interpolate(torch.rand(n, 3, 8, 8, generator=g), size=size, mode="bilinear")
    return (0.8 * base + 0.2 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)


# -- resolution ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_absent_without_weights(net, offline):
    assert find_lpips_weights(net) is None
    with pytest.raises(BenchError) as e:
        load_lpips(net)
    assert str(e.value.message) == LPIPS_HELP
    assert "\n" not in LPIPS_ABSENT_NOTE and LPIPS_ENV in LPIPS_ABSENT_NOTE
    assert not offline.exists()  # nothing was created in the cache either


def test_lookup_order(alex_file, tmp_path, monkeypatch, offline):
    cached = offline / "checkpoints" / ALEX_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(alex_file.read_bytes())
    found = find_lpips_weights("alex")
    assert (found.backbone, found.source) == (cached, "cache")
    assert found.linear == linear_weights_path("alex") and found.linear.is_file()
    monkeypatch.setenv(LPIPS_ENV, str(alex_file))
    assert (find_lpips_weights("alex").backbone, find_lpips_weights("alex").source) == (alex_file, "env")
    other = tmp_path / "explicit.pth"
    other.write_bytes(alex_file.read_bytes())
    assert find_lpips_weights("alex", other).source == "path"
    # Named but missing is an error, not a fall-back.
    with pytest.raises(BenchError, match="not found"):
        find_lpips_weights("alex", tmp_path / "nope.pth")
    monkeypatch.setenv(LPIPS_ENV, str(tmp_path / "gone.pth"))
    with pytest.raises(BenchError, match="gone.pth"):
        find_lpips_weights("alex")


def test_download_only_when_allowed(alex_file, monkeypatch, offline):
    calls = []

    def fake_download(url, dst, hash_prefix=None, **kwargs):
        calls.append((url, hash_prefix))
        with open(dst, "wb") as f:
            f.write(alex_file.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert find_lpips_weights("alex") is None and not calls
    found = find_lpips_weights("alex", allow_download=True)
    assert calls == [("https://download.pytorch.org/models/" + ALEX_FILE, "7be5be79")]
    assert (found.backbone, found.source) == (offline / "checkpoints" / ALEX_FILE, "download")
    assert find_lpips_weights("alex").source == "cache"  # the next run finds it without asking


def test_bad_files_are_refused_naming_them(tmp_path, alex_file, vgg_file):
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    a_list = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], a_list)
    for bad in (text, a_list):
        with pytest.raises(BenchError, match=bad.name):
            load_lpips("alex", bad)
    # A real state dict of the other network: missing keys / wrong shapes, named.
    with pytest.raises(BenchError, match=f"{vgg_file.name}.*AlexNet"):
        load_lpips("alex", vgg_file)
    with pytest.raises(BenchError, match=alex_file.name):
        load_lpips("vgg", alex_file)
    with pytest.raises(BenchError, match="unknown LPIPS network"):
        find_lpips_weights("squeeze")


# -- the numbers ---------------------------------------------------------------------------------------


def _reference_alex(alex_state) -> lpips.LPIPS:
    ref = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    ref.net.load_state_dict({k: alex_state["features." + k.split(".", 1)[1]] for k in ref.net.state_dict()})
    return ref.eval()


def _reference_vgg(vgg_features, monkeypatch) -> lpips.LPIPS:
    # lpips builds torchvision's whole VGG-16 and keeps `features`; hand it our random `features` instead.
    fake_tv = types.SimpleNamespace(
        vgg16=lambda pretrained=False: types.SimpleNamespace(features=vgg_features)
    )
    monkeypatch.setattr(pretrained_networks, "tv", fake_tv)
    return lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()


@pytest.mark.filterwarnings("ignore:.*deprecated since 0.13:UserWarning")  # lpips's torchvision call
@pytest.mark.parametrize(("net", "size"), [("alex", 64), ("vgg", 32)])
def test_matches_the_lpips_package(
    net, size, alex_state, alex_full_file, vgg_features, vgg_file, monkeypatch
):
    ours = load_lpips(net, alex_full_file if net == "alex" else vgg_file)
    ref = _reference_alex(alex_state) if net == "alex" else _reference_vgg(vgg_features, monkeypatch)
    x, y = _images(1, size=size), _images(2, size=size)
    with torch.no_grad():
        expected = ref(x, y, normalize=True).flatten().double().numpy()  # lpips's [0,1] input option
        got = ours(x, y)
    assert got.dtype == torch.float64 and got.shape == (3,)
    assert np.all(expected > 0)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=0)
    np.testing.assert_allclose(lpips_per_pair(ours, x, y, batch_size=2), expected, rtol=1e-5, atol=0)


def test_distance_to_itself_is_zero_and_symmetric(alex_file):
    model = load_lpips("alex", alex_file)
    x, y = _images(3), _images(4)
    assert torch.equal(model(x, x), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(model(x, y), model(y, x), rtol=1e-6, atol=0)
    assert not any(p.requires_grad for p in model.parameters())


def test_bad_images_are_refused():
    model = LPIPS("alex")  # random weights: only the checks matter here
    x = _images(5)
    for a, b, match in [
        (x, x[:2], "one shape"),
        (x[:, :1], x[:, :1], "RGB"),
        (x * 255, x * 255, r"\[0,1\]"),
        (x[..., :16, :16], x[..., :16, :16], "31 px"),
        (x.numpy(), x, "RGB"),
    ]:
        with pytest.raises(BenchError, match=match):
            model(a, b)
