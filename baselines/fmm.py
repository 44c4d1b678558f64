"""OpenCV's fast-marching inpainting (cv2.INPAINT_TELEA and cv2.INPAINT_NS) re-implemented in numba.

`inpaint_telea(img8, hole, radius)` and `inpaint_ns(img8, hole, radius)` return, bit for bit, the uint8
image of `cv2.inpaint(img8, hole8, radius, cv2.INPAINT_TELEA)` (resp. `cv2.INPAINT_NS`) of OpenCV 5.1
(opencv-python-headless 5.1.0), `hole8` being the hole as a uint8 mask (nonzero = to inpaint), several
times faster. Own code (nothing copied from OpenCV) following the algorithm of OpenCV's photo module
(Telea 2004; Bertalmio et al. 2001 as OpenCV simplifies it); where cv2 5.1 differs from older OpenCV
sources (the value term reads the neighbour itself, `1 + |.|` in double, the final + 0.5 in double) the
details below were settled by comparing outputs with cv2.inpaint.

Checked: tests/test_fmm.py (np.array_equal with cv2.inpaint over the project's irregular masks of every
hole-ratio bin, noise / smooth / photo images, square and non-square sizes, holes on every border and
corner, near-ties in rounding, radii 1 to 14 and OpenCV's clamping, gray images), about 1500 further
random cases while writing it, and benchmarks/fmm.py (512 px photos, every output identical).

The method, shared by both:

- radius: rounded half-to-even and clamped to [1, 100] (cvRound, then OpenCV's clamp);
- the hole's "band": known pixels with a hole pixel among their 4 neighbours; arrival time T = 0 there,
  1e6 elsewhere; the hole is filled in order of increasing T (a fast-marching front), ties in the order
  the pixels entered the queue (the band in raster order first), so the queue is a binary heap keyed by
  (T, insertion number);
- when a hole pixel is reached from a popped neighbour, its T is the minimum over the four quadrants of
  the eikonal update (double precision, stored as float32), then its value is a weighted sum over the
  known pixels of the disk of the radius around it (float32 arithmetic, in raster order of the disk),
  rounded half-to-even and saturated to uint8; it then counts as known.

TELEA (Telea 2004): before filling, a second fast march runs outward from the band over the known
pixels within the radius's square of the hole, and their T is negated (the band's becomes -0). Weights
are |dst * lev * dir|: dst = 1 / (|r|^2 |r|) (double, stored as float32), lev = 1 / (1 + |T_q - T_p|) (the
`1 + |.|` and the quotient in double), dir = r . grad T (float32; replaced by 1e-6 when |dir| <= 0.01).
The value is Ia/s + (Jx + Jy) / (sqrt(Jx^2 + Jy^2) + 1e-20) in float32, where Ia = sum w I_q and
J = -sum w (grad I_q * r) componentwise, plus 0.5 added in double before rounding.

NS: no outward march. Per channel, with the isophote gradient g = (-dy, dx) from sums of absolute
differences, w = dst * dir, dst = 1 / (|r|^4 + 1), dir = |r . g| / sqrt(|r|^2 |g|^2) (float32; 1e-6 when
|r . g| <= 0.01); the value is (double) Ia / s.

Image gradients use OpenCV's one-sided and central differences chosen by which neighbours are known
(central ones multiplied by 2, not halved), and near the image border its index shifts: on the first row
(column) the difference is taken one row (column) further in, which can read a hole pixel that is not
filled yet (its input content) -- hence cv2 output depends on what lies under a hole near the top and
left edges, and so does ours. On a 1-pixel-high or -wide image OpenCV reads outside the image there;
these functions read the nearest row/column instead, so for H == 1 or W == 1 they fill sanely but are
not guaranteed to equal cv2's (undefined) output.

How it is fast: every known pixel near the hole carries a cached record (its value and both gradient
components per channel); a record changes only when a pixel of its 3x3 neighbourhood is filled, so it is
recomputed then, and the disk sum reads records instead of re-deriving gradients per neighbour and
channel. Grids are padded by the radius, so a disk never needs bounds tests; per filled pixel the disk's
weights are computed first (vectorised; TELEA's shared by the channels), then summed sequentially in
OpenCV's order, skipping pixels not known yet -- float32 sums in that order are what make it bit-exact.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["OPENCV_VERIFIED", "clamp_radius", "inpaint_ns", "inpaint_telea"]

# The cv2 version the outputs were verified against (major, minor).
OPENCV_VERIFIED: tuple[int, int] = (5, 1)

_BIG = np.float32(1.0e6)  # OpenCV's "far" arrival time
_EPS_W = np.float32(1.0e-6)  # a weight's direction term when |dir| <= 0.01
_TINY = np.float32(1.0e-20)

# ------------------------------------------------------------------------------------------- the queue
# A binary min-heap of int64 keys (float32 bits of T << 32) | insertion number. Arrival times are never
# negative (0 on the band, >= 0.5 after an update), and the bits of a non-negative float32 order like the
# value, so one integer comparison orders by (T, insertion number): FIFO among equal T, as OpenCV's
# sorted list does. `pos[n]` is the grid index of the n-th insertion.


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _push(heap: np.ndarray, size: int, key: np.int64) -> int:
    k = size
    while k > 0:
        parent = (k - 1) >> 1
        if heap[parent] <= key:
            break
        heap[k] = heap[parent]
        k = parent
    heap[k] = key
    return size + 1


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _pop(heap: np.ndarray, size: int) -> tuple[np.int64, int]:
    top = heap[0]
    size -= 1
    last = heap[size]
    k = 0
    while True:
        child = 2 * k + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if last <= heap[child]:
            break
        heap[k] = heap[child]
        k = child
    heap[k] = last
    return top, size


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _key(fbuf: np.ndarray, ibuf: np.ndarray, t: np.float32, n: int) -> np.int64:
    fbuf[0] = t  # ibuf is an int32 view of fbuf
    return (np.int64(ibuf[0]) << 32) | np.int64(n)


# ------------------------------------------------------------------------------------- arrival times
# Grids are flat, (H + 2r) x (W + 2r) with the image at offset (r, r), r >= 1: a disk of the radius
# around any image pixel stays inside, and the cells around the image act as OpenCV's padding (known,
# T = 1e6). Flag arrays hold 1 for "not known yet" (OpenCV's INSIDE), anything else for known.


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _solve(t: np.ndarray, flag: np.ndarray, p1: int, p2: int) -> np.float32:
    """Eikonal update from neighbours p1, p2 (one vertical, one horizontal), in double as OpenCV."""
    a = np.float64(t[p1])
    b = np.float64(t[p2])
    if flag[p1] != 1:
        if flag[p2] != 1:
            d = a - b
            if abs(d) >= 1.0:
                sol = 1.0 + min(a, b)
            else:
                sol = (a + b + math.sqrt(2.0 - d * d)) * 0.5
        else:
            sol = 1.0 + a
    elif flag[p2] != 1:
        sol = 1.0 + b
    else:
        sol = 1.0 + min(a, b)
    return np.float32(sol)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _arrival(t: np.ndarray, flag: np.ndarray, p: int, wg: int) -> np.float32:
    """T at grid index p: the least of the four quadrant updates."""
    a = _solve(t, flag, p - wg, p - 1)
    b = _solve(t, flag, p + wg, p - 1)
    c = _solve(t, flag, p - wg, p + 1)
    d = _solve(t, flag, p + wg, p + 1)
    return min(min(a, b), min(c, d))


@njit(cache=True, nogil=True, error_model="numpy")
def _setup(hole: np.ndarray, r: int):
    """(inside, t, band, n_band): hole flags (uint8, 1 = hole), T (1e6; 0 on the band), and the band's
    grid indices in raster order."""
    h, w = hole.shape
    wg = w + 2 * r
    n = (h + 2 * r) * wg
    inside = np.zeros(n, np.uint8)
    t = np.full(n, _BIG, np.float32)
    for y in range(h):
        row = (y + r) * wg + r
        for x in range(w):
            if hole[y, x]:
                inside[row + x] = 1
    band = np.empty(h * w, np.int64)
    nb = 0
    for y in range(h):
        row = (y + r) * wg + r
        for x in range(w):
            p = row + x
            if inside[p] == 0 and (inside[p - wg] | inside[p - 1] | inside[p + 1] | inside[p + wg]):
                band[nb] = p
                nb += 1
                t[p] = 0.0
    return inside, t, band, nb


@njit(cache=True, nogil=True, error_model="numpy")
def _near(hole: np.ndarray, r: int) -> np.ndarray:
    """(H,W) uint8: 1 where some hole pixel lies within the (2r+1)^2 square around the pixel (separable)."""
    h, w = hole.shape
    rows = np.zeros((h, w), np.uint8)
    for y in range(h):
        last = -(1 << 30)
        for x in range(w):
            if hole[y, x]:
                last = x
            if x - last <= r:
                rows[y, x] = 1
        last = 1 << 30
        for x in range(w - 1, -1, -1):
            if hole[y, x]:
                last = x
            if last - x <= r:
                rows[y, x] = 1
    near = np.zeros((h, w), np.uint8)
    for x in range(w):
        last = -(1 << 30)
        for y in range(h):
            if rows[y, x]:
                last = y
            if y - last <= r:
                near[y, x] = 1
        last = 1 << 30
        for y in range(h - 1, -1, -1):
            if rows[y, x]:
                last = y
            if last - y <= r:
                near[y, x] = 1
    return near


@njit(cache=True, nogil=True, error_model="numpy")
def _outside_times(near: np.ndarray, r: int, inside: np.ndarray, t: np.ndarray, band: np.ndarray, nb: int):
    """TELEA's outward march: T for the known pixels near the hole, negated.

    The region: image pixels of `near` (within the radius's square of the hole) that are neither hole nor
    band. It is marched from the band (raster order, T = 0), the hole counting as known at T = 1e6; every
    pixel that left the queue (the band included, whose T becomes -0) then has its T negated.
    """
    h, w = near.shape
    wg = w + 2 * r
    state = np.zeros(t.size, np.uint8)  # 1: in the region, not reached yet; 2: queued
    for y in range(h):
        row = (y + r) * wg + r
        for x in range(w):
            if near[y, x] and inside[row + x] == 0:
                state[row + x] = 1
    heap = np.empty(t.size, np.int64)
    pos = np.empty(t.size, np.int64)
    fbuf = np.zeros(1, np.float32)
    ibuf = fbuf.view(np.int32)
    size = 0
    n = 0
    for i in range(nb):
        state[band[i]] = 2
        pos[n] = band[i]
        size = _push(heap, size, _key(fbuf, ibuf, np.float32(0.0), n))
        n += 1
    while size > 0:
        key, size = _pop(heap, size)
        p0 = pos[key & 0xFFFFFFFF]
        for p in (p0 - wg, p0 - 1, p0 + wg, p0 + 1):
            if state[p] == 1:
                d = _arrival(t, state, p, wg)
                t[p] = d
                state[p] = 2
                pos[n] = p
                size = _push(heap, size, _key(fbuf, ibuf, d, n))
                n += 1
    for p in range(t.size):
        if state[p] == 2:
            t[p] = -t[p]


@njit(cache=True, nogil=True, error_model="numpy")
def _disk(r: int):
    """The disk of radius r without its centre, in raster order (OpenCV's loop order): row and column
    offsets (da, db) with da^2 + db^2 <= r^2, and |(da, db)|^2 as float32."""
    m = 0
    for a in range(-r, r + 1):
        for b in range(-r, r + 1):
            if a * a + b * b <= r * r and (a != 0 or b != 0):
                m += 1
    da = np.empty(m, np.int64)
    db = np.empty(m, np.int64)
    length2 = np.empty(m, np.float32)
    m = 0
    for a in range(-r, r + 1):
        for b in range(-r, r + 1):
            if a * a + b * b <= r * r and (a != 0 or b != 0):
                da[m] = a
                db[m] = b
                length2[m] = np.float32(a * a + b * b)
                m += 1
    return da, db, length2


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _index_shifts(y: int, x: int, h: int, w: int):
    """OpenCV's rows/columns for the image gradient at (y, x): km, km-1, kp, kp+1 and lm, lm-1, lp, lp+1.

    km is one row further in on the first row, kp one row back on the last; clamped to the image (only
    binds when h or w is 1, where OpenCV reads outside the image).
    """
    km = y + 1 if y == 0 else y
    kp = y - 1 if y == h - 1 else y
    lm = x + 1 if x == 0 else x
    lp = x - 1 if x == w - 1 else x
    return (
        min(km, h - 1),
        max(km - 1, 0),
        max(kp, 0),
        min(kp + 1, h - 1),
        min(lm, w - 1),
        max(lm - 1, 0),
        max(lp, 0),
        min(lp + 1, w - 1),
    )


# ------------------------------------------------------------------------------------------------ TELEA


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _telea_record(
    o8: np.ndarray, inside: np.ndarray, rec: np.ndarray, y: int, x: int, h: int, w: int, r: int
):
    """rec[p] = value, grad_x and grad_y per channel of image pixel (y, x) as TELEA reads them: the
    difference along row km (column lm) chosen by which horizontal (vertical) neighbours are known,
    central ones times 2. o8 is the image flattened."""
    wg = w + 2 * r
    p = (y + r) * wg + r + x
    km, km1, kp, kp1, lm, lm1, lp, lp1 = _index_shifts(y, x, h, w)
    sx = sy = 1
    if inside[p + 1] != 1:
        if inside[p - 1] != 1:
            ca, cb, sx = lp1, lm1, 2
        else:
            ca, cb = lp1, lm
    elif inside[p - 1] != 1:
        ca, cb = lp, lm1
    else:
        ca = cb = lm  # no known horizontal neighbour: 0
    if inside[p + wg] != 1:
        if inside[p - wg] != 1:
            ra, rb, sy = kp1, km1, 2
        else:
            ra, rb = kp1, km
    elif inside[p - wg] != 1:
        ra, rb = kp, km1
    else:
        ra = rb = km
    v = (y * w + x) * 3
    xa = (km * w + ca) * 3
    xb = (km * w + cb) * 3
    ya = (ra * w + lm) * 3
    yb = (rb * w + lm) * 3
    fx = np.float32(sx)
    fy = np.float32(sy)
    for c in range(3):
        rec[p, c] = np.float32(o8[v + c])
        rec[p, 3 + c] = np.float32(np.int32(o8[xa + c]) - np.int32(o8[xb + c])) * fx
        rec[p, 6 + c] = np.float32(np.int32(o8[ya + c]) - np.int32(o8[yb + c])) * fy


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _record(ns: bool, o8, inside, rec, y, x, h, w, r):
    if ns:
        _ns_record(o8, inside, rec, y, x, h, w, r)
    else:
        _telea_record(o8, inside, rec, y, x, h, w, r)


@njit(cache=True, nogil=True, error_model="numpy")
def _refresh(
    ns: bool, o8: np.ndarray, inside: np.ndarray, rec: np.ndarray, y: int, x: int, h: int, w: int, r: int
):
    """Records (NS's if `ns`, else Telea's) that change when (y, x) has just been filled: its own, its
    known 4-neighbours' (flag and value), and on the first row or column its known diagonal neighbours'
    (whose gradients read one row or column further in). Both methods read the same neighbourhood."""
    wg = w + 2 * r
    p = (y + r) * wg + r + x
    _record(ns, o8, inside, rec, y, x, h, w, r)
    if y > 0 and inside[p - wg] != 1:
        _record(ns, o8, inside, rec, y - 1, x, h, w, r)
    if x > 0 and inside[p - 1] != 1:
        _record(ns, o8, inside, rec, y, x - 1, h, w, r)
    if x < w - 1 and inside[p + 1] != 1:
        _record(ns, o8, inside, rec, y, x + 1, h, w, r)
    if y < h - 1 and inside[p + wg] != 1:
        _record(ns, o8, inside, rec, y + 1, x, h, w, r)
    if y <= 1 or x <= 1:
        for yy in range(max(y - 1, 0), min(y + 2, h)):
            for xx in range(max(x - 1, 0), min(x + 2, w)):
                if (yy == 0 or xx == 0) and yy != y and xx != x and inside[(yy + r) * wg + r + xx] != 1:
                    _record(ns, o8, inside, rec, yy, xx, h, w, r)


@njit(cache=True, nogil=True, error_model="numpy")
def _start_queue(n_cells: int, band: np.ndarray, nb: int):
    """The queue holding the band at T = 0 in raster order: (heap, pos, fbuf, ibuf, size, count); pos maps
    an insertion number to its padded pixel index."""
    heap = np.empty(n_cells, np.int64)
    pos = np.empty(n_cells, np.int64)
    fbuf = np.zeros(1, np.float32)
    ibuf = fbuf.view(np.int32)
    size = 0
    n = 0
    for i in range(nb):
        pos[n] = band[i]
        size = _push(heap, size, _key(fbuf, ibuf, np.float32(0.0), n))
        n += 1
    return heap, pos, fbuf, ibuf, size, n


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _telea_pixel(p, d, t, inside, wg, r, tk, offs, orx, ory, dst, rec, wbuf, out):
    """Fill hole pixel p (padded index) that arrived at time d: its value from the known pixels of the
    disk around it, written to out; returns its (y, x) in the image."""
    half_f = np.float32(0.5)
    m = offs.size
    # grad T: central where both sides are known, one-sided where one is, else 0
    if inside[p + 1] != 1:
        gtx = (t[p + 1] - t[p - 1]) * half_f if inside[p - 1] != 1 else t[p + 1] - d
    else:
        gtx = d - t[p - 1] if inside[p - 1] != 1 else np.float32(0.0)
    if inside[p + wg] != 1:
        gty = (t[p + wg] - t[p - wg]) * half_f if inside[p - wg] != 1 else t[p + wg] - d
    else:
        gty = d - t[p - wg] if inside[p - wg] != 1 else np.float32(0.0)
    # the weights: 0 for pixels not known yet (gather first, so that the arithmetic vectorises)
    for o in range(m):
        wbuf[o] = tk[p + offs[o]]
    for o in range(m):
        lev = np.float32(1.0 / (1.0 + abs(np.float64(wbuf[o] - d))))
        dr = orx[o] * gtx + ory[o] * gty
        if abs(np.float64(dr)) <= 0.01:
            dr = _EPS_W
        wbuf[o] = abs(dst[o] * lev * dr)
    # the sums, in OpenCV's order
    s = _TINY
    ia0 = ia1 = ia2 = np.float32(0.0)
    jx0 = jx1 = jx2 = np.float32(0.0)
    jy0 = jy1 = jy2 = np.float32(0.0)
    for o in range(m):
        wt = wbuf[o]
        if wt == 0:  # not known yet (also skips reading its undefined record)
            continue
        q = p + offs[o]
        rx = orx[o]
        ry = ory[o]
        ia0 += wt * rec[q, 0]
        ia1 += wt * rec[q, 1]
        ia2 += wt * rec[q, 2]
        jx0 -= wt * (rec[q, 3] * rx)
        jx1 -= wt * (rec[q, 4] * rx)
        jx2 -= wt * (rec[q, 5] * rx)
        jy0 -= wt * (rec[q, 6] * ry)
        jy1 -= wt * (rec[q, 7] * ry)
        jy2 -= wt * (rec[q, 8] * ry)
        s += wt
    y, x = divmod(p, wg)
    y -= r
    x -= r
    out[y, x, 0] = _telea_value(ia0, jx0, jy0, s)
    out[y, x, 1] = _telea_value(ia1, jx1, jy1, s)
    out[y, x, 2] = _telea_value(ia2, jx2, jy2, s)
    return y, x


@njit(cache=True, nogil=True, error_model="numpy")
def _telea_kernel(img: np.ndarray, hole: np.ndarray, r: int) -> np.ndarray:
    h, w = hole.shape
    wg = w + 2 * r
    out = img.copy()
    inside, t, band, nb = _setup(hole, r)
    near = _near(hole, r)
    _outside_times(near, r, inside, t, band, nb)
    da, db, length2 = _disk(r)
    m = da.size
    offs = da * wg + db
    orx = (-db).astype(np.float32)  # r = p - q, as OpenCV's Telea
    ory = (-da).astype(np.float32)
    dst = np.empty(m, np.float32)  # 1 / (|r|^2 |r|)
    for o in range(m):
        v = np.float64(length2[o])
        dst[o] = np.float32(1.0 / (v * math.sqrt(v)))
    # tk: T on the image's known pixels, +inf elsewhere (lev = 1/(1+inf) = 0 there: weight 0, skipped).
    # rec: records of the known pixels near the hole, the only ones a disk around a hole pixel reads.
    o8 = out.reshape(out.size)
    tk = np.full(t.size, np.inf, np.float32)
    rec = np.empty((t.size, 9), np.float32)
    for y in range(h):
        row = (y + r) * wg + r
        for x in range(w):
            if inside[row + x] != 1:
                tk[row + x] = t[row + x]
                if near[y, x]:
                    _telea_record(o8, inside, rec, y, x, h, w, r)
    wbuf = np.empty(m, np.float32)
    heap, pos, fbuf, ibuf, size, n = _start_queue(t.size, band, nb)
    while size > 0:
        key, size = _pop(heap, size)
        p0 = pos[key & 0xFFFFFFFF]
        for p in (p0 - wg, p0 - 1, p0 + wg, p0 + 1):
            if inside[p] != 1:
                continue
            d = _arrival(t, inside, p, wg)
            t[p] = d
            y, x = _telea_pixel(p, d, t, inside, wg, r, tk, offs, orx, ory, dst, rec, wbuf, out)
            inside[p] = 0
            tk[p] = d
            _refresh(False, o8, inside, rec, y, x, h, w, r)
            pos[n] = p
            size = _push(heap, size, _key(fbuf, ibuf, d, n))
            n += 1
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _telea_value(ia: np.float32, jx: np.float32, jy: np.float32, s: np.float32) -> np.uint8:
    """Ia/s + (Jx+Jy)/(|J| + 1e-20) in float32, plus 0.5 in double, rounded half-to-even and saturated.

    (Adding 0.5 in float32 instead differs near ties: 0.5 + 8e-12 is 0.5 in float32, rounds to 0, and
    cv2 5.1 gives 1.)
    """
    norm = np.float32(math.sqrt(jx * jx + jy * jy))
    f = ia / s + (jx + jy) / (norm + _TINY)
    v = np.rint(np.float64(f) + 0.5)
    return np.uint8(min(max(v, 0.0), 255.0))


# --------------------------------------------------------------------------------------------------- NS


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ns_record(o8: np.ndarray, inside: np.ndarray, rec: np.ndarray, y: int, x: int, h: int, w: int, r: int):
    """rec[p] = value, g_x and g_y per channel of image pixel (y, x) as NS reads them: g_x from the
    absolute differences along column lm, g_y along row km; both sides known: their sum, one side: twice
    its difference, none: 0."""
    wg = w + 2 * r
    p = (y + r) * wg + r + x
    km, km1, kp, kp1, lm, lm1, lp, lp1 = _index_shifts(y, x, h, w)
    down = inside[p + wg] != 1
    up = inside[p - wg] != 1
    right = inside[p + 1] != 1
    left = inside[p - 1] != 1
    # weights of |lower difference| and |upper difference| (resp. right and left)
    fd = (1 if up else 2) if down else 0
    fu = (1 if down else 2) if up else 0
    fr = (1 if left else 2) if right else 0
    fl = (1 if right else 2) if left else 0
    v = (y * w + x) * 3
    c_kp1 = (kp1 * w + lm) * 3
    c_kp = (kp * w + lm) * 3
    c_km1 = (km1 * w + lm) * 3
    r_lp1 = (km * w + lp1) * 3
    r_lm = (km * w + lm) * 3
    r_lm1 = (km * w + lm1) * 3
    for c in range(3):
        rec[p, c] = np.float32(o8[v + c])
        lower = abs(np.int32(o8[c_kp1 + c]) - np.int32(o8[c_kp + c]))
        upper = abs(np.int32(o8[c_kp + c]) - np.int32(o8[c_km1 + c]))
        rec[p, 3 + c] = np.float32(lower * fd + upper * fu)
        rgt = abs(np.int32(o8[r_lp1 + c]) - np.int32(o8[r_lm + c]))
        lft = abs(np.int32(o8[r_lm + c]) - np.int32(o8[r_lm1 + c]))
        rec[p, 6 + c] = np.float32(rgt * fr + lft * fl)


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ns_weight(gx: np.float32, gy: np.float32, bx: np.float32, by: np.float32, l2: np.float32) -> np.float32:
    """NS direction term for offset (by, bx) (|.|^2 = l2) and the neighbour's (g_x, g_y): with g = (-g_x,
    g_y), |r.g| / sqrt(|r|^2 |g|^2), or 1e-6 when |r.g| <= 0.01 (float32)."""
    gxn = -gx
    dr = bx * gxn + by * gy
    if abs(np.float64(dr)) <= 0.01:
        return _EPS_W
    return abs(dr / np.float32(math.sqrt(l2 * (gxn * gxn + gy * gy))))


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ns_pixel(p, wg, r, known, offs, rec, dst, bx, by, length2, kb, gbuf, wbuf, out):
    """Fill hole pixel p (padded index): its value per channel from the known pixels of the disk around
    it, written to out; returns its (y, x) in the image."""
    zero = np.float32(0.0)
    m = offs.size
    # gather the disk's gradients (0 where not known, whose records are undefined) ...
    for o in range(m):
        q = p + offs[o]
        k = known[q]
        kb[o] = k
        for c in range(6):
            gbuf[c, o] = rec[q, 3 + c] if k != 0 else zero
    # ... their weights per channel (vectorised), 0 where not known ...
    for c in range(3):
        for o in range(m):
            wbuf[c, o] = dst[o] * _ns_weight(gbuf[c, o], gbuf[3 + c, o], bx[o], by[o], length2[o]) * kb[o]
    # ... and the sums, in OpenCV's order
    ia0 = ia1 = ia2 = zero
    s0 = s1 = s2 = _TINY
    for o in range(m):
        if kb[o] == 0:
            continue
        q = p + offs[o]
        w0 = wbuf[0, o]
        w1 = wbuf[1, o]
        w2 = wbuf[2, o]
        ia0 += w0 * rec[q, 0]
        ia1 += w1 * rec[q, 1]
        ia2 += w2 * rec[q, 2]
        s0 += w0
        s1 += w1
        s2 += w2
    y, x = divmod(p, wg)
    y -= r
    x -= r
    out[y, x, 0] = _ns_value(ia0, s0)
    out[y, x, 1] = _ns_value(ia1, s1)
    out[y, x, 2] = _ns_value(ia2, s2)
    return y, x


@njit(cache=True, nogil=True, error_model="numpy")
def _ns_kernel(img: np.ndarray, hole: np.ndarray, r: int) -> np.ndarray:
    h, w = hole.shape
    wg = w + 2 * r
    out = img.copy()
    inside, t, band, nb = _setup(hole, r)
    near = _near(hole, r)
    da, db, length2 = _disk(r)
    m = da.size
    offs = da * wg + db
    bx = db.astype(np.float32)  # r = q - p, as OpenCV's NS
    by = da.astype(np.float32)
    one = np.float32(1.0)
    dst = np.empty(m, np.float32)  # 1 / (|r|^4 + 1), float32
    for o in range(m):
        dst[o] = one / (length2[o] * length2[o] + one)
    # known: 1.0 on the image's known pixels. rec: records of the known pixels near the hole.
    o8 = out.reshape(out.size)
    known = np.zeros(t.size, np.float32)
    rec = np.empty((t.size, 9), np.float32)
    for y in range(h):
        row = (y + r) * wg + r
        for x in range(w):
            if inside[row + x] != 1:
                known[row + x] = 1.0
                if near[y, x]:
                    _ns_record(o8, inside, rec, y, x, h, w, r)
    kb = np.empty(m, np.float32)
    gbuf = np.empty((6, m), np.float32)
    wbuf = np.empty((3, m), np.float32)
    heap, pos, fbuf, ibuf, size, n = _start_queue(t.size, band, nb)
    while size > 0:
        key, size = _pop(heap, size)
        p0 = pos[key & 0xFFFFFFFF]
        for p in (p0 - wg, p0 - 1, p0 + wg, p0 + 1):
            if inside[p] != 1:
                continue
            d = _arrival(t, inside, p, wg)
            t[p] = d
            y, x = _ns_pixel(p, wg, r, known, offs, rec, dst, bx, by, length2, kb, gbuf, wbuf, out)
            inside[p] = 0
            known[p] = 1.0
            _refresh(True, o8, inside, rec, y, x, h, w, r)
            pos[n] = p
            size = _push(heap, size, _key(fbuf, ibuf, d, n))
            n += 1
    return out


@njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _ns_value(ia: np.float32, s: np.float32) -> np.uint8:
    """(double) Ia / s, rounded half-to-even and saturated."""
    v = np.rint(np.float64(ia) / np.float64(s))
    return np.uint8(min(max(v, 0.0), 255.0))


# ------------------------------------------------------------------------------------------ public API


def clamp_radius(radius: float) -> int:
    """OpenCV's neighbourhood radius: rounded half-to-even (cvRound), clamped to [1, 100].

    Infinities saturate; NaN gives 100, as cv2 5.1 does.

    >>> [clamp_radius(v) for v in (0.4, 1.5, 2.5, 5.0, -3.0, 1e9, float("-inf"), float("nan"))]
    [1, 2, 2, 5, 1, 100, 1, 100]
    """
    radius = float(radius)
    if math.isnan(radius):
        return 100
    if math.isinf(radius):
        return 1 if radius < 0 else 100
    return min(max(round(radius), 1), 100)


def _prepare(img8: np.ndarray, hole: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(H,W,3) uint8 image, (H,W) uint8 hole flags, and whether the input was gray."""
    img8 = np.asarray(img8)
    if img8.dtype != np.uint8:
        raise TypeError(f"{name}: img8 must be uint8, got {img8.dtype}")
    gray = img8.ndim == 2
    if not (gray or (img8.ndim == 3 and img8.shape[2] == 3)):
        raise ValueError(f"{name}: img8 must be (H,W,3) or (H,W), got shape {img8.shape}")
    hole = np.asarray(hole)
    if hole.shape != img8.shape[:2]:
        raise ValueError(f"{name}: hole must be {img8.shape[:2]}, got {hole.shape}")
    img3 = np.repeat(img8[..., None], 3, axis=2) if gray else np.ascontiguousarray(img8)
    return img3, np.ascontiguousarray(hole != 0, dtype=np.uint8), gray


def inpaint_telea(img8: np.ndarray, hole: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """cv2.inpaint(img8, hole8, radius, cv2.INPAINT_TELEA), bit for bit (OpenCV 5.1), as a new array.

    img8: (H,W,3) uint8 (any channel order: channels are filled independently) or (H,W) uint8 gray.
    hole: (H,W) bool, True (or nonzero) = to inpaint. radius: as OpenCV takes it (see clamp_radius).
    Pixels outside the hole are returned unchanged; if the hole is empty or covers the whole image, the
    image is returned as it is (as cv2 does). Gray input is filled as three equal channels, which is
    what cv2 computes for one channel.
    """
    img3, hole8, gray = _prepare(img8, hole, "inpaint_telea")
    if img3.size == 0 or not hole8.any():
        return np.array(img8, copy=True)
    out = _telea_kernel(img3, hole8, clamp_radius(radius))
    return out[..., 0].copy() if gray else out


def inpaint_ns(img8: np.ndarray, hole: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """cv2.inpaint(img8, hole8, radius, cv2.INPAINT_NS), bit for bit (OpenCV 5.1), as a new array.

    Arguments and edge cases as inpaint_telea.
    """
    img3, hole8, gray = _prepare(img8, hole, "inpaint_ns")
    if img3.size == 0 or not hole8.any():
        return np.array(img8, copy=True)
    out = _ns_kernel(img3, hole8, clamp_radius(radius))
    return out[..., 0].copy() if gray else out
