"""Recipe ablations: PConv or Conv trained under variants of a profile's recipe, scored on fixed pairs.

Each variant is the profile plus a JSON dict of `bench train` settings, trained for the same number of
steps (`--steps`; a variant may set its own, e.g. a smaller batch for twice the steps) on the profile's
builtin images, then scored like benchmarks/learning_curve.py: `--per-cell` test masks per bin and group,
each with one test image, the metrics on the composited output, means over all pairs. The last column is
the largest per-cell ratio of the fill's Laplacian energy to the ground truth's in the hole interior
(benchmarks/texture.py): near 1 for a fill as smooth as the photo, far above for a checkerboard.
Training time is the sum of the logged step times; on a loaded machine compare metrics, not times.

    .venv/bin/python benchmarks/recipe_ablation.py --out runs/ablation              # the README's table
    .venv/bin/python benchmarks/recipe_ablation.py --out runs/ablation --only base tv1 tv1_conv
    .venv/bin/python benchmarks/recipe_ablation.py --out /tmp/a --profile smoke --steps 4 --only base
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.insert(1, str(_HERE))  # the sibling scripts, after the repository (which holds the packages)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from learning_curve import METRICS, pair_set  # noqa: E402
from texture import hole_region, laplacian_energy  # noqa: E402

# The quick recipe before this work (batch 4, lr 2e-4, He, no average, paper's TV weight, fp32), what
# changed, and one change at a time taken back from the chosen recipe `tv1`.
OLD = {"batch_size": 4, "lr": 2e-4, "warmup_steps": 0, "ema_decay": 0.0, "init": "he",
       "loss_weights": {"tv": 0.1}, "precision": "fp32", "channels_last": False}  # fmt: skip
NEW = {"batch_size": 8, "lr": 5e-4, "warmup_steps": 100, "ema_decay": 0.999, "init": "torch",
       "precision": "bf16", "channels_last": True}  # fmt: skip
VARIANTS: dict[str, tuple[str, dict]] = {
    "old": ("pconv", {**OLD, "steps": 1200}),  # the old quick profile: 4,800 images (batch 8 variants: 3,200)
    "old_conv": ("conv", {**OLD, "steps": 1200}),
    "base": ("pconv", {**NEW, "loss_weights": {"tv": 0.1}}),
    "base_conv": ("conv", {**NEW, "loss_weights": {"tv": 0.1}}),
    "no_ema": ("pconv", {**NEW, "loss_weights": {"tv": 0.1}, "ema_decay": 0.0}),
    "he_init": ("pconv", {**NEW, "loss_weights": {"tv": 0.1}, "init": "he"}),
    "lr_2e-4": ("pconv", {**NEW, "loss_weights": {"tv": 0.1}, "lr": 2e-4}),
    "batch_4": ("pconv", {**NEW, "loss_weights": {"tv": 0.1}, "batch_size": 4, "steps": 800}),
    "tv1": ("pconv", {**NEW, "loss_weights": {"tv": 1.0}}),
    "tv1_conv": ("conv", {**NEW, "loss_weights": {"tv": 1.0}}),
    "tv3": ("pconv", {**NEW, "loss_weights": {"tv": 3.0}}),
    "tv3_conv": ("conv", {**NEW, "loss_weights": {"tv": 3.0}}),
}


def train_variant(name: str, model: str, over: dict, args, data: Path) -> Path:
    from bench.training.config import resolve_config
    from bench.training.loop import train

    settings = {"model": model, "steps": args.steps, **over}
    cfg = resolve_config(args.profile, overrides={**settings, "features": "none"})
    run = args.out / "train" / name
    if not (run / "last.pt").is_file() or _step(run) < cfg.total_steps:
        train(cfg, run, data=data, resume=(run / "last.pt").is_file(), progress=False)
    return run


def _step(run: Path) -> int:
    from bench.models.checkpoint import load_checkpoint

    return int(load_checkpoint(run / "last.pt")["step"])


def evaluate(model: str, run: Path, images: torch.Tensor, masks: torch.Tensor, cells: list) -> dict:
    from bench.methods.inpainters import get_inpainter
    from bench.metrics.registry import all_metrics, composite

    method = get_inpainter(model, checkpoint=str(run / "last.pt"))
    with torch.no_grad():
        comp = composite(method.inpaint(images.clone(), masks.clone()).clamp(0, 1), images, masks)
        values = all_metrics(comp, images, masks)
    row = {k: float(values[k].mean()) for k in METRICS}
    energy: dict = {}
    for i, cell in enumerate(cells):
        region = hole_region(masks[i, 0].numpy(), interior=True)
        for what, x in (("fill", comp[i]), ("gt", images[i])):
            e, n = laplacian_energy(x.permute(1, 2, 0).double().numpy(), region)
            acc = energy.setdefault((cell, what), [0.0, 0])
            acc[0], acc[1] = acc[0] + e, acc[1] + n
    ratios = [energy[c, "fill"][0] / max(energy[c, "gt"][0], 1e-12) for c in dict.fromkeys(cells)]
    log = pd.read_csv(run / "log.csv")
    train_s = float((_batch(run) / log["images_per_s"]).sum())
    return {**row, "hf_max": max(ratios), "hf_median": float(np.median(ratios)), "train_s": round(train_s)}


def _batch(run: Path) -> int:
    from bench.models.checkpoint import load_checkpoint

    return int(load_checkpoint(run / "last.pt")["config"]["batch_size"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--steps", type=int, default=400, help="training steps of a variant that sets none")
    ap.add_argument("--per-cell", type=int, default=6, help="test masks per bin and group")
    ap.add_argument("--only", nargs="*", default=None, choices=list(VARIANTS), help="these variants")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=MODEL:JSON",
                    help='another variant, e.g. tv2=pconv:{"loss_weights": {"tv": 2.0}}')  # fmt: skip
    args = ap.parse_args()
    from bench.data.prepare import prepare_dataset
    from bench.training.config import resolve_reproduce
    from masks.manifest import generate_set, read_manifest

    variants = {k: v for k, v in VARIANTS.items() if args.only is None or k in args.only}
    for spec in args.variant:
        name, rest = spec.split("=", 1)
        model, js = rest.split(":", 1)
        variants[name] = (model, {**NEW, **json.loads(js)})
    rep, _ = resolve_reproduce(args.profile)
    data, mask_dir = args.out / "data", args.out / "masks"
    if not (data / "manifest.csv").is_file():
        prepare_dataset(data, rep.size, source="builtin", seed=rep.seed, progress=False)
    if not (mask_dir / "manifest.csv").is_file():
        generate_set(mask_dir, size=rep.size, per_bin=args.per_cell, seed=rep.seed + 1, workers=1)
    images, masks = pair_set(data, mask_dir, args.per_cell)
    man = read_manifest(mask_dir)
    cells = [
        c for c, g in man.groupby(["bin", "group"], sort=True) for _ in range(min(len(g), args.per_cell))
    ]
    rows = []
    for name, (model, over) in variants.items():
        run = train_variant(name, model, over, args, data)
        rows.append({"variant": name, "model": model, **evaluate(model, run, images, masks, cells)})
        shown = [f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()]
        print(f"{name}: " + ", ".join(shown[1:]), flush=True)
    df = pd.DataFrame(rows)
    from bench.core.files import write_csv

    write_csv(args.out / "ablation.csv", df)
    print(f"{len(images)} pairs at {rep.size} px, profile {args.profile}; {args.out / 'ablation.csv'}")
    print(df.round(3).to_markdown(index=False))


if __name__ == "__main__":
    main()
