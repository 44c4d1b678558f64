"""Learning curves: PConv and Conv under a profile's recipe, scored against classical methods as they train.

Trains each model with `bench train` (the profile's settings; `--steps` overrides the length), keeping a
checkpoint every `--every` steps, and scores every kept checkpoint on one fixed pair set (the profile's
test images and freshly generated test masks, `--per-cell` masks per bin and group, each mask with one
test image) beside PatchMatch and Telea on the same pairs. Metrics are the project's (on the composited
output): L1 (%), PSNR, SSIM, hole L1 (%). Training time is the sum of the logged step times (data
included), so the x axis does not count evaluation. Writes OUT/curve.csv and OUT/curve.png (metric
against training time, top row, and against images seen, bottom row) and prints where each learned model
first beats each classical one, per metric (on the mean over all pairs).

    .venv/bin/python benchmarks/learning_curve.py --profile quick --out runs/curve
    .venv/bin/python benchmarks/learning_curve.py --profile smoke --steps 8 --every 4 --out /tmp/curve

With `--run DIR` nothing is trained: the checkpoints a `bench reproduce` work folder kept (DIR/train/MODEL/
steps/, the standard profile keeps one every 500 steps) are scored instead, on DIR/data's test images:

    .venv/bin/python benchmarks/learning_curve.py --profile standard --run runs/standard --out runs/curve
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: its folder must not shadow the packages
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

METRICS = {"l1_percent": "L1 (%)", "psnr": "PSNR (dB)", "ssim": "SSIM", "hole_l1_percent": "hole L1 (%)"}
HIGHER = {"l1_percent": False, "psnr": True, "ssim": True, "hole_l1_percent": False}


def pair_set(data: Path, masks: Path, per_cell: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N,3,S,S), masks (N,1,S,S)): mask k of each cell with test image k (cycled)."""
    from bench.core.files import read_mask
    from bench.data.decode import load_image
    from bench.data.prepare import list_images
    from masks.manifest import read_manifest

    files = list_images(data, split="test")
    man = read_manifest(masks)
    imgs, msks = [], []
    for _, cell in man.groupby(["bin", "group"], sort=True):
        for k, f in enumerate(cell["file"].iloc[:per_cell]):
            img = load_image(files[k % len(files)])
            imgs.append(torch.from_numpy(img.transpose(2, 0, 1).astype(np.float32) / 255.0))
            msks.append(torch.from_numpy((read_mask(masks / str(f)) > 127).astype(np.float32))[None])
    return torch.stack(imgs), torch.stack(msks)


def score(method, images: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """Mean of each metric over the pairs, on the composited output."""
    from bench.metrics.registry import all_metrics, composite

    with torch.no_grad():
        out = method.inpaint(images.clone(), masks.clone())
        values = all_metrics(composite(out, images, masks), images, masks)
    return {k: float(values[k].mean()) for k in METRICS}


def train_model(model: str, args, data: Path, out: Path) -> Path:
    from bench.training.config import resolve_config
    from bench.training.loop import train

    over = {"model": model, "keep_every": args.every, "steps": args.steps}
    cfg = resolve_config(args.profile, overrides={k: v for k, v in over.items() if v is not None})
    run = out / "train" / model
    train(cfg, run, data=data, resume=(run / "last.pt").is_file())
    return run


def curve_rows(model: str, run: Path, images, masks) -> list[dict]:
    """One row per kept checkpoint: step, images seen, training seconds so far, the four metrics."""
    from bench.methods.inpainters import get_inpainter
    from bench.models.checkpoint import load_checkpoint

    log = pd.read_csv(run / "log.csv")  # every step is logged (log_every 1 in the CPU profiles)
    rows = []
    for ckpt in sorted((run / "steps").glob("step_*.pt")):
        info = load_checkpoint(ckpt)
        step, batch = int(info["step"]), int(info["config"]["batch_size"])
        upto = log[log["step"] <= step]
        train_s = float((batch / upto["images_per_s"]).sum())  # images_per_s = batch / that step's seconds
        method = get_inpainter(model, checkpoint=str(ckpt))
        rows.append({"method": model, "step": step, "images_seen": step * batch, "train_s": round(train_s, 2),
                     **score(method, images, masks)})  # fmt: skip
    return rows


def plot(df: pd.DataFrame, classical: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(METRICS), figsize=(4 * len(METRICS), 6.5), constrained_layout=True)
    colours = {"pconv": "tab:red", "conv": "tab:blue"}
    lines = {"patchmatch": "--", "telea": ":"}
    for row, x in enumerate(("train_s", "images_seen")):
        for ax, (key, label) in zip(axes[row], METRICS.items(), strict=True):
            for model, g in df.groupby("method", sort=False):
                ax.plot(g[x], g[key], "o-", ms=3, color=colours.get(model, "k"), label=model)
            for _, c in classical.iterrows():
                ax.axhline(c[key], color="0.3", ls=lines.get(c["method"], "-."), lw=1, label=c["method"])
            ax.set_xlabel("training time (s)" if x == "train_s" else "images seen")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("learned models while training vs classical methods (same pairs)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def crossings(df: pd.DataFrame, classical: pd.DataFrame) -> list[str]:
    out = []
    for model, g in df.groupby("method", sort=False):
        for _, c in classical.iterrows():
            for key in METRICS:
                better = g[key] > c[key] if HIGHER[key] else g[key] < c[key]
                first = g[better]
                where = (f"from step {int(first['step'].iloc[0])} ({first['train_s'].iloc[0]:.0f} s)"
                         if len(first) else "not within the run")  # fmt: skip
                out.append(f"{model} beats {c['method']} in {key}: {where}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--models", nargs="+", default=["pconv", "conv"], choices=["pconv", "conv"])
    ap.add_argument("--steps", type=int, default=None, help="training steps (default: the profile's)")
    ap.add_argument("--every", type=int, default=100, help="keep and score a checkpoint every N steps")
    ap.add_argument("--per-cell", type=int, default=4, help="test masks per bin and group")
    ap.add_argument("--classical", nargs="*", default=["patchmatch", "telea"])
    ap.add_argument(
        "--run",
        type=Path,
        default=None,
        help="score the kept checkpoints of this `bench reproduce` work folder (no training)",
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from bench.core.files import write_csv
    from bench.data.prepare import prepare_dataset
    from bench.methods.inpainters import get_inpainter
    from bench.training.config import resolve_reproduce
    from masks.manifest import generate_set

    rep, _ = resolve_reproduce(args.profile)
    data, masks = (args.run or args.out) / "data", args.out / "masks"
    if args.run is not None and not all((args.run / "train" / m / "steps").is_dir() for m in args.models):
        sys.exit(f"{args.run}: no kept checkpoints in train/MODEL/steps/ (a reproduce run with keep_every)")
    if not (data / "manifest.csv").is_file():
        prepare_dataset(data, rep.size, source="builtin", seed=rep.seed, progress=False)
    if not (masks / "manifest.csv").is_file():
        generate_set(masks, size=rep.size, per_bin=args.per_cell, seed=rep.seed + 1, workers=1)
    images, msks = pair_set(data, masks, args.per_cell)
    print(f"{len(images)} pairs at {rep.size} px; classical methods first", flush=True)
    classical = pd.DataFrame([
        {"method": name, **score(get_inpainter(name, **rep.method_options.get(name, {})), images, msks)}
        for name in args.classical
    ])  # fmt: skip
    rows = []
    for model in args.models:
        run = args.run / "train" / model if args.run is not None else train_model(model, args, data, args.out)
        rows += curve_rows(model, run, images, msks)
    df = pd.DataFrame(rows)
    write_csv(args.out / "curve.csv", pd.concat([df, classical.assign(step=np.nan)], ignore_index=True))
    plot(df, classical, args.out / "curve.png")
    print(classical.round(3).to_string(index=False))
    print(df.round(3).to_string(index=False))
    for line in crossings(df, classical):
        print(line)
    print(f"wrote {args.out / 'curve.csv'} and {args.out / 'curve.png'}")


if __name__ == "__main__":
    main()
