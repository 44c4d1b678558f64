"""PatchMatch internals against plain loops, and completion on cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.patchmatch import _all_dists, _patchmatch, _random_init, _telea, _vote, complete
from bench.core.errors import BenchError
from bench.methods.inpainters import get_inpainter


def _periodic(h: int, w: int, period: int = 8) -> np.ndarray:
    """A colour texture that repeats exactly every `period` px in both directions, (h,w,3) float32."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    t = 2 * np.pi / period
    img = np.stack(
        [
            0.5 + 0.4 * np.sin(t * x),
            0.5 + 0.4 * np.cos(t * y),
            0.5 + 0.2 * np.sin(t * (x + y)) + 0.2 * np.cos(t * (x - 2 * y)),
        ],
        axis=-1,
    )
    return img.astype(np.float32)


def _ssd_loop(img, ty, tx, sy, sx, r):
    h, w = img.shape[:2]
    d = 0.0
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if 0 <= ty + dy < h and 0 <= tx + dx < w:
                d += float(((img[ty + dy, tx + dx] - img[sy + dy, sx + dx]) ** 2).sum())
    return d


def test_periodic_texture_restored_almost_exactly():
    img = _periodic(80, 80)
    valid = np.ones((80, 80), bool)
    valid[28:50, 30:54] = False
    out = complete(img, valid, seed=0)
    hole = ~valid
    mse = float(((out[hole] - img[hole]) ** 2).mean())
    assert -10 * np.log10(mse) > 30
    np.testing.assert_array_equal(out[valid], img[valid])


def test_periodic_texture_hole_on_border():
    img = _periodic(64, 64)
    valid = np.ones((64, 64), bool)
    valid[:14, 40:] = False  # top-right corner
    out = complete(img, valid, seed=1)
    mse = float(((out[~valid] - img[~valid]) ** 2).mean())
    assert -10 * np.log10(mse) > 30


def test_patchmatch_nnf_reaches_brute_force_minimum():
    import cv2

    rng = np.random.default_rng(0)
    h, w, r = 24, 26, 2
    # Smooth random content: coherent enough for propagation to matter, no exact repeats.
    img = cv2.GaussianBlur(rng.random((h, w, 3), dtype=np.float32), (0, 0), 1.5)
    valid = np.ones((h, w), bool)
    valid[8:14, 9:16] = False
    tmask = np.zeros((h, w), bool)
    tmask[6:16, 7:18] = True
    src_ok = np.zeros((h, w), bool)
    src_ok[r : h - r, r : w - r] = True
    for y in range(h):
        for x in range(w):
            if src_ok[y, x] and not valid[max(y - r, 0) : y + r + 1, max(x - r, 0) : x + r + 1].all():
                src_ok[y, x] = False
    ty, tx = (a.astype(np.int64) for a in np.nonzero(tmask))
    sy, sx = (a.astype(np.int32) for a in np.nonzero(src_ok))
    nnf = np.full((h, w, 2), -1, np.int32)
    _random_init(ty, tx, nnf, sy, sx, 7)
    d = np.zeros((h, w), np.float32)
    _all_dists(img, ty, tx, nnf, r, d)
    _patchmatch(img, tmask, src_ok, nnf, d, r, 30, 3)
    # Exhaustive search, vectorised over sources: pad with NaN so out-of-image offsets drop out.
    p = 2 * r + 1
    padded = np.pad(img, ((r, r), (r, r), (0, 0)), constant_values=np.nan)
    sources = np.stack([img[a - r : a + r + 1, b - r : b + r + 1] for a, b in zip(sy, sx, strict=True)])
    hits, ranks = 0, []
    for y, x in zip(ty, tx, strict=True):
        assert src_ok[nnf[y, x, 0], nnf[y, x, 1]]  # only fully valid sources
        reported = _ssd_loop(img, y, x, nnf[y, x, 0], nnf[y, x, 1], r)
        assert d[y, x] == pytest.approx(reported, rel=1e-4, abs=1e-5)
        target = padded[y : y + p, x : x + p]
        every = np.nansum(((sources - target) ** 2).reshape(len(sy), -1), axis=1)
        hits += reported <= every.min() + 1e-4
        ranks.append(float((every < reported - 1e-4).mean()))
    # PatchMatch is approximate: most targets reach the exhaustive optimum, the rest are near it.
    assert hits / len(ty) > 0.85
    assert max(ranks) < 0.03


def test_vote_is_the_weighted_mean_of_covering_patches():
    rng = np.random.default_rng(1)
    h, w, r = 10, 11, 1
    img = rng.random((h, w, 3), dtype=np.float32)
    hole = np.zeros((h, w), bool)
    hole[3:6, 4:7] = True
    hole[0, 0] = True  # at the corner: patches there are cut by the border
    tmask = np.zeros((h, w), bool)
    for y, x in zip(*np.nonzero(hole), strict=True):
        tmask[max(y - r, 0) : y + r + 2, max(x - r, 0) : x + r + 2] = True
    ty, tx = (a.astype(np.int64) for a in np.nonzero(tmask))
    nnf = np.zeros((h, w, 2), np.int32)
    nnf[..., 0] = rng.integers(r + 6, h - r, (h, w))
    nnf[..., 1] = rng.integers(r, w - r, (h, w))
    dist = rng.random((h, w)).astype(np.float32)
    inv = 0.7
    conf = rng.random((h, w)).astype(np.float32) + 0.1
    expect = img.copy()
    for q, p in zip(*np.nonzero(hole), strict=True):
        acc, ws = np.zeros(3), 0.0
        for y in range(q - r, q + r + 1):
            for x in range(p - r, p + r + 1):
                if 0 <= y < h and 0 <= x < w and tmask[y, x]:
                    cnt = (min(y + r, h - 1) - max(y - r, 0) + 1) * (min(x + r, w - 1) - max(x - r, 0) + 1)
                    wt = np.exp(-dist[y, x] / (3 * cnt) * inv) * conf[y, x]
                    acc += wt * img[nnf[y, x, 0] + q - y, nnf[y, x, 1] + p - x]
                    ws += wt
        expect[q, p] = acc / ws
    out = img.copy()
    _vote(out, hole, ty, tx, nnf, dist, r, inv, conf)
    np.testing.assert_allclose(out, expect, rtol=1e-5, atol=1e-6)


def test_fallbacks_are_telea():
    rng = np.random.default_rng(2)
    small = rng.random((4, 6, 3), dtype=np.float32)
    v = np.ones((4, 6), bool)
    v[1:3, 2:4] = False
    np.testing.assert_array_equal(complete(small, v, patch_size=5), _telea(small, v))
    # No 5x5 window is fully valid (a hole pixel every 4 px): nothing to copy from.
    img = rng.random((20, 20, 3), dtype=np.float32)
    v = np.ones((20, 20), bool)
    v[::4, ::4] = False
    np.testing.assert_array_equal(complete(img, v, patch_size=5), _telea(img, v))


def test_seed_matters_and_is_reproducible():
    rng = np.random.default_rng(3)
    img = rng.random((48, 48, 3), dtype=np.float32)
    v = np.ones((48, 48), bool)
    v[15:30, 12:33] = False
    a, b, c = complete(img, v, seed=1), complete(img, v, seed=1), complete(img, v, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    m = torch.from_numpy(v)[None, None].float()
    o1 = get_inpainter("patchmatch", seed=1).inpaint(t, m)
    o2 = get_inpainter("patchmatch", seed=2).inpaint(t, m)
    assert not torch.equal(o1, o2)
    assert get_inpainter("patchmatch", seed=1).fingerprint != get_inpainter("patchmatch", seed=2).fingerprint


def test_bad_options_are_errors():
    with pytest.raises(BenchError, match="odd"):
        get_inpainter("patchmatch", patch_size=4)
    with pytest.raises(BenchError, match="sigma_percentile"):
        get_inpainter("patchmatch", sigma_percentile=101)
    with pytest.raises(BenchError, match="confidence"):
        get_inpainter("patchmatch", confidence=0)
