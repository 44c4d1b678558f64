"""Aggregation of per-pair records into the paper's Table 1 layout (intervals and the paired test:
bench.reporting.statistics), its text, Markdown, CSV and LaTeX forms, and an evaluation folder's exports.

Everything here is pure pandas/numpy on a tidy records frame (columns method, pair_id, image, mask, bin,
group and the per-pair metrics), so tables can be rebuilt at any time from stored records.

>>> spec = metric_info("psnr"); (spec.label, spec.decimals, spec.higher_is_better)
('PSNR', 2, True)
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate

from bench.core.errors import BenchError
from bench.core.files import csv_escape, write_csv, write_text
from bench.metrics.registry import IS_MIN_PER_SPLIT, IS_SPLITS, KID_SUBSET_SIZE, KID_SUBSETS
from bench.reporting.reference import (
    compare_reference,
    protocol_mismatch,
    read_reference,
)
from bench.reporting.statistics import CI_KINDS, cell_rng, ci_kind, paired_test, two_way_ci
from bench.runs.records import list_method_dirs, load_records, read_pairs, read_run
from masks.conventions import BIN_NAMES, GROUPS, bin_by_name


def metric_info(name: str, known: dict[str, Any] | None = None) -> Any:
    """The metadata of a metric: from `known` (run.json's copy, so tables can be rebuilt without the
    plugin that registered it), else the registry (bench.metrics.registry), else a plain default."""
    from bench.metrics.registry import METRICS, Metric

    if known and name in known:
        d = known[name]
        kind = d.get("kind", "pair")
        needs = tuple(d.get("needs") or (("probs",) if name == "is" else ()))  # a format_version 1 run.json
        up, dec = bool(d["higher_is_better"]), int(d["decimals"])
        return Metric(name, d["label"], up, dec, kind, d.get("network"), needs=needs)
    if name in METRICS:
        return METRICS[name]
    return Metric(name, name, True, 3)


def metric_order(names: Sequence[str], known: dict[str, Any] | None = None) -> list[str]:
    """`names` in table order: run.json's order, then the registry's, then as given."""
    from bench.metrics.registry import METRICS

    order = list(known or {}) + [m for m in METRICS if m not in (known or {})]
    rank = {m: i for i, m in enumerate(order)}
    return sorted(dict.fromkeys(names), key=lambda m: (rank.get(m, len(rank)), list(names).index(m)))


def pair_metrics_of(frame: pd.DataFrame) -> list[str]:
    """The metric columns of a records frame (everything after the pair columns), in table order."""
    base = {"method", "pair_id", "image", "mask", "bin", "group", "inputs"}
    return metric_order([c for c in frame.columns if c not in base])


FORMATS: tuple[str, ...] = ("csv", "latex", "md")
CSV_FLOAT_FORMAT = "%.6g"  # the numbers of summary.csv (and of `--json`, bench.reporting.summary_json)


@dataclass
class TableContext:
    """What every export must state besides the numbers."""

    is_label: str = "IS"  # "IS" for the standard Inception network, "IS*" for a stand-in
    is_network: str = ""  # e.g. "inception-v3-compat (torch-fidelity)" or "efficientnet-lite0 (stand-in)"
    is_footnote: str = ""  # one line on the stand-in; empty for the standard network
    features: dict[str, str] = field(default_factory=dict)  # method -> perceptual network of a learned model
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0
    command: str = ""  # the command that produced the records, for provenance
    pairing: str = ""  # "cross" or "distinct" (bench.runs.pairing)
    about: dict[str, str] = field(default_factory=dict)  # method -> what it is (GL: released weights X, ...)
    method_notes: list[str] = field(default_factory=list)  # notes a method left in its meta (e.g. outputs)

    metrics: dict[str, Any] = field(default_factory=dict)  # name -> metadata, from run.json
    run_notes: list[str] = field(default_factory=list)  # metrics left out and why (run.json's notes)
    cell_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)  # FID/KID: metric -> (min n, max n)
    overall: list[str] = field(default_factory=list)  # the cell metrics over all cells, one line each
    ci_kinds: dict[str, int] = field(default_factory=dict)  # CI_KINDS key -> cells whose CI is of that kind

    def label_of(self, metric: str) -> str:
        """The shown label; the metrics of a stand-in IS network carry its star (IS*, FID*, KID*)."""
        if metric == "is":
            return self.is_label
        spec = metric_info(metric, self.metrics)
        star = spec.network == "is" and self.is_label.endswith("*") and not spec.label.endswith("*")
        return spec.label + ("*" if star else "")

    def spec(self, metric: str) -> Any:
        return metric_info(metric, self.metrics)

    def _distance_notes(self) -> list[str]:
        """FID/KID: what they compare, on how many images, and why small cells bias FID."""
        names = [m for m in ("fid", "kid") if m in self.cell_sizes]
        if not names:
            return []
        lo = min(self.cell_sizes[m][0] for m in names)
        hi = max(self.cell_sizes[m][1] for m in names)
        n = f"n = {lo}" if lo == hi else f"n = {lo} to {hi}"
        labels = "/".join(self.label_of(m) for m in names)
        lines = [
            f"{labels} per cell: the cell's composited outputs against its pairs' ground-truth images ({n} "
            f"of each), on the pool features of the {self.is_label} network. FID is biased upward when n is "
            "small (the bias shrinks roughly like 1/n), so compare FID only at equal n; KID is unbiased "
            f"(mean over {KID_SUBSETS} subsets of min(n, {KID_SUBSET_SIZE}))."
        ]
        if lo < BEST_MIN_N_DISTRIBUTION:
            lines.append(
                f"{labels}: no value in bold where n < {BEST_MIN_N_DISTRIBUTION} (the dimension of the "
                "Inception pool features FID is defined on): with fewer samples the features' covariance is "
                "rank-deficient and the small-n bias outweighs the differences between methods."
            )
        return lines + self.overall

    def notes(self) -> list[str]:
        """Plain-text notes: which networks produced what, and how the CIs were computed."""
        lines = []
        if self.is_network:
            if self.is_label == "IS":
                foot = f" {self.is_footnote}" if self.is_footnote else ""
                lines.append(f"IS: Inception Score from {self.is_network}.{foot}")
            else:
                foot = (
                    self.is_footnote
                    or "not the paper's Inception Score; not comparable with published IS values."
                )
                if foot.startswith(
                    f"{self.is_label}:"
                ):  # the network's own footnote may start with the label
                    foot = foot[len(self.is_label) + 1 :].strip()
                lines.append(f"{self.is_label} (stand-in network {self.is_network}): {foot}")
            lines.append(
                f"{self.is_label} per cell over all its pairs in min({IS_SPLITS}, n // {IS_MIN_PER_SPLIT}) "
                "splits (at least 1); with few pairs it is biased low."
            )
        lines += self._distance_notes()
        lines += self.run_notes
        if self.about:
            lines.append("Methods: " + "; ".join(f"{m} = {a}" for m, a in self.about.items()) + ".")
        if self.features:
            feats = "; ".join(f"{m}: {f}" for m, f in self.features.items())
            lines.append(f"Perceptual/style features of the learned models: {feats}.")
        if self.pairing:
            how = {"cross": "each test image meets one mask of every cell (the same images in every cell)",
                   "distinct": "each mask has a test image of its own"}.get(self.pairing, "")  # fmt: skip
            lines.append(f"Pairing: {self.pairing}: {how}.")
        lines += self.method_notes
        lines.append(
            f"Metrics on the composited output; ± is half the width of the {self.ci:.0%} CI of the cell's "
            f"mean ({self.n_boot} resamples, seed {self.seed}): {self._ci_text()}; "
            + ("IS, FID and KID have no CI." if self.cell_sizes else "IS has no CI.")
        )
        if "ssim" in self.metrics:
            lines.append(SSIM_NOTE)
        if self.command:
            lines.append(f"Command: {self.command}")
        return lines

    def _ci_text(self) -> str:
        kinds = self.ci_kinds or {"pairs": 0}
        if len(kinds) == 1:
            return CI_KINDS[next(iter(kinds))]
        return "; ".join(f"{n} cells: {CI_KINDS[k]}" for k, n in kinds.items())


SSIM_NOTE = (
    "SSIM: 11-tap Gaussian window (sigma 1.5), K1 0.01, K2 0.03, per RGB channel on [0,1], channels averaged "
    "(skimage structural_similarity with gaussian_weights=True, use_sample_covariance=False); papers that "
    "use grey images or uniform windows report other values."
)


def bin_label(name: str) -> str:
    """'0.1-0.2' -> '(0.1,0.2]' (the bins are left-open, right-closed)."""
    b = bin_by_name(name)
    return f"({b.lo:g},{b.hi:g}]"


def _cell_value(
    name: str, inputs: dict[str, np.ndarray], seed: int, is_splits: int | None
) -> tuple[float, float] | None:
    """A registered cell metric on one cell's network outputs; None when it is not registered here."""
    from bench.metrics.registry import METRICS, inception_score

    if name == "is" and is_splits is not None:
        import torch

        probs = torch.from_numpy(inputs["probs"].astype(np.float64))
        return inception_score(probs, splits=max(1, min(is_splits, len(probs))), seed=seed)
    m = METRICS.get(name)
    if m is None or m.kind != "cell":
        return None
    return m.fn(inputs, seed)


def _cell_inputs(
    needs: Sequence[str], pids: Sequence[int], outs: dict[str, dict[int, np.ndarray]]
) -> dict[str, np.ndarray] | None:
    """(n, D) arrays of the outputs `needs` for the pairs `pids`, in order; None if any is missing."""
    arrays = {}
    for need in needs:
        got = outs.get(need, {})
        rows = [got.get(int(pid)) for pid in pids]
        if not rows or any(r is None for r in rows):
            return None
        arrays[need] = np.stack(rows).astype(np.float64)
    return arrays


def _cell_rows(method, b, g, cell, outs, cell_metrics, known, seed, is_splits) -> list[dict[str, Any]]:
    rows = []
    for name in cell_metrics:
        inputs = _cell_inputs(metric_info(name, known).needs or ("probs",), list(cell["pair_id"]), outs)
        value = None if inputs is None else _cell_value(name, inputs, seed, is_splits)
        if value is not None:
            rows.append(dict(method=method, bin=b, group=g, metric=name, mean=float(value[0]), ci_low=np.nan,
                             ci_high=np.nan, n=len(cell), std=float(value[1])))  # fmt: skip
    return rows


def _method_outputs(outputs, reference, method: str) -> dict[str, dict[int, np.ndarray]]:
    return {**(reference or {}), **((outputs or {}).get(method) or {})}


def summarize(
    frame: pd.DataFrame,
    outputs: dict[str, dict[str, dict[int, np.ndarray]]] | None = None,
    *,
    methods: Sequence[str] | None = None,
    bins: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    is_splits: int | None = None,
    metrics: Sequence[str] | None = None,
    cell_metrics: Sequence[str] | None = None,
    reference: dict[str, dict[int, np.ndarray]] | None = None,
    known: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Tidy summary: one row per (method, bin, group, metric) with mean, ci_low, ci_high, n, std.

    `metrics`: the per-pair metric columns of `frame` to summarise (default: all of them).
    `frame` is the records frame; `outputs` maps method -> network output ("probs", "pool") -> pair_id
    -> vector and `reference` output ("real_pool") -> pair_id -> vector, the inputs of the cell metrics
    `cell_metrics` (default: IS, FID, KID; a cell lacking an input gets no row). Methods, bins and groups
    keep the given order (default: as found, bins sorted). IS uses `is_splits` splits, by default
    min(IS_SPLITS, n // IS_MIN_PER_SPLIT), at least 1: a split of one image has IS exactly 1.
    """
    methods = list(methods) if methods is not None else list(dict.fromkeys(frame["method"]))
    bins = list(bins) if bins is not None else [b for b in BIN_NAMES if b in set(frame["bin"])]
    groups = (
        list(groups) if groups is not None else [g.value for g in GROUPS if g.value in set(frame["group"])]
    )
    pm = list(metrics) if metrics is not None else pair_metrics_of(frame)
    cm = list(cell_metrics) if cell_metrics is not None else ["is", "fid", "kid"]
    rows = []
    for method in methods:
        fm = frame[frame["method"] == method]
        outs = _method_outputs(outputs, reference, method)
        for b in bins:
            for g in groups:
                cell = fm[(fm["bin"] == b) & (fm["group"] == g)].sort_values("pair_id")
                n = len(cell)
                if n == 0:
                    continue
                vals = cell[pm].to_numpy(dtype=np.float64)  # (n, metrics)
                rng = cell_rng(seed, method, b, g)
                lo, hi = two_way_ci(vals, list(cell["image"]), list(cell["mask"]), n_boot, ci, rng)
                for j, m in enumerate(pm):
                    col = vals[:, j]
                    rows.append(dict(method=method, bin=b, group=g, metric=m, mean=float(col.mean()),
                                     ci_low=float(lo[j]), ci_high=float(hi[j]), n=n,
                                     std=float(col.std(ddof=1)) if n > 1 else 0.0))  # fmt: skip
                rows += _cell_rows(method, b, g, cell, outs, cm, known, seed, is_splits)
    out = pd.DataFrame(
        rows, columns=["method", "bin", "group", "metric", "mean", "ci_low", "ci_high", "n", "std"]
    )
    return _order(out, methods, bins, groups)


def overall(
    frame: pd.DataFrame,
    outputs: dict[str, dict[str, dict[int, np.ndarray]]],
    reference: dict[str, dict[int, np.ndarray]] | None,
    methods: Sequence[str],
    cell_metrics: Sequence[str],
    seed: int = 0,
    known: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The cell metrics over all pairs of each method (all cells pooled): method, metric, value, std, n,
    n_real. The ground-truth side holds each test image once (under cross pairing an image serves every
    cell)."""
    rows = []
    for method in methods:
        fm = frame[frame["method"] == method].sort_values("pair_id")
        first = fm.drop_duplicates("image")  # one pair per distinct ground-truth image
        outs = _method_outputs(outputs, reference, method)
        for name in cell_metrics:
            needs = metric_info(name, known).needs or ("probs",)
            fake = _cell_inputs([n for n in needs if n != "real_pool"], list(fm["pair_id"]), outs)
            real = _cell_inputs([n for n in needs if n == "real_pool"], list(first["pair_id"]), outs)
            value = None if fake is None or real is None else _cell_value(name, {**fake, **real}, seed, None)
            if value is not None:
                rows.append(dict(method=method, metric=name, value=float(value[0]), std=float(value[1]),
                                 n=len(fm), n_real=len(first) if real else 0))  # fmt: skip
    return pd.DataFrame(rows, columns=["method", "metric", "value", "std", "n", "n_real"])


def _order(
    df: pd.DataFrame, methods: Sequence[str], bins: Sequence[str], groups: Sequence[str]
) -> pd.DataFrame:
    if df.empty:
        return df.reset_index(drop=True)
    key_m = {m: i for i, m in enumerate(metric_order(list(df["metric"])))}
    key_me = {m: i for i, m in enumerate(methods)}
    key_b = {b: i for i, b in enumerate(bins)}
    key_g = {g: i for i, g in enumerate(groups)}
    df = df.assign(
        _m=df["metric"].map(key_m),
        _me=df["method"].map(key_me),
        _b=df["bin"].map(key_b),
        _g=df["group"].map(key_g),
    )
    return (
        df.sort_values(["_m", "_me", "_b", "_g"])
        .drop(columns=["_m", "_me", "_b", "_g"])
        .reset_index(drop=True)
    )


# ---- the paper layout ------------------------------------------------------------------------------
def _columns(summary: pd.DataFrame) -> list[tuple[str, str]]:
    bins = [b for b in BIN_NAMES if b in set(summary["bin"])]
    groups = [g.value for g in GROUPS if g.value in set(summary["group"])]
    return [(b, g) for b in bins for g in groups]


def _blocks(summary: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """[(metric, [methods in order])] for the metrics present."""
    methods = list(dict.fromkeys(summary["method"]))
    present = set(summary["metric"])
    return [(m, methods) for m in metric_order(list(dict.fromkeys(summary["metric"]))) if m in present]


def _lookup(summary: pd.DataFrame) -> dict[tuple[str, str, str, str], pd.Series]:
    return {(r.metric, r.method, r.bin, r.group): r for r in summary.itertuples(index=False)}


# FID and KID compare two distributions of network features (a cell's outputs against its ground truth:
# the metrics whose records need the ground truth's "real_pool" features). With fewer pairs than the
# 2048 dimensions of the Inception pool features FID is defined on, the features' covariance is
# rank-deficient and FID's small-n bias (and KID's variance) outweigh the differences between methods, so
# such a cell marks no method best. Markdown, LaTeX and HTML all read the rule from `best_min_n`.
BEST_MIN_N_DISTRIBUTION = 2048


def is_distribution_metric(spec: Any) -> bool:
    """A metric that compares the distribution of a cell's outputs with its ground truth's (FID, KID)."""
    return "real_pool" in tuple(getattr(spec, "needs", ()) or ())


def best_min_n(spec: Any) -> int:
    """Fewest pairs a cell needs for its best value to be marked (0: any)."""
    return BEST_MIN_N_DISTRIBUTION if is_distribution_metric(spec) else 0


def _best(summary: pd.DataFrame, ctx: TableContext | None = None) -> set[tuple[str, str, str, str]]:
    """(metric, method, bin, group) of the best mean per metric and column (ties: all), rounded as shown;
    none in a column of a distribution metric with fewer than BEST_MIN_N_DISTRIBUTION pairs."""
    best = set()
    for (metric, b, g), cell in summary.groupby(["metric", "bin", "group"], sort=False):
        if len(cell) < 2:
            continue
        spec = metric_info(metric, ctx.metrics if ctx else None)
        if best_min_n(spec) and not ("n" in cell and (cell["n"] >= best_min_n(spec)).all()):
            continue
        shown = cell["mean"].round(spec.decimals)
        target = shown.max() if spec.higher_is_better else shown.min()
        for r, v in zip(cell.itertuples(index=False), shown, strict=True):
            if v == target:
                best.add((metric, r.method, b, g))
    return best


def _fmt(value: float, decimals: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{decimals}f}"


def _pm(row, decimals: int) -> str:
    """Half-width of the CI, in the cell's format ('' when there is none)."""
    if not np.isfinite(row.ci_low) or not np.isfinite(row.ci_high):
        return ""
    return f"{(row.ci_high - row.ci_low) / 2:.{decimals}f}"


def paper_table(summary: pd.DataFrame, ctx: TableContext | None = None) -> pd.DataFrame:
    """Numeric paper layout: rows (metric label, method), columns (bin, group) holding the mean."""
    ctx = ctx or TableContext()
    cols = _columns(summary)
    look = _lookup(summary)
    index, data = [], []
    for metric, methods in _blocks(summary):
        for method in methods:
            index.append((ctx.label_of(metric), method))
            data.append([getattr(look.get((metric, method, b, g)), "mean", np.nan) for b, g in cols])
    return pd.DataFrame(
        data,
        index=pd.MultiIndex.from_tuples(index, names=["metric", "method"]),
        columns=pd.MultiIndex.from_tuples(cols, names=["bin", "group"]),
    )


def _text_rows(summary: pd.DataFrame, ctx: TableContext, style: str, show_ci: bool) -> tuple[list, list]:
    """Header and rows of formatted cells for 'md' (best in bold) or 'text'."""
    cols = _columns(summary)
    look = _lookup(summary)
    best = _best(summary, ctx) if style == "md" else set()
    rows = []
    for metric, methods in _blocks(summary):
        spec = ctx.spec(metric)
        for method in methods:
            cells = []
            for b, g in cols:
                r = look.get((metric, method, b, g))
                if r is None:
                    cells.append("–")
                    continue
                v = _fmt(r.mean, spec.decimals)
                pm = _pm(r, spec.decimals) if show_ci else ""
                if style == "md" and (metric, method, b, g) in best:
                    v = f"**{v}**"
                cells.append(f"{v} ±{pm}" if pm else v)
            rows.append([ctx.label_of(metric), method, *cells])
    return cols, rows


def format_table_md(summary: pd.DataFrame, ctx: TableContext | None = None, show_ci: bool = True) -> str:
    """The paper layout as a GitHub Markdown table (best per column in bold), with notes below."""
    ctx = ctx or TableContext()
    cols, rows = _text_rows(summary, ctx, "md", show_ci)
    header = ["Metric", "Method", *[f"{bin_label(b)} {g}" for b, g in cols]]
    body = tabulate(
        rows,
        headers=header,
        tablefmt="github",
        disable_numparse=True,
        colalign=["left", "left"] + ["right"] * len(cols),
    )
    notes = "\n".join(f"- {line}" for line in ctx.notes())
    return f"{body}\n\n{notes}\n"


TERMINAL_WIDTH = 100  # columns the terminal table fits by default (--wide: the paper layout, any width)


def format_table_text(
    summary: pd.DataFrame,
    ctx: TableContext | None = None,
    show_ci: bool = True,
    wide: bool = False,
    width: int = TERMINAL_WIDTH,
) -> str:
    """The table for the terminal (plain text), with notes below.

    wide: the paper layout (a row per metric and method, a column per bin and group: some 300 columns for
    six bins). Else one block per metric, a row per group and method, a column per bin, within `width`
    columns (a block drops its ± where it would not fit), and the notes wrapped to `width`."""
    ctx = ctx or TableContext()
    if wide:
        cols, rows = _text_rows(summary, ctx, "text", show_ci)
        header = ["Metric", "Method", *[f"{bin_label(b)} {g}" for b, g in cols]]
        body = tabulate(rows, headers=header, tablefmt="simple", disable_numparse=True)
        return body + "\n" + "\n".join(ctx.notes()) + "\n"
    blocks = []
    for metric, methods in _blocks(summary):
        for ci in (True, False) if show_ci else (False,):
            block = _metric_block(summary, ctx, metric, methods, ci)
            if max(len(line) for line in block.splitlines()) <= width:
                break
        blocks.append(block)
    notes = [textwrap.fill(n, width, subsequent_indent="  ", break_on_hyphens=False) for n in ctx.notes()]
    return "\n\n".join(blocks) + "\n\n" + "\n".join(notes) + "\n"


def _metric_block(summary: pd.DataFrame, ctx: TableContext, metric: str, methods: list[str], ci: bool) -> str:
    """One metric of the narrow terminal table: its label and direction, then a row per group and method
    (groups in turn, methods in table order) and a column per bin."""
    bins = [b for b in BIN_NAMES if b in set(summary["bin"])]
    groups = [g.value for g in GROUPS if g.value in set(summary["group"])]
    spec = ctx.spec(metric)
    look = _lookup(summary)
    rows = []
    for g in groups:
        for method in methods:
            cells = []
            for b in bins:
                r = look.get((metric, method, b, g))
                if r is None:
                    cells.append("–")
                    continue
                pm = _pm(r, spec.decimals) if ci else ""
                cells.append(f"{_fmt(r.mean, spec.decimals)} ±{pm}" if pm else _fmt(r.mean, spec.decimals))
            rows.append([method, g, *cells])
    direction = {True: "higher is better", False: "lower is better"}.get(spec.higher_is_better, "")
    title = f"{ctx.label_of(metric)} ({direction})" if direction else ctx.label_of(metric)
    return f"{title}\n{_plain_table(['Method', 'N/B', *[bin_label(b) for b in bins]], rows, left=2)}"


def _plain_table(header: list[str], rows: list[list[str]], left: int) -> str:
    """Columns two spaces apart, each as wide as its widest cell, the first `left` left-aligned, the rest
    right-aligned; a rule under the header."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def latex_metrics(ctx: TableContext, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """label, decimals and direction of each metric, as the LaTeX and HTML exports take them."""
    out = {}
    for n in names:
        spec = ctx.spec(n)
        out[n] = dict(label=ctx.label_of(n), decimals=spec.decimals, higher_is_better=spec.higher_is_better,
                      min_n_best=best_min_n(spec))  # fmt: skip
    return out


def format_table_latex(
    summary: pd.DataFrame,
    ctx: TableContext | None = None,
    ci: str = "pm",
    star: bool = False,
    columns: Sequence[tuple[str, str]] | None = None,
    metrics: Sequence[str] | None = None,
    text_height: float | None = None,
) -> str:
    """The paper layout as LaTeX floats that fit the text width and height (bench.reporting.latex): booktabs,
    best per column in bold, the notes below. ci: "pm" (± under each mean), "none" (the paper's look) or
    "separate" (a second table of half-widths); `star` gives a table* for two-column papers; `text_height`:
    the document's \\textheight in pt (default: bench.reporting.latex.TEXT_HEIGHT)."""
    from bench.reporting.latex import latex_table

    ctx = ctx or TableContext()
    names = metric_order(list(dict.fromkeys(summary["metric"])), ctx.metrics)
    return latex_table(summary, latex_metrics(ctx, names), ctx.notes(), ci=ci, columns=columns,
                       metrics_subset=metrics, star=star, text_height=text_height)  # fmt: skip


def table_csv(summary: pd.DataFrame, ctx: TableContext | None = None) -> str:
    """The paper layout as CSV: '#' note lines, then metric, method and one column per bin/group."""
    ctx = ctx or TableContext()
    cols = _columns(summary)
    look = _lookup(summary)
    out_rows = []
    for metric, methods in _blocks(summary):
        spec = ctx.spec(metric)
        for method in methods:
            row = {"metric": ctx.label_of(metric), "method": method}
            for b, g in cols:
                r = look.get((metric, method, b, g))
                row[f"{b} {g}"] = "" if r is None else _fmt(r.mean, spec.decimals)
            out_rows.append(row)
    df = pd.DataFrame(out_rows, columns=["metric", "method", *[f"{b} {g}" for b, g in cols]])
    notes = "".join(f"# {line}\n" for line in ctx.notes())
    for col in ("metric", "method"):  # labels only: a value cell such as "-0.012" is a number
        df[col] = df[col].map(csv_escape)
    return notes + df.to_csv(index=False)


def summary_for_export(summary: pd.DataFrame, ctx: TableContext) -> pd.DataFrame:
    """summary.csv: the tidy summary plus the shown label and the networks behind IS and the features."""
    df = summary.copy()
    df.insert(4, "label", [ctx.label_of(m) for m in df["metric"]])
    df["is_network"] = [ctx.is_network if m == "is" else "" for m in df["metric"]]
    df["features"] = [ctx.features.get(m, "") for m in df["method"]]
    return df


def write_exports(
    out: Path,
    summary: pd.DataFrame,
    ctx: TableContext,
    paired: pd.DataFrame | None = None,
    formats: Sequence[str] = FORMATS,
    latex: dict[str, Any] | None = None,
) -> list[Path]:
    """Write summary.csv, paired.csv and the tables asked for into `out`, atomically. Returns the paths.

    `latex`: options of format_table_latex (ci, star, columns, metrics, text_height)."""
    out = Path(out)
    written = []
    write_csv(out / "summary.csv", summary_for_export(summary, ctx), float_format=CSV_FLOAT_FORMAT)
    written.append(out / "summary.csv")
    if paired is not None and len(paired):
        write_csv(out / "paired.csv", paired, float_format="%.6g")
        written.append(out / "paired.csv")
    if "csv" in formats:
        write_text(out / "table.csv", table_csv(summary, ctx))
        written.append(out / "table.csv")
    if "latex" in formats:
        write_text(out / "table.tex", format_table_latex(summary, ctx, **(latex or {})))
        written.append(out / "table.tex")
    if "md" in formats:
        write_text(out / "table.md", format_table_md(summary, ctx))
        written.append(out / "table.md")
    return written


def format_paired_text(paired: pd.DataFrame, ctx: TableContext | None = None) -> str:
    if paired is None or paired.empty:
        return ""
    a, b = paired["method_a"].iloc[0], paired["method_b"].iloc[0]
    rows = []
    for r in paired.itertuples(index=False):
        spec = metric_info(r.metric, ctx.metrics if ctx else None)
        d = spec.decimals + 1
        rows.append(
            [
                spec.label,
                bin_label(r.bin),
                r.group,
                r.n,
                f"{r.mean_diff:+.{d}f}",
                f"[{r.ci_low:+.{d}f}, {r.ci_high:+.{d}f}]",
                f"{r.p_value:.3g}",
                f"{getattr(r, 'p_holm', np.nan):.3g}",
            ]
        )
    n_tests = int(np.isfinite(paired["p_value"].to_numpy(float)).sum())
    head = ["Metric", "Bin", "Group", "n", f"{a} - {b}", "95% CI", "p (Wilcoxon)", "p (Holm)"]
    intro = (
        f"Paired test {a} vs {b} (same pairs): {n_tests} tests (cells x metrics); p (Holm) is adjusted for "
        "all of them. The CI resamples what repeats (as in the table); the Wilcoxon p-value treats the pairs "
        "as independent, so under cross pairing (masks reused) it is optimistic."
    )
    return (
        textwrap.fill(intro, TERMINAL_WIDTH, break_on_hyphens=False)
        + "\n"
        + _plain_table(head, [[str(c) for c in r] for r in rows], left=3)
        + "\n"
    )


# ---- the paper's cells beside a run (bench.reporting.reference) ----------------------------------
def format_reference_text(cmp: pd.DataFrame, source: str = "") -> str:
    """Terminal rendering of compare_reference (fixed formats per metric)."""
    rows = []
    for r in cmp.itertuples(index=False):
        spec = metric_info(r.metric)
        d = spec.decimals
        rows.append(
            [
                r.method,
                bin_label(r.bin),
                r.group,
                spec.label,
                _fmt(r.reference, d),
                _fmt(r.measured, d),
                "–" if not np.isfinite(r.delta) else f"{r.delta:+.{d}f}",
            ]
        )
    head = ["Method", "Bin", "Group", "Metric", "Reference", "Measured", "Delta"]
    title = f"Reference ({source}) vs measured:" if source else "Reference vs measured:"
    return title + "\n" + tabulate(rows, headers=head, tablefmt="simple", disable_numparse=True) + "\n"


# ---- an evaluation folder's exports ----------------------------------------------------------------
@dataclass
class Tables:
    """What `build_tables` made of an evaluation folder."""

    out: Path
    summary: pd.DataFrame
    paired: pd.DataFrame | None
    text: str  # terminal rendering of the table (and the paired test, the reference comparison)
    files: list[Path] = field(default_factory=list)
    n_pairs: int = 0
    ctx: TableContext = field(default_factory=TableContext)
    run: dict = field(default_factory=dict)  # run.json
    pairs: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)  # what `text` warns of: partial tables, corrupt lines


def table_context(run: dict, n_boot: int | None = None) -> TableContext:
    isn = run.get("is_network") or {}
    if isn.get("name") in (None, "", "none"):
        isn = {}
    label = isn.get("label") or "IS*"
    if isn.get("is_standin", True) and label == "IS":
        label = "IS*"  # a stand-in is never labelled IS
    feats = {m["label"]: m["features"] for m in run.get("methods", []) if m.get("features")}
    metrics = {m["name"]: m for m in run.get("metrics", [])} or _registry_meta(bool(isn))
    return TableContext(
        metrics=metrics,
        is_label=label,
        is_network=isn.get("name", ""),
        is_footnote=isn.get("footnote", ""),
        features=feats,
        n_boot=int(n_boot if n_boot is not None else run.get("n_boot", 1000)),
        seed=int(run.get("seed", 0)),
        command=run.get("command", ""),
        pairing=run.get("pairing", "cross"),
        method_notes=[str(n) for m in run.get("methods", []) for n in (m.get("meta") or {}).get("notes", [])],
        about={m["label"]: m["meta"]["label"] for m in run.get("methods", []) if _meta_label(m)},
        run_notes=[str(n) for n in run.get("notes", [])],
    )


def _registry_meta(with_is: bool) -> dict[str, dict]:
    """Metadata of the registered metrics (for a run.json of format_version 1 that lists no metrics)."""
    from bench.metrics.registry import available_metrics

    return {n: m.meta() for n, m in available_metrics().items() if m.kind == "pair" or with_is}


def _meta_label(method: dict) -> str:
    return str((method.get("meta") or {}).get("label") or "")


def resolve_paired(paired: Sequence[str], labels: Sequence[str]) -> tuple[str, str]:
    """Two distinct method labels (case-insensitive match); a BenchError naming an unknown one."""
    if len(paired) != 2:
        raise BenchError(f"--paired takes two methods A,B; got {','.join(paired)}")
    low = {x.lower(): x for x in labels}
    out = []
    for p in paired:
        if p.strip().lower() not in low:
            raise BenchError(f"--paired: no method {p!r}; methods here: {', '.join(labels)}")
        out.append(low[p.strip().lower()])
    if out[0] == out[1]:
        raise BenchError("--paired needs two different methods")
    return out[0], out[1]


def _check_records(out: Path, run: dict) -> None:
    from bench.runs.shards import check_shards

    check_shards(out, run)
    if not list_method_dirs(out):
        raise BenchError(
            f"{out} holds no records (records/ is missing or empty); the exports there are left as they "
            "are; run `bench evaluate` again to recompute them"
        )


def build_tables(
    out: Path,
    formats: Sequence[str] = FORMATS,
    paired: Sequence[str] | None = None,
    reference: Path | None = None,
    n_boot: int | None = None,
    latex: dict[str, Any] | None = None,
    partial: bool = True,
    wide: bool = False,
) -> Tables:
    """Rebuild summary, paired test and tables of an evaluation folder from its records (the figures are
    bench.reporting.plots.write_figures).

    Each export is replaced only by a complete new file, and only when its content changes; a folder
    without records is a BenchError (its exports are kept). Records of an unfinished run (`gaps`) give
    tables marked partial in every file, or with `partial=False` a BenchError (the exports are kept).
    `wide`: the terminal text in the paper layout (else within TERMINAL_WIDTH columns)."""
    out = Path(out)
    run = read_run(out)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise BenchError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    _check_records(out, run)
    pairs = read_pairs(out)
    labels = [m["label"] for m in run["methods"]]
    if paired is not None:
        paired = resolve_paired(paired, labels)
    elif run.get("paired"):
        paired = tuple(run["paired"])
    ref_df = None
    if reference is not None:
        try:
            ref_df = read_reference(reference)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise BenchError(f"reference {reference}: {str(e).splitlines()[0]}") from None
    ctx = table_context(run, n_boot)
    pair_names = [n for n, m in ctx.metrics.items() if m["kind"] == "pair"]
    cell_names = [n for n, m in ctx.metrics.items() if m["kind"] == "cell"]
    needs = {n for c in cell_names for n in metric_info(c, ctx.metrics).needs}
    loaded = load_records(out, run["methods"], pairs, pair_names, sorted(needs - {"real_pool"}))
    real = _reference_outputs(out, run, pairs) if "real_pool" in needs else None
    summary = summarize(loaded.frame, loaded.outputs, methods=labels, bins=run["bins"], groups=run["groups"],
                        n_boot=ctx.n_boot, seed=ctx.seed, metrics=pair_names, cell_metrics=cell_names,
                        reference=real, known=ctx.metrics)  # fmt: skip
    whole = overall(loaded.frame, loaded.outputs, real, labels, cell_names, ctx.seed, ctx.metrics)
    _note_cells(ctx, summary, whole)
    _note_intervals(ctx, loaded.frame)
    _mark_partial(out, ctx, gaps(loaded.frame, pairs, labels, run), partial)
    pm = pair_metrics_of(loaded.frame)
    pt = (
        paired_test(loaded.frame, paired[0], paired[1], pm, n_boot=ctx.n_boot, seed=ctx.seed)
        if paired
        else None
    )
    files = write_exports(out, summary, ctx, pt, formats, latex)
    if len(whole):
        write_csv(out / "overall.csv", whole, float_format="%.6g")
        files.append(out / "overall.csv")
    text = format_table_text(summary, ctx, wide=wide)
    if pt is not None and len(pt):
        text += "\n" + format_paired_text(pt, ctx)
    if ref_df is not None:
        text += _reference_text(out, summary, ref_df, reference, files, run)
    text += _incomplete(loaded.bad_lines)
    warned = [n for n in ctx.run_notes if n.startswith("PARTIAL TABLES")]
    warned += [line for line in _incomplete(loaded.bad_lines).splitlines() if line]
    return Tables(out=out, summary=summary, paired=pt, text=text, files=files, n_pairs=len(pairs), ctx=ctx,
                  run=run, pairs=pairs, warnings=warned)  # fmt: skip


def _reference_outputs(out: Path, run: dict, pairs: pd.DataFrame) -> dict[str, dict[int, np.ndarray]] | None:
    """The ground truth's network outputs ("real_pool" per pair_id), or None when the run has none."""
    ref = run.get("reference")
    if not isinstance(ref, dict) or not {"name", "key", "label"} <= set(ref):
        return None
    return load_records(out, [ref], pairs, [], ["real_pool"]).outputs.get(ref["label"])


def _note_cells(ctx: TableContext, summary: pd.DataFrame, whole: pd.DataFrame) -> None:
    """Tell the notes how many images FID/KID rest on, and their values over all cells."""
    for m in ("fid", "kid"):
        n = summary.loc[summary["metric"] == m, "n"]
        if len(n):
            ctx.cell_sizes[m] = (int(n.min()), int(n.max()))
    for m in [m for m in dict.fromkeys(whole["metric"]) if m in ctx.cell_sizes]:
        rows = whole[whole["metric"] == m]
        d = ctx.spec(m).decimals
        vals = ", ".join(f"{r.method} {_fmt(r.value, d)}" for r in rows.itertuples(index=False))
        r0 = rows.iloc[0]
        ctx.overall.append(f"{ctx.label_of(m)} over all cells ({int(r0.n)} pairs against {int(r0.n_real)} "
                           f"distinct test images): {vals}.")  # fmt: skip


def _note_intervals(ctx: TableContext, frame: pd.DataFrame) -> None:
    """Count the cells by the kind of interval their pairs get (ci_kind), for the notes."""
    kinds: dict[str, int] = {}
    for _, cell in frame.drop_duplicates("pair_id").groupby(["bin", "group"], sort=False):
        k = ci_kind(list(cell["image"]), list(cell["mask"]))
        kinds[k] = kinds.get(k, 0) + 1
    ctx.ci_kinds = {k: kinds[k] for k in CI_KINDS if k in kinds}


def _reference_text(
    out: Path, summary: pd.DataFrame, ref_df: pd.DataFrame, reference, files: list, run: dict
) -> str:
    differs = protocol_mismatch(Path(reference), run)
    if differs:  # not comparable: no side-by-side file (an earlier one of this folder goes too)
        (out / "reference.csv").unlink(missing_ok=True)
        return f"\nReference {reference}: not set beside this run, whose protocol differs: {differs}.\n"
    cmp = compare_reference(summary, ref_df)
    write_csv(out / "reference.csv", cmp, float_format="%.6g")
    files.append(out / "reference.csv")
    if cmp["measured"].notna().any():
        return "\n" + format_reference_text(cmp, str(reference))
    methods = ", ".join(dict.fromkeys(cmp["method"].astype(str))) or "none"
    return f"\nReference {reference}: none of its methods ({methods}) was measured here.\n"


def gaps(frame: pd.DataFrame, pairs: pd.DataFrame, labels: Sequence[str], run: dict) -> list[str]:
    """What keeps the records from being a finished run: methods short of pairs ('mean (5/8 pairs)'),
    a run.json still 'running' (its process was stopped); [] for a finished run."""
    counts = frame.groupby("method").size() if len(frame) else pd.Series(dtype=int)
    skipped = {m["label"]: int((m.get("meta") or {}).get("n_skipped") or 0) for m in run.get("methods", [])}
    out = [f"{m} ({int(counts.get(m, 0))}/{len(pairs)} pairs)" for m in labels
           if counts.get(m, 0) < len(pairs) - skipped.get(m, 0)]  # fmt: skip
    if run.get("status") == "running":
        out.append("run.json says 'running': the evaluation was stopped before it finished")
    return out


def _mark_partial(out: Path, ctx: TableContext, found: list[str], partial: bool) -> None:
    if not found:
        return
    if not partial:
        raise BenchError(
            f"{out}: the evaluation is not finished ({'; '.join(found)}); rerun the same `bench evaluate` "
            "to finish it, or pass --partial for tables marked partial; the exports are left as they are"
        )
    # A note, so that every export (table.md/.tex/.csv, report.html) says it, not the terminal only.
    ctx.run_notes.insert(0, f"PARTIAL TABLES from an unfinished evaluation: {'; '.join(found)}. "
                            "Rerun the same `bench evaluate` to finish it.")  # fmt: skip


def _incomplete(bad: dict) -> str:
    text = ""
    for label, n in bad.items():
        if n:
            text += (
                f"\n{label}: {n} corrupt record line(s) ignored; their pairs are computed again by "
                "`bench evaluate` with the same options."
            )
    return text + ("\n" if text else "")
