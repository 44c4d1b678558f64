"""Worker side of generate_set: kept free of pandas so that spawned worker processes start fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.core.files import encode_png, write_bytes
from masks.conventions import BINS, GROUPS, Bin, Group, hole_ratio
from masks.generate import generate_mask


def mask_seed(seed: int, bin: Bin, group: Group | str, index: int) -> np.random.SeedSequence:
    """The seed of one mask: depends only on (seed, bin, group, index), so sets are the same whatever the
    worker count or the other bins/groups asked for."""
    return np.random.SeedSequence([int(seed), BINS.index(bin), GROUPS.index(Group(group)), int(index)])


def mask_path(bin: Bin, group: Group | str, index: int) -> str:
    """File of one generated mask, relative to the set's folder."""
    return f"{bin.name}/{Group(group).value}/{index:05d}.png"


def _write_mask_png(path: Path, mask: np.ndarray) -> None:
    """Atomic (temporary name, then rename) but without a per-file fsync: ~9 ms a mask here, more than
    making it. generate_set calls os.sync() once before the manifest, which marks a set complete."""
    write_bytes(path, encode_png(mask), fsync=False)


def generate_chunk(args: tuple) -> list[tuple[int, int, int, float]]:
    """Make and write masks [start, stop) of one bin and group; returns (bin, group, i, ratio) rows."""
    out, size, b_idx, g_idx, start, stop, kind, seed, margin = args
    b, g = BINS[b_idx], GROUPS[g_idx]
    rows = []
    for i in range(start, stop):
        rng = np.random.default_rng(mask_seed(seed, b, g, i))
        m = generate_mask(rng, size, b, g, kind, margin)
        _write_mask_png(Path(out) / mask_path(b, g, i), m)
        rows.append((b_idx, g_idx, i, hole_ratio(m)))
    return rows
