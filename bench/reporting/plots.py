"""Figures of an evaluation: metric-vs-hole-ratio curves and a qualitative grid like the paper's Fig. 6.

Matplotlib with the Agg backend; every figure is rendered to memory and written atomically.
"""

from __future__ import annotations

import io
import textwrap
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import cv2  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.core.errors import BenchError  # noqa: E402
from bench.core.files import read_mask, read_png_rgb, write_bytes  # noqa: E402
from bench.core.folders import inside  # noqa: E402
from bench.reporting.tables import TableContext, bin_label, metric_order  # noqa: E402
from masks.conventions import BIN_NAMES, GROUPS, Group, bin_by_name, is_valid  # noqa: E402

# Methods are drawn in two colour families so a reader tells the learned models from the classical fills at
# a glance: warm colours for learned models (trained networks, checkpoints, plugins), cool ones for the
# classical methods; learned lines are solid, classical dashed (the families survive grey printing). A
# method keeps its colour in every figure: known methods have fixed colours, any other takes one of its
# family's spare colours by a stable hash of its name.
CLASSICAL_METHODS: tuple[str, ...] = ("patchmatch", "telea", "ns", "biharmonic", "mean", "outputs")
_WARM = {"pconv": "#d62728", "conv": "#ff7f0e", "gl": "#8c564b", "gntipt": "#e377c2"}
_COOL = {"patchmatch": "#1f77b4", "telea": "#17becf", "ns": "#2ca02c", "biharmonic": "#9467bd",
         "mean": "#393b79", "outputs": "#637939"}  # fmt: skip
_WARM_SPARE = ("#ad494a", "#bd9e39", "#e7969c", "#fd8d3c", "#843c39", "#d6616b", "#e6550d", "#7b4173")
_COOL_SPARE = ("#3182bd", "#31a354", "#756bb1", "#6baed6", "#74c476", "#9e9ac8", "#08519c", "#006d2c")
FAMILY_STYLE = {"learned": "-", "classical": "--"}


def method_family(name: str) -> str:
    """'classical' for the classical fills (and folders of outputs), 'learned' for everything else."""
    return "classical" if str(name).split(":")[0].lower() in CLASSICAL_METHODS else "learned"


def method_colour(name: str, family: str | None = None) -> str:
    """The colour of a method in every figure: fixed for the known ones, else a spare of its family chosen
    by a stable hash of the name.

    >>> method_colour("pconv"), method_colour("telea")
    ('#d62728', '#17becf')
    """
    import zlib

    key = str(name).lower()
    family = family or method_family(name)
    fixed, spare = (_COOL, _COOL_SPARE) if family == "classical" else (_WARM, _WARM_SPARE)
    if key in fixed:
        return fixed[key]
    return spare[zlib.crc32(key.encode()) % len(spare)]


def _method_names(run: dict[str, Any] | None) -> dict[str, str]:
    """label -> registry name of the run's methods (their family and colour follow the name)."""
    return {m.get("label", m.get("name", "")): m.get("name", "") for m in (run or {}).get("methods", [])}


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


_GROUP_TITLE = {Group.N.value: "N: holes may touch the border", Group.B.value: "B: holes keep off the border"}


def plot_curves(
    summary: pd.DataFrame, path: Path, ctx: TableContext | None = None, names: dict[str, str] | None = None
) -> list[Path]:
    """One row of panels per metric, one column per group (N, B): mean vs hole ratio (bin centre) per
    method with its CI band; learned models in warm colours and solid lines, classical methods in cool
    colours and dashed lines (`names`: label -> registry name, for the family; default the label).

    Written as PNG and PDF at a paper's text width (returns both paths)."""
    ctx = ctx or TableContext()
    names = names or {}
    metrics = metric_order(list(dict.fromkeys(summary["metric"])), ctx.metrics)
    methods = list(dict.fromkeys(summary["method"]))
    family = {m: method_family(names.get(m, m)) for m in methods}
    methods = [m for f in FAMILY_STYLE for m in methods if family[m] == f]  # learned first
    colour = {m: method_colour(names.get(m, m), family[m]) for m in methods}
    bins = [b for b in BIN_NAMES if b in set(summary["bin"])]
    groups = [g.value for g in GROUPS if g.value in set(summary["group"])]
    centre = {b: (bin_by_name(b).lo + bin_by_name(b).hi) / 2 for b in bins}
    fig, axes = plt.subplots(len(metrics), len(groups), figsize=(TEXT_WIDTH_IN, 1.55 * len(metrics) + 0.3),
                             squeeze=False, sharex=True, sharey="row")  # fmt: skip
    for row, metric in zip(axes, metrics, strict=True):
        sm = summary[summary["metric"] == metric]
        for ax, g in zip(row, groups, strict=True):
            for method in methods:
                d = sm[(sm["method"] == method) & (sm["group"] == g)]
                if d.empty:
                    continue
                d = d.assign(x=d["bin"].map(centre)).sort_values("x")
                ax.plot(d["x"], d["mean"], FAMILY_STYLE[family[method]], marker="o", ms=2.5, lw=1.2,
                        color=colour[method], label=method)  # fmt: skip
                if d["ci_low"].notna().all():
                    ax.fill_between(d["x"], d["ci_low"], d["ci_high"], color=colour[method], alpha=0.12, lw=0)
            ax.grid(alpha=0.3)
            ax.set_xticks([centre[b] for b in bins], [bin_label(b) for b in bins], rotation=45)
        row[0].set_ylabel(ctx.label_of(metric))
    for ax, g in zip(axes[0], groups, strict=True):
        ax.set_title(_GROUP_TITLE.get(g, g))
    for ax in axes[-1]:
        ax.set_xlabel("hole-to-image area ratio")
    fig.tight_layout(h_pad=0.6, w_pad=0.8)
    handles = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    # Below the panels (x tick labels included; bbox_inches="tight" makes room): one legend row per family,
    # headed by its name. matplotlib fills legend columns first, so the rows are interleaved column-wise.
    rows = [[f, *(m for m in methods if family[m] == f and m in handles)] for f in FAMILY_STYLE]
    rows = [r for r in rows if len(r) > 1]
    width = max(len(r) for r in rows)
    blank = matplotlib.lines.Line2D([], [], alpha=0)
    cells = [(handles.get(r[i], blank) if i else blank, r[i] + ":" if i == 0 else r[i]) if i < len(r)
             else (blank, "") for i in range(width) for r in rows]  # fmt: skip
    fig.legend(*zip(*cells, strict=True), loc="upper center", ncol=width, bbox_to_anchor=(0.5, 0.0),
               frameon=False, handlelength=2.6, columnspacing=1.2)  # fmt: skip
    return _save(fig, path)


def write_figures(tables: Any) -> list[Path]:
    """curves.png/.pdf and grid.png/.pdf of an evaluation, from what bench.reporting.tables.build_tables made
    of it."""
    if not len(tables.summary):
        return []
    files = plot_curves(tables.summary, tables.out / "curves.png", tables.ctx, _method_names(tables.run))
    files += qualitative_grid(tables.out, tables.run, tables.pairs)
    return files


def _thumb(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def image_label(image: str, width: int = 22) -> str:
    """A photo's name as a row label: its stem, its tail when longer than `width` characters."""
    stem = Path(str(image)).stem
    return stem if len(stem) <= width else "…" + stem[-(width - 1) :]


def row_label(bin_name: str, group: str, image: str) -> str:
    """'(0.3,0.4] B · coffee_05': the cell and the photo of a grid row."""
    return f"{bin_label(bin_name)} {group} · {image_label(image)}"


def _pairs_with_pictures(out: Path, methods: list[dict[str, Any]], pairs: pd.DataFrame) -> pd.DataFrame:
    """The pairs of which some method's composited output was stored as a picture."""
    from bench.runs.records import MethodRecords, sample_name

    stored = set()
    for m in methods:
        folder = MethodRecords(out, m["name"], m["key"]).samples_path
        if folder.is_dir():
            stored |= {f.name for f in folder.iterdir()}
    inputs = pairs["inputs"] if "inputs" in pairs else pd.Series("", index=pairs.index)
    names = [sample_name(i, k, x) for i, k, x in zip(pairs["image"], pairs["mask"], inputs, strict=True)]
    return pairs[[n in stored for n in names]]


def grid_pairs(out: Path, run: dict[str, Any], pairs: pd.DataFrame) -> pd.DataFrame:
    """The grid's rows: bench.runs.pairing.sample_pairs over the pairs whose pictures `bench evaluate` kept
    (all pairs when none). A fresh evaluation kept exactly the pairs sample_pairs draws; a folder whose
    records were written by an earlier release (and reused since) kept those it sampled then, and the grid
    shows those rather than grey squares."""
    from bench.runs.pairing import sample_pairs

    kept = _pairs_with_pictures(Path(out), run["methods"], pairs)
    return sample_pairs(kept if len(kept) else pairs, int(run.get("samples_per_bin", 2)))


def qualitative_grid(
    out: Path, run: dict[str, Any], pairs: pd.DataFrame, path: Path | None = None, thumb: int = 192
) -> list[Path]:
    """Fig. 6-style grid: one row per sample pair (bench.runs.pairing.sample_pairs: every bin, the groups in
    turn, different photos); columns masked input, each method, ground truth.

    Method columns show the composited outputs stored during `bench evaluate`; the input and ground truth
    are read from the data and mask folders in run.json. A pair whose image or mask is no longer readable
    (or whose name a check refuses) is left out with a warning naming it. Returns the PNG and PDF written,
    or [] when no pair is readable.
    """
    from bench.runs.records import MethodRecords, sample_name

    out = Path(out)
    path = Path(path) if path is not None else out / "grid.png"
    rows = grid_pairs(out, run, pairs)
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
                ax.set_title(textwrap.fill(cols[c], 12), fontsize=7)
            if c == 0:
                ax.set_ylabel(row_label(p.bin, p.group, p.image).replace(" · ", "\n"), fontsize=6.5)
    fig.tight_layout(pad=0.3, w_pad=0.2, h_pad=0.2)
    return _save(fig, path, dpi=150)
