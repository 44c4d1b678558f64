"""The Inpainter interface and registry: names, options, fingerprints, compositing, learned checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError
from bench.methods.inpainters import (
    Inpainter,
    PerImageInpainter,
    available,
    get_inpainter,
    image_seed,
    parse_method_spec,
    register,
)

NON_LEARNED = ("mean", "telea", "ns", "biharmonic", "patchmatch")


def test_available_lists_every_method():
    names = available()
    for n in (*NON_LEARNED, "pconv", "conv"):
        assert n in names
    assert names == sorted(names)


def test_unknown_name_lists_known_names():
    with pytest.raises(BenchError) as e:
        get_inpainter("no-such-method")
    msg = e.value.message
    assert "no-such-method" in msg
    for n in NON_LEARNED:
        assert n in msg


def test_unknown_option_is_an_error():
    with pytest.raises(BenchError, match="radius"):
        get_inpainter("telea", radiu=3)


def test_cli_strings_are_coerced_to_option_types():
    ip = get_inpainter("telea", radius="3", workers="2")
    assert ip.options == {"radius": 3}
    assert ip.runtime["workers"] == 2
    with pytest.raises(BenchError, match="expected int"):
        get_inpainter("telea", radius="three")


def test_parse_method_spec():
    assert parse_method_spec("pconv=runs/x/last.pt") == ("pconv", {"checkpoint": "runs/x/last.pt"})
    assert parse_method_spec("telea") == ("telea", {})
    assert parse_method_spec("patchmatch:patch_size=9, seed=2") == (
        "patchmatch",
        {"patch_size": "9", "seed": "2"},
    )
    # A Windows-like path with ':' after '=' is still a checkpoint.
    assert parse_method_spec("conv=C:/x/y.pt") == ("conv", {"checkpoint": "C:/x/y.pt"})
    for bad in ("pconv=", "a b", "pm:novalue"):
        with pytest.raises(BenchError):
            parse_method_spec(bad)


def test_fingerprint_is_stable_and_changes_with_options():
    a = get_inpainter("telea", radius=3)
    assert a.fingerprint == get_inpainter("telea", radius="3").fingerprint
    assert a.fingerprint != get_inpainter("telea", radius=4).fingerprint
    assert a.fingerprint != get_inpainter("ns", radius=3).fingerprint
    # Worker count changes nothing in the results, so it is not in the fingerprint.
    assert a.fingerprint == get_inpainter("telea", radius=3, workers=2).fingerprint
    assert len(a.fingerprint) == 12 and int(a.fingerprint, 16) >= 0


def test_mean_fill_against_numpy(rng):
    img = rng.random((2, 3, 9, 11), dtype=np.float32)
    msk = (rng.random((2, 1, 9, 11)) > 0.4).astype(np.float32)
    out = get_inpainter("mean").inpaint(torch.from_numpy(img), torch.from_numpy(msk)).numpy()
    for b in range(2):
        v = msk[b, 0] > 0
        expect = img[b][:, v].mean(axis=1)
        np.testing.assert_array_equal(out[b][:, v], img[b][:, v])
        np.testing.assert_allclose(out[b][:, ~v], np.repeat(expect[:, None], (~v).sum(), 1), atol=1e-6)


def test_composite_keeps_valid_pixels_exactly_and_clamps():
    class Wild(Inpainter):
        name = "wild"

        def _fill(self, images, masks):
            out = torch.full_like(images, 7.0)
            out[:, 0] = torch.where(masks[:, 0] > 0, float("nan"), -2.0)  # NaN only where it is not used
            return out

    img = torch.rand(1, 3, 5, 5)
    msk = torch.ones(1, 1, 5, 5)
    msk[..., 1:3, 1:4] = 0
    out = Wild().inpaint(img, msk)
    assert torch.equal(out[msk.expand_as(out) > 0], img[msk.expand_as(img) > 0])
    hole = out[:, :, 1:3, 1:4]
    assert (hole[:, 0] == 0).all() and (hole[:, 1:] == 1).all()  # a raw fill is clamped to [0,1]


def test_a_non_finite_fill_in_the_hole_is_refused_not_replaced():
    from bench.methods.inpainters import MethodOutputError

    class Nan(Inpainter):
        name = "nan"

        def _fill(self, images, masks):
            out = images.clone()
            out[1, 2, 0, 0] = float("nan")
            return out

    img, msk = torch.rand(2, 3, 5, 5), torch.ones(2, 1, 5, 5)
    msk[..., 0, 0] = 0
    with pytest.raises(MethodOutputError) as e:
        Nan().inpaint(img, msk)
    assert e.value.index == 1


def test_shape_errors():
    ip = get_inpainter("mean")
    with pytest.raises(ValueError):
        ip.inpaint(torch.rand(1, 3, 4, 4), torch.ones(1, 1, 4, 5))
    with pytest.raises(ValueError):
        ip.inpaint(torch.rand(3, 4, 4), torch.ones(1, 4, 4))


def test_register_and_per_image_seed_independent_of_batch():
    seen: list[int] = []

    @register("_test_seeded")
    class Seeded(PerImageInpainter):
        name = "_test_seeded"
        defaults = {"seed": 0}

        def fill_one(self, image, valid, seed):
            seen.append(seed)
            return np.full_like(image, (seed % 1000) / 1000.0)

    assert "_test_seeded" in available()
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(3, 3, 6, 6, generator=g)
    msks = torch.ones(3, 1, 6, 6)
    msks[..., 2:4, 2:4] = 0
    ip = get_inpainter("_test_seeded", seed=5)
    full = ip.inpaint(imgs, msks)
    single = ip.inpaint(imgs[2:], msks[2:])
    assert torch.equal(full[2:], single)
    two = get_inpainter("_test_seeded", seed=5, workers=2).inpaint(imgs, msks)
    assert torch.equal(full, two)
    assert not torch.equal(full, get_inpainter("_test_seeded", seed=6).inpaint(imgs, msks))
    a = imgs[0].permute(1, 2, 0).numpy()
    v = msks[0, 0].numpy() > 0
    assert image_seed(5, a, v) == image_seed(5, a.copy(), v.copy()) != image_seed(5, a, ~v)


def test_unseeded_methods_get_seed_zero_without_hashing(monkeypatch):
    import bench.methods.inpainters as inpainters

    seen: list[int] = []

    @register("_test_unseeded")
    class Unseeded(PerImageInpainter):
        name = "_test_unseeded"
        defaults = {"level": 0.25}

        def fill_one(self, image, valid, seed):
            seen.append(seed)
            return np.full_like(image, self.options["level"])

    def no_hash(*args):
        raise AssertionError("image_seed called for a method without a seed option")

    monkeypatch.setattr(inpainters, "image_seed", no_hash)
    msks = torch.ones(2, 1, 6, 6)
    msks[..., 1:3, 2:5] = 0
    out = get_inpainter("_test_unseeded").inpaint(torch.rand(2, 3, 6, 6), msks)
    assert seen == [0, 0]
    assert torch.all(out[..., 1:3, 2:5] == 0.25)


def test_learned_methods_need_a_checkpoint(tmp_path):
    for name in ("pconv", "conv"):
        with pytest.raises(BenchError, match="checkpoint"):
            get_inpainter(name)
        with pytest.raises(BenchError, match="does not exist"):
            get_inpainter(name, checkpoint=str(tmp_path / "missing.pt"))


# ------------------------------------------------------------------ learned methods from `bench train`


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, str]:
    """Two tiny trained U-Nets (32 px, 1 step): {'partial': path, 'standard': path}."""
    try:
        from bench.training.config import TrainConfig
        from bench.training.loop import train
    except ImportError as e:  # pragma: no cover - bench.training.loop ships with the package
        pytest.skip(f"bench.training.loop not importable: {e}")
    import cv2
    from skimage import data

    folder = tmp_path_factory.mktemp("images")
    for j in range(2):
        crop = cv2.resize(data.astronaut()[j * 100 : j * 100 + 300, :300], (40, 40))
        cv2.imwrite(str(folder / f"a{j}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    out = {}
    for conv in ("partial", "standard"):
        cfg = TrainConfig(
            profile="test", size=32, width=4, layers=None, batch_size=2, steps_phase1=1, steps_phase2=0,
            features="none", checkpoint_every=1, sample_every=100, seed=0, conv=conv, device="cpu",
        ).validate()  # fmt: skip
        out[conv] = str(train(cfg, tmp_path_factory.mktemp(conv), data=folder))
    return out


def _learned_batch():
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(3, 3, 32, 32, generator=g)
    msks = torch.ones(3, 1, 32, 32)
    msks[0, :, 4:20, 6:14] = 0
    msks[1, :, :10, :] = 0
    msks[2, :, 20:, 25:] = 0
    return imgs, msks


@pytest.mark.parametrize("name,conv", [("pconv", "partial"), ("conv", "standard")])
def test_learned_inpainter_matches_its_network(name, conv, checkpoints):
    import hashlib

    from bench.models.checkpoint import load_checkpoint_model

    path = checkpoints[conv]
    ip = get_inpainter(name, checkpoint=path, device="cpu", batch_size=2)
    assert ip.options["checkpoint"] == path
    with open(path, "rb") as f:
        assert ip.options["checkpoint_sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert ip.meta["arch"]["conv"] == conv and "features" in ip.meta
    imgs, msks = _learned_batch()
    out = ip.inpaint(imgs, msks)
    # Independent reference: the network itself, holes set to 0.5, composited by hand.
    model, _ = load_checkpoint_model(path, device="cpu")
    with torch.no_grad():
        raw = model(msks * imgs + (1 - msks) * 0.5, msks)
    expect = msks * imgs + (1 - msks) * raw.clamp(0, 1)
    torch.testing.assert_close(out, expect, rtol=0, atol=1e-6)
    assert torch.equal(out[msks.expand_as(out) > 0], imgs[msks.expand_as(imgs) > 0])
    # Hole contents never reach the network; batch size does not matter (eval-mode BatchNorm).
    poisoned = torch.where(msks > 0, imgs, torch.full_like(imgs, 0.987))
    torch.testing.assert_close(ip.inpaint(poisoned, msks), out, rtol=0, atol=1e-6)
    one = get_inpainter(name, checkpoint=path, device="cpu", batch_size=1).inpaint(imgs, msks)
    torch.testing.assert_close(one, out, rtol=0, atol=1e-5)


def test_learned_arch_mismatch_and_fingerprints(checkpoints):
    with pytest.raises(BenchError, match="conv=") as e:
        get_inpainter("pconv", checkpoint=checkpoints["standard"])
    assert "standard" in e.value.message
    with pytest.raises(BenchError, match="pconv="):
        get_inpainter("conv", checkpoint=checkpoints["partial"])
    a = get_inpainter("pconv", checkpoint=checkpoints["partial"])
    b = get_inpainter("conv", checkpoint=checkpoints["standard"])
    assert a.fingerprint != b.fingerprint
    assert (
        a.fingerprint == get_inpainter("pconv", checkpoint=checkpoints["partial"], device="cpu").fingerprint
    )
    name, opts = parse_method_spec(f"pconv={checkpoints['partial']}")
    assert get_inpainter(name, **opts).fingerprint == a.fingerprint


def test_changed_checkpoint_file_changes_fingerprint(checkpoints, tmp_path):
    import shutil

    path = tmp_path / "x.pt"
    shutil.copy(checkpoints["partial"], path)
    before = get_inpainter("pconv", checkpoint=str(path))
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt["step"] = int(ckpt["step"]) + 1  # same path, different bytes
    torch.save(ckpt, path)
    after = get_inpainter("pconv", checkpoint=str(path))
    assert before.options["checkpoint"] == after.options["checkpoint"]
    assert before.fingerprint != after.fingerprint


def test_get_inpainters_passes_common_options_only_where_accepted():
    from bench.methods.inpainters import get_inpainters

    tel, mean, pm = get_inpainters(["telea:radius=3", "mean", "patchmatch"], workers=2, device="cpu")
    assert tel.options == {"radius": 3} and tel.runtime["workers"] == 2
    assert mean.runtime == {} and pm.runtime["workers"] == 2


def test_plugin_module_from_env_is_registered_and_evaluable(tmp_path, monkeypatch):
    """A user's method in its own module, named in $PCONV_BENCH_PLUGINS, runs like a builtin."""
    import sys

    import torch

    import bench.methods.inpainters as inp

    (tmp_path / "my_plugin_method.py").write_text(
        "from bench.methods.inpainters import Inpainter, register\n"
        "@register('constant-plugin')\n"
        "class Constant(Inpainter):\n"
        "    name = 'constant-plugin'\n"
        "    defaults = {'value': 0.25}\n"
        "    def _fill(self, images, masks):\n"
        "        return images * 0 + self.options['value']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(inp.PLUGINS_ENV, "my_plugin_method")
    monkeypatch.setattr("bench.core.plugins._loaded", False)
    monkeypatch.setattr(inp, "_FACTORIES", dict(inp._FACTORIES))
    assert "constant-plugin" in inp.available()
    m = inp.get_inpainter("constant-plugin", value="0.75")
    images, masks = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8)
    masks[:, :, 2:5, 2:5] = 0
    out = m.inpaint(images, masks)
    assert torch.equal(out[:, :, 2:5, 2:5], torch.full((2, 3, 3, 3), 0.75))
    assert torch.equal(out[:, :, 6:, 6:], images[:, :, 6:, 6:])
    sys.modules.pop("my_plugin_method", None)
    monkeypatch.setenv(inp.PLUGINS_ENV, "no_such_plugin_module")
    monkeypatch.setattr("bench.core.plugins._loaded", False)
    with pytest.raises(BenchError, match="no_such_plugin_module"):
        inp.available()
