"""The IS classifier: resolution order (path > env > cache > stand-in), no silent downloads, and p(y|x).

The standard network is exercised for real with random weights in torch-fidelity's file format (its own
FeatureExtractorInceptionV3 state dict), so the path / env / cache code runs without any download.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import bench.metrics.inception as inc
from bench.core.errors import BenchError
from bench.metrics.inception import INCEPTION_ENV, INCEPTION_FILE, find_inception_weights, load_is_network


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty hub cache, no env var, and any download attempt fails the test."""
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(INCEPTION_ENV, raising=False)

    def no_download(*a, **k):
        raise AssertionError("download attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return hub


@pytest.fixture(scope="module")
def random_inception_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """torch-fidelity's Inception-v3 with random weights, saved as a plain state dict like the real file."""
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    mp = pytest.MonkeyPatch()
    # Build the module without its weights: its constructor would download them otherwise.
    mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
    mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
    torch.manual_seed(0)
    model = fe.FeatureExtractorInceptionV3("x", ["logits_unbiased"])
    mp.undo()
    path = tmp_path_factory.mktemp("inception") / INCEPTION_FILE
    torch.save(model.state_dict(), path)
    return path


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path) -> None:
    explicit, env = tmp_path / "a.pth", tmp_path / "b.pth"
    explicit.write_bytes(b"x")
    env.write_bytes(b"x")
    cached = _isolated / "checkpoints" / INCEPTION_FILE
    assert find_inception_weights() is None
    cached.write_bytes(b"x")
    assert find_inception_weights() == (cached, "cache")
    monkeypatch.setenv(INCEPTION_ENV, str(env))
    assert find_inception_weights() == (env, "env")
    assert find_inception_weights(explicit) == (explicit, "path")
    # A named file that is missing is an error, never a silent fall-back.
    with pytest.raises(BenchError, match="not found"):
        find_inception_weights(tmp_path / "missing.pth")
    monkeypatch.setenv(INCEPTION_ENV, str(tmp_path / "missing.pth"))
    with pytest.raises(BenchError, match=INCEPTION_ENV):
        find_inception_weights()


def test_standin_when_nothing_found() -> None:
    from bench.metrics.registry import inception_score

    net = load_is_network()  # the autouse fixture makes any download attempt fail
    assert (net.name, net.is_standin, net.label, net.source) == ("efficientnet-lite0", True, "IS*", "package")
    assert "EfficientNet-Lite0" in net.footnote and "not comparable" in net.footnote
    x = _images(3, 64, 0)
    x[2] = x[2] * 0.1  # a dark image
    p = net.probs(x, batch_size=2)  # two batches
    assert p.shape == (3, 1000) and p.dtype == torch.float64
    assert torch.allclose(p.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert (p >= 0).all()
    # Different images give different distributions; batching does not change them.
    assert (p[0] - p[2]).abs().sum() > 1e-3
    assert torch.allclose(p[2:], net.probs(x[2:]), atol=1e-6)
    mean, std = inception_score(p, splits=1)
    assert 1.0 < mean <= 3.0 and std == 0.0  # IS of N images lies in [1, N]
    # The pool features are the input of the classifier's last layer: fc(pool) gives the same p(y|x).
    pool = net.outputs(x)["pool"]
    assert pool.shape == (3, 1280)
    assert torch.allclose(net.model._fc(pool).double().softmax(dim=1), p, atol=1e-6)
    # Its BatchNorms are folded into the convolutions: the same function as the network as published.
    from bench.metrics.features import load_efficientnet_lite0

    plain = load_efficientnet_lite0()
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in plain.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.model.modules())
    ref_pool, ref_logits = plain.pool_and_logits(x)
    got_pool, got_logits = net.model.pool_and_logits(x)
    assert torch.allclose(got_pool, ref_pool, atol=1e-4) and torch.allclose(got_logits, ref_logits, atol=1e-4)


def test_standard_network_not_requested_without_weights() -> None:
    with pytest.raises(BenchError, match=INCEPTION_ENV):
        load_is_network(network="inception-v3-compat")


def test_standard_from_cache_env_and_path(
    random_inception_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    (_isolated / "checkpoints" / INCEPTION_FILE).symlink_to(random_inception_file)
    net = load_is_network()
    assert (net.name, net.is_standin, net.label, net.source) == ("inception-v3-compat", False, "IS", "cache")
    assert "IS*" not in net.footnote
    # Same p(y|x) as torch-fidelity's own extractor on the uint8 images our floats came from.
    u8 = (_images(2, 48, 1) * 255).to(torch.uint8)
    out = net.outputs(u8.float() / 255)
    p = out["probs"]
    assert p.shape == (2, 1008) and out["pool"].shape == (2, 2048)
    # torch-fidelity's module itself, fed the uint8 images directly, and its FID features.
    pool, ref = net.model(u8)
    assert torch.allclose(p, ref.double().softmax(dim=1), atol=1e-6)
    assert torch.allclose(out["pool"], pool, atol=1e-5)
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    only_pool = fe.FeatureExtractorInceptionV3(
        "x", ["2048"], feature_extractor_weights_path=str(random_inception_file)
    )
    assert torch.allclose(out["pool"], only_pool(u8)[0], atol=1e-5)
    assert torch.allclose(p.sum(dim=1), torch.ones(2, dtype=torch.float64))
    # env beats cache, an explicit path beats env (a broken env file proves env is not even read).
    monkeypatch.setenv(INCEPTION_ENV, str(random_inception_file))
    assert inc.find_inception_weights() == (random_inception_file, "env")
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setenv(INCEPTION_ENV, str(broken))
    with pytest.raises(BenchError, match="not a readable|not loadable"):
        load_is_network()
    # From here on only the resolution matters: skip the (slow) construction of the network.
    monkeypatch.setattr(inc, "_load_standard", lambda path, dev: torch.nn.Identity())
    assert load_is_network(random_inception_file).source == "path"
    monkeypatch.setenv(INCEPTION_ENV, str(random_inception_file))
    assert load_is_network().source == "env"
    # The stand-in can be asked for even when the standard weights exist.
    assert load_is_network(random_inception_file, network="efficientnet-lite0").label == "IS*"


def test_allow_download_fetches_into_cache(
    random_inception_file: Path, monkeypatch: pytest.MonkeyPatch, _isolated: Path
) -> None:
    # Resolution only: the network construction is faked (it is exercised in the test above).
    calls = []

    def fake_download(url, *a, **k):  # what torch.hub does: save under checkpoints/<file name of url>
        calls.append(url)
        (_isolated / "checkpoints" / Path(url).name).symlink_to(random_inception_file)
        return {}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    monkeypatch.setattr(inc, "_load_standard", lambda path, dev: torch.nn.Identity())
    net = load_is_network(allow_download=True)
    assert calls == [inc.INCEPTION_URL] and Path(inc.INCEPTION_URL).name == INCEPTION_FILE
    assert (net.label, net.source) == ("IS", "download")
    # Once cached, no second download.
    assert load_is_network(allow_download=True).source == "cache" and len(calls) == 1
