#!/usr/bin/env python3
"""An "external program" for `bench export`: fill every exported pair with OpenCV's Telea method.

    python examples/fill_with_opencv.py EXPORT_FOLDER OUTPUT_FOLDER [--radius 5]

Reads an export folder of either layout (`bench`: inputs/<id>.png + masks/<id>.png with 255 = valid;
`lama`: <id>.png + <id>_mask.png with 255 = hole), fills each input exactly as bench's `telea` method
does (uint8 image with hole pixels 0, cv2 mask hole = 255, cv2.inpaint TELEA, radius 5) and writes
OUTPUT_FOLDER/<id>.png. Then score it:

    bench evaluate --data ... --masks ... --method outputs:dir=OUTPUT_FOLDER,label=telea-external

Standalone on purpose (numpy and opencv only, no pconv-bench import): any program in any framework
can take its place.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import cv2
import numpy as np


def pair_files(export: Path) -> list[tuple[str, Path, Path, bool]]:
    """(pair stem, input image, mask, mask holds hole = 255) of every pair listed in pairs.csv."""
    with open(export / "pairs.csv", newline="") as f:
        ids = [int(row["pair_id"]) for row in csv.DictReader(f)]
    lama = not (export / "inputs").is_dir()
    out = []
    for i in ids:
        stem = f"{i:06d}"
        if lama:
            out.append((stem, export / f"{stem}.png", export / f"{stem}_mask.png", True))
        else:
            out.append((stem, export / "inputs" / f"{stem}.png", export / "masks" / f"{stem}.png", False))
    return out


def fill(image_rgb: np.ndarray, hole: np.ndarray, radius: float) -> np.ndarray:
    """uint8 (H,W,3) RGB, bool (H,W) hole -> uint8 (H,W,3) RGB filled with cv2.inpaint TELEA."""
    if not hole.any():
        return image_rgb
    img = np.where(hole[..., None], 0, image_rgb).astype(np.uint8)  # hole pixels zeroed, as bench does
    cv_mask = np.where(hole, 255, 0).astype(np.uint8)  # OpenCV's polarity: hole = 255
    return cv2.inpaint(img, cv_mask, radius, cv2.INPAINT_TELEA)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("export", type=Path, help="a `bench export` folder (layout bench or lama)")
    ap.add_argument("out", type=Path, help="where <pair_id>.png are written")
    ap.add_argument("--radius", type=float, default=5.0, help="cv2.inpaint radius (bench's telea: 5)")
    args = ap.parse_args(argv)
    if not (args.export / "pairs.csv").is_file():
        print(
            f"error: {args.export} has no pairs.csv (not a complete `bench export` folder)", file=sys.stderr
        )
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    pairs = pair_files(args.export)
    for stem, img_path, mask_path, hole_is_255 in pairs:
        bgr = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None:
            print(f"error: cannot read {img_path} or {mask_path}", file=sys.stderr)
            return 2
        hole = mask >= 128 if hole_is_255 else mask < 128
        rgb = fill(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), hole, args.radius)
        tmp = args.out / f".{stem}.png.tmp.png"
        cv2.imwrite(str(tmp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        os.replace(tmp, args.out / f"{stem}.png")  # whole files only
    print(f"filled {len(pairs)} pairs into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
