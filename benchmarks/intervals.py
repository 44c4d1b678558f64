"""Coverage of the tables' intervals where images or masks repeat: a simulation with known variance.

    .venv/bin/python benchmarks/intervals.py [--reps 1000] [--n-boot 1000] [--seed 0]

Each pair's value is y = a_image + b_mask + e (independent normal effects; the true mean is 0), on the
designs a run produces: one cell under cross pairing (80 images, 24 masks, each mask ~3.3 times, images
once: the quick profile's cell), one cell under distinct pairing (nothing repeats), all 12 cells of a cross
run pooled (each image in every cell: images and masks repeat) and a fully crossed 40 x 12 design. For
each design and variance mix it prints how often the 95 % interval covers 0: the old pairs bootstrap
(bench.reporting.statistics.bootstrap_ci), the new default (bench.reporting.statistics.two_way_ci) and,
for reference, the image-and-mask "pigeonhole" bootstrap (Owen 2007), which resamples both at once and
double counts the residual.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from bench.reporting.statistics import bootstrap_ci, two_way_ci  # noqa: E402

# (images, masks) index arrays of each design.
N_IMAGES, N_MASKS, N_CELLS = 80, 24, 12


def _cross_cell(rng: np.random.Generator, cell: int = 0, n_images: int = N_IMAGES) -> tuple:
    """One cell of cross pairing: image i meets entry i of a sequence of mask permutations
    (bench.runs.pairing)."""
    reps = -(-n_images // N_MASKS)
    order = np.concatenate([rng.permutation(N_MASKS) for _ in range(reps)])[:n_images]
    return np.arange(n_images), order + cell * N_MASKS


def design(name: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if name == "cross cell":
        return _cross_cell(rng)
    if name == "distinct cell":
        return np.arange(N_MASKS), np.arange(N_MASKS)
    if name == "cross, 12 cells pooled":
        parts = [_cross_cell(rng, c) for c in range(N_CELLS)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    if name == "crossed 40 x 12":
        i, m = np.meshgrid(np.arange(40), np.arange(12), indexing="ij")
        return i.ravel(), m.ravel()
    raise ValueError(name)


DESIGNS = ("cross cell", "distinct cell", "cross, 12 cells pooled", "crossed 40 x 12")
# (sigma_image, sigma_mask, sigma_residual)
MIXES = ((1.0, 1.0, 0.5), (0.5, 1.5, 0.5), (1.0, 0.3, 1.0))


def pigeonhole_ci(y, images, masks, n_boot, ci, rng) -> tuple[float, float]:
    """Percentile CI of the weighted mean under independent multinomial weights on images and masks."""
    ui, ii = np.unique(images, return_inverse=True)
    um, mm = np.unique(masks, return_inverse=True)
    wi = rng.multinomial(len(ui), np.full(len(ui), 1 / len(ui)), size=n_boot)[:, ii]  # (n_boot, n)
    wm = rng.multinomial(len(um), np.full(len(um), 1 / len(um)), size=n_boot)[:, mm]
    w = (wi * wm).astype(np.float64)
    means = (w @ y) / np.maximum(w.sum(axis=1), 1e-12)
    a = (1 - ci) / 2
    return tuple(np.quantile(means, [a, 1 - a]))


def coverage(name: str, sigmas: tuple[float, float, float], reps: int, n_boot: int, seed: int) -> dict:
    """Fraction of `reps` simulated data sets whose 95 % interval covers the true mean 0, per interval."""
    rng = np.random.default_rng([seed, zlib_crc(name), *[int(s * 100) for s in sigmas]])
    hits = {"pairs bootstrap (old)": 0, "two_way_ci (new)": 0, "pigeonhole": 0}
    widths = {k: 0.0 for k in hits}
    for _ in range(reps):
        images, masks = design(name, rng)
        a = rng.normal(0, sigmas[0], images.max() + 1)
        b = rng.normal(0, sigmas[1], masks.max() + 1)
        y = a[images] + b[masks] + rng.normal(0, sigmas[2], len(images))
        keys_i, keys_m = [f"i{k}" for k in images], [f"m{k}" for k in masks]
        for label, (lo, hi) in (
            ("pairs bootstrap (old)", bootstrap_ci(y, n_boot, 0.95, rng)),
            ("two_way_ci (new)", two_way_ci(y, keys_i, keys_m, n_boot, 0.95, rng)),
            ("pigeonhole", pigeonhole_ci(y, images, masks, n_boot, 0.95, rng)),
        ):
            hits[label] += lo <= 0.0 <= hi
            widths[label] += (hi - lo) / reps
    return {k: (hits[k] / reps, widths[k]) for k in hits}


def zlib_crc(text: str) -> int:
    import zlib

    return zlib.crc32(text.encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--n-boot", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    se = 100 * (0.95 * 0.05 / args.reps) ** 0.5
    print(f"nominal 95 %; {args.reps} data sets per row (Monte Carlo s.e. {se:.1f} points), "
          f"{args.n_boot} resamples; coverage % (mean width)")  # fmt: skip
    head = ["design", "s_img s_mask s_res", "old: pairs", "new: two_way_ci", "pigeonhole"]
    print(f"{head[0]:24} {head[1]:>18}  {head[2]:>14} {head[3]:>16} {head[4]:>14}")
    for name in DESIGNS:
        for sig in MIXES:
            res = coverage(name, sig, args.reps, args.n_boot, args.seed)
            cells = [f"{100 * c:5.1f} ({w:.3f})" for c, w in res.values()]
            mix = " ".join(f"{s:5.1f}" for s in sig)
            print(f"{name:24} {mix:>18}  {cells[0]:>14} {cells[1]:>16} {cells[2]:>14}")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
