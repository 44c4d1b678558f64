"""Image pairs per second for L1 + PSNR + SSIM: ours against scikit-image and torchmetrics, in one run.

    .venv/bin/python benchmarks/metrics.py [--size 512] [--batch 8] [--reps 3] [--threads 2]

Target: L1 + PSNR + SSIM together at least 50 pairs/s at 512x512 on 2 cores.
Contenders, interleaved round-robin so that load from other processes hits all alike:
  ours-numba   bench.metrics.registry.all_metrics (CPU default: fused numba kernel; also gives hole L1)
  ours-torch   bench.metrics.registry.all_metrics(backend="torch") (the path used on GPUs)
  ours-registry bench.metrics.registry.pair_metric_values: what bench evaluate calls (the registry,
               then ours-numba)
  skimage      skimage.metrics structural_similarity + peak_signal_noise_ratio, per pair (float32 in)
  torchmetrics torchmetrics.functional structural_similarity_index_measure, batched (SSIM only)
Rates are pairs per wall-clock second (median over repetitions) and pairs per CPU second of this
process (time.process_time, all threads summed: what one dedicated core would do; x2 approximates an
idle 2-core machine for a contender that keeps both cores busy). On a shared machine read the ratios.
Also prints the largest |SSIM - skimage float64| and |PSNR - skimage| over the pairs.
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
import torch  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402
from skimage import data  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402
from skimage.transform import resize  # noqa: E402
from torchmetrics.functional.image import structural_similarity_index_measure  # noqa: E402

from bench.metrics.registry import all_metrics, composite, pair_metric_values  # noqa: E402

SK_KW = dict(data_range=1, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def make_pairs(n: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """n realistic pairs: photo crops, outputs blurred + noisy inside a random rectangular hole."""
    rng = np.random.default_rng(seed)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    tgts, outs, masks = [], [], []
    for i in range(n):
        img = resize(photos[i % len(photos)], (size, size), anti_aliasing=True).astype(np.float32)
        img = np.roll(img, int(rng.integers(0, size)), axis=1)
        deg = np.clip(gaussian_filter(img, (3, 3, 0)) + rng.normal(0, 0.03, img.shape), 0, 1)
        m = np.ones((size, size), np.float32)
        y0, x0 = rng.integers(0, size // 2, 2)
        m[y0 : y0 + size // 3, x0 : x0 + size // 3] = 0
        tgts.append(torch.from_numpy(img).permute(2, 0, 1))
        outs.append(torch.from_numpy(deg.astype(np.float32)).permute(2, 0, 1))
        masks.append(torch.from_numpy(m)[None])
    tgt, raw, mask = torch.stack(tgts), torch.stack(outs), torch.stack(masks)
    return composite(raw, tgt, mask), tgt, mask


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8, help="pairs per call")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (and our kernel's)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out, tgt, mask = make_pairs(args.batch, args.size, args.seed)
    hwc = [(o.permute(1, 2, 0).numpy(), t.permute(1, 2, 0).numpy()) for o, t in zip(out, tgt, strict=True)]

    def skimage_all() -> np.ndarray:
        return np.array(
            [
                (
                    structural_similarity(o, t, **SK_KW),
                    peak_signal_noise_ratio(t, o, data_range=1),
                    np.abs(o - t).mean(),
                )
                for o, t in hwc
            ]
        )

    contenders = {
        "ours-numba": lambda: all_metrics(out, tgt, mask, backend="numba"),
        # What bench evaluate calls: the metric registry over the same fused kernel.
        "ours-registry": lambda: pair_metric_values(
            out, tgt, mask, ["l1_percent", "psnr", "ssim", "hole_l1_percent"]
        ),
        "ours-torch": lambda: all_metrics(out, tgt, mask, backend="torch"),
        "skimage": skimage_all,
        "torchmetrics-ssim": lambda: structural_similarity_index_measure(
            out, tgt, data_range=1.0, reduction="none"
        ),
    }
    for f in contenders.values():  # warm-up: numba JIT / cache load, first-call allocations
        f()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    cpu: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(args.reps):
        for name, f in contenders.items():
            t, c = time.perf_counter(), time.process_time()
            f()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)

    # Accuracy against skimage in float64, the reference of docs/conventions.md.
    ref = np.array(
        [
            (
                structural_similarity(o.astype(np.float64), t.astype(np.float64), **SK_KW),
                peak_signal_noise_ratio(t.astype(np.float64), o.astype(np.float64), data_range=1),
            )
            for o, t in hwc
        ]
    )
    dev = {}
    for name in ("ours-numba", "ours-torch"):
        r = contenders[name]()
        dev[name] = (np.abs(r["ssim"].numpy() - ref[:, 0]).max(), np.abs(r["psnr"].numpy() - ref[:, 1]).max())
    reg = contenders["ours-registry"]()
    dev["ours-registry"] = (np.abs(reg["ssim"] - ref[:, 0]).max(), np.abs(reg["psnr"] - ref[:, 1]).max())
    dev["skimage"] = tuple(np.abs(skimage_all()[:, :2] - ref).max(axis=0))
    dev["torchmetrics-ssim"] = (
        np.abs(contenders["torchmetrics-ssim"]().numpy() - ref[:, 0]).max(),
        float("nan"),
    )

    base = float(np.median(times["ours-numba"]))
    n = args.batch
    print(f"{n} pairs of {args.size}x{args.size}, {args.reps} reps, threads {torch.get_num_threads()}")
    head = ("contender", "pairs/s", "ms/pair", "x slower", "pairs/CPU-s", "max|dSSIM|", "max|dPSNR|")
    print("{:<18} {:>8} {:>8} {:>8} {:>11} {:>10} {:>10}".format(*head))
    for name, ts in times.items():
        med = float(np.median(ts))
        ds, dp = dev[name]
        rate_cpu = n / float(np.median(cpu[name]))
        row = (name, n / med, 1000 * med / n, med / base, rate_cpu, ds, dp)
        print("{:<18} {:8.1f} {:8.1f} {:8.2f} {:11.1f} {:10.2e} {:10.2e}".format(*row))


if __name__ == "__main__":
    main()
