"""Every non-learned method: valid pixels kept, holes filled, better than the floor, deterministic, edges."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from bench.methods.inpainters import get_inpainter

METHODS = ("mean", "telea", "ns", "biharmonic", "patchmatch")
SENTINEL = 0.123456


def _stroke_hole(rng: np.random.Generator, size: int, target: float) -> np.ndarray:
    """(size,size) bool, True = hole: thick random polylines until `target` of the area is covered."""
    hole = np.zeros((size, size), np.uint8)
    while hole.mean() < target:
        x, y = (int(v) for v in rng.integers(0, size, 2))
        for _ in range(3):
            a = rng.uniform(0, 2 * np.pi)
            nx = int(np.clip(x + size / 5 * np.cos(a), 0, size - 1))
            ny = int(np.clip(y + size / 5 * np.sin(a), 0, size - 1))
            cv2.line(hole, (x, y), (nx, ny), 1, max(2, size // 24))
            x, y = nx, ny
    return hole > 0


@pytest.fixture(scope="module")
def photo(astronaut) -> torch.Tensor:
    """A textured 96x96 crop of a real photo (the astronaut's badge and suit), (1,3,96,96) in [0,1]."""
    crop = astronaut[150:342, 230:422]
    crop = cv2.resize(crop, (96, 96), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0


def _batch(photo: torch.Tensor, seed: int, n: int = 3, target: float = 0.25):
    rng = np.random.default_rng(seed)
    holes = np.stack([_stroke_hole(rng, photo.shape[-1], target) for _ in range(n)])
    masks = torch.from_numpy(~holes)[:, None].float()
    g = torch.Generator().manual_seed(seed)
    imgs = photo.repeat(n, 1, 1, 1)
    imgs[1:] = torch.flip(imgs[1:], dims=(-1,))  # not all identical
    imgs[-1] = (imgs[-1] + 0.05 * torch.rand(imgs[-1].shape, generator=g)).clamp(0, 1)
    return imgs, masks


def _hole_psnr(out: torch.Tensor, gt: torch.Tensor, masks: torch.Tensor) -> float:
    hole = (masks < 0.5).expand_as(gt)
    mse = ((out - gt)[hole] ** 2).mean().item()
    return -10 * np.log10(mse)


@pytest.mark.parametrize("name", METHODS)
def test_valid_kept_holes_filled_and_hole_content_ignored(name, photo):
    imgs, masks = _batch(photo, seed=1)
    hole = (masks < 0.5).expand_as(imgs)
    a = imgs.clone()
    a[hole] = SENTINEL
    b = imgs.clone()
    b[hole] = 1.0 - SENTINEL
    ip = get_inpainter(name)
    out_a, out_b = ip.inpaint(a, masks), ip.inpaint(b, masks)
    assert out_a.shape == imgs.shape and out_a.dtype == torch.float32
    assert torch.equal(out_a[~hole], imgs[~hole])  # bit-exact
    assert torch.isfinite(out_a).all() and out_a.min() >= 0 and out_a.max() <= 1
    # Every hole pixel changed from the sentinel in at least one channel.
    changed = (out_a != SENTINEL).any(dim=1, keepdim=True)
    assert changed[masks < 0.5].all()
    # What was under the hole never leaks into the result.
    assert torch.equal(out_a, out_b)


@pytest.mark.parametrize("name", [m for m in METHODS if m != "mean"])
def test_beats_mean_on_a_textured_photo(name, photo):
    imgs, masks = _batch(photo, seed=2, n=1)
    floor = _hole_psnr(get_inpainter("mean").inpaint(imgs, masks), imgs, masks)
    ours = _hole_psnr(get_inpainter(name).inpaint(imgs, masks), imgs, masks)
    assert ours > floor + 1.0, (name, ours, floor)


@pytest.mark.parametrize("name", METHODS)
def test_deterministic_and_independent_of_workers_and_batch(name, photo):
    imgs, masks = _batch(photo, seed=3)
    one = get_inpainter(name, workers=1).inpaint(imgs, masks) if name != "mean" else None
    if one is None:
        one = get_inpainter(name).inpaint(imgs, masks)
        two = get_inpainter(name).inpaint(imgs, masks)
    else:
        two = get_inpainter(name, workers=2).inpaint(imgs, masks)
    assert torch.equal(one, two)
    # The same (image, mask) gives the same bytes alone or inside a batch.
    alone = get_inpainter(name).inpaint(imgs[1:2], masks[1:2])
    assert torch.equal(alone, one[1:2])


@pytest.mark.parametrize("name", METHODS)
def test_edge_cases(name, photo):
    ip = get_inpainter(name)
    img = photo[:, :, :40, :40].contiguous()
    # No hole: unchanged.
    full = torch.ones(1, 1, 40, 40)
    assert torch.equal(ip.inpaint(img, full), img)
    # All hole: mid-grey 0.5 everywhere.
    assert torch.equal(ip.inpaint(img, torch.zeros(1, 1, 40, 40)), torch.full_like(img, 0.5))
    # Holes touching the border (corner and a full-height stripe at the right edge).
    m = torch.ones(1, 1, 40, 40)
    m[..., :9, :12] = 0
    m[..., :, 35:] = 0
    out = ip.inpaint(img, m)
    assert torch.equal(out[m.expand_as(out) > 0], img[m.expand_as(img) > 0])
    assert torch.isfinite(out).all() and 0 <= out.min() and out.max() <= 1
    # Images smaller than the patch size, one hole pixel and one valid pixel.
    for h, w in ((3, 3), (2, 5), (1, 1)):
        tiny = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * 10 + w))
        tm = torch.ones(1, 1, h, w)
        tm[..., 0, 0] = 0
        out = ip.inpaint(tiny, tm)
        assert out.shape == tiny.shape and torch.isfinite(out).all()
        assert torch.equal(out[tm.expand_as(out) > 0], tiny[tm.expand_as(tiny) > 0])
    one_valid = torch.zeros(1, 1, 20, 20)
    one_valid[..., 7, 7] = 1
    out = ip.inpaint(img[..., :20, :20], one_valid)
    assert torch.isfinite(out).all()


def test_telea_radius_changes_result(photo):
    imgs, masks = _batch(photo, seed=4, n=1)
    a = get_inpainter("telea", radius=2).inpaint(imgs, masks)
    b = get_inpainter("telea", radius=9).inpaint(imgs, masks)
    assert not torch.equal(a, b)


def test_benchmark_pypatchmatch_adapter_uses_hole_255_masks():
    """The optional C++ comparison path of benchmarks/baselines.py, run against a stand-in module."""
    import importlib.util
    import types
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "baselines.py"
    spec = importlib.util.spec_from_file_location("_bench_baselines", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    seen = {}

    def inpaint(image, mask, patch_size=15):
        seen["mask"], seen["patch_size"] = mask.copy(), patch_size
        assert image.dtype == np.uint8 and mask.dtype == np.uint8
        out = image.copy()
        out[mask == 255] = 255  # their convention: 255 = hole
        return out

    fake = types.SimpleNamespace(inpaint=inpaint, set_random_seed=lambda s: None)
    img = torch.rand(1, 3, 16, 16)
    m = torch.ones(1, 1, 16, 16)
    m[..., 3:9, 4:12] = 0
    out = mod.PyPatchMatch(fake, patch_size=3).inpaint(img, m)
    assert seen["patch_size"] == 3
    np.testing.assert_array_equal(seen["mask"] == 255, m[0, 0].numpy() == 0)
    assert torch.equal(out[..., 3:9, 4:12], torch.ones(1, 3, 6, 8))
    psnr, ssim = mod.hole_metrics(out[0].permute(1, 2, 0).numpy(), img[0].permute(1, 2, 0).numpy(),
                                  m[0, 0].numpy() > 0)  # fmt: skip
    assert np.isfinite(psnr) and -1 <= ssim <= 1
    from skimage.metrics import peak_signal_noise_ratio

    a, b = out[0].permute(1, 2, 0).numpy(), img[0].permute(1, 2, 0).numpy()
    hole = m[0, 0].numpy() == 0
    assert psnr == pytest.approx(peak_signal_noise_ratio(b[hole], a[hole], data_range=1.0), rel=1e-5)
