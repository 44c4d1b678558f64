"""NVIDIA's training-mask augmentation: binary output, determinism, dilation range, threshold, rotation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from masks.augment import (
    dilate_holes,
    dilation_range,
    nvidia_augment,
    rotate_holes,
    threshold_holes,
)


def _blob_mask(shape=(96, 96), seed: int = 0) -> np.ndarray:
    """uint8 (H,W), 255 valid, a few anti-aliased dark ellipses (grey edges) as raw holes."""
    rng = np.random.default_rng(seed)
    m = np.full(shape, 255, np.uint8)
    h, w = shape
    for _ in range(4):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(3, w // 5)), int(rng.integers(3, h // 5)))
        cv2.ellipse(m, centre, axes, float(rng.uniform(0, 180)), 0, 360, 0, -1, lineType=cv2.LINE_AA)
    return m


def _single_pixel(size: int) -> np.ndarray:
    m = np.full((size, size), 255, np.uint8)
    m[size // 2, size // 2] = 0
    return m


@pytest.mark.parametrize(("shape", "size"), [((96, 96), 64), ((100, 80), 64), ((32, 48), 64), ((64, 64), 64)])
def test_output_is_binary_and_of_the_asked_size(shape, size):
    for seed in range(5):
        out = nvidia_augment(_blob_mask(shape, seed), np.random.default_rng(seed), size)
        assert out.shape == (size, size) and out.dtype == np.uint8
        assert set(np.unique(out).tolist()) <= {0, 255}


def test_same_seed_same_bytes():
    m = _blob_mask((120, 120))
    a = nvidia_augment(m, np.random.default_rng(7), 64)
    b = nvidia_augment(m, np.random.default_rng(7), 64)
    assert a.tobytes() == b.tobytes()
    others = {nvidia_augment(m, np.random.default_rng(s), 64).tobytes() for s in range(8)}
    assert len(others) > 1  # the seed matters
    # The Generator advances by the same draws whatever the ranges, so later draws line up too.
    r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
    nvidia_augment(m, r1, 64)
    nvidia_augment(m, r2, 64, max_angle=0.0, max_shift=0.0)
    assert r1.integers(1 << 30) == r2.integers(1 << 30)


def test_dilation_range_scales_with_size():
    assert dilation_range(512) == (9, 49)
    assert dilation_range(256) == (5, 25)  # 4.5 and 24.5 round half up
    assert dilation_range(128) == (2, 12)
    assert dilation_range(8) == (1, 1)  # never below 1 px
    with pytest.raises(ValueError):
        dilation_range(0)


@pytest.mark.parametrize(("size", "seeds"), [(128, 300), (512, 120)])
def test_single_hole_pixel_grows_to_a_kernel_inside_the_range(size, seeds):
    lo, hi = dilation_range(size)
    widths = []
    for seed in range(seeds):
        # No rotation, so the dilated pixel stays an axis-aligned k x k square; translation moves it only.
        out, draw = nvidia_augment(
            _single_pixel(size), np.random.default_rng(seed), size, max_angle=0.0, return_draw=True
        )
        ys, xs = np.nonzero(out == 0)
        height, width = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        assert height == width == draw.kernel
        assert (out == 0).sum() == draw.kernel**2
        widths.append(width)
    assert lo <= min(widths) and max(widths) <= hi
    if size == 128:  # 11 values over 300 draws: both ends show up
        assert min(widths) == lo and max(widths) == hi


def test_dilation_of_even_and_odd_kernels():
    hole = np.zeros((60, 60), bool)
    hole[30, 30] = True
    for k in (1, 2, 9, 10, 49):
        ys, xs = np.nonzero(dilate_holes(hole, k))
        assert ys.max() - ys.min() + 1 == k and xs.max() - xs.min() + 1 == k


def test_threshold_is_0_6_of_the_hole_channel():
    ramp = np.arange(256, dtype=np.uint8)[None, :]  # every grey level once
    hole = threshold_holes(ramp)[0]
    # hole channel 1 - v/255 >= 0.6  <=>  v <= 102
    assert hole[:103].all() and not hole[103:].any()
    # An anti-aliased disk: the hole is exactly its pixels at or below 102, grey rim above 102 is valid.
    m = np.full((64, 64), 255, np.uint8)
    cv2.circle(m, (32, 32), 15, 0, -1, lineType=cv2.LINE_AA)
    assert len(np.unique(m)) > 3  # really anti-aliased
    assert np.array_equal(threshold_holes(m), m <= 102)
    with pytest.raises(ValueError):
        threshold_holes(m.astype(np.float32))


def test_threshold_decides_what_the_augmentation_dilates():
    light = np.full((64, 64), 255, np.uint8)
    light[20:40, 20:40] = 103  # hole channel 0.596 < 0.6: not a hole
    out = nvidia_augment(light, np.random.default_rng(0), 64)
    assert (out == 255).all()
    dark = light.copy()
    dark[20:40, 20:40] = 102  # hole channel 0.6: a hole
    out = nvidia_augment(dark, np.random.default_rng(0), 64, max_shift=0.0, max_angle=0.0)
    assert (out[20:40, 20:40] == 0).all()


def test_rotation_keeps_the_hole_area():
    hole = np.zeros((128, 128), bool)
    cv2.circle(hole.view(np.uint8), (64, 64), 20, 1, -1)
    square = np.zeros((128, 128), bool)
    square[44:84, 50:78] = True
    for shape in (hole, square):
        area = shape.sum()
        for angle in (13.0, 45.0, 90.0, 137.5, -100.0):
            assert abs(rotate_holes(shape, angle).sum() - area) <= 0.03 * area
    # Pixels rotated in from outside the source are valid: an all-hole image keeps holes only inside.
    full = np.ones((64, 64), bool)
    rotated = rotate_holes(full, 45.0)
    assert not rotated[0, 0] and rotated[32, 32]


def test_augment_rotation_keeps_dilated_area_when_nothing_is_cropped():
    size = 128
    m = np.full((size, size), 255, np.uint8)
    cv2.circle(m, (64, 64), 12, 0, -1)
    for seed in range(10):
        out, draw = nvidia_augment(m, np.random.default_rng(seed), size, max_shift=0.0, return_draw=True)
        expected = dilate_holes(threshold_holes(m), draw.kernel).sum()
        assert abs((out == 0).sum() - expected) <= 0.03 * expected
