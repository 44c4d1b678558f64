"""Figures of an evaluation: metric-vs-hole-ratio curves and a qualitative grid like the paper's Fig. 6.

Matplotlib with the Agg backend; every figure is rendered to memory and written atomically.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.errors import BenchError  # noqa: E402
from bench.folders import inside  # noqa: E402
from bench.io import read_mask, read_png_rgb, write_bytes  # noqa: E402
from bench.tables import TableContext, bin_label, metric_order  # noqa: E402
from masks.conventions import BIN_NAMES, GROUPS, Group, bin_by_name, is_valid  # noqa: E402

_LINES = {Group.N.value: "-", Group.B.value: "--"}  # group N solid, B dashed


# Sized for a paper: the figure is the text width of a one-column article, fonts 7-8 pt at that size.
TEXT_WIDTH_IN = 6.5
plt.rcParams.update({"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 7, "legend.fontsize": 7,
                     "xtick.labelsize": 6.5, "ytick.labelsize": 6.5, "pdf.fonttype": 42})  # fmt: skip


def _save(fig: Any, path: Path, dpi: int = 200) -> list[Path]:
    """PNG at `path` and a vector PDF beside it (same name, .pdf), both byte-stable for the same figure."""
    out = []
    for fmt, meta in (("png", {"Software": None}), ("pdf", {"CreationDate": None, "Producer": None})):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        target = Path(path).with_suffix(f".{fmt}")
        write_bytes(target, buf.getvalue())
        out.append(target)
    plt.close(fig)
    return out


def plot_curves(summary: pd.DataFrame, path: Path, ctx: TableContext | None = None) -> list[Path]:
    """One panel per metric: mean vs hole ratio (bin centre) per method; N solid, B dashed; CI bands.

    Three panels a row at a paper's text width; written as PNG and PDF (returns both paths)."""
    ctx = ctx or TableContext()
    metrics = metric_order(list(dict.fromkeys(summary["metric"])), ctx.metrics)
    methods = list(dict.fromkeys(summary["method"]))
    bins = [b for b in BIN_NAMES if b in set(summary["bin"])]
    centre = {b: (bin_by_name(b).lo + bin_by_name(b).hi) / 2 for b in bins}
    colours = plt.get_cmap("tab10")
    ncols = min(3, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(TEXT_WIDTH_IN, 2.0 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics, strict=False):
        sm = summary[summary["metric"] == metric]
        for k, method in enumerate(methods):
            for g in (g.value for g in GROUPS):
                d = sm[(sm["method"] == method) & (sm["group"] == g)]
                if d.empty:
                    continue
                d = d.assign(x=d["bin"].map(centre)).sort_values("x")
                ax.plot(d["x"], d["mean"], _LINES[g], marker="o", ms=3, color=colours(k % 10),
                        label=f"{method} {g}")  # fmt: skip
                if d["ci_low"].notna().all():
                    ax.fill_between(
                        d["x"], d["ci_low"], d["ci_high"], color=colours(k % 10), alpha=0.15, lw=0
                    )
        ax.set_title(ctx.label_of(metric))
        ax.set_xlabel("hole-to-image area ratio")
        ax.set_xticks([centre[b] for b in bins], [bin_label(b) for b in bins], rotation=45)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # Below the figure (x tick labels included); savefig's bbox_inches="tight" makes room for it.
    fig.legend(handles, labels, loc="upper center", ncol=min(4, max(1, len(labels))),
               bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    fig.tight_layout()
    return _save(fig, path)


def write_figures(tables: Any) -> list[Path]:
    """curves.png/.pdf and grid.png/.pdf of an evaluation, from what bench.tables.build_tables made of it."""
    if not len(tables.summary):
        return []
    files = plot_curves(tables.summary, tables.out / "curves.png", tables.ctx)
    files += qualitative_grid(tables.out, tables.run, tables.pairs)
    return files


def _thumb(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def qualitative_grid(
    out: Path, run: dict[str, Any], pairs: pd.DataFrame, path: Path | None = None, thumb: int = 192
) -> list[Path]:
    """Fig. 6-style grid: one row per sample pair; columns masked input, each method, ground truth.

    Method columns show the composited outputs stored during `bench evaluate`; the input and ground truth
    are read from the data and mask folders in run.json. A pair whose image or mask is no longer readable
    (or whose name a check refuses) is left out with a warning naming it. Returns the PNG and PDF written,
    or [] when no pair is readable.
    """
    from bench.pairing import sample_pairs
    from bench.records import MethodRecords, sample_name

    out = Path(out)
    path = Path(path) if path is not None else out / "grid.png"
    rows = sample_pairs(pairs, int(run.get("samples_per_bin", 2)))
    if rows.empty:
        return []
    data, masks = Path(run["data"]), Path(run["masks"])  # absolute paths written by bench evaluate
    methods = run["methods"]
    cols = ["input", *[m["label"] for m in methods], "ground truth"]
    readable, refused = [], []
    for p in rows.itertuples(index=False):
        try:
            gt = read_png_rgb(inside(data, p.image, "image"))
            readable.append((p, gt, read_mask(inside(masks, p.mask, "mask"))))
        except (ValueError, BenchError) as e:
            refused.append(f"{p.image} with {p.mask} ({e})")
    if refused:
        warnings.warn(f"{path.name}: {len(refused)} sample pair(s) left out: {'; '.join(refused)}",
                      stacklevel=2)  # fmt: skip
    if not readable:
        return []
    fig, axes = plt.subplots(
        len(readable), len(cols), figsize=(1.6 * len(cols), 1.6 * len(readable) + 0.4), squeeze=False
    )
    for r, (p, gt, m) in enumerate(readable):
        if m.shape != gt.shape[:2]:
            m = cv2.resize(m, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_NEAREST)
        masked = np.where(is_valid(m)[..., None], gt, 255).astype(np.uint8)  # holes shown white
        pics = [masked]
        for meth in methods:
            f = MethodRecords(out, meth["name"], meth["key"]).samples_path / sample_name(
                p.image, p.mask, p.inputs
            )
            pics.append(read_png_rgb(f) if f.is_file() else np.full_like(gt, 128))
        pics.append(gt)
        for c, pic in enumerate(pics):
            ax = axes[r][c]
            ax.imshow(_thumb(pic, thumb), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(f"{bin_label(p.bin)} {p.group}", fontsize=7)
    fig.tight_layout(pad=0.3)
    return _save(fig, path, dpi=150)
