"""Milliseconds per image of cv2.inpaint (TELEA, NS) and of baselines.fmm's numba port, in the same run.

    .venv/bin/python benchmarks/fmm.py [--methods telea ns] [--bins 0.1-0.2 0.3-0.4 0.5-0.6]
                                       [--repeats 3] [--size 512] [--radius 5]

Photos: astronaut, chelsea, coffee and rocket from scikit-image, centre-cropped square and resized to
--size (as benchmarks/baselines.py). Masks: masks.generate.generate_mask, one per photo and bin, seeded by
(--seed, photo index, bin index), group N. The input is what the telea / ns inpainters pass: uint8, hole
pixels zeroed. For each (method, bin, photo) cv2 and numba run --repeats times, alternating, and the
median wall-clock time of each is kept, so load from other processes hits both alike; `same` says whether
every numba output equalled cv2's bit for bit. Per bin: the median over photos of those times, and the
ratio cv2 / numba of the two medians.
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

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from baselines.fmm import inpaint_ns, inpaint_telea  # noqa: E402
from masks.conventions import BINS, Group, bin_by_name, hole_ratio, is_valid  # noqa: E402
from masks.generate import generate_mask  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
METHODS = {"telea": (inpaint_telea, cv2.INPAINT_TELEA), "ns": (inpaint_ns, cv2.INPAINT_NS)}


def load(size: int) -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for name in PHOTOS:
        img = getattr(data, name)()
        h, w = img.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
        out[name] = cv2.resize(img[y : y + s, x : x + s], (size, size), interpolation=interp)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--bins", nargs="*", default=["0.1-0.2", "0.3-0.4", "0.5-0.6"], help="hole-ratio bins")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--radius", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3, help="runs of each per image (median kept)")
    ap.add_argument("--max-photos", type=int, default=len(PHOTOS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    photos = dict(list(load(args.size).items())[: args.max_photos])
    bins = [bin_by_name(b) for b in args.bins]

    # Warm-up, not timed: numba compiles (or loads from its cache) the kernels, once per process.
    t = time.perf_counter()
    warm = np.zeros((32, 32), bool)
    warm[8:20, 10:24] = True
    for name in args.methods:
        METHODS[name][0](next(iter(photos.values()))[:32, :32], warm, args.radius)
    print(f"numba compile / warm-up: {time.perf_counter() - t:.1f} s (once per process, not timed below)")
    print(f"cv2 {cv2.__version__}; {len(photos)} photos at {args.size} px, group N, radius {args.radius:g},")
    print(f"median of {args.repeats} runs each\n")
    head = f"{'method':6s} {'bin':8s} {'photo':10s} {'holes':>6s} {'cv2 ms':>8s} {'numba ms':>9s}"
    print(head, f"{'ratio':>6s}  same")
    summary = []
    for name in args.methods:
        numba_fill, flag = METHODS[name]
        for b in bins:
            bi = BINS.index(b)
            rows = []
            for pi, (photo, img) in enumerate(photos.items()):
                mask = generate_mask(np.random.default_rng([args.seed, pi, bi]), args.size, b, Group.N)
                hole = ~is_valid(mask)
                img8 = np.where(hole[..., None], 0, img).astype(np.uint8)
                hole8 = hole.astype(np.uint8) * 255
                t_cv, t_nb, same = [], [], True
                for _ in range(args.repeats):
                    t = time.perf_counter()
                    ref = cv2.inpaint(img8, hole8, args.radius, flag)
                    t_cv.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    out = numba_fill(img8, hole, args.radius)
                    t_nb.append(time.perf_counter() - t)
                    same = same and np.array_equal(out, ref)
                cv, nb = 1e3 * statistics.median(t_cv), 1e3 * statistics.median(t_nb)
                rows.append((cv, nb, same))
                print(
                    f"{name:6s} {b.name:8s} {photo:10s} {hole_ratio(mask):6.3f} {cv:8.1f} {nb:9.1f}",
                    f"{cv / nb:5.2f}x  {'yes' if same else 'NO'}",
                    flush=True,
                )
            cv = statistics.median(r[0] for r in rows)
            nb = statistics.median(r[1] for r in rows)
            summary.append((name, b.name, cv, nb, all(r[2] for r in rows)))
    print("\nper bin, median ms per image over the photos:")
    for name, bname, cv, nb, same in summary:
        verdict = "identical" if same else "DIFFERENT"
        print(
            f"  {name:6s} {bname:8s} cv2 {cv:7.1f} ms  numba {nb:7.1f} ms  ratio {cv / nb:5.2f}x  {verdict}"
        )
    if not all(s[-1] for s in summary):
        sys.exit(1)


if __name__ == "__main__":
    main()
