"""The Inpainter interface and registry: names, options, fingerprints, compositing, learned checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.errors import BenchError
from bench.inpainters import (
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
            out[:, 0] = float("nan")
            return out

    img = torch.rand(1, 3, 5, 5)
    msk = torch.ones(1, 1, 5, 5)
    msk[..., 1:3, 1:4] = 0
    out = Wild().inpaint(img, msk)
    assert torch.equal(out[msk.expand_as(out) > 0], img[msk.expand_as(img) > 0])
    hole = out[:, :, 1:3, 1:4]
    assert torch.isfinite(hole).all() and (hole >= 0).all() and (hole <= 1).all()


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


def test_learned_methods_need_a_checkpoint(tmp_path):
    for name in ("pconv", "conv"):
        with pytest.raises(BenchError, match="checkpoint"):
            get_inpainter(name)
        with pytest.raises(BenchError, match="does not exist"):
            get_inpainter(name, checkpoint=str(tmp_path / "missing.pt"))
