"""Seconds per image of skimage's biharmonic inpainting and of baselines.biharmonic, in the same run.

    .venv/bin/python benchmarks/biharmonic.py [--bins 0.3-0.4 0.5-0.6] [--repeats 3] [--size 512]

Photos: astronaut, chelsea, coffee and rocket from scikit-image, centre-cropped square and resized to
--size (as benchmarks/baselines.py). Masks: masks.generate.generate_mask, one per photo and bin, seeded by
(--seed, photo index, bin index), group N. For each (photo, bin) both solvers run --repeats times,
alternating, and the median wall-clock time of each is kept, so load from other processes hits both
alike; the ratio is skimage / fast of those medians. max|diff| is the largest absolute difference
between the two fills ([0,1] images). BLAS is left at its default thread count for skimage; the fast
solver runs its dense kernels on one thread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
from skimage.restoration import inpaint_biharmonic  # noqa: E402

from baselines.biharmonic import inpaint_biharmonic_fast  # noqa: E402
from masks.conventions import BINS, VALID, Group, bin_by_name, hole_ratio  # noqa: E402
from masks.generate import generate_mask  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")


def load(size: int) -> dict[str, np.ndarray]:
    import cv2
    from skimage import data

    out = {}
    for name in PHOTOS:
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
        out[name] = cv2.resize(img[y : y + s, x : x + s], (size, size), interpolation=interp) / 255.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bins", nargs="*", default=["0.3-0.4", "0.5-0.6"], help="hole-ratio bins")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each solver per image (median kept)")
    ap.add_argument("--max-photos", type=int, default=len(PHOTOS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    photos = dict(list(load(args.size).items())[: args.max_photos])
    bins = [bin_by_name(b) for b in args.bins]

    # Warm-up, not timed: numba compiles the fast solver's kernels (seconds, once per process).
    t = time.perf_counter()
    warm = np.zeros((32, 32), bool)
    warm[8:20, 10:24] = True
    inpaint_biharmonic_fast(next(iter(photos.values()))[:32, :32], warm)
    print(f"numba compile / warm-up: {time.perf_counter() - t:.1f} s (once per process, not timed below)")
    print(f"{len(photos)} photos at {args.size} px, group N, median of {args.repeats} runs each\n")
    head = ("bin", 8), ("photo", 10), ("holes", 6), ("skimage s", 10), ("fast s", 8), ("ratio", 7)
    print(
        " ".join(f"{h:{w}s}" if i < 2 else f"{h:>{w}s}" for i, (h, w) in enumerate(head)),
        f"{'max|diff|':>10s}",
    )
    summary = []
    for b in bins:
        bi = BINS.index(b)
        rows = []
        for pi, (name, img) in enumerate(photos.items()):
            mask = generate_mask(np.random.default_rng([args.seed, pi, bi]), args.size, b, Group.N)
            hole = mask < VALID // 2
            t_sk, t_fast = [], []
            for _ in range(args.repeats):
                t = time.perf_counter()
                ref = inpaint_biharmonic(img, hole, channel_axis=-1, split_into_regions=False)
                t_sk.append(time.perf_counter() - t)
                t = time.perf_counter()
                out = inpaint_biharmonic_fast(img, hole)
                t_fast.append(time.perf_counter() - t)
            sk, fast = statistics.median(t_sk), statistics.median(t_fast)
            diff = float(np.abs(out - ref).max())
            rows.append((sk, fast, diff))
            ratio = sk / fast
            print(
                f"{b.name:8s} {name:10s} {hole_ratio(mask):6.3f} {sk:10.3f} {fast:8.3f} {ratio:6.1f}x",
                f"{diff:10.1e}",
                flush=True,
            )
        sk = float(np.mean([r[0] for r in rows]))
        fast = float(np.mean([r[1] for r in rows]))
        diff = max(r[2] for r in rows)
        summary.append((b.name, sk, fast, diff))
    print("\nper bin, mean seconds per image:")
    for name, sk, fast, diff in summary:
        ratio = sk / fast
        print(f"  {name:8s} skimage {sk:.3f} s  fast {fast:.3f} s  ratio {ratio:.1f}x  max|diff| {diff:.1e}")


if __name__ == "__main__":
    main()
