"""Pairs per second of a whole `bench evaluate` at 512 px, one process against torchrun, in the same run.

    .venv/bin/python benchmarks/evaluate.py [--images 4] [--size 512] [--nproc 2] [--no-is]
                                            [--method patchmatch ...] [--target-pairs 12000] [--together-only]

Photos: the first --images of astronaut, chelsea, coffee, rocket, camera... from scikit-image, centre-cropped
square and resized to --size. Masks: `masks.manifest.generate_set`, 2 per bin, every bin, both groups, so
each photo meets 12 masks (cross pairing): --images x 12 pairs. Every command is the real CLI in a fresh
folder: inference, L1/PSNR/SSIM/hole L1, the IS network's outputs (IS*, FID*, KID*: the stand-in),
the ground truth's outputs for FID/KID, records and tables.

For each method alone, and for all of them in one evaluation, the script times
`python -m bench evaluate` (one process, torch's default threads, --workers 1 and --workers N) and
`torchrun --nproc_per_node N -m bench evaluate` (one thread each, torchrun's default), each in a fresh
folder, once on the first photo only (`--limit 1`, 12 pairs) and once on all of them. The difference of
the two times is the cost of the extra pairs alone: the rate is extra pairs / extra seconds, and what is
left of the small run's time is the fixed cost (start-up, loading networks, numba's compilation,
validation, tables). The projected wall time of a --target-pairs evaluation (the paper's 12,000 NVIDIA
test masks, one image each) is target / rate plus the fixed cost; it assumes the protocol's bins in equal
shares, as here. The speed-up is the ratio of the rate to the one process's with --workers 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
REPO = _HERE.parent

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat", "immunohistochemistry", "retina")
METHODS = ("patchmatch", "telea", "ns", "biharmonic", "mean")


def make_inputs(root: Path, n_images: int, size: int) -> tuple[Path, Path]:
    import cv2
    import numpy as np
    from skimage import data

    from bench.core.files import write_png
    from masks.manifest import generate_set

    images = root / "images"
    images.mkdir(parents=True)
    for name in PHOTOS[:n_images]:
        img = getattr(data, name)()
        img = np.dstack([img] * 3) if img.ndim == 2 else img[..., :3]
        h, w = img.shape[:2]
        s = min(h, w)
        y, x = (h - s) // 2, (w - s) // 2
        interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
        write_png(
            images / f"{name}.png", cv2.resize(img[y : y + s, x : x + s], (size, size), interpolation=interp)
        )
    generate_set(root / "masks", size=size, per_bin=2, seed=0, progress=False)
    return images, root / "masks"


def timed(cmd: list[str], threads: int | None) -> float:
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return dt


def measure(
    args, images: Path, masks: Path, methods: list[str], out: Path, mode: tuple[int, int], limit: int
):
    """Seconds of one evaluation of the first `limit` photos in a fresh folder; mode: (processes, workers)."""
    nproc, workers = mode
    cmd = ["-m", "bench", "evaluate", "--data", str(images), "--masks", str(masks), "--out", str(out),
           "--device", "cpu", "--no-figures", "--limit", str(limit), "--workers", str(workers),
           *(["--no-is"] if args.no_is else [])]  # fmt: skip
    for m in methods:
        cmd += ["--method", m]
    if nproc > 1:
        cmd = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc), *cmd[1:]]
    return timed([sys.executable, *cmd], 1 if nproc > 1 else None)


def hms(s: float) -> str:
    return f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4, help=f"photos (2 to {len(PHOTOS)}), 12 pairs each")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--nproc", type=int, default=2, help="torchrun processes")
    ap.add_argument("--method", action="append", default=None, help=f"default: {', '.join(METHODS)}")
    ap.add_argument("--target-pairs", type=int, default=12000)
    ap.add_argument("--no-is", action="store_true", help="evaluate with --no-is (no IS, FID, KID)")
    ap.add_argument("--together-only", action="store_true", help="only all methods in one evaluation")
    args = ap.parse_args()
    methods = args.method or list(METHODS)
    n_pairs = 12 * args.images
    print(f"{n_pairs} pairs at {args.size} px ({args.images} photos x 6 bins x 2 groups), "
          f"{os.cpu_count()} CPUs; torchrun: {args.nproc} processes")  # fmt: skip
    print(f"{'method':<22} {'procs x workers':>15} {'total s':>8} {'fixed s':>8} {'pairs/s':>8} "
          f"{'speed-up':>8} {args.target_pairs:>6}-pair projection")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        images, masks = make_inputs(Path(tmp), args.images, args.size)
        runs = [] if args.together_only else [[m] for m in methods]
        runs += [methods] if len(methods) > 1 else []
        # One process (workers 1: the default), one process with a thread per core for the per-image
        # methods (--workers), torchrun's processes with one thread each.
        modes = [(1, 1), (1, args.nproc), (args.nproc, 1)]
        for i, ms in enumerate(runs):
            name = ms[0] if len(ms) == 1 else f"all {len(ms)} together"
            base = None
            for mode in modes:
                tag = f"{i}-{mode[0]}-{mode[1]}"
                small = measure(args, images, masks, ms, Path(tmp) / f"out-{tag}-a", mode, 1)
                big = measure(args, images, masks, ms, Path(tmp) / f"out-{tag}-b", mode, args.images)
                rate = (n_pairs - 12) / max(big - small, 1e-9)
                fixed = max(small - 12 / rate, 0.0)
                base = base or rate
                up = f"{rate / base:.2f}x" if mode != modes[0] else ""
                proj = args.target_pairs / rate + fixed
                how = f"{mode[0]} x {mode[1]}"
                row = f"{name:<22} {how:>15} {big:>8.1f} {fixed:>8.1f} {rate:>8.2f} {up:>8} {hms(proj):>12}"
                print(row, flush=True)


if __name__ == "__main__":
    main()
