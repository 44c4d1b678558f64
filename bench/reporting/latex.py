"""Table 1 as LaTeX floats that fit the page, in width and height: booktabs, paper layout, best in bold.

Rows are metric blocks x methods, columns are hole-ratio bins x groups {N, B}, as in the paper. The float
needs only booktabs in the preamble (and pdflatex's e-TeX, for \\dimexpr). Widths of the tabular for 7
methods x 5 metrics x 12 columns, measured with pdflatex (tests/test_latex.py compiles every variant and
fails on an overfull box):

- ``table``, one-column a4 article with 2 cm margins (\\textwidth 483.7 pt): \\footnotesize, one number a
  cell for ci="none" / "separate" (448 pt); for ci="pm" the half-width goes in \\scriptsize on a line below
  the mean (461 pt), since mean and half-width side by side need ~750 pt.
- ``table*``, two-column article (\\textwidth 452 pt in the standard class on a4, 483.7 pt with 2 cm
  margins): less column padding for ci="none" (422 pt), \\scriptsize with a \\tiny half-width line for
  ci="pm" (414 pt).

Those paddings are preferred, not promised: the width of a column is that of its widest number, which
depends on the data (FID above 100, a negative KID in bold with its minus sign), the method names and the
document's font. So the float measures its tabular in the document and, only when it is wider than
\\linewidth, narrows \\tabcolsep until it is exactly \\linewidth wide (not below _MIN_TABCOLSEP; wider
still, pdflatex reports the overfull box). With FID and KID (7 metrics) the 7-method table is 483.4
pt wide (ci="none") in the one-column target, and with ci="pm" (split in two floats, see below) 441 and 470
pt; the standard two-column ``table*`` with ci="none" narrows the padding of its second float (FID, KID) to
~2.3 pt, and a small real run with negative KIDs in bold (3 methods, one column) to ~2.5 pt. Each float of a
split table is fitted on its own.

A float cannot break across pages, so the height is decided here: when the whole table would be taller than
the page's \\textheight, its metric blocks are split over consecutive floats, never inside a block. Each
float is a complete table (same header and columns, its own padding fit to \\linewidth); the first has the
caption and `label`, each later one the caption's first sentence and "(continued)." and `label`-b, -c, ...;
the notes go under the last. Of the splits with the fewest floats, the one whose tallest float is least tall
is taken (7 metrics x 7 or 9 methods, ci="pm": "L1, PSNR, SSIM" | "IS, hole L1, FID, KID"). ci="separate"
splits its means and its half-widths (labels `label`-ci, `label`-ci-b, ...) each on their own. A table that
fits stays one float (7 methods x 5 metrics with ci="pm": 681 pt of 731 in the one-column target, 583 of
598 as ``table*`` in the standard two-column article).

The height of a float is estimated from the rows it holds (_ROW: the \\baselineskip of the table's font,
9.5 pt \\footnotesize, 8 pt \\scriptsize; a ± line _PM_PULL = 2.5 pt less), its rules, and its caption and
notes counted in lines (see _height): constants measured with pdflatex in a 10 pt article. The estimate is
written in a comment at the top of each float. tests/test_latex.py compiles tables of 1 to 12 methods in
every mode and checks that it is never below LaTeX's height of the float: 1 to 7 pt above with the default
caption and notes, up to ~25 pt where a caption or notes are counted a line or two too long. The limit is
TEXT_HEIGHT: 731 pt for ``table`` (\\textheight of a4 with 2 cm margins: 731.2 pt), 598 pt for ``table*``
(the standard two-column article on a4; with 2 cm margins it is 731.2 pt too). Another document passes its
own ``text_height``; in an 11 pt or 12 pt document the fonts are larger (rows up to 1.2 or 1.3 times as
tall): pass its \\textheight divided by 1.2 or 1.3.

>>> s = pd.DataFrame(dict(method=["a", "b"], bin="0.1-0.2", group="N", metric="psnr", mean=[20.0, 21.0],
...                       ci_low=np.nan, ci_high=np.nan, n=9, std=1.0))
>>> meta = {"psnr": dict(label="PSNR", decimals=2, higher_is_better=True)}
>>> [ln for ln in latex_table(s, meta, [], ci="none").splitlines() if ln.startswith(" & b")]
[' & b & \\\\textbf{21.00} \\\\\\\\']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CI_MODES: tuple[str, ...] = ("pm", "none", "separate")

# Font sizes and column padding per (star, ci="pm"), measured with pdflatex on the full table (7 methods,
# 5 metrics, 12 columns): (size of the table, size of the ±half-width line, \tabcolsep in pt).
_STYLE = {
    (False, False): ("footnotesize", "", 3.5),
    (False, True): ("footnotesize", "scriptsize", 3.0),
    (True, False): ("footnotesize", "", 2.5),
    (True, True): ("scriptsize", "tiny", 3.0),
}

# When the tabular is wider than \linewidth at the padding above, the padding shrinks until it fits, but not
# below this (pt); a table that does not fit even then overflows, and pdflatex says so.
_MIN_TABCOLSEP = 1.0
_TABULAR = "pcbenchtabular"  # the macro holding the tabular, defined inside the float only

# Heights in pt in a 10 pt document, measured with pdflatex (tests/test_latex.py compiles the floats and
# checks that the estimate is never below, and at most a few pt above, the height LaTeX gives the float):
_ROW = {"footnotesize": 9.5, "scriptsize": 8.0}  # a tabular row: the \baselineskip of the table's font
_PM_PULL = 2.5  # the ± line is pulled up this much towards its mean (its row: _ROW - _PM_PULL)
_RULES = 16.0  # \toprule, the header's \cmidrule, \midrule and \bottomrule (15.96)
_MIDRULE = 5.03  # the \midrule between two metric blocks (5.02)
_CAPTION = (22.0, 12.0)  # \abovecaptionskip, the first line, the last one's depth (20.9); each further line
_NOTES = (9.0, 8.0, 1.0)  # \smallskip and the first \scriptsize line (8.9); each further line; each note
# Caption (\normalsize) and notes (\scriptsize) are counted in lines of _LINE_WIDTH pt at the widest
# average character width measured (4.46 and 3.6 pt), rounded up: 440 pt is below both target \textwidths.
_LINE_WIDTH = 440.0
_CHAR_WIDTH = {"caption": 5.0, "notes": 3.6}
# \textheight the floats must fit (pt), per star: a4 with 2 cm margins (731.2 pt), the one-column target;
# the standard two-column article on a4 (598 pt), the shorter of the two-column targets.
TEXT_HEIGHT = {False: 731.0, True: 598.0}

_DEFAULT_CAPTION = (
    "Results by hole-to-image area ratio. N: holes may touch the image border; B: holes keep a margin "
    "from it. Best value per column and metric in bold."
)

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    # Unicode that pdflatex's default input encoding does not set in text mode (or sets in another font).
    "±": r"$\pm$",
    "×": r"$\times$",
    "≤": r"$\le$",
    "≥": r"$\ge$",
    "≈": r"$\approx$",
    "µ": r"$\mu$",
    "→": r"$\to$",
    "–": "--",
    "—": "---",
    "‘": "`",
    "’": "'",
    "“": "``",
    "”": "''",
    "\u00a0": "~",
}


def latex_escape(text: Any) -> str:
    """Plain text -> LaTeX text: specials escaped, a few Unicode signs as math, other non-Latin as '?'.

    >>> latex_escape("a_b & 50% ± 1")
    'a\\\\_b \\\\& 50\\\\% $\\\\pm$ 1'
    """
    out = []
    text = str(text)
    for i, c in enumerate(text):
        if c == "-" and text[i + 1 : i + 2] == "-":
            out.append("-{}")  # '--' would print an en dash ('--profile' is a command-line option)
        elif c in _SPECIAL:
            out.append(_SPECIAL[c])
        elif ord(c) > 0x17F:  # beyond Latin Extended-A pdflatex's utf8 setup has no glyph: fail soft
            out.append("?")
        else:
            out.append(c)
    return "".join(out)


def latex_label(label: str) -> str:
    """A metric label in LaTeX: 'IS*' -> 'IS$^{*}$' (the stand-in mark as in the paper's footnotes)."""
    if label.endswith("*"):
        return latex_escape(label[:-1]) + "$^{*}$"
    return latex_escape(label)


@dataclass(frozen=True)
class MetricMeta:
    label: str
    decimals: int
    higher_is_better: bool | None  # None: unknown direction, nothing in bold
    min_n_best: int = (
        0  # a column with a cell of fewer pairs marks none best (bench.reporting.tables.best_min_n)
    )


def metric_meta(name: str, metrics: Mapping[str, Any]) -> MetricMeta:
    """label/decimals/higher_is_better from a Metric-like object or a dict (run.json's copy)."""
    m = metrics.get(name)
    if m is None:
        return MetricMeta(name, 3, None)

    def get(key: str, default: Any) -> Any:
        return m.get(key, default) if isinstance(m, Mapping) else getattr(m, key, default)

    hib = get("higher_is_better", None)
    return MetricMeta(str(get("label", name)), int(get("decimals", 3)), None if hib is None else bool(hib),
                      int(get("min_n_best", 0) or 0))  # fmt: skip


def bin_header(name: str) -> str:
    """'0.1-0.2' -> '(0.1,0.2]' (bins are left-open, right-closed); other names as they are."""
    lo, sep, hi = str(name).partition("-")
    try:
        return f"({float(lo):g},{float(hi):g}]" if sep else str(name)
    except ValueError:
        return str(name)


def _ordered(values: Iterable[str], preferred: Sequence[str]) -> list[str]:
    seen = list(dict.fromkeys(values))
    return [v for v in preferred if v in seen] + [v for v in seen if v not in preferred]


def table_columns(summary: pd.DataFrame) -> list[tuple[str, str]]:
    """(bin, group) columns of `summary`: the paper's bin and group order, unknown ones after."""
    from masks.conventions import BIN_NAMES, GROUPS

    bins = _ordered(summary["bin"], BIN_NAMES)
    groups = _ordered(summary["group"], [g.value for g in GROUPS])
    present = set(zip(summary["bin"], summary["group"], strict=True))
    return [(b, g) for b in bins for g in groups if (b, g) in present]


def table_metrics(summary: pd.DataFrame, metrics: Mapping[str, Any]) -> list[str]:
    """Metrics of `summary` in the order of `metrics` (the registry / run.json order), unknown ones after."""
    return _ordered(summary["metric"], list(metrics))


@dataclass(frozen=True)
class Cell:
    """One shown cell: the mean, the CI half-width (NaN when none) and whether it is the column's best."""

    mean: float
    half: float
    best: bool


def cell_grid(
    summary: pd.DataFrame,
    meta: MetricMeta,
    metric: str,
    methods: Sequence[str],
    columns: Sequence[tuple[str, str]],
) -> dict[tuple[str, str, str], Cell]:
    """(method, bin, group) -> Cell for one metric; best = the column's best as shown (rounded), ties
    all best, only among >= 2 finite values, when the metric's direction is known and every cell of the
    column has at least `meta.min_n_best` pairs."""
    rows = summary[summary["metric"] == metric]
    look = {(r.method, r.bin, r.group): r for r in rows.itertuples(index=False)}
    grid: dict[tuple[str, str, str], Cell] = {}
    for b, g in columns:
        shown, enough = {}, True
        for method in methods:
            r = look.get((method, b, g))
            if r is not None and _finite(r.mean):
                shown[method] = round(float(r.mean), meta.decimals)
                if meta.min_n_best:  # unknown n (no column): not enough
                    enough = enough and float(getattr(r, "n", math.nan)) >= meta.min_n_best
        best = set()
        if meta.higher_is_better is not None and len(shown) >= 2 and enough:
            target = max(shown.values()) if meta.higher_is_better else min(shown.values())
            best = {m for m, v in shown.items() if v == target}
        for method in methods:
            r = look.get((method, b, g))
            if r is None:
                continue
            half = (
                (float(r.ci_high) - float(r.ci_low)) / 2
                if _finite(r.ci_low) and _finite(r.ci_high)
                else math.nan
            )
            grid[(method, b, g)] = Cell(float(r.mean), half, method in best)
    return grid


def _finite(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _num(value: float, decimals: int) -> str:
    """A number as LaTeX text: '--' when missing, a real minus sign for negatives."""
    if not _finite(value):
        return "--"
    text = f"{value:.{decimals}f}"
    return f"$-${text[1:]}" if text.startswith("-") else text


def _header(columns: Sequence[tuple[str, str]], first: str) -> list[str]:
    """Two header rows: bins spanning their groups (runs of equal bins), then the groups."""
    runs: list[tuple[str, int]] = []
    for b, _ in columns:
        if runs and runs[-1][0] == b:
            runs[-1] = (b, runs[-1][1] + 1)
        else:
            runs.append((b, 1))
    spans, rules, c = [], [], 3
    for b, k in runs:
        spans.append(f"\\multicolumn{{{k}}}{{c}}{{{latex_escape(bin_header(b))}}}")
        rules.append(f"\\cmidrule(lr){{{c}-{c + k - 1}}}")
        c += k
    return [
        " & & " + " & ".join(spans) + r" \\",
        " ".join(rules),
        f"{first} & Method & " + " & ".join(latex_escape(g) for _, g in columns) + r" \\",
    ]


def _blocks(
    summary: pd.DataFrame,
    metrics: Mapping[str, Any],
    names: Sequence[str],
    methods: Sequence[str],
    columns: Sequence[tuple[str, str]],
    what: str,
    pm_size: str = "scriptsize",
) -> list[list[str]]:
    """Rows of the tabular, one list a metric block (the blocks are set with a \\midrule between them).
    what: 'mean' (one line a cell), 'pm' (mean, then '±half' in the smaller `pm_size` on the line below) or
    'half' (the CI half-widths alone, no bold; a metric without any is left out)."""
    blocks: list[list[str]] = []
    for metric in names:
        meta = metric_meta(metric, metrics)
        grid = cell_grid(summary, meta, metric, methods, columns)
        if what == "half" and not any(_finite(c.half) for c in grid.values()):
            continue  # e.g. IS: one score per cell, no CI
        lines: list[str] = []
        for j, method in enumerate(methods):
            label = latex_label(meta.label) if j == 0 else ""
            cells = []
            for b, g in columns:
                c = grid.get((method, b, g))
                if c is None:
                    cells.append("--")
                elif what == "half":
                    cells.append(_num(c.half, meta.decimals))
                else:
                    v = _num(c.mean, meta.decimals)
                    cells.append(f"\\textbf{{{v}}}" if c.best and v != "--" else v)
            lines.append(f"{label} & {latex_escape(method)} & " + " & ".join(cells) + r" \\")
            halves = [grid[(method, b, g)].half if (method, b, g) in grid else math.nan for b, g in columns]
            if what == "pm" and any(_finite(h) for h in halves):
                # The pm line is in a smaller font than the row's strut: pull it up towards its mean.
                lines[-1] += f"[-{_PM_PULL:g}pt]"
                pm = [f"{{\\{pm_size}$\\pm${_num(h, meta.decimals)}}}" if _finite(h) else "" for h in halves]
                lines.append(" & & " + " & ".join(pm) + r" \\")
        blocks.append(lines)
    return blocks


def _notes_latex(notes: Sequence[str], labels: Iterable[str]) -> list[str]:
    """Notes as LaTeX lines; starred labels (IS*) as IS$^{*}$; long paths may break after '/'."""
    starred = [(latex_escape(lb), latex_label(lb)) for lb in labels if lb.endswith("*")]
    out = []
    for note in notes:
        text = latex_escape(note)
        for plain, marked in starred:
            text = text.replace(plain, marked)
        # Commands and paths have long unbreakable words; let them break where a reader expects it.
        text = text.replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")
        out.append(text)
    return out


def _float(
    body: list[str],
    columns: Sequence[tuple[str, str]],
    *,
    star: bool,
    size: str,
    tabcolsep: float,
    caption: str,
    label: str | None,
    notes: list[str],
    height: tuple[float, float] | None = None,
) -> str:
    env = "table*" if star else "table"
    spec = "@{}ll" + "r" * len(columns) + "@{}"  # no outer padding: the rules end at the text
    out = [f"\\begin{{{env}}}[tbp]"]
    if height:
        out.append(f"% estimated height {height[0]:.1f}pt (10pt document), \\textheight {height[1]:g}pt")
    out += [
        r"\centering",
        f"\\caption{{{latex_escape(caption)}}}",
    ]
    if label:
        out.append(f"\\label{{{_clean_label(label)}}}")
    out += [f"\\{size}", f"\\setlength\\tabcolsep{{{tabcolsep:g}pt}}"]
    # The tabular is kept in a macro (local to the float) so that it can be measured, then set.
    out += [f"\\def\\{_TABULAR}{{%", f"\\begin{{tabular}}{{{spec}}}", r"\toprule"]
    out += [*_header(columns, "Metric"), r"\midrule", *body, r"\bottomrule", r"\end{tabular}}%"]
    out += _fit_lines(2 * (len(columns) + 2) - 2)
    if notes:
        # Below the table, left-aligned in the float's width; one paragraph a note.
        out.append(r"\par\smallskip")
        out.append("{\\scriptsize\\raggedright")
        out += [f"{n}\\par" for n in notes]
        out.append("}")
    out.append(f"\\end{{{env}}}")
    return "\n".join(out) + "\n"


def _lines(text: str, kind: str) -> int:
    """Lines a paragraph of plain `text` takes at most (estimate, see _CHAR_WIDTH)."""
    return max(1, math.ceil(len(text) * _CHAR_WIDTH[kind] / _LINE_WIDTH))


def _height(blocks: Sequence[Sequence[str]], size: str, caption: str, notes: Sequence[str]) -> float:
    """Estimated height (pt) of the float of `blocks` (rows as _blocks writes them) in a 10 pt document, with
    the plain-text `caption` above and `notes` below."""
    row = _ROW.get(size, _ROW["footnotesize"])
    rows = sum(len(b) for b in blocks) + 2  # and the two header rows
    pulled = sum(ln.endswith("pt]") for b in blocks for ln in b)
    h = _RULES + rows * row - pulled * _PM_PULL + max(len(blocks) - 1, 0) * _MIDRULE
    h += _CAPTION[0] + (_lines("Table 10: " + caption, "caption") - 1) * _CAPTION[1]
    if notes:
        lines = sum(_lines(n, "notes") for n in notes)
        h += _NOTES[0] + (lines - 1) * _NOTES[1] + len(notes) * _NOTES[2]
    return h


def _split(
    blocks: Sequence[Sequence[str]],
    size: str,
    captions: tuple[str, str],
    notes: Sequence[str],
    text_height: float,
) -> list[int]:
    """Where to split the metric blocks over floats: the start index of each float's first block.

    The fewest floats whose estimated heights fit `text_height` (captions[0] above the first float,
    captions[1] above the others, `notes` below the last), and of those the split whose tallest float is
    the least tall; a block too tall for a float of its own gets one (LaTeX reports it)."""
    n = len(blocks)
    if n <= 1:
        return [0]

    def height(lo: int, hi: int) -> float:
        return _height(blocks[lo:hi], size, captions[lo > 0], notes if hi == n else [])

    for parts in range(1, n + 1):
        # best[k][i]: (tallest float, starts) of blocks[:i] in k floats that all fit (or hold one block)
        best: list[dict[int, tuple[float, list[int]]]] = [{0: (0.0, [])}]
        for k in range(1, parts + 1):
            best.append({})
            for i in range(k, n + 1):
                for lo, (tallest, starts) in best[k - 1].items():
                    if lo >= i:
                        continue
                    h = height(lo, i)
                    if h > text_height and i - lo > 1:
                        continue
                    cand = (max(tallest, h), [*starts, lo])
                    if i not in best[k] or cand[0] < best[k][i][0]:
                        best[k][i] = cand
        if n in best[parts]:
            return best[parts][n][1]
    raise AssertionError("one float a block always fits")  # pragma: no cover


def _suffix(k: int) -> str:
    """Label suffix of the k-th float of a split table: '', '-b', '-c', ..., '-z', '-27', ..."""
    return "" if k == 0 else f"-{chr(ord('a') + k)}" if k < 26 else f"-{k + 1}"


def _first_sentence(caption: str) -> str:
    """'Results by ratio. N: ... .' -> 'Results by ratio'."""
    return caption.strip().split(". ", 1)[0].rstrip(". ")


def _fit_lines(paddings: int) -> list[str]:
    """LaTeX that sets the tabular macro at its \\tabcolsep, or, when that is wider than \\linewidth (another
    font, longer names, wider numbers), with the padding that makes it exactly \\linewidth wide, not below
    _MIN_TABCOLSEP. `paddings`: the \\tabcolsep's in a row (two a column, none outside the first and last)."""
    return [
        f"\\sbox0{{\\{_TABULAR}}}%",
        r"\ifdim\wd0>\linewidth",
        # (dimexpr rounds to the nearest sp: adding `paddings` sp rounds the shrink up)
        f"\\tabcolsep=\\dimexpr\\tabcolsep-(\\wd0-\\linewidth+{paddings}sp)/{paddings}\\relax",
        f"\\ifdim\\tabcolsep<{_MIN_TABCOLSEP:g}pt \\tabcolsep={_MIN_TABCOLSEP:g}pt\\fi",
        f"\\sbox0{{\\{_TABULAR}}}%",
        r"\fi",
        r"\usebox0",
    ]


def _clean_label(label: str) -> str:
    # \label takes almost anything but braces, backslashes, '#' and '%'.
    return "".join(c for c in str(label) if c not in "{}\\#%~^&$ ")


def latex_table(
    summary: pd.DataFrame,
    metrics: Mapping[str, Any],
    notes: Sequence[str],
    *,
    ci: str = "pm",
    columns: Sequence[tuple[str, str]] | None = None,
    metrics_subset: Sequence[str] | None = None,
    star: bool = False,
    caption: str | None = None,
    label: str | None = None,
    text_height: float | None = None,
) -> str:
    """The summary as complete LaTeX floats (``table``, or ``table*`` when `star`) needing booktabs: one,
    or, when that would be taller than `text_height`, the metric blocks split over consecutive floats.

    `summary`: tidy frame (method, bin, group, metric, mean, ci_low, ci_high, ...); `metrics`: name ->
    object or dict with label, decimals, higher_is_better; `notes`: plain-text lines set below the table
    (below its last float). ci: "pm" (± half-width under each mean), "none" (means only) or "separate"
    (means, then float(s) of the half-widths, labelled `label`-ci). `columns`: (bin, group) pairs to show,
    in order; `metrics_subset`: metric names to show, in order. Caption and notes are plain text (escaped
    here). `text_height`: the document's \\textheight in pt (default TEXT_HEIGHT[star]); a float after the
    first is captioned '<first sentence of the caption> (continued).' and labelled `label`-b, -c, ...
    """
    if ci not in CI_MODES:
        raise ValueError(f"ci must be one of {', '.join(CI_MODES)}, not {ci!r}")
    cols = [(str(b), str(g)) for b, g in columns] if columns is not None else table_columns(summary)
    names = list(metrics_subset) if metrics_subset is not None else table_metrics(summary, metrics)
    methods = list(dict.fromkeys(summary["method"]))
    labels = [metric_meta(m, metrics).label for m in dict.fromkeys([*names, *metrics])]
    cap = caption if caption is not None else _DEFAULT_CAPTION
    size, pm_size, sep = _STYLE[(star, ci == "pm")]
    height = TEXT_HEIGHT[star] if text_height is None else float(text_height)
    first = _first_sentence(cap)
    # Each group: its metric blocks, caption of its first float and of the others, label, notes.
    means = _blocks(summary, metrics, names, methods, cols, "pm" if ci == "pm" else "mean", pm_size)
    groups = [(means, (cap, f"{first} (continued)." if first else "(continued)"), label, list(notes))]
    if ci == "separate":
        half_cap = f"{cap} Half-widths of the confidence intervals of the means (ci_high - ci_low) / 2."
        half_cont = f"{first}: half-widths of the confidence intervals (continued)."
        half = _blocks(summary, metrics, names, methods, cols, "half")
        groups.append((half, (half_cap, half_cont), f"{label}-ci" if label else None, []))
    out = []
    for blocks, captions, group_label, group_notes in groups:
        starts = _split(blocks, size, captions, group_notes, height)
        for k, (lo, hi) in enumerate(zip(starts, [*starts[1:], len(blocks)], strict=True)):
            last = hi == len(blocks)
            estimate = _height(blocks[lo:hi], size, captions[k > 0], group_notes if last else [])
            body = [ln for j, b in enumerate(blocks[lo:hi]) for ln in ([r"\midrule"] if j else []) + b]
            out.append(
                _float(
                    body,
                    cols,
                    star=star,
                    size=size,
                    tabcolsep=sep,
                    caption=captions[k > 0],
                    label=f"{group_label}{_suffix(k)}" if group_label else None,
                    notes=_notes_latex(group_notes, labels) if last else [],
                    height=(estimate, height),
                )
            )
    return "\n".join(out)
