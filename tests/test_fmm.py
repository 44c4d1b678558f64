"""baselines.fmm: bit-exact cv2.inpaint (INPAINT_TELEA, INPAINT_NS); the telea / ns inpainters use it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from baselines.fmm import OPENCV_VERIFIED, clamp_radius, inpaint_ns, inpaint_telea
from bench.core.errors import BenchError
from bench.methods.inpainters import get_inpainter
from masks.conventions import BINS, Group, is_valid
from masks.generate import generate_mask

METHODS = {"telea": (inpaint_telea, cv2.INPAINT_TELEA), "ns": (inpaint_ns, cv2.INPAINT_NS)}
RADII = (1, 3, 5, 9)
CV2_VERSION = tuple(int(v) for v in cv2.__version__.split(".")[:2])


def _require_verified_cv2() -> None:
    """Equality is checked against the OpenCV version the port was verified with; with another one the
    port's output is the methods' definition and cv2's may legitimately differ."""
    if CV2_VERSION != OPENCV_VERIFIED:
        pytest.skip(f"cv2 {cv2.__version__} installed; baselines.fmm was verified against {OPENCV_VERIFIED}")


def _cv2(method: str, img8: np.ndarray, hole: np.ndarray, radius: float) -> np.ndarray:
    _require_verified_cv2()
    return cv2.inpaint(img8, hole.astype(np.uint8) * 255, radius, METHODS[method][1])


def _check(method: str, img8: np.ndarray, hole: np.ndarray, radius: float) -> None:
    ref = _cv2(method, img8, hole, radius)
    out = METHODS[method][0](img8, hole, radius)
    assert out.dtype == np.uint8 and out.shape == img8.shape
    if not np.array_equal(out, ref):
        diff = np.argwhere((out != ref).reshape(*hole.shape, -1).any(-1))
        raise AssertionError(f"{len(diff)} pixels differ from cv2, first at {diff[:5].tolist()}")


def _images(h: int, w: int, seed: int) -> dict[str, np.ndarray]:
    """Noise, a smooth gradient and a photo crop, (h,w,3) uint8."""
    from skimage import data

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    smooth = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1), 128 + 100 * np.sin(xx / 7.0)], -1)
    photo = getattr(data, ("astronaut", "chelsea", "coffee")[seed % 3])()
    y0, x0 = 40 * (seed % 4), 60 * (seed % 5)
    photo = cv2.resize(photo[y0 : y0 + 3 * h, x0 : x0 + 3 * w], (w, h), interpolation=cv2.INTER_AREA)
    return {
        "noise": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "smooth": np.clip(np.rint(smooth), 0, 255).astype(np.uint8),
        "photo": np.ascontiguousarray(photo),
    }


def _hole(seed: int, h: int, w: int, bin_i: int, group: str = "N") -> np.ndarray:
    """(h,w) bool, True = hole: a project mask of bin BINS[bin_i] (cropped when h != w)."""
    mask = generate_mask(np.random.default_rng(seed), max(h, w), BINS[bin_i], group)
    return ~is_valid(mask[:h, :w])


# ------------------------------------------------------------------------------- irregular masks, exact


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("shape", [(64, 64), (96, 80), (45, 71)])
@pytest.mark.parametrize("seed", range(4))
def test_equals_cv2_on_project_masks(method, shape, seed) -> None:
    h, w = shape
    for bin_i in range(len(BINS)):
        hole = _hole(100 * seed + bin_i, h, w, bin_i, "N" if (seed + bin_i) % 3 else "B")
        for k, (name, img) in enumerate(_images(h, w, seed + bin_i).items()):
            radius = RADII[(seed + bin_i + k) % len(RADII)]
            zeroed = np.where(hole[..., None], 0, img).astype(np.uint8)  # as the inpainters pass it
            _check(method, zeroed, hole, radius)
            if name == "noise":  # content under the hole is read near the top / left edge
                _check(method, img, hole, radius)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("radius", [1, 2, 3, 5, 9, 14])
def test_equals_cv2_at_every_radius(method, radius) -> None:
    img = _images(72, 88, radius)["photo"]
    _check(method, img, _hole(radius, 72, 88, 3), radius)


# ------------------------------------------------------------------------------------------ edge cases


@pytest.mark.parametrize("method", list(METHODS))
def test_holes_on_every_border_and_corner(method) -> None:
    h, w = 40, 52
    hole = np.zeros((h, w), bool)
    hole[:3, 10:30] = True  # top edge
    hole[-1:, 20:45] = True  # bottom edge, one row
    hole[15:30, :2] = True  # left edge
    hole[5:35, -4:] = True  # right edge
    hole[:5, :6] = hole[-4:, -7:] = hole[-3:, :2] = hole[:2, -3:] = True  # the four corners
    for img in _images(h, w, 1).values():
        for radius in RADII:
            _check(method, img, hole, radius)
    tall = _images(w, h, 2)["noise"]
    for radius in RADII:
        _check(method, tall, np.ascontiguousarray(hole.T), radius)


@pytest.mark.parametrize("method", list(METHODS))
def test_single_pixel_and_tiny_holes(method) -> None:
    img = _images(30, 33, 0)["noise"]
    for y, x in [(15, 16), (0, 0), (0, 17), (29, 32), (12, 0), (29, 5), (7, 32), (1, 1), (28, 31)]:
        hole = np.zeros((30, 33), bool)
        hole[y, x] = True
        for radius in (1, 5):
            _check(method, img, hole, radius)
    speckle = np.random.default_rng(3).random((30, 33)) < 0.05
    _check(method, img, speckle, 3)


@pytest.mark.parametrize("method", list(METHODS))
def test_near_ties_round_as_opencv(method) -> None:
    """Dark images, hole on the right edge, radius 1: TELEA's value lands within 1e-11 of 0.5 here, where
    only adding the final 0.5 in double (as cv2 5.1 does) rounds like cv2."""
    for seed in range(16):
        rng = np.random.default_rng(seed)
        img = np.zeros((12, 12, 3), np.uint8)
        img[rng.random((12, 12)) < 0.15] = rng.integers(1, 4)
        hole = np.zeros((12, 12), bool)
        hole[3:10, 11] = True
        _check(method, img, hole, 1)


@pytest.mark.parametrize("method", list(METHODS))
def test_small_images(method) -> None:
    rng = np.random.default_rng(5)
    for h, w in [(2, 2), (2, 7), (7, 2), (3, 3), (4, 9), (9, 5)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for trial in range(6):
            hole = rng.random((h, w)) < 0.4
            hole[trial % h, (trial * 3) % w] = True
            _check(method, img, hole, RADII[trial % 4])


@pytest.mark.parametrize("method", list(METHODS))
def test_no_hole_and_all_hole_return_the_input(method) -> None:
    img = _images(20, 24, 0)["noise"]
    for hole in (np.zeros((20, 24), bool), np.ones((20, 24), bool)):
        out = METHODS[method][0](img, hole, 5)
        assert np.array_equal(out, img) and out is not img
        assert np.array_equal(out, _cv2(method, img, hole, 5))


@pytest.mark.parametrize("method", list(METHODS))
def test_one_pixel_wide_images_are_filled_sanely(method) -> None:
    """OpenCV reads outside a 1-pixel-high or -wide image there: no equality, only a sane fill."""
    rng = np.random.default_rng(0)
    for shape in [(1, 12), (12, 1), (1, 1)]:
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        hole = np.zeros(shape, bool)
        hole.flat[len(hole.flat) // 2] = True
        out = METHODS[method][0](img, hole, 3)
        assert np.array_equal(out[~hole], img[~hole])
        if hole.size > 1:
            lo, hi = img[~hole].min(0), img[~hole].max(0)
            assert np.all((out[hole] >= lo.astype(int) - 2) & (out[hole] <= hi.astype(int) + 2))


@pytest.mark.parametrize("method", list(METHODS))
def test_gray_images(method) -> None:
    for seed in range(3):
        gray = cv2.cvtColor(_images(50, 60, seed)["photo"], cv2.COLOR_RGB2GRAY)
        hole = _hole(seed, 50, 60, 2 + seed)
        out = METHODS[method][0](gray, hole, RADII[seed])
        assert out.shape == gray.shape
        assert np.array_equal(out, _cv2(method, gray, hole, RADII[seed]))


@pytest.mark.parametrize("method", list(METHODS))
def test_radius_is_rounded_and_clamped_as_opencv(method) -> None:
    img = _images(40, 40, 0)["photo"]
    hole = _hole(7, 40, 40, 2)
    for radius in (0.0, 0.4, 0.5, 1.5, 2.5, 2.6, -3.0, 120.0, float("inf"), float("-inf"), float("nan")):
        _check(method, img, hole, radius)
    assert [clamp_radius(v) for v in (0.5, 1.5, 2.5, 3.5, 1e9, float("nan"))] == [1, 2, 2, 4, 100, 100]


def test_bad_input_is_rejected() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        inpaint_telea(img.astype(np.float32), np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="shape"):
        inpaint_ns(np.zeros((8, 8, 4), np.uint8), np.zeros((8, 8), bool))
    with pytest.raises(ValueError, match="hole"):
        inpaint_telea(img, np.zeros((8, 7), bool))


# ------------------------------------------------------------------------------------------ inpainters


@pytest.mark.parametrize("name", list(METHODS))
def test_inpainter_numba_default_equals_opencv(name, astronaut) -> None:
    _require_verified_cv2()
    crop = cv2.resize(astronaut[100:356, 150:406], (64, 64), interpolation=cv2.INTER_AREA)
    imgs = torch.from_numpy(crop).permute(2, 0, 1)[None].float().repeat(3, 1, 1, 1) / 255.0
    holes = np.stack([_hole(s, 64, 64, 2 * s, Group.N) for s in range(3)])
    masks = torch.from_numpy(~holes)[:, None].float()
    fast = get_inpainter(name)
    slow = get_inpainter(name, impl="opencv")
    assert fast.runtime["impl"] == "numba"
    assert fast.fingerprint == slow.fingerprint  # same outputs, same stored results
    assert torch.equal(fast.inpaint(imgs, masks), slow.inpaint(imgs, masks))


def test_unknown_impl_is_refused() -> None:
    with pytest.raises(BenchError, match="impl='cuda'; known: numba, opencv"):
        get_inpainter("telea", impl="cuda")
