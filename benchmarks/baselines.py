"""Time per image and hole PSNR/SSIM of every non-learned method on 512x512 photos, per hole-ratio bin.

    .venv/bin/python benchmarks/baselines.py [--quick] [--photos DIR] [--method SPEC ...] [--workers N]

Photos: the six that ship in scikit-image (astronaut, coffee, chelsea, rocket) and scikit-learn (china,
flower), centre-cropped square and resized to 512 (INTER_AREA), plus up to --max-photos images from
--photos DIR (e.g. /usr/share/backgrounds). Masks: masks.generate.generate_mask, one per photo and bin,
seeded by (--seed, photo index, bin index), group N by default.

Metrics on the hole only (the valid pixels are copied by every method, so whole-image figures mostly
measure the hole ratio):
- hole PSNR = 10 log10(1 / MSE over the hole pixels, all three channels), data range 1;
- hole SSIM = the SSIM map (Gaussian window sigma 1.5, K1 0.01, K2 0.03, per channel, as docs/conventions.md)
  averaged over the hole pixels and channels; windows near the hole edge also see valid pixels.
Time: wall-clock seconds per image for one `inpaint` call on the bin's batch of photos, divided by the
batch size (workers=1: one image at a time on one thread), and the process CPU seconds per image
(time.process_time: with workers=1 about what the wall clock reads on an idle core, so it is the figure
to trust on a shared machine). Each method runs bin by bin, interleaved with the others, so load from
other processes hits all alike.

When the optional PyPI package `pypatchmatch` (C++ PatchMatch by Jiayuan Mao) is importable it runs
beside ours as `pypatchmatch:patch_size=3`, so the speed ratio comes from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from skimage.metrics import structural_similarity  # noqa: E402

from bench.methods.inpainters import Inpainter, PerImageInpainter, get_inpainter, parse_method_spec  # noqa: E402
from masks.conventions import BINS, HOLE, VALID, Group, bin_by_name, flip_polarity, hole_ratio  # noqa: E402

DEFAULT_METHODS = ("mean", "telea", "ns", "biharmonic", "patchmatch")
QUICK_BINS = ("0.1-0.2", "0.3-0.4", "0.5-0.6")


def _square512(img: np.ndarray, size: int = 512) -> np.ndarray:
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    crop = img[y : y + s, x : x + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


def load_photos(folder: str | None, max_photos: int, builtin: bool = True) -> dict[str, np.ndarray]:
    """name -> uint8 (512,512,3) RGB."""
    photos: dict[str, np.ndarray] = {}
    if builtin:
        from skimage import data
        from sklearn.datasets import load_sample_image

        for name in ("astronaut", "coffee", "chelsea", "rocket"):
            photos[name] = _square512(getattr(data, name)())
        for name in ("china.jpg", "flower.jpg"):
            photos[name.split(".")[0]] = _square512(load_sample_image(name))
    if folder:
        files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in files[:max_photos]:
            bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if bgr is not None:
                photos[p.stem] = _square512(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return photos


def stroke_mask(rng: np.random.Generator, size: int, bin_name: str) -> np.ndarray:
    """Fallback without masks.generate: thick random strokes up to the bin's ratio (uint8, 255 valid)."""
    b = bin_by_name(bin_name)
    hole = np.zeros((size, size), np.uint8)
    target = rng.uniform(b.lo, b.hi)
    while hole.mean() / 255 < target:
        x, y = (int(v) for v in rng.integers(0, size, 2))
        a = rng.uniform(0, 2 * np.pi)
        nx, ny = int(x + 60 * np.cos(a)), int(y + 60 * np.sin(a))
        cv2.line(hole, (x, y), (nx, ny), 255, int(rng.integers(8, 30)))
    return flip_polarity(hole)


def make_mask(seed: int, photo_i: int, bin_i: int, size: int, group: Group) -> np.ndarray:
    rng = np.random.default_rng([seed, photo_i, bin_i])
    try:
        from masks.generate import generate_mask
    except ImportError:
        return stroke_mask(rng, size, BINS[bin_i].name)
    return generate_mask(rng, size, BINS[bin_i], group)


class PyPatchMatch(PerImageInpainter):
    """The C++ PatchMatch of the optional `pypatchmatch` package, for the speed/quality comparison only."""

    name = "pypatchmatch"
    defaults: ClassVar[dict[str, Any]] = {"patch_size": 3, "seed": 0}

    def __init__(self, module: Any, **options: Any) -> None:
        super().__init__(**options)
        self.pm = module

    def fill_one(self, image: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
        if hasattr(self.pm, "set_random_seed"):
            self.pm.set_random_seed(int(self.options["seed"]))
        img8 = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
        hole = flip_polarity(np.where(valid, VALID, HOLE).astype(np.uint8))  # their mask: 255 = hole
        out = self.pm.inpaint(img8, hole, patch_size=int(self.options["patch_size"]))
        return np.asarray(out, np.float32)[..., :3] / 255.0


def optional_pypatchmatch() -> Any | None:
    for mod in ("patchmatch.patch_match", "patch_match"):
        try:
            m = __import__(mod, fromlist=["inpaint"])
        except Exception:  # noqa: BLE001 - missing, or its C library failed to build/load
            continue
        if hasattr(m, "inpaint") and getattr(m, "patchmatch_available", True):
            return m
    return None


def hole_metrics(out: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """(hole PSNR, hole SSIM) of (H,W,3) float images; valid (H,W) bool."""
    hole = ~valid
    mse = float(((out[hole] - gt[hole]) ** 2).mean())
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    _, smap = structural_similarity(
        gt,
        out,
        data_range=1.0,
        channel_axis=-1,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=True,
    )
    return psnr, float(smap[hole].mean())


def run(args: argparse.Namespace) -> pd.DataFrame:
    photos = load_photos(args.photos, args.max_photos, builtin=not args.no_builtin)
    if args.max_photos_total:
        photos = dict(list(photos.items())[: args.max_photos_total])
    bins = [b for b in BINS if b.name in (args.bins or [b.name for b in BINS])]
    specs = args.method or list(DEFAULT_METHODS)
    methods: list[tuple[str, Inpainter]] = []
    for spec in specs:
        name, opts = parse_method_spec(spec)
        if args.workers != 1 and name != "mean":
            opts.setdefault("workers", str(args.workers))
        methods.append((spec, get_inpainter(name, **opts)))
    pm = optional_pypatchmatch()
    if pm is not None and not args.no_pypatchmatch:
        methods.append(("pypatchmatch:patch_size=3", PyPatchMatch(pm, patch_size=3, workers=args.workers)))
    else:
        print("pypatchmatch: not importable, comparison skipped (pip install pypatchmatch to include it)")
    names = list(photos)
    gt = np.stack([photos[n] for n in names]).astype(np.float32) / 255.0  # (P,512,512,3)
    images = torch.from_numpy(gt).permute(0, 3, 1, 2).contiguous()
    group = Group(args.group)
    print(f"{len(names)} photos ({', '.join(names)}), bins {', '.join(b.name for b in bins)}, group {group}")
    # Warm-up (numba compile / cache load, imports) on a small crop, not timed.
    small = images[:1, :, :64, :64]
    wm = torch.ones(1, 1, 64, 64)
    wm[..., 20:40, 20:40] = 0
    for _, ip in methods:
        ip.inpaint(small, wm)
    rows = []
    for bi, b in ((BINS.index(b), b) for b in bins):
        masks = np.stack([make_mask(args.seed, pi, bi, 512, group) for pi in range(len(names))])
        valid = masks > VALID // 2
        mt = torch.from_numpy(valid[:, None].astype(np.float32))
        for spec, ip in methods:
            t, c = time.perf_counter(), time.process_time()
            out = ip.inpaint(images, mt)
            dt = (time.perf_counter() - t) / len(names)
            dc = (time.process_time() - c) / len(names)
            out_np = out.permute(0, 2, 3, 1).numpy()
            for pi, n in enumerate(names):
                psnr, ssim = hole_metrics(out_np[pi], gt[pi], valid[pi])
                rows.append(
                    {
                        "method": spec,
                        "bin": b.name,
                        "photo": n,
                        "hole_ratio": hole_ratio(masks[pi]),
                        "seconds": dt,
                        "cpu_seconds": dc,
                        "hole_psnr": psnr,
                        "hole_ssim": ssim,
                    }
                )
            print(f"  {b.name:8s} {spec:28s} {dt:7.3f} s/img ({dc:.3f} s CPU)", flush=True)
    return pd.DataFrame(rows)


def report(df: pd.DataFrame) -> str:
    order = list(dict.fromkeys(df["method"]))
    out = []
    for col, title, fmt in (
        ("seconds", "seconds per image (wall clock)", ".3f"),
        ("cpu_seconds", "CPU seconds per image (all threads of this process)", ".3f"),
        ("hole_psnr", "hole PSNR (dB)", ".2f"),
        ("hole_ssim", "hole SSIM", ".3f"),
    ):
        t = df.pivot_table(index="method", columns="bin", values=col, aggfunc="mean").reindex(order)
        t["mean"] = df.groupby("method")[col].mean().reindex(order)
        out.append(f"### {title}\n\n" + t.to_markdown(floatfmt=fmt))
    ours = df[df["method"].str.startswith("patchmatch")]
    theirs = df[df["method"].str.startswith("pypatchmatch")]
    if len(ours) and len(theirs):
        ratio = theirs["seconds"].mean() / ours["seconds"].mean()
        out.append(f"pypatchmatch / patchmatch time ratio: {ratio:.2f}x")
    return "\n\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=f"2 photos, bins {', '.join(QUICK_BINS)}")
    ap.add_argument("--photos", default=None, help="extra photo folder, e.g. /usr/share/backgrounds")
    ap.add_argument("--max-photos", type=int, default=6, help="at most this many from --photos")
    ap.add_argument("--max-photos-total", type=int, default=0, help="keep only the first N photos")
    ap.add_argument("--no-builtin", action="store_true", help="only the --photos folder")
    ap.add_argument("--bins", nargs="*", default=None, help="bin names, e.g. 0.3-0.4 (default: all six)")
    ap.add_argument("--group", choices=[g.value for g in Group], default="N")
    ap.add_argument("--method", action="append", help="NAME or NAME:key=value,... (repeatable)")
    ap.add_argument("--workers", type=int, default=1, help="threads per method over each batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pypatchmatch", action="store_true")
    ap.add_argument("--csv", default=None, help="also write the per-image records here")
    args = ap.parse_args()
    if args.quick:
        args.max_photos_total = args.max_photos_total or 2
        args.bins = args.bins or list(QUICK_BINS)
    torch.set_num_threads(max(1, args.workers))
    df = run(args)
    print()
    print(report(df))
    if args.csv:
        from bench.core.files import write_csv

        write_csv(args.csv, df)


if __name__ == "__main__":
    main()
