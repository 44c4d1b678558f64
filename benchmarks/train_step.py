"""Training throughput: images/s of whole `bench train` steps per model and precision, and where time goes.

A step here is exactly what `bench train` runs: the batch from the training data (builtin photos, masks
drawn by the sampler, crops and flips), the forward pass, the loss as the profile configures it, the
backward pass and the optimiser (GL and GntIpt: their own steps with critics). For each model and setting
the script times `--steps` steps after `--warmup` untimed ones and prints:

  images/s           batch / median step time (data + compute)
  data ms, step ms   median time to get the batch, and of the step itself
  GFLOP/s            the step's floating-point operations (torch's FLOP counter, one step) / its median time
  % of peak          against a square matmul measured in the same run, in the same precision

Settings: `old` is the quick profile as it was (fp32, contiguous memory, batch 4); `fp32` and `bf16` are the
current quick profile in each precision (bf16 autocast, channels-last; the batch of the profile). GL's and
GntIpt's steps do not autocast: they run in fp32 whatever the setting. The last lines give the speed-up of
each setting over `old` per model, measured in this one run.

    .venv/bin/python benchmarks/train_step.py                                  # pconv conv gl gntipt
    .venv/bin/python benchmarks/train_step.py --models pconv conv --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path: keep it from shadowing the packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench.core.device import bf16_native  # noqa: E402
from bench.core.distributed import setup  # noqa: E402
from bench.training import loop as T  # noqa: E402
from bench.training.config import resolve_config  # noqa: E402

MODELS = ("pconv", "conv", "gl", "gntipt")
# The quick profile before the throughput work: fp32, contiguous tensors, batch 4.
OLD = {"precision": "fp32", "channels_last": False, "batch_size": 4}


def settings(batch: int | None) -> dict[str, dict]:
    new = {} if batch is None else {"batch_size": batch}
    return {"old": OLD, "fp32": {**new, "precision": "fp32"}, "bf16": {**new, "precision": "bf16"}}


def matmul_gflops(precision: str, n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of the fastest of `reps` n x n matmuls (2 n^3 FLOPs) in `precision`: the practical peak."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(2):
        a @ b
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t)
    return 2 * n**3 / min(ts) / 1e9


def count_flops(run, net, images, masks, step: int) -> float:
    """FLOPs of one step by torch's counter; NaN where it cannot follow the step (its module hooks do not
    support GntIpt's gradient penalty, an autograd.grad inside the step), which then runs uncounted."""
    try:
        with FlopCounterMode(display=False) as fc:
            run.spec.step(run, net, images, masks, step, None)
        return float(fc.get_total_flops())
    except RuntimeError:
        run.spec.step(run, net, images, masks, step, None)
        return float("nan")


def measure(model: str, over: dict, args, out: Path) -> dict:
    """Median data and step times of `args.steps` steps of `model` under the profile plus `over`."""
    cfg = resolve_config(
        args.profile,
        overrides={
            "model": model,
            "steps": 10**6,
            "log_every": 10**6,
            "checkpoint_every": 10**6,
            "sample_every": 10**6,
            **over,
        },
    )
    d, device = setup(torch.device("cpu"))
    run = T._prepare(cfg, out, d, device, None, None, False, False)  # what `bench train` builds
    net = run.spec.wrap(run, 1)
    batches = iter(T._loader(run))
    data_t, step_t, flops = [], [], 0
    for step in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        images, masks = next(batches)
        t1 = time.perf_counter()
        if step == args.warmup - 1:
            flops = count_flops(run, net, images, masks, step)
            continue
        run.spec.step(run, net, images, masks, step, None)
        t2 = time.perf_counter()
        if step >= args.warmup:
            data_t.append(t1 - t0)
            step_t.append(t2 - t1)
    data_ms, step_ms = statistics.median(data_t) * 1e3, statistics.median(step_t) * 1e3
    return {
        "batch": cfg.batch_size,
        "data_ms": data_ms,
        "step_ms": step_ms,
        "precision": run.precision if run.critics is None else "fp32",
        "images_per_s": cfg.batch_size / ((data_ms + step_ms) / 1e3),
        "gflops": flops / step_ms / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--settings", nargs="+", default=["old", "fp32", "bf16"], choices=["old", "fp32", "bf16"])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--batch", type=int, default=None, help="fp32/bf16 settings: batch (default: profile)")
    ap.add_argument("--size", type=int, default=None, help="image size (default: the profile's)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per model and setting")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (the last one counts FLOPs)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    args.warmup = max(1, args.warmup)
    if args.threads:
        torch.set_num_threads(args.threads)
    sets = {k: v for k, v in settings(args.batch).items() if k in args.settings}
    if args.size is not None:
        sets = {k: {**v, "size": args.size} for k, v in sets.items()}
    peak = {p: matmul_gflops(p) for p in ("fp32", "bf16")}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU bf16 native: "
          f"{bf16_native(torch.device('cpu'))}; matmul peak fp32 {peak['fp32']:.1f} GFLOP/s, "
          f"bf16 {peak['bf16']:.1f} GFLOP/s", flush=True)  # fmt: skip
    print(f"{'model':7s} {'setting':7s} {'batch':>5s} {'images/s':>9s} {'data ms':>8s} {'step ms':>8s} "
          f"{'GFLOP/s':>8s} {'% peak':>7s}")  # fmt: skip
    res: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models:
            for name, over in sets.items():
                r = measure(model, over, args, Path(tmp) / f"{model}-{name}")
                res[model, name] = r
                pct = 100 * r["gflops"] / peak[r["precision"]]
                print(f"{model:7s} {name:7s} {r['batch']:5d} {r['images_per_s']:9.1f} {r['data_ms']:8.1f} "
                      f"{r['step_ms']:8.1f} {r['gflops']:8.1f} {pct:6.1f}%", flush=True)  # fmt: skip
    for model in args.models:
        if (model, "old") in res:
            old = res[model, "old"]["images_per_s"]
            ups = ", ".join(f"{n} {res[model, n]['images_per_s'] / old:.2f}x" for n in sets if n != "old")
            print(f"speed-up over old, {model}: {ups}")


if __name__ == "__main__":
    main()
