"""Masks per second per bin and group on one worker (generation only, no PNG encoding).

    .venv/bin/python benchmarks/masks.py [--size 512] [--n 200] [--kind mixed] [--seed 0]

Target (issue 3): at least 300 masks/s on one core in every cell at 512 px, B (0.5,0.6] included.
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

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from masks._worker import mask_seed  # noqa: E402
from masks.conventions import BINS, GROUPS  # noqa: E402
from masks.generate import KINDS, generate_mask  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--n", type=int, default=200, help="masks per bin and group")
    ap.add_argument("--kind", choices=KINDS, default="mixed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=20, help="masks per cell per round")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    cells = [(b, g) for g in GROUPS for b in BINS]
    spent = {c: 0.0 for c in cells}
    wall = {c: 0.0 for c in cells}
    done = {c: 0 for c in cells}
    for b, g in cells:  # warm-up: imports, first-call costs
        generate_mask(np.random.default_rng(0), args.size, b, g, args.kind)
    while any(done[c] < args.n for c in cells):
        for c in cells:
            b, g = c
            k = min(args.batch, args.n - done[c])
            if k <= 0:
                continue
            rngs = [np.random.default_rng(mask_seed(args.seed, b, g, done[c] + j)) for j in range(k)]
            t, w = time.process_time(), time.perf_counter()
            for rng in rngs:
                generate_mask(rng, args.size, b, g, args.kind)
            spent[c] += time.process_time() - t
            wall[c] += time.perf_counter() - w
            done[c] += k
    table = pd.DataFrame(
        [
            [b.name]
            + [done[(b, g)] / spent[(b, g)] for g in GROUPS]
            + [done[(b, g)] / wall[(b, g)] for g in GROUPS]
            for b in BINS
        ],
        columns=[
            "bin",
            *(f"{g.value} masks/s (CPU)" for g in GROUPS),
            *(f"{g.value} (wall)" for g in GROUPS),
        ],
    )
    print(f"size {args.size}, kind {args.kind}, {args.n} masks per cell, one worker, one core")
    print(table.to_markdown(index=False, floatfmt=".0f"))
    print(f"slowest cell: {table.iloc[:, 1:3].min().min():.0f} masks/s (CPU time)")


if __name__ == "__main__":
    main()
