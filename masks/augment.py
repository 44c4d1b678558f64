"""NVIDIA's augmentation of its raw training masks, in the project's polarity (255 valid, 0 hole).

NVIDIA's dataset page says their training binarised the raw masks at threshold 0.6, dilated the holes by
9 to 49 px at random, then translated, rotated and cropped them (quoted in docs/nvidia-masks.md). Nothing
states the dilation kernel's shape, the translation range, the rotation range, the interpolation, or what
fills the area uncovered by a rotation; the choices below are ours.

Steps, in NVIDIA's order (`nvidia_augment`):

1. Binarise.  The raw training PNGs are grey, hole = dark, valid = white (our polarity).  Reading the
   threshold on the hole channel h = 1 - v / 255: hole where h >= 0.6, i.e. v <= 0.4 * 255 = 102 (exact
   integer test ``255 - v >= 153``).  No NVIDIA source states the direction (the page says "threshold
   0.6" only, and NVIDIA released no training loader); the other reading, valid where v > 0.6 * 255 (hole
   where h >= 0.4, larger holes), is `threshold=0.4`, in training `mask_threshold: 0.4`.
2. Upscale (ours) when the source is smaller than `size` on either side: nearest neighbour on the
   binary hole map, so the shorter side becomes `size`; then every later step is in output pixels.
3. Dilate the holes with a square kernel of side k, k drawn uniformly from the integers
   [round(9 * size / 512), round(49 * size / 512)] (half-up rounding, both ends at least 1): exactly
   9..49 at 512 px, 2..12 at 128 px.  A single hole pixel becomes a k x k square.
4. Translate by (dy, dx), each uniform in [-max_shift * size, max_shift * size] px (rounded to integers;
   default max_shift 0.25), and rotate about the image centre by an angle uniform in
   [-max_angle, max_angle] degrees (default 180: any angle), both in one nearest-neighbour affine warp so
   the mask stays binary; pixels brought in from outside the source are valid.
5. Crop a `size` x `size` window at a uniform random position.

The random draws come from the given Generator in a fixed order (k, dy, dx, angle, top, left), every
draw made even when its range is empty, so one rng state gives one output, byte for byte.

>>> import numpy as np
>>> m = np.full((64, 64), 255, np.uint8); m[30:34, 30:34] = 0
>>> out = nvidia_augment(m, np.random.default_rng(0), 64)
>>> out.shape, out.dtype, sorted(np.unique(out).tolist())
((64, 64), dtype('uint8'), [0, 255])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from masks.conventions import HOLE, PAPER_SIZE, VALID

# NVIDIA's published numbers, at the paper's 512 px.
HOLE_THRESHOLD: float = 0.6
DILATION_RANGE_512: tuple[int, int] = (9, 49)
# Our choices where NVIDIA gives no number.
MAX_SHIFT: float = 0.25  # fraction of the output size
MAX_ANGLE: float = 180.0  # degrees; 180 = any angle


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def dilation_range(size: int) -> tuple[int, int]:
    """Inclusive (lo, hi) of the dilation kernel side at output size `size`: 9..49 scaled from 512 px."""
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    lo = max(1, _round_half_up(DILATION_RANGE_512[0] * size / PAPER_SIZE))
    hi = max(lo, _round_half_up(DILATION_RANGE_512[1] * size / PAPER_SIZE))
    return lo, hi


def threshold_holes(mask: np.ndarray, threshold: float = HOLE_THRESHOLD) -> np.ndarray:
    """bool (H,W), True = hole: hole-channel value 1 - v/255 >= threshold on a uint8 (H,W) mask (255 valid).

    With the default 0.6 this is v <= 102.  The comparison is done on integers (255 - v >= threshold *
    255, rounded up) so that 0.6 * 255 = 153 is not lost to floating point.
    """
    m = np.asarray(mask)
    if m.dtype != np.uint8 or m.ndim != 2:
        raise ValueError(f"expected a uint8 (H,W) mask, got {m.dtype} {m.shape}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
    need = math.ceil(round(threshold * VALID, 9))  # 153 for 0.6
    return (VALID - m.astype(np.int16)) >= need


def _upscale(hole: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour upscale so that both sides are at least `size` (aspect ratio kept)."""
    h, w = hole.shape
    if min(h, w) >= size:
        return hole
    scale = size / min(h, w)
    new_h, new_w = max(size, math.ceil(h * scale)), max(size, math.ceil(w * scale))
    return cv2.resize(hole.astype(np.uint8), (new_w, new_h), interpolation=cv2.INTER_NEAREST).astype(bool)


def dilate_holes(hole: np.ndarray, k: int) -> np.ndarray:
    """Grow the holes with a k x k square kernel (k >= 1; 1 changes nothing).  bool (H,W) in and out."""
    if k < 1:
        raise ValueError(f"kernel side must be at least 1, got {k}")
    if k == 1:
        return hole.copy()
    kernel = np.ones((k, k), np.uint8)
    # OpenCV anchors even kernels at k // 2, so a single pixel still becomes exactly k wide.
    return cv2.dilate(hole.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(
        bool
    )


def rotate_holes(hole: np.ndarray, angle: float, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Rotate by `angle` degrees (counter-clockwise) about the centre, then shift by (dy, dx) px.

    Nearest neighbour, same shape out; pixels coming from outside the source are not holes.  bool (H,W).
    """
    h, w = hole.shape
    mat = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), float(angle), 1.0)
    mat[0, 2] += float(shift[1])
    mat[1, 2] += float(shift[0])
    out = cv2.warpAffine(
        hole.astype(np.uint8),
        mat,
        (w, h),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return out.astype(bool)


@dataclass(frozen=True)
class AugmentDraw:
    """The random choices of one `nvidia_augment` call, for logging and tests."""

    kernel: int
    dy: int
    dx: int
    angle: float
    top: int
    left: int


def nvidia_augment(
    mask: np.ndarray,
    rng: np.random.Generator,
    size: int,
    *,
    max_shift: float = MAX_SHIFT,
    max_angle: float = MAX_ANGLE,
    threshold: float = HOLE_THRESHOLD,
    return_draw: bool = False,
) -> np.ndarray | tuple[np.ndarray, AugmentDraw]:
    """One augmented training mask: uint8 (size,size), 255 valid, 0 hole.  Steps in the module docstring.

    `mask` is a uint8 (H,W) raw training mask in the project's polarity (grey levels allowed).
    `max_shift` (fraction of `size`) and `max_angle` (degrees) bound translation and rotation; 0 turns
    either off.  With `return_draw` the random choices come back too.
    """
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if max_shift < 0 or max_angle < 0:
        raise ValueError(f"max_shift and max_angle must be non-negative, got {max_shift}, {max_angle}")
    hole = _upscale(threshold_holes(mask, threshold), size)  # bool (H',W'), both sides >= size
    h, w = hole.shape

    lo, hi = dilation_range(size)
    kernel = int(rng.integers(lo, hi + 1))
    reach = max_shift * size
    dy = _round_half_up(float(rng.uniform(-reach, reach)))
    dx = _round_half_up(float(rng.uniform(-reach, reach)))
    angle = float(rng.uniform(-max_angle, max_angle))
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))

    hole = dilate_holes(hole, kernel)
    if angle != 0.0 or dy != 0 or dx != 0:
        hole = rotate_holes(hole, angle, (dy, dx))
    crop = hole[top : top + size, left : left + size]
    out = np.where(crop, HOLE, VALID).astype(np.uint8)
    if return_draw:
        return out, AugmentDraw(kernel, dy, dx, angle, top, left)
    return out
