"""Pairs per second of a whole `bench evaluate` at 512 px, one process against torchrun, in the same run.

    .venv/bin/python benchmarks/evaluate.py [--images 4] [--size 512] [--nproc 2]
                                            [--method patchmatch ...] [--target-pairs 12000]

Photos: the first --images of astronaut, chelsea, coffee, rocket, camera... from scikit-image, centre-cropped
square and resized to --size. Masks: `masks.manifest.generate_set`, 2 per bin, every bin, both groups, so
each photo meets 12 masks (cross pairing): --images x 12 pairs. Every command is the real CLI in a fresh
folder: inference, L1/PSNR/SSIM/hole L1, the IS network's outputs (IS*, FID*, KID*: the stand-in),
the ground truth's outputs for FID/KID, records and tables.

For each method alone, and for all of them in one evaluation, the script times
`python -m bench evaluate` (one process, torch's default threads) and
`torchrun --nproc_per_node N -m bench evaluate` (one thread each, torchrun's default). Each command is then
run again on its finished folder: nothing is computed, so that second time is the fixed cost (start-up,
validation, tables). The rate is pairs / (first time - second time); the projected wall time of a
--target-pairs evaluation (the paper's 12,000 NVIDIA test masks, one image each) is target / rate plus
the fixed cost. The projection assumes the rate of these photos and of the protocol's bins in equal shares.
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

    from bench.io import write_png
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
    args, images: Path, masks: Path, methods: list[str], out: Path, nproc: int
) -> tuple[float, float]:
    """(first run, second run) seconds of one evaluation."""
    cmd = ["-m", "bench", "evaluate", "--data", str(images), "--masks", str(masks), "--out", str(out),
           "--device", "cpu", "--no-figures", "--batch-size", str(args.batch_size)]  # fmt: skip
    for m in methods:
        cmd += ["--method", m]
    if nproc > 1:
        port = str(29400 + os.getpid() % 500)
        cmd = ["-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", port, *cmd[1:]]
    cmd = [sys.executable, *cmd]
    threads = 1 if nproc > 1 else None
    return timed(cmd, threads), timed(cmd, threads)


def hms(s: float) -> str:
    return f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{int(s % 60):02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4, help=f"photos (at most {len(PHOTOS)}), 12 pairs each")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--nproc", type=int, default=2, help="torchrun processes")
    ap.add_argument("--batch-size", type=int, default=4, help="pairs per chunk (bench evaluate --batch-size)")
    ap.add_argument("--method", action="append", default=None, help=f"default: {', '.join(METHODS)}")
    ap.add_argument("--target-pairs", type=int, default=12000)
    args = ap.parse_args()
    methods = args.method or list(METHODS)
    n_pairs = 12 * args.images
    print(f"{n_pairs} pairs at {args.size} px ({args.images} photos x 6 bins x 2 groups), "
          f"{os.cpu_count()} CPUs; torchrun: {args.nproc} processes")  # fmt: skip
    print(f"{'method':<22} {'procs':>5} {'total s':>8} {'fixed s':>8} {'pairs/s':>8} {'speed-up':>8} "
          f"{args.target_pairs:>6}-pair projection")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        images, masks = make_inputs(Path(tmp), args.images, args.size)
        runs = [[m] for m in methods] + ([methods] if len(methods) > 1 else [])
        for i, ms in enumerate(runs):
            name = ms[0] if len(ms) == 1 else f"all {len(ms)} together"
            rates = {}
            for nproc in (1, args.nproc):
                first, second = measure(args, images, masks, ms, Path(tmp) / f"out-{i}-{nproc}", nproc)
                rate = n_pairs / max(first - second, 1e-9)
                rates[nproc] = rate
                up = f"{rate / rates[1]:.2f}x" if nproc > 1 else ""
                proj = args.target_pairs / rate + second
                row = (
                    f"{name:<22} {nproc:>5} {first:>8.1f} {second:>8.1f} {rate:>8.2f} {up:>8} {hms(proj):>12}"
                )
                print(row, flush=True)


if __name__ == "__main__":
    main()
