"""High-frequency energy of the learned fills: the checkerboard check of a `bench reproduce` run.

For every pair of the run's evaluation (OUT/eval/pairs.csv and run.json: each pair's test image and mask)
and every trained model of the run (OUT/train/MODEL/last.pt), the composited output's Laplacian energy inside
the hole, mean over hole pixels and channels of (Laplacian of the image)^2, is summed per bin and group
and divided by the ground truth's over the same pixels. A fill as smooth as the photo gives about 1, a
blurry one less, a checkerboard or noisy texture more. Hole pixels whose 3x3 Laplacian reaches a valid
pixel are left out (`--interior`, the default), so that the seam between fill and photo, which every
method has, does not count as texture. Prints a table of ratios (rows: bin and group; columns: models)
and the largest per model.

    .venv/bin/python benchmarks/texture.py --run runs/quick
    .venv/bin/python benchmarks/texture.py --run runs/quick --models pconv conv --no-interior
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: its folder must not shadow the packages
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402


def laplacian_energy(image: np.ndarray, region: np.ndarray) -> tuple[float, int]:
    """(sum over `region` pixels and channels of Laplacian^2, number of terms); image (H,W,3) float64."""
    lap = np.stack([cv2.Laplacian(image[..., c], cv2.CV_64F) for c in range(3)], axis=-1)
    return float((lap[region] ** 2).sum()), int(region.sum()) * 3


def hole_region(valid: np.ndarray, interior: bool) -> np.ndarray:
    hole = valid < 0.5
    if not interior:
        return hole
    return cv2.erode(hole.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=1).astype(bool)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a `bench reproduce --out` folder")
    ap.add_argument("--models", nargs="+", default=["pconv", "conv", "gl", "gntipt"])
    ap.add_argument("--interior", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    import json

    from bench.core.files import read_csv, read_mask, read_png_rgb
    from bench.core.folders import inside
    from bench.methods.inpainters import get_inpainter
    from bench.metrics.registry import composite

    run = json.loads((args.run / "eval" / "run.json").read_text())
    data, mask_dir = Path(run["data"]), Path(run["masks"])
    pairs = read_csv(args.run / "eval" / "pairs.csv")
    models = [m for m in args.models if (args.run / "train" / m / "last.pt").is_file()]
    methods = {m: get_inpainter(m, checkpoint=str(args.run / "train" / m / "last.pt")) for m in models}
    sums: dict[tuple[str, str, str], list[float]] = {}
    for start in range(0, len(pairs), args.batch):
        chunk = pairs.iloc[start : start + args.batch]
        # Paths read from a file: checked to lie inside the run's data and mask folders before use.
        imgs = (
            np.stack([read_png_rgb(inside(data, p, "image")) for p in chunk["image"]]).astype(np.float32)
            / 255
        )
        msks = np.stack(
            [(read_mask(inside(mask_dir, p, "mask")) > 127).astype(np.float32) for p in chunk["mask"]]
        )
        images, masks = torch.from_numpy(imgs).permute(0, 3, 1, 2), torch.from_numpy(msks)[:, None]
        outs = {"ground truth": images}
        with torch.no_grad():
            for m, method in methods.items():
                outs[m] = composite(method.inpaint(images.clone(), masks.clone()).clamp(0, 1), images, masks)
        for i, (_, row) in enumerate(chunk.iterrows()):
            region = hole_region(msks[i], args.interior)
            for name, out in outs.items():
                e, n = laplacian_energy(out[i].permute(1, 2, 0).double().numpy(), region)
                acc = sums.setdefault((row["bin"], row["group"], name), [0.0, 0])
                acc[0] += e
                acc[1] += n
    energy = {k: v[0] / max(v[1], 1) for k, v in sums.items()}
    cells = sorted({(b, g) for b, g, _ in energy})
    table = pd.DataFrame(
        [{"bin": b, "group": g, **{m: energy[b, g, m] / energy[b, g, "ground truth"] for m in models}}
         for b, g in cells]
    ).set_index(["bin", "group"])  # fmt: skip
    where = "hole interior (seam left out)" if args.interior else "whole hole"
    print(f"Laplacian energy of the fill / the ground truth's, {where}, {len(pairs)} pairs of {args.run}:")
    print(table.round(2).to_string())
    for m in models:
        print(f"largest ratio, {m}: {table[m].max():.2f} ({table[m].idxmax()[0]} {table[m].idxmax()[1]})")


if __name__ == "__main__":
    main()
