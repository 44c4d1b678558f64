"""Contextual attention against a plain-loop reference, and its properties. Tiny tensors, CPU only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.errors import BenchError
from bench.models.gntipt.attention import contextual_attention, resize_nearest


def _tf_nearest_rows(n_in: int, n_out: int) -> list[int]:
    # TF1 resize_nearest_neighbor(align_corners=True): round(i * (in - 1) / (out - 1)).
    return [min(int(np.floor(i * (n_in - 1) / (n_out - 1) + 0.5)), n_in - 1) for i in range(n_out)]


def _reference(fg, bg, mask, fuse, masking, normalise, rate=2, k=3, scale=10.0):
    """The layer written out with loops: one sample, (C,H,W) float64 arrays, mask (H,W) 1 = valid."""
    c, h, w = fg.shape
    rows, cols = _tf_nearest_rows(h, h // rate), _tf_nearest_rows(w, w // rate)
    f = fg[:, rows][:, :, cols]
    b = bg[:, rows][:, :, cols]
    hole = 1.0 - mask[rows][:, cols]
    hs, ws = f.shape[1:]
    n = hs * ws
    r = k // 2

    def at(a, y, x):  # zero outside the image
        return a[..., y, x] if 0 <= y < a.shape[-2] and 0 <= x < a.shape[-1] else 0.0 * a[..., 0, 0]

    # Scores: foreground position (i, j) against background patch (p, q), both row-major.
    score = np.zeros((n, n))
    known = np.zeros(n)
    for p in range(hs):
        for q in range(ws):
            patch = np.array([[at(b, p + dy, q + dx) for dx in range(-r, r + 1)] for dy in range(-r, r + 1)])
            norm = max(np.sqrt((patch**2).sum()), 1e-4)
            known[p * ws + q] = all(
                at(hole, p + dy, q + dx) == 0 for dy in range(-r, r + 1) for dx in range(-r, r + 1)
            )
            for i in range(hs):
                for j in range(ws):
                    s = 0.0
                    for dy in range(-r, r + 1):
                        for dx in range(-r, r + 1):
                            s += float(np.dot(at(f, i + dy, j + dx), patch[dy + r, dx + r]))
                    score[i * ws + j, p * ws + q] = s / norm
    if fuse:
        # Propagation: sum over the diagonal neighbours (a+d, t+d), first with row-major indices...
        fused = np.zeros_like(score)
        for a in range(n):
            for t in range(n):
                fused[a, t] = sum(
                    score[a + d, t + d] for d in (-1, 0, 1) if 0 <= a + d < n and 0 <= t + d < n
                )
        # ... then with column-major indices (position (i, j) has index j * hs + i).
        colmajor = [(a % hs) * ws + a // hs for a in range(n)]  # column-major index -> row-major index
        score = np.zeros_like(fused)
        for a in range(n):
            for t in range(n):
                score[colmajor[a], colmajor[t]] = sum(
                    fused[colmajor[a + d], colmajor[t + d]]
                    for d in (-1, 0, 1)
                    if 0 <= a + d < n and 0 <= t + d < n
                )
    att = np.zeros((n, n))
    for a in range(n):
        if masking == "released":
            e = np.exp(scale * score[a] * known)
            att[a] = e / e.sum() * known
        else:
            cand = known > 0
            e = np.where(cand, np.exp(scale * (score[a] - score[a][cand].max())), 0.0)
            att[a] = e / e.sum()
    # Paste: background patch (p, q) of size 2r at full resolution, top-left (p*rate - 1, q*rate - 1),
    # weighted by the attention of foreground position (i, j), lands at (i*rate - 1, j*rate - 1).
    kk, off = 2 * rate, rate // 2
    out = np.zeros((c, h, w))
    cover = np.zeros((h, w))
    for i in range(hs):
        for j in range(ws):
            for y in range(kk):
                for x in range(kk):
                    yo, xo = i * rate - off + y, j * rate - off + x
                    if 0 <= yo < h and 0 <= xo < w:
                        cover[yo, xo] += 1
            for p in range(hs):
                for q in range(ws):
                    wgt = att[i * ws + j, p * ws + q]
                    if wgt == 0:
                        continue
                    for y in range(kk):
                        for x in range(kk):
                            yo, xo = i * rate - off + y, j * rate - off + x
                            yb, xb = p * rate - off + y, q * rate - off + x
                            if 0 <= yo < h and 0 <= xo < w:
                                out[:, yo, xo] += wgt * at(bg, yb, xb)
    out = out / 4.0 if normalise == "released" else out / np.maximum(cover, 1)
    return out, att


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    fg = torch.rand(2, 4, 8, 8, generator=g)
    bg = torch.rand(2, 4, 8, 8, generator=g)
    mask = torch.ones(2, 1, 8, 8)
    mask[0, :, 0:2, 0:2] = 0  # a corner hole: most patches stay candidates
    mask[1, :, 5:8, 4:7] = 0
    return fg, bg, mask


@pytest.mark.parametrize(
    "fuse,masking,normalise",
    [(True, "released", "released"), (False, "released", "released"), (True, "exclude", "overlap")],
)
def test_matches_plain_loop(fuse: bool, masking: str, normalise: str) -> None:
    fg, bg, mask = _inputs()
    out, att = contextual_attention(fg, bg, mask, fuse=fuse, masking=masking, normalise=normalise)
    assert out.shape == fg.shape and att.shape == (2, 16, 4, 4)
    for s in range(2):
        ref_out, ref_att = _reference(
            fg[s].double().numpy(),
            bg[s].double().numpy(),
            mask[s, 0].double().numpy(),
            fuse,
            masking,
            normalise,
        )
        got_att = att[s].reshape(16, 16).T.double().numpy()  # (bg, fg) -> (fg, bg)
        np.testing.assert_allclose(got_att, ref_att, atol=1e-5)
        np.testing.assert_allclose(out[s].double().numpy(), ref_out, atol=1e-5)


def test_same_foreground_and_background_attend_to_themselves() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 4, 16, 16, generator=g) - 0.5
    for fuse in (False, True):
        _, att = contextual_attention(x, x, None, fuse=fuse)
        # Cauchy-Schwarz: each downscaled position's own patch has the highest (fused) score.
        best = att[0].reshape(64, 64).argmax(dim=0)
        assert torch.equal(best, torch.arange(64))


def test_only_known_patches_get_weight() -> None:
    fg, bg, mask = _inputs(2)
    hole = 1 - resize_nearest(mask, (4, 4))
    # A 3x3 patch is a candidate only when no hole pixel (at half resolution) is in it.
    touched = torch.nn.functional.max_pool2d(hole, 3, stride=1, padding=1).reshape(2, 16) > 0
    for masking in ("released", "exclude"):
        _, att = contextual_attention(fg, bg, mask, masking=masking)
        weights = att.reshape(2, 16, 16)
        assert torch.all(weights[touched] == 0)
        total = weights.sum(dim=1)
        if masking == "exclude":
            torch.testing.assert_close(total, torch.ones_like(total))
    # Released: the excluded patches keep a share of the softmax denominator (visible with small scores).
    _, att = contextual_attention(fg * 0.01, bg * 0.01, mask, fuse=False)
    assert torch.all(att.sum(dim=1) < 0.99)


def test_resize_follows_tf_align_corners() -> None:
    x = torch.arange(8.0).view(1, 1, 1, 8)
    assert resize_nearest(x, (1, 4)).flatten().tolist() == [0, 2, 5, 7]
    assert resize_nearest(x, (1, 4), "floor").flatten().tolist() == [0, 2, 4, 6]


def test_bad_input_is_refused() -> None:
    x = torch.rand(1, 4, 8, 8)
    with pytest.raises(BenchError, match="multiples of rate"):
        contextual_attention(torch.rand(1, 4, 7, 8), x)
    with pytest.raises(BenchError, match="mask of shape"):
        contextual_attention(x, x, torch.ones(1, 1, 4, 4))
    with pytest.raises(BenchError, match="masking"):
        contextual_attention(x, x, masking="soft")
