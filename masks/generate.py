"""Irregular hole masks aimed at one hole-ratio bin and one border group.

Shapes are drawn with OpenCV into a hole canvas (255 = hole) one primitive at a time; each primitive is
sized from what is still missing, so a mask needs few of them. The primitive that crosses the target is
kept whole when the ratio stays inside the bin, and otherwise trimmed to its pixels nearest its anchor
(a stroke gets shorter, a blob loses its far side), so every mask lands in (bin.lo, bin.hi] exactly,
without rejection sampling. Group B clears the margin after every primitive and keeps adding.

>>> import numpy as np
>>> from masks.conventions import BINS, Group, hole_ratio
>>> m = generate_mask(np.random.default_rng(0), 128, BINS[3], Group.B)
>>> m.dtype, m.shape, BINS[3].contains(hole_ratio(m))
(dtype('uint8'), (128, 128), True)
"""

from __future__ import annotations

import math
from enum import StrEnum

import cv2
import numpy as np

from masks.conventions import Bin, Group, margin_for

# OpenCV drawing runs single-threaded here: masks are small and workers parallelise across masks.
cv2.setNumThreads(1)

_HOLE = 255  # value drawn into the hole canvas; the returned mask is its complement (255 valid, 0 hole)
_MAX_PRIMITIVES = 400  # after this many primitives the canvas is grown by dilation (always terminates)


class Kind(StrEnum):
    """Mask families. `mixed` draws every primitive from a per-mask mixture of the other three."""

    STROKES = "strokes"  # free-form thick brush strokes (random walks of varying width)
    BLOBS = "blobs"  # clusters of filled ellipses
    OCCLUSION = "occlusion"  # smooth random closed contours, rotated, often cropped by the border
    MIXED = "mixed"


KINDS: tuple[str, ...] = tuple(k.value for k in Kind)
_FAMILIES = (Kind.STROKES, Kind.BLOBS, Kind.OCCLUSION)


def pixel_range(b: Bin, n: int) -> tuple[int, int]:
    """Smallest and largest hole-pixel counts k with b.lo < k/n <= b.hi (same float test as Bin.contains)."""
    lo = max(int(math.floor(b.lo * n)) - 1, 0)
    while not lo / n > b.lo:
        lo += 1
    hi = int(math.floor(b.hi * n)) + 1
    while not hi / n <= b.hi:
        hi -= 1
    return lo, hi


def inner_fraction(size: int, margin: int) -> float:
    """Share of the image left for holes in group B."""
    inner = max(size - 2 * margin, 0)
    return inner * inner / (size * size)


# Group B must not have to fill more than this share of the inner square (at 512 px and the paper's
# 50 px margin the inner square is 64.7 % of the image, so (0.5,0.6] needs at most 93 % of it).
_MAX_INNER_FILL = 0.95


def check_feasible(size: int, bins: tuple[Bin, ...] | list[Bin], groups, margin: int | None = None) -> None:
    """Raise ValueError (a one-line reason) when masks of this size cannot be made for these bins/groups."""
    if size < 16:
        raise ValueError(f"size {size} is too small: masks need at least 16 px")
    m = margin_for(size, margin)
    if any(Group(g) is Group.B for g in groups):
        frac = inner_fraction(size, m)
        worst = max(b.hi for b in bins)
        if frac * _MAX_INNER_FILL < worst:
            raise ValueError(
                f"size {size} is too small for the border margin of {m} px: group B leaves "
                f"{100 * frac:.1f} % of the image for holes, bin up to {worst:g} needs more "
                f"(use a larger --size or --no-border)"
            )


def _family_weights(rng: np.random.Generator, kind: Kind) -> np.ndarray:
    if kind is Kind.MIXED:
        # A per-mask mixture: some masks mostly strokes, some mostly blobs or occlusions.
        return rng.dirichlet((0.7, 0.5, 0.5))
    w = np.zeros(3)
    w[_FAMILIES.index(kind)] = 1.0
    return w


def _anchor(
    rng: np.random.Generator, size: int, m: int, group: Group, touch_border: bool
) -> tuple[float, float]:
    """Centre of the next primitive as (x, y)."""
    if group is Group.B:
        return float(rng.uniform(m, size - m)), float(rng.uniform(m, size - m))
    if touch_border:
        # In the border band (or just beyond it), so that N masks reach into the margin.
        d = rng.uniform(-0.05 * size, max(m, 1))
        t = rng.uniform(0, size)
        side = int(rng.integers(4))
        x, y = ((d, t), (size - 1 - d, t), (t, d), (t, size - 1 - d))[side]
        return float(x), float(y)
    return float(rng.uniform(-0.03 * size, 1.03 * size)), float(rng.uniform(-0.03 * size, 1.03 * size))


def _draw_stroke(canvas, rng, x, y, area, size) -> None:
    # Brush width grows with the area still missing, within [1.2 %, 9 %] of the image side.
    w = float(np.clip(math.sqrt(area) * rng.uniform(0.15, 0.4), 0.012 * size, 0.09 * size))
    length = min(area / w, 2.5 * size)
    nseg = int(rng.integers(2, 8))
    seg = max(length / nseg, 1.0)
    ang = rng.uniform(0, 2 * math.pi)
    px, py = x, y
    for _ in range(nseg):
        ang += rng.normal(0, 0.9)
        qx, qy = px + seg * math.cos(ang), py + seg * math.sin(ang)
        # Width wobbles along the stroke like a brush; round caps/joins come from thick cv2.line.
        t = max(int(round(w * rng.uniform(0.7, 1.3))), 1)
        cv2.line(canvas, (int(px), int(py)), (int(qx), int(qy)), _HOLE, t, cv2.LINE_8)
        px, py = qx, qy


def _draw_blobs(canvas, rng, x, y, area, size) -> None:
    n = int(rng.integers(1, 4))
    share = rng.dirichlet(np.ones(n)) * area
    for i in range(n):
        r = float(rng.uniform(0.35, 1.0))  # minor/major axis ratio
        b = math.sqrt(share[i] / (math.pi * r))
        a = max(int(b * r), 1)
        b = max(int(b), 1)
        if i == 0:
            cx, cy = x, y
        else:  # further ellipses overlap or sit beside the first: one irregular blob or a small cluster
            d = rng.uniform(0.3, 1.3) * math.sqrt(area / math.pi)
            phi = rng.uniform(0, 2 * math.pi)
            cx, cy = x + d * math.cos(phi), y + d * math.sin(phi)
        cv2.ellipse(canvas, (int(cx), int(cy)), (b, a), float(rng.uniform(0, 180)), 0, 360, _HOLE, -1)


_THETA = np.linspace(0, 2 * math.pi, 48, endpoint=False)
_HARMONICS = np.arange(1, 6)[:, None]


def _draw_occlusion(canvas, rng, x, y, area, size) -> None:
    # r(theta) = R (1 + sum_k a_k cos(k theta + phi_k)): a smooth random outline, rotated by the phases.
    amp = rng.uniform(0, 0.45, size=(5, 1)) / _HARMONICS
    phase = rng.uniform(0, 2 * math.pi, size=(5, 1))
    rel = 1.0 + (amp * np.cos(_HARMONICS * _THETA + phase)).sum(0)
    rel = np.maximum(rel, 0.25)
    # Anisotropic stretch (the paper's random transforms) keeps the area.
    s = float(rng.uniform(0.6, 1.6))
    rot = rng.uniform(0, math.pi)
    mean_r2 = float((rel * rel).mean())
    big_r = math.sqrt(area / (math.pi * mean_r2))
    u = big_r * rel * np.cos(_THETA) * s
    v = big_r * rel * np.sin(_THETA) / s
    c, sn = math.cos(rot), math.sin(rot)
    pts = np.stack([x + c * u - sn * v, y + sn * u + c * v], axis=1)
    cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], _HOLE, cv2.LINE_8)
    if rng.random() < 0.5:  # dilated outline: a ragged rim around the shape
        cv2.polylines(canvas, [np.round(pts).astype(np.int32)], True, _HOLE, max(int(0.02 * size), 1))


_DRAW = {Kind.STROKES: _draw_stroke, Kind.BLOBS: _draw_blobs, Kind.OCCLUSION: _draw_occlusion}


def _clear_margin(canvas: np.ndarray, m: int) -> None:
    if m > 0:
        canvas[:m] = 0
        canvas[-m:] = 0
        canvas[:, :m] = 0
        canvas[:, -m:] = 0


def _trim(canvas: np.ndarray, prev: np.ndarray, keep: int, x: float, y: float) -> None:
    """Reset `canvas` to `prev` plus the `keep` new hole pixels nearest (x, y)."""
    new = cv2.bitwise_and(canvas, cv2.bitwise_not(prev))
    bx, by, bw, bh = cv2.boundingRect(new)
    ys, xs = np.nonzero(new[by : by + bh, bx : bx + bw])
    ys = ys + by
    xs = xs + bx
    d = (xs - x) ** 2 + (ys - y) ** 2
    idx = np.argsort(d, kind="stable")[:keep]
    np.copyto(canvas, prev)
    canvas[ys[idx], xs[idx]] = _HOLE


def generate_mask(
    rng: np.random.Generator,
    size: int,
    bin: Bin,
    group: Group | str,
    kind: Kind | str = "mixed",
    margin: int | None = None,
) -> np.ndarray:
    """One irregular mask, uint8 (size, size): 255 valid, 0 hole; hole ratio in (bin.lo, bin.hi].

    Group B: no hole pixel within `margin` (default margin_for(size)) of the border. Group N: the first
    primitive is usually placed in the border band, so most masks reach into the margin.
    """
    group = Group(group)
    kind = Kind(kind)
    m = margin_for(size, margin)
    check_feasible(size, (bin,), (group,), m)
    n = size * size
    lo_px, hi_px = pixel_range(bin, n)
    # Target count uniform inside the bin; anything in [target, hi_px] is accepted.
    target = int(rng.integers(lo_px, hi_px + 1))
    weights = _family_weights(rng, kind)
    canvas = np.zeros((size, size), np.uint8)
    prev = np.empty_like(canvas)
    count = 0
    touch = group is Group.N and rng.random() < 0.85
    # Minimum primitive area: keeps tiny bins from drawing specks.
    min_area = 0.0015 * n
    for i in range(_MAX_PRIMITIVES):
        need = target - count
        fam = _FAMILIES[int(rng.choice(3, p=weights))]
        area = max(need * rng.uniform(0.3, 0.95), min_area)
        x, y = _anchor(rng, size, m, group, touch and i == 0)
        np.copyto(prev, canvas)
        _DRAW[fam](canvas, rng, x, y, area, size)
        if group is Group.B:
            _clear_margin(canvas, m)
        new_count = cv2.countNonZero(canvas)
        if new_count > hi_px:
            _trim(canvas, prev, target - count, x, y)
            count = target
            break
        count = new_count
        if count >= target:
            break
    else:
        # Fallback (rare: a nearly full inner square): grow every hole by one pixel until the target.
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        while count < target:
            np.copyto(prev, canvas)
            canvas = cv2.dilate(canvas, kernel)
            if group is Group.B:
                _clear_margin(canvas, m)
            new_count = cv2.countNonZero(canvas)
            if new_count == count:  # nothing to grow from: seed a disc in the middle
                cv2.circle(canvas, (size // 2, size // 2), max(size // 16, 1), _HOLE, -1)
                new_count = cv2.countNonZero(canvas)
            if new_count > hi_px:
                _trim(canvas, prev, target - count, size / 2, size / 2)
                count = target
            else:
                count = new_count
    return cv2.bitwise_not(canvas)
