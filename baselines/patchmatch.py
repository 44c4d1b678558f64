"""`patchmatch`: image completion with PatchMatch nearest-neighbour fields, written here in numba.

Algorithm (Barnes et al. 2009 inside Wexler et al. 2007's coarse-to-fine EM):

1. Pyramid by factor 2: a coarse pixel is valid when any of its 2x2 children is valid and takes their
   mean (hole colours never leak upward); halve while the short side stays >= `min_size` (64), and at
   least once when the half-size image still holds four patch widths.
2. Coarsest level: holes start from OpenCV Telea (a smooth diffusion guess).
3. Per level, EM iterations (`em_coarse` at the coarsest level down to `em_fine` at full size).
   E-step: PatchMatch NNF for every *target* patch (centre within r of a hole pixel, side
   `patch_size` = 2r+1) to a *source* patch lying fully inside the image and the valid region; SSD over
   the target's in-image pixels with the current hole estimate; `pm_iters` sweeps of propagation from
   the left/up neighbours (right/down on odd sweeps) and random search with a halving radius, with
   early exit once a partial sum exceeds the best. M-step: each hole pixel becomes the weighted vote of
   all target patches covering it, weight exp(-d / (2 sigma^2)) * confidence^-k, d the patch's mean
   squared difference, sigma^2 its `sigma_percentile` over the level, k the patch centre's distance
   into the hole (Wexler's similarity and spatial-confidence weights).
4. Between levels the NNF is upsampled (2*source + child offset, kept where still a valid source; else
   random) and the result bilinearly upsampled as the finer level's hole initialisation.

Defaults (patch 5, min_size 64, em 6 -> 1, 2 sweeps, 95th percentile, confidence 1.3) were chosen on
512 px photos with benchmarks/baselines.py for hole PSNR at a fraction of the 2 s budget; smaller
patches and a shallower pyramid score higher there because misplaced texture costs more PSNR than blur.

Defined edge cases: no hole -> image unchanged; all hole -> 0.5 everywhere (bench.methods.inpainters);
an image smaller than the patch, or with no patch-sized fully valid region to copy from, falls back to
Telea (radius 5). Randomness comes from a small integer generator seeded per image
(bench.methods.inpainters.image_seed), so results are identical for a seed whatever the batch or worker count.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
from numba import njit

from bench.core.errors import BenchError
from bench.methods.inpainters import PerImageInpainter, register
from masks.conventions import HOLE, VALID, flip_polarity

# ------------------------------------------------------------------------------------------ numba kernels

_MUL = 6364136223846793005  # Knuth's MMIX LCG, int64 arithmetic wraps in numba.
_INC = 1442695040888963407


@njit(cache=True, nogil=True, inline="always")
def _randint(state: np.ndarray, n: int) -> int:
    """Uniform-ish integer in [0, n); state is an int64[1] array updated in place."""
    s = state[0] * _MUL + _INC
    state[0] = s
    return ((s >> 33) & 0x7FFFFFFF) % n


@njit(cache=True, nogil=True, inline="always")
def _dist(img, ty, tx, sy, sx, r, h, w, cutoff):
    """SSD between the target patch at (ty,tx) (in-image pixels only) and the source patch at (sy,sx).

    Sources lie fully inside the image, so every offset valid for the target is valid for the source.
    Stops early once the partial sum reaches `cutoff`.
    """
    d = 0.0
    for dy in range(-r, r + 1):
        y = ty + dy
        if y < 0 or y >= h:
            continue
        ys = sy + dy
        for dx in range(-r, r + 1):
            x = tx + dx
            if x < 0 or x >= w:
                continue
            xs = sx + dx
            a = img[y, x, 0] - img[ys, xs, 0]
            b = img[y, x, 1] - img[ys, xs, 1]
            c = img[y, x, 2] - img[ys, xs, 2]
            d += a * a + b * b + c * c
        if d >= cutoff:
            return d
    return d


@njit(cache=True, nogil=True)
def _all_dists(img, ty, tx, nnf, r, out):
    """Current distance of every target (ty[i], tx[i]) to its source nnf[y, x]."""
    h, w = img.shape[0], img.shape[1]
    for i in range(ty.shape[0]):
        y, x = ty[i], tx[i]
        out[y, x] = _dist(img, y, x, nnf[y, x, 0], nnf[y, x, 1], r, h, w, np.inf)


@njit(cache=True, nogil=True)
def _random_init(ty, tx, nnf, src_y, src_x, seed):
    """Targets whose nnf is -1 get a uniformly random valid source."""
    state = np.array([seed], dtype=np.int64)
    n = src_y.shape[0]
    for i in range(ty.shape[0]):
        y, x = ty[i], tx[i]
        if nnf[y, x, 0] < 0:
            k = _randint(state, n)
            nnf[y, x, 0] = src_y[k]
            nnf[y, x, 1] = src_x[k]


@njit(cache=True, nogil=True)
def _patchmatch(img, tmask, src_ok, nnf, nnf_d, r, iters, seed):
    """`iters` PatchMatch sweeps over the targets (tmask) in scan order, alternating direction.

    nnf (H,W,2) int32 source centres, nnf_d (H,W) float32 their SSD; both updated in place.
    """
    h, w = img.shape[0], img.shape[1]
    state = np.array([seed], dtype=np.int64)
    lo_y, hi_y, lo_x, hi_x = r, h - 1 - r, r, w - 1 - r
    max_rad = max(h, w)
    for it in range(iters):
        step = 1 if it % 2 == 0 else -1
        for yy in range(h):
            y = yy if step == 1 else h - 1 - yy
            for xx in range(w):
                x = xx if step == 1 else w - 1 - xx
                if not tmask[y, x]:
                    continue
                by = nnf[y, x, 0]
                bx = nnf[y, x, 1]
                bd = nnf_d[y, x]
                # Propagation: the neighbour already visited this sweep, shifted by one pixel.
                xn = x - step
                if 0 <= xn < w and tmask[y, xn]:
                    cy = nnf[y, xn, 0]
                    cx = nnf[y, xn, 1] + step
                    if lo_x <= cx <= hi_x and src_ok[cy, cx] and (cy != by or cx != bx):
                        d = _dist(img, y, x, cy, cx, r, h, w, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                yn = y - step
                if 0 <= yn < h and tmask[yn, x]:
                    cy = nnf[yn, x, 0] + step
                    cx = nnf[yn, x, 1]
                    if lo_y <= cy <= hi_y and src_ok[cy, cx] and (cy != by or cx != bx):
                        d = _dist(img, y, x, cy, cx, r, h, w, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                # Random search around the best so far, radius halving down to 1.
                rad = max_rad
                while rad >= 1:
                    cy = by + _randint(state, 2 * rad + 1) - rad
                    cx = bx + _randint(state, 2 * rad + 1) - rad
                    cy = min(max(cy, lo_y), hi_y)
                    cx = min(max(cx, lo_x), hi_x)
                    if src_ok[cy, cx] and (cy != by or cx != bx):
                        d = _dist(img, y, x, cy, cx, r, h, w, bd)
                        if d < bd:
                            by, bx, bd = cy, cx, d
                    rad //= 2
                nnf[y, x, 0] = by
                nnf[y, x, 1] = bx
                nnf_d[y, x] = bd


@njit(cache=True, nogil=True)
def _vote(img, hole, ty, tx, nnf, nnf_d, r, inv_two_sigma2, conf):
    """M-step: every hole pixel becomes the weighted mean of the source pixels voted by covering patches."""
    h, w = img.shape[0], img.shape[1]
    acc = np.zeros((h, w, 3), dtype=np.float64)
    wsum = np.zeros((h, w), dtype=np.float64)
    for i in range(ty.shape[0]):
        y, x = ty[i], tx[i]
        sy, sx = nnf[y, x, 0], nnf[y, x, 1]
        cnt = (min(y + r, h - 1) - max(y - r, 0) + 1) * (min(x + r, w - 1) - max(x - r, 0) + 1)
        e = nnf_d[y, x] / (3.0 * cnt) * inv_two_sigma2
        wt = np.exp(-min(e, 50.0)) * conf[y, x]
        for dy in range(-r, r + 1):
            q = y + dy
            if q < 0 or q >= h:
                continue
            for dx in range(-r, r + 1):
                p = x + dx
                if p < 0 or p >= w or not hole[q, p]:
                    continue
                acc[q, p, 0] += wt * img[sy + dy, sx + dx, 0]
                acc[q, p, 1] += wt * img[sy + dy, sx + dx, 1]
                acc[q, p, 2] += wt * img[sy + dy, sx + dx, 2]
                wsum[q, p] += wt
    for q in range(h):
        for p in range(w):
            if hole[q, p] and wsum[q, p] > 0:
                img[q, p, 0] = acc[q, p, 0] / wsum[q, p]
                img[q, p, 1] = acc[q, p, 1] / wsum[q, p]
                img[q, p, 2] = acc[q, p, 2] / wsum[q, p]


@njit(cache=True, nogil=True)
def _upsample_nnf(coarse, ch, cw, h, w, src_ok, tmask, r):
    """Fine NNF from the coarse one: 2*source + (y%2, x%2); -1 where absent or not a valid source."""
    out = np.full((h, w, 2), -1, dtype=np.int32)
    for y in range(h):
        for x in range(w):
            if not tmask[y, x]:
                continue
            yc, xc = min(y // 2, ch - 1), min(x // 2, cw - 1)
            if coarse[yc, xc, 0] < 0:
                continue
            sy = 2 * coarse[yc, xc, 0] + (y % 2)
            sx = 2 * coarse[yc, xc, 1] + (x % 2)
            if r <= sy < h - r and r <= sx < w - r and src_ok[sy, sx]:
                out[y, x, 0] = sy
                out[y, x, 1] = sx
    return out


# ---------------------------------------------------------------------------------------------- helpers


def _telea(image: np.ndarray, valid: np.ndarray, radius: float = 5.0) -> np.ndarray:
    """(H,W,3) float [0,1] -> Telea fill (float32), hole polarity flipped for OpenCV; hole content zeroed
    first (cv2.inpaint reads a little of it where a hole touches the top edge)."""
    img8 = np.clip(np.rint(np.where(valid[..., None], image, 0.0) * 255.0), 0, 255).astype(np.uint8)
    hole8 = flip_polarity(np.where(valid, VALID, HOLE).astype(np.uint8))
    out = cv2.inpaint(img8, hole8, radius, cv2.INPAINT_TELEA).astype(np.float32) / 255.0
    return np.where(valid[..., None], image, out).astype(np.float32)


def _downsample(image: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factor-2 masked mean: valid when any child is valid, colour = mean of the valid children."""
    h, w = valid.shape
    ph, pw = h + (h % 2), w + (w % 2)
    img = np.zeros((ph, pw, 3), np.float32)
    v = np.zeros((ph, pw), np.float32)
    img[:h, :w] = image * valid[..., None]
    v[:h, :w] = valid
    n = v.reshape(ph // 2, 2, pw // 2, 2).sum(axis=(1, 3))
    s = img.reshape(ph // 2, 2, pw // 2, 2, 3).sum(axis=(1, 3))
    out = (s / np.maximum(n, 1)[..., None]).astype(np.float32)
    return np.ascontiguousarray(out), n > 0


def _square(mask: np.ndarray, r: int, op: str) -> np.ndarray:
    """Dilate/erode a bool mask with a (2r+1)^2 square (borders: outside counts as hole for erosion)."""
    k = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
    m = mask.astype(np.uint8)
    if op == "dilate":
        return cv2.dilate(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    return cv2.erode(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def _mix_seed(seed: int, *parts: int) -> int:
    s = int(seed) & 0x7FFFFFFFFFFFFFFF
    for p in parts:
        s = (s * 1000003 + int(p) * 7919 + 12345) & 0x7FFFFFFFFFFFFFFF
    return s


def complete(
    image: np.ndarray,
    valid: np.ndarray,
    seed: int = 0,
    patch_size: int = 5,
    min_size: int = 64,
    em_coarse: int = 6,
    em_fine: int = 1,
    pm_iters: int = 2,
    sigma_percentile: float = 95.0,
    confidence: float = 1.3,
) -> np.ndarray:
    """Fill the holes of one (H,W,3) float image in [0,1]; `valid` (H,W) bool. Returns (H,W,3) float32.

    Valid pixels are returned unchanged. See the module docstring for the algorithm and the fallbacks.
    """
    image = np.ascontiguousarray(image, dtype=np.float32)
    valid = np.asarray(valid, dtype=bool)
    if valid.all():
        return image.copy()
    if not valid.any():
        return np.full_like(image, 0.5)
    r = patch_size // 2
    h, w = valid.shape
    if min(h, w) < 2 * r + 1:
        return _telea(image, valid)

    levels = _pyramid(image, valid, r, min_size)
    cur: np.ndarray | None = None  # current fill at the previous (coarser) level
    nnf_c: np.ndarray | None = None
    n_levels = len(levels)
    for li in range(n_levels - 1, -1, -1):
        img_l, val_l = levels[li]
        # Initial hole contents: the upsampled coarser result, else Telea at the coarsest level.
        if cur is None:
            work = _telea(img_l, val_l)
        else:
            up = cv2.resize(cur, (val_l.shape[1], val_l.shape[0]), interpolation=cv2.INTER_LINEAR)
            work = np.where(val_l[..., None], img_l, up).astype(np.float32)
        work = np.ascontiguousarray(work)
        # EM iterations: more at coarse levels (cheap, they set the structure), fewer at fine ones.
        # The coarsest level always gets em_coarse (it is also the finest when there is one level).
        frac = 1.0 if li == n_levels - 1 else li / max(n_levels - 1, 1)
        n_em = int(round(em_fine + (em_coarse - em_fine) * frac))
        nnf = _complete_level(work, val_l, nnf_c, r, n_em, pm_iters, sigma_percentile, confidence, seed, li)
        if nnf is None and li == 0 and (~val_l).any():
            return _telea(image, valid)  # the finest level has nothing to copy from
        cur, nnf_c = work, nnf
    assert cur is not None
    return np.where(valid[..., None], image, cur).astype(np.float32)


def _pyramid(image: np.ndarray, valid: np.ndarray, r: int, min_size: int) -> list:
    """[(image, valid)] finest first: halve while the short side stays >= min_size, and at least once when
    the half-size image still holds 4 patch widths (a single level often settles on the initial blur)."""
    levels = [(image, valid)]
    while True:
        half = min(levels[-1][1].shape) // 2
        if not (half >= max(min_size, 2 * r + 1) or (len(levels) == 1 and half >= 4 * (2 * r + 1))):
            break
        levels.append(_downsample(*levels[-1]))
    return levels


def _complete_level(work, val_l, nnf_c, r, n_em, pm_iters, sigma_percentile, confidence, seed, li):
    """EM completion of one pyramid level, in place on `work` (H,W,3); returns its NNF, or None when there
    is nothing to do (no hole at this scale) or nothing to copy from (no fully valid source patch)."""
    lh, lw = val_l.shape
    hole = ~val_l
    src_ok = _square(val_l, r, "erode")
    src_ok[:r] = src_ok[lh - r :] = False
    src_ok[:, :r] = src_ok[:, lw - r :] = False
    if not hole.any() or not src_ok.any():
        return None
    tmask = _square(hole, r, "dilate")
    ty, tx = (a.astype(np.int64) for a in np.nonzero(tmask))
    src_y, src_x = (a.astype(np.int32) for a in np.nonzero(src_ok))
    if nnf_c is not None:
        nnf = _upsample_nnf(nnf_c, nnf_c.shape[0], nnf_c.shape[1], lh, lw, src_ok, tmask, r)
    else:
        nnf = np.full((lh, lw, 2), -1, dtype=np.int32)
    _random_init(ty, tx, nnf, src_y, src_x, _mix_seed(seed, li, 0))
    nnf_d = np.zeros((lh, lw), np.float32)
    # Wexler's spatial confidence: a patch centred k px inside the hole votes with weight gamma^-k.
    if confidence != 1.0:
        dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
        conf = np.power(np.float32(confidence), -dist).astype(np.float32)
    else:
        conf = np.ones((lh, lw), np.float32)
    for k in range(n_em):
        _all_dists(work, ty, tx, nnf, r, nnf_d)
        _patchmatch(work, tmask, src_ok, nnf, nnf_d, r, pm_iters, _mix_seed(seed, li, k + 1))
        d = nnf_d[ty, tx] / (3.0 * (2 * r + 1) ** 2)
        sigma2 = float(np.percentile(d, sigma_percentile)) if d.size else 0.0
        inv = 1.0 / (2.0 * sigma2) if sigma2 > 1e-12 else 0.0
        _vote(work, hole, ty, tx, nnf, nnf_d, r, inv, conf)
    return nnf


@register("patchmatch")
class PatchMatchInpainter(PerImageInpainter):
    """PatchMatch NNF + Wexler EM completion (numba), deterministic for a seed."""

    name = "patchmatch"
    version = "1"
    defaults: ClassVar[dict[str, Any]] = {
        "patch_size": 5,
        "min_size": 64,
        "em_coarse": 6,
        "em_fine": 1,
        "pm_iters": 2,
        "sigma_percentile": 95.0,
        "confidence": 1.3,
        "seed": 0,
    }

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        p = self.options["patch_size"]
        if p < 1 or p % 2 == 0:
            raise BenchError(f"patchmatch: patch_size must be a positive odd number, got {p}")
        o = self.options
        if not 0 <= o["sigma_percentile"] <= 100:
            raise BenchError(f"patchmatch: sigma_percentile must be in [0, 100], got {o['sigma_percentile']}")
        if (
            o["confidence"] <= 0
            or min(o["min_size"], o["em_coarse"] + 1, o["em_fine"] + 1, o["pm_iters"] + 1) < 1
        ):
            raise BenchError("patchmatch: confidence > 0, min_size >= 1, em_coarse/em_fine/pm_iters >= 0")

    def fill_one(self, image: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
        o = {k: v for k, v in self.options.items() if k != "seed"}
        return complete(image, valid, seed=seed, **o)
