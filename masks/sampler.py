"""A fresh mask per training sample, from the same families, with a configurable bin/group distribution.

>>> import numpy as np
>>> s = MaskSampler(64, bin_weights={"0.1-0.2": 1.0})
>>> m = s.sample(np.random.default_rng(0))
>>> m.shape, m.dtype
((64, 64), dtype('uint8'))
"""

from __future__ import annotations

import numpy as np

from masks.conventions import BIN_NAMES, BINS, GROUPS, Bin, bin_by_name
from masks.generate import Kind, check_feasible, generate_mask


def _normalise(weights: dict[str, float] | None, names: tuple[str, ...], what: str) -> np.ndarray:
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    unknown = sorted(set(map(str, weights)) - set(names))
    if unknown:
        raise ValueError(f"unknown {what} {', '.join(unknown)}; known: {', '.join(names)}")
    w = np.array([float(weights.get(n, 0.0)) for n in names])
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise ValueError(f"{what} weights must be non-negative, finite and not all zero: {weights}")
    return w / w.sum()


class MaskSampler:
    """Draws a bin and a group, then generates a mask for them: uint8 (size, size), 255 valid, 0 hole.

    `bin_weights` maps bin names ('0.3-0.4') to weights, `group_weights` maps 'N'/'B'; missing names get
    weight 0, None means uniform over all six bins / both groups.
    """

    def __init__(
        self,
        size: int,
        kind: Kind | str = "mixed",
        bin_weights: dict[str, float] | None = None,
        group_weights: dict[str, float] | None = None,
        margin: int | None = None,
    ) -> None:
        self.size = int(size)
        self.kind = Kind(kind)
        self.margin = margin
        self.bin_p = _normalise(bin_weights, BIN_NAMES, "bin")
        self.group_p = _normalise(
            {str(k): v for k, v in group_weights.items()} if group_weights else None,
            tuple(g.value for g in GROUPS),
            "group",
        )
        self.bins: tuple[Bin, ...] = tuple(bin_by_name(n) for n in BIN_NAMES)
        used_bins = [b for b, p in zip(BINS, self.bin_p, strict=True) if p > 0]
        used_groups = [g for g, p in zip(GROUPS, self.group_p, strict=True) if p > 0]
        check_feasible(self.size, used_bins, used_groups, margin)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        b = self.bins[int(rng.choice(len(self.bins), p=self.bin_p))]
        g = GROUPS[int(rng.choice(len(GROUPS), p=self.group_p))]
        return generate_mask(rng, self.size, b, g, self.kind, self.margin)

    def sample_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n masks as float32 (n, 1, size, size) in the tensor convention: 1 valid, 0 hole."""
        out = np.empty((n, 1, self.size, self.size), np.float32)
        for i in range(n):
            out[i, 0] = self.sample(rng) / np.float32(255)
        return out

    def __repr__(self) -> str:
        bins = {n: round(float(p), 4) for n, p in zip(BIN_NAMES, self.bin_p, strict=True) if p > 0}
        groups = {g.value: round(float(p), 4) for g, p in zip(GROUPS, self.group_p, strict=True) if p > 0}
        return f"MaskSampler(size={self.size}, kind={self.kind.value!r}, bins={bins}, groups={groups})"
