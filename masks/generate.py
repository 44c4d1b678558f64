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

# Bump when a change alters the masks made from a seed: stored sets made by another version are redone.
GENERATOR_VERSION = 2

_HOLE = 255  # value drawn into the hole canvas; the returned mask is its complement (255 valid, 0 hole)
_MAX_PRIMITIVES = 400  # after this many primitives the holes are grown by dilation (always terminates)


class Kind(StrEnum):
    """Mask families. `mixed` draws every primitive from a per-mask mixture of the other three."""

    STROKES = "strokes"  # free-form thick brush strokes (random walks of varying width)
    BLOBS = "blobs"  # clusters of filled ellipses
    OCCLUSION = "occlusion"  # smooth random closed contours, rotated, often cropped by the border
    MIXED = "mixed"
    # Lower-case aliases (same members): Kind.strokes is Kind.STROKES.
    strokes = "strokes"
    blobs = "blobs"
    occlusion = "occlusion"
    mixed = "mixed"


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
    """Cumulative family probabilities (strokes, blobs, occlusion) for one mask."""
    if kind is Kind.MIXED:
        # A per-mask mixture: some masks mostly strokes, some mostly blobs or occlusions.
        return np.cumsum(rng.dirichlet((0.7, 0.5, 0.5)))
    w = np.zeros(3)
    w[_FAMILIES.index(kind)] = 1.0
    return np.cumsum(w)


def _anchor(
    rng: np.random.Generator, region: np.ndarray, size: int, m: int, touch_border: bool, dense: bool
) -> tuple[float, float]:
    """Centre (x, y) of the next primitive in `region` coordinates (the inner square for group B)."""
    ext = region.shape[0]
    if touch_border:
        # In the border band (or just beyond it), so that N masks reach into the margin.
        u = rng.random(3).tolist()
        d, t, side = -0.05 * size + u[0] * (max(m, 1) + 0.05 * size), u[1] * size, int(4 * u[2])
        return ((d, t), (size - 1 - d, t), (t, d), (t, size - 1 - d))[side]
    lo, hi = (0.0, ext) if ext < size else (-0.03 * size, 1.03 * size)
    xy = (lo + (hi - lo) * rng.random(12 if dense else 2)).tolist()
    if dense:  # a crowded canvas: start the next shape on a pixel that is still valid
        for j in range(0, 12, 2):
            x, y = xy[j], xy[j + 1]
            if not (0 <= x < ext and 0 <= y < ext) or region[int(y), int(x)] == 0:
                return x, y
    return xy[0], xy[1]


# A plan is a list of drawing ops and a box (x0, y0, x1, y1) that holds every pixel they can touch.
_LINE, _ELLIPSE, _POLY, _OUTLINE = range(4)


def _plan_stroke(rng, x, y, area, size):
    # Plain Python floats: a stroke has at most 8 segments, numpy's per-call cost would dominate.
    u = rng.random(11).tolist()
    turn = rng.normal(0.0, 0.9, 8).tolist()
    # Brush width grows with the area still missing, within [2 %, 9 %] of the image side.
    w = min(max(math.sqrt(area) * (0.15 + 0.3 * u[0]), 0.02 * size), 0.09 * size)
    length = min(area / w, 2.5 * size)
    nseg = 2 + int(6 * u[1])
    seg = max(length / nseg, 1.0)
    ang = 2 * math.pi * u[2]
    px, py = int(x), int(y)
    x0 = x1 = px
    y0 = y1 = py
    ops, tmax = [], 1
    for i in range(nseg):
        ang += turn[i]
        x += seg * math.cos(ang)
        y += seg * math.sin(ang)
        qx, qy = int(x), int(y)
        # Width wobbles along the stroke like a brush; thick cv2.line has round caps: round joints.
        t = max(int(round(w * (0.7 + 0.6 * u[3 + i]))), 1)
        ops.append((_LINE, (px, py), (qx, qy), t))
        tmax = max(tmax, t)
        x0, x1, y0, y1 = min(x0, qx), max(x1, qx), min(y0, qy), max(y1, qy)
        px, py = qx, qy
    r = tmax // 2 + 2
    return ops, (x0 - r, y0 - r, x1 + r + 1, y1 + r + 1)


def _plan_blobs(rng, x, y, area, size):
    n = int(rng.integers(1, 4))
    share = rng.dirichlet(np.ones(n)) * area
    u = rng.random((n, 4))
    ops, r0 = [], math.sqrt(area / math.pi)
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for i in range(n):
        ratio = 0.35 + 0.65 * u[i, 0]  # minor/major axis ratio
        major = math.sqrt(share[i] / (math.pi * ratio))
        a, b = max(int(major), 1), max(int(major * ratio), 1)
        if i == 0:
            cx, cy = x, y
        else:  # further ellipses overlap or sit beside the first: one irregular blob or a small cluster
            d, phi = (0.3 + u[i, 1]) * r0, 2 * math.pi * u[i, 2]
            cx, cy = x + d * math.cos(phi), y + d * math.sin(phi)
        ops.append((_ELLIPSE, (int(cx), int(cy)), (a, b), 180.0 * u[i, 3]))
        x0, y0 = min(x0, cx - a), min(y0, cy - a)
        x1, y1 = max(x1, cx + a), max(y1, cy + a)
    return ops, (int(x0) - 2, int(y0) - 2, int(x1) + 3, int(y1) + 3)


_THETA = np.linspace(0, 2 * math.pi, 72, endpoint=False)
_K = np.arange(1, 13)  # harmonics 1-5 shape the outline, 6-12 roughen its edge
# cos(k theta + phi) = cos(k theta) cos(phi) - sin(k theta) sin(phi): (24, 72) table, one matmul per shape.
_TRIG = np.concatenate([np.cos(_K[:, None] * _THETA), -np.sin(_K[:, None] * _THETA)])
_UNIT = np.stack([np.cos(_THETA), np.sin(_THETA)])  # (2, 72)


def _plan_occlusion(rng, x, y, area, size):
    # r(theta) = R (1 + sum_k a_k cos(k theta + phi_k)): a smooth random outline.
    u = rng.random(38)
    rough = 0.25 * u[13] ** 2  # most outlines smooth, some ragged like a dilated occlusion boundary
    amp = np.where(_K <= 5, 0.45, rough) * u[14:26] / _K
    phase = 2 * math.pi * u[26:38]
    rel = np.maximum(1.0 + np.concatenate([amp * np.cos(phase), amp * np.sin(phase)]) @ _TRIG, 0.25)
    # Anisotropic stretch and rotation (the paper's random transforms); the stretch keeps the area.
    st, rot, rim = 0.6 + u[10], math.pi * u[11], u[12] < 0.5
    big_r = math.sqrt(area / (math.pi * float(rel @ rel) / len(rel)))
    c, sn = math.cos(rot), math.sin(rot)
    # rotation @ diag(st, 1/st) @ unit circle, scaled by r(theta): (2, 72) -> points (72, 2)
    m = np.array([[c * st, -sn / st], [sn * st, c / st]]) * big_r
    pts = ((m @ (_UNIT * rel)).T + (x, y)).round().astype(np.int32)
    ops = [(_POLY, pts)]
    t = 0
    if rim:  # dilated outline: a ragged rim around the shape
        t = max(int(0.02 * size), 1)
        ops.append((_OUTLINE, pts, t))
    lo, hi = pts.min(0), pts.max(0)
    r = t // 2 + 2
    return ops, (int(lo[0]) - r, int(lo[1]) - r, int(hi[0]) + r + 1, int(hi[1]) + r + 1)


_PLAN = (_plan_stroke, _plan_blobs, _plan_occlusion)


def _render(img: np.ndarray, ops: list) -> None:
    for op in ops:
        if op[0] == _LINE:
            cv2.line(img, op[1], op[2], _HOLE, op[3], cv2.LINE_8)
        elif op[0] == _ELLIPSE:
            cv2.ellipse(img, op[1], op[2], op[3], 0, 360, _HOLE, -1, cv2.LINE_8)
        elif op[0] == _POLY:
            cv2.fillPoly(img, [op[1]], _HOLE, cv2.LINE_8)
        else:
            cv2.polylines(img, [op[1]], True, _HOLE, op[2], cv2.LINE_8)


def _shift(ops: list, dx: int, dy: int) -> list:
    """The same drawing ops moved by (dx, dy) pixels."""
    out = []
    for op in ops:
        if op[0] == _LINE:
            out.append((_LINE, (op[1][0] + dx, op[1][1] + dy), (op[2][0] + dx, op[2][1] + dy), op[3]))
        elif op[0] == _ELLIPSE:
            out.append((_ELLIPSE, (op[1][0] + dx, op[1][1] + dy), op[2], op[3]))
        else:
            out.append((op[0], op[1] + np.array([dx, dy], np.int32), *op[2:]))
    return out


def _tip(op: tuple) -> tuple[float, float]:
    """Where a shape ends: the last point of a stroke, the centre of an ellipse, a vertex of a contour."""
    if op[0] == _LINE:
        return float(op[2][0]), float(op[2][1])
    if op[0] == _ELLIPSE:
        return float(op[1][0]), float(op[1][1])
    return float(op[1][0][0]), float(op[1][0][1])


def _trim(roi: np.ndarray, prev: np.ndarray, keep: int, x: float, y: float) -> None:
    """Reset `roi` to `prev` plus the `keep` new hole pixels nearest (x, y) (ROI coordinates).

    Ties on the integer squared distance go in raster order, so the result is fixed by the inputs alone.
    """
    ys, xs = np.nonzero(cv2.bitwise_and(roi, cv2.bitwise_not(prev)))
    d = np.round((xs - x) ** 2 + (ys - y) ** 2).astype(np.int64)
    np.copyto(roi, prev)
    if keep <= 0:
        return
    if keep < len(d):
        r = np.partition(d, keep - 1)[keep - 1]
        inside = np.flatnonzero(d < r)
        ring = np.flatnonzero(d == r)[: keep - len(inside)]
        sel = np.concatenate([inside, ring])
        ys, xs = ys[sel], xs[sel]
    roi[ys, xs] = _HOLE


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
    cum = _family_weights(rng, kind).tolist()
    canvas = np.zeros((size, size), np.uint8)
    # Group B draws into a view of the inner square: OpenCV clips there, the margin stays valid.
    region = canvas[m : size - m, m : size - m] if group is Group.B and m > 0 else canvas
    ext = region.shape[0]
    region_px = ext * ext
    touch = group is Group.N and rng.random() < 0.85
    # No specks: the last shape may overshoot the target, anything up to hi_px is kept.
    min_area = 0.004 * n
    small = 0.012 * n
    tips: list[tuple[float, float]] = []  # end points of drawn shapes, inside the region
    count = 0
    for i in range(_MAX_PRIMITIVES):
        if count >= target:
            break
        need = target - count
        cover = count / region_px
        u_fam, u_area = rng.random(2).tolist()
        fam = 0 if u_fam * cum[2] < cum[0] else (1 if u_fam * cum[2] < cum[1] else 2)
        # Size the shape from what is missing; a crowded region wastes part of it on overlap.
        area = need * (0.35 + 0.65 * u_area) / max(1.0 - cover, 0.2)
        area = min(max(area, min_area), 0.45 * region_px)
        if need < small and tips and u_area < 0.8:
            # A little is missing: grow an existing hole from one of its tips instead of adding a speck.
            x, y = tips[int(rng.integers(len(tips)))]
        else:
            x, y = _anchor(rng, region, size, m, touch and i == 0, cover > 0.3)
        count = _place(rng, region, fam, (x, y), area, size, cover, count, target, hi_px, tips)
    else:
        count = _grow(region, count, target, hi_px)
    return cv2.bitwise_not(canvas)


def _place(rng, region, fam: int, xy, area: float, size: int, cover: float, count: int, target: int,
           hi_px: int, tips: list) -> int:  # fmt: skip
    """Draw one primitive of family `fam` anchored at `xy` into `region`; returns the new hole count.

    A shape too big for the bin is put back and tried smaller (twice), then trimmed to the pixels nearest
    its anchor. `tips` collects the end points of drawn shapes."""
    x, y = xy
    ext = region.shape[0]
    inner = ext < size
    need = target - count
    for attempt in range(3):
        ops, (x0, y0, x1, y1) = _PLAN[fam](rng, x, y, area, size)
        if (
            inner
            and cover < 0.4
            and x1 - x0 <= ext
            and y1 - y0 <= ext
            and (x0 < 0 or y0 < 0 or x1 > ext or y1 > ext)
        ):
            # Group B: move a shape that fits into the inner square rather than cut it straight at the
            # margin (the paper's B masks have holes away from the border, not sliced ones). A region
            # filled beyond 40 % will show the margin's straight edges anyway.
            dx, dy = max(-x0, 0) - max(x1 - ext, 0), max(-y0, 0) - max(y1 - ext, 0)
            ops = _shift(ops, dx, dy)
            x, y, x0, x1, y0, y1 = x + dx, y + dy, x0 + dx, x1 + dx, y0 + dy, y1 + dy
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, ext), min(y1, ext)
        if x0 >= x1 or y0 >= y1:
            return count  # entirely outside the image
        roi = region[y0:y1, x0:x1]
        prev = roi.copy()
        before = cv2.countNonZero(roi)
        _render(region, ops)
        gain = cv2.countNonZero(roi) - before
        if count + gain <= hi_px:
            tip = _tip(ops[-1])
            if gain and 0 <= tip[0] < ext and 0 <= tip[1] < ext:
                tips.append(tip)
            return count + gain
        if attempt < 2:  # too big for the bin: put it back and try a smaller shape here
            np.copyto(roi, prev)
            area *= 0.9 * (need + (hi_px - target) / 2) / gain
        else:  # keep the part of it nearest its anchor
            _trim(roi, prev, need, x - x0, y - y0)
    return target


def _grow(region: np.ndarray, count: int, target: int, hi_px: int) -> int:
    """Fallback (rare: a nearly full region): grow every hole by one pixel until the target."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    ext = region.shape[0]
    while count < target:
        prev = region.copy()
        region[...] = cv2.dilate(region, kernel)
        new_count = cv2.countNonZero(region)
        if new_count == count:  # nothing to grow from: seed a disc in the middle
            cv2.circle(region, (ext // 2, ext // 2), max(ext // 16, 1), _HOLE, -1)
            new_count = cv2.countNonZero(region)
        if new_count > hi_px:
            _trim(region, prev, target - count, ext / 2, ext / 2)
            return target
        count = new_count
    return count
