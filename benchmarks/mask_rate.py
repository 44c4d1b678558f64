"""Masks per second per bin and group on one worker (generation only, no PNG encoding).

    .venv/bin/python benchmarks/mask_rate.py [--size 512] [--n 200] [--kind mixed] [--seed 0] [--reference]

Target: at least 300 masks/s on one core in every cell at 512 px, B (0.5,0.6] included.
Cells are interleaved round-robin in small batches so that load from other processes hits all alike.
Rates are masks per second of this process's CPU time (time.process_time: what one dedicated core
would do; on a shared machine wall-clock rates drop with the load) and, for reference, per wall second.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from masks._worker import mask_seed  # noqa: E402
from masks.conventions import BINS, GROUPS, margin_for  # noqa: E402
from masks.generate import KINDS, generate_mask  # noqa: E402


def reference_strokes(rng: np.random.Generator, size: int, b, g, kind=None) -> np.ndarray:
    """A plain OpenCV stroke generator with rejection, for comparison in the same run (--reference).

    Random thick polylines are added until the hole ratio passes b.lo (group B: margin cleared after
    each); a mask that jumps past b.hi is thrown away and started again.
    """
    n, m = size * size, margin_for(size)
    while True:
        canvas = np.zeros((size, size), np.uint8)
        count = 0
        while count <= b.lo * n:
            w = int(rng.integers(max(size // 50, 1), max(size // 12, 2)))
            x, y = rng.integers(0, size, 2)
            for _ in range(int(rng.integers(2, 7))):
                a = rng.uniform(0, 2 * np.pi)
                r = rng.uniform(0.05, 0.25) * size
                nx, ny = int(x + r * np.cos(a)), int(y + r * np.sin(a))
                cv2.line(canvas, (int(x), int(y)), (nx, ny), 255, w)
                x, y = nx, ny
            if g.value == "B":
                canvas[:m] = 0
                canvas[-m:] = 0
                canvas[:, :m] = 0
                canvas[:, -m:] = 0
            count = cv2.countNonZero(canvas)
        if count <= b.hi * n:
            return cv2.bitwise_not(canvas)


def time_cells(gen, args) -> tuple[dict, dict, dict]:
    cells = [(b, g) for g in GROUPS for b in BINS]
    spent = {c: 0.0 for c in cells}
    wall = {c: 0.0 for c in cells}
    done = {c: 0 for c in cells}
    for b, g in cells:  # warm-up: imports, first-call costs
        gen(np.random.default_rng(0), args.size, b, g, args.kind)
    while any(done[c] < args.n for c in cells):
        for c in cells:
            b, g = c
            k = min(args.batch, args.n - done[c])
            if k <= 0:
                continue
            rngs = [np.random.default_rng(mask_seed(args.seed, b, g, done[c] + j)) for j in range(k)]
            t, w = time.process_time(), time.perf_counter()
            for rng in rngs:
                gen(rng, args.size, b, g, args.kind)
            spent[c] += time.process_time() - t
            wall[c] += time.perf_counter() - w
            done[c] += k
    return spent, wall, done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=200, help="masks per bin and group")
    ap.add_argument("--kind", choices=KINDS, default="mixed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=20, help="masks per cell per round")
    ap.add_argument("--reference", action="store_true", help="also time a plain OpenCV stroke generator")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    spent, wall, done = time_cells(generate_mask, args)
    cols = {"bin": [b.name for b in BINS]}
    for g in GROUPS:
        cols[f"{g.value} masks/s (CPU)"] = [done[(b, g)] / spent[(b, g)] for b in BINS]
    for g in GROUPS:
        cols[f"{g.value} (wall)"] = [done[(b, g)] / wall[(b, g)] for b in BINS]
    if args.reference:
        r_spent, _, r_done = time_cells(reference_strokes, args)
        for g in GROUPS:
            cols[f"{g.value} plain strokes (CPU)"] = [r_done[(b, g)] / r_spent[(b, g)] for b in BINS]
    table = pd.DataFrame(cols)
    print(f"size {args.size}, kind {args.kind}, {args.n} masks per cell, one worker, one core")
    print(table.to_markdown(index=False, floatfmt=".0f"))
    print(f"slowest cell: {table.iloc[:, 1:3].min().min():.0f} masks/s (CPU time)")


if __name__ == "__main__":
    main()
