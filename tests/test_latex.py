"""bench.reporting.latex: the paper-layout float (bold best, ties, missing cells, escaping, CI modes) and,
where pdflatex is installed, that every variant compiles and fits the text width of its document class."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.reporting.latex import CI_MODES, TEXT_HEIGHT, latex_escape, latex_table

META = {
    "l1_percent": dict(label="L1 (%)", decimals=2, higher_is_better=False),
    "psnr": dict(label="PSNR", decimals=2, higher_is_better=True),
    "ssim": dict(label="SSIM", decimals=3, higher_is_better=True),
    "is": dict(label="IS*", decimals=2, higher_is_better=True),
    "hole_l1_percent": dict(label="Hole L1 (%)", decimals=2, higher_is_better=False),
    "fid": dict(label="FID*", decimals=2, higher_is_better=False),
    "kid": dict(label="KID*", decimals=3, higher_is_better=False),
}
# (first bin's mean, last bin's mean, CI half-width) of each metric, as a real run gives them: FID above 100
# in the large-hole bins, KID of small cells slightly negative in the small-hole bins (unbiased estimate).
VALUES = {
    "l1_percent": (0.3, 7.5, 0.4),
    "psnr": (41.0, 18.5, 1.8),
    "ssim": (0.99, 0.58, 0.025),
    "is": (7.4, 3.5, np.nan),
    "hole_l1_percent": (3.3, 13.3, 1.5),
    "fid": (8.0, 160.0, np.nan),
    "kid": (-0.004, 0.12, np.nan),
}
PAPER_METRICS = ("l1_percent", "psnr", "ssim", "is", "hole_l1_percent")  # the default set before FID/KID
BINS = ("0.01-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6")
METHODS = ("pconv", "conv", "gl", "pconv_ft", "patchmatch", "telea", "biharmonic")
QUICK_METHODS = ("pconv", "conv", "gl", "gntipt", "patchmatch", "telea", "ns", "biharmonic", "mean")  # 9
NOTES = [
    "IS* (stand-in network efficientnet-lite0): Inception Score from the EfficientNet-Lite0 ImageNet "
    "classifier (offline stand-in), not comparable to the paper's IS.",
    "IS* per cell over all its pairs in min(10, n // 50) splits (at least 1); few pairs bias it low.",
    "Pairing: cross: each test image meets one mask of every cell (the same images in every cell).",
    "Metrics on the composited output; ± is half the width of the 95% percentile bootstrap CI "
    "(1000 resamples of the pairs, seed 0); IS has no CI.",
    "Command: bench reproduce --profile paper --results /very/long/results/path/that_has/no_spaces/"
    "in_it_at_all/and_keeps_going_for_more_than_a_whole_line_of_the_notes_font",
]


def realistic_summary(seed: int = 0, methods: tuple[str, ...] = METHODS) -> pd.DataFrame:
    """7 methods (or `methods`) x 7 metrics x 6 bins x {N, B} with values and CIs of the size a real run
    gives."""
    rng = np.random.default_rng(seed)
    rows = []
    for metric, (lo, hi, half) in VALUES.items():
        for k, method in enumerate(methods):
            for i, b in enumerate(BINS):
                for g in ("N", "B"):
                    mean = lo + (hi - lo) * i / 5 * (1 + 0.05 * k) + rng.normal(0, abs(hi - lo) * 0.01)
                    h = half * rng.uniform(0.3, 1.0)
                    rows.append(dict(method=method, bin=b, group=g, metric=metric, mean=mean,
                                     ci_low=mean - h, ci_high=mean + h, n=80, std=1.0))  # fmt: skip
    return pd.DataFrame(rows)


def one_metric(values: dict[str, float], metric: str = "psnr", ci: float = 0.5) -> pd.DataFrame:
    """One column (0.1-0.2, N): method -> mean."""
    base = dict(bin="0.1-0.2", group="N", metric=metric, n=10, std=1.0)
    return pd.DataFrame(
        [dict(base, method=m, mean=v, ci_low=v - ci, ci_high=v + ci) for m, v in values.items()]
    )


def pick(s: pd.DataFrame, metric: str, method: str, b: str, g: str) -> pd.Series:
    return s[(s.metric == metric) & (s.method == method) & (s.bin == b) & (s.group == g)].iloc[0]


def row_cells(tex: str, method: str) -> list[str]:
    """The numeric cells of `method`'s (first) row."""
    for line in tex.splitlines():
        parts = [p.strip() for p in line.removesuffix("\\\\").split("&")]
        if len(parts) > 2 and parts[1] == latex_escape(method):
            return [re.sub(r"\\\\(\[.*\])?$", "", p).strip() for p in parts[2:]]
    raise AssertionError(f"no row for {method}")


# ---- structure ------------------------------------------------------------------------------------
def test_best_is_bold_per_direction():
    tex = latex_table(one_metric({"a": 20.0, "b": 21.0, "c": 19.0}), META, [], ci="none")
    assert row_cells(tex, "b") == [r"\textbf{21.00}"]
    assert row_cells(tex, "a") == ["20.00"] and row_cells(tex, "c") == ["19.00"]
    low = latex_table(one_metric({"a": 2.0, "b": 1.0}, "l1_percent"), META, [], ci="none")
    assert row_cells(low, "b") == [r"\textbf{1.00}"] and row_cells(low, "a") == ["2.00"]


def test_ties_as_shown_are_all_bold():
    # 0.9874 and 0.9866 both show as 0.987: both bold; 0.9854 shows as 0.985: not.
    tex = latex_table(one_metric({"a": 0.9874, "b": 0.9866, "c": 0.9854}, "ssim"), META, [], ci="none")
    assert row_cells(tex, "a") == [r"\textbf{0.987}"]
    assert row_cells(tex, "b") == [r"\textbf{0.987}"]
    assert row_cells(tex, "c") == ["0.985"]


def test_missing_and_nan_cells_are_dashes_and_never_bold():
    s = one_metric({"a": 20.0, "b": np.nan, "c": 19.0})
    s = pd.concat([s, one_metric({"a": 30.0, "c": 31.0}).assign(bin="0.2-0.3")], ignore_index=True)
    tex = latex_table(s, META, [], ci="none")
    assert row_cells(tex, "b") == ["--", "--"]  # NaN mean, and no row at all for (b, 0.2-0.3)
    assert row_cells(tex, "a") == [r"\textbf{20.00}", "30.00"]
    assert row_cells(tex, "c") == ["19.00", r"\textbf{31.00}"]


def test_single_value_column_and_unknown_direction_have_no_bold():
    assert row_cells(latex_table(one_metric({"a": 1.0}), META, [], ci="none"), "a") == ["1.00"]
    tex = latex_table(one_metric({"a": 1.0, "b": 2.0}, "mystery"), META, [], ci="none")
    assert "textbf" not in tex and row_cells(tex, "b") == ["2.000"]  # default 3 decimals


def test_pm_puts_half_widths_on_a_line_below_except_for_is():
    s = realistic_summary()
    tex = latex_table(s, META, NOTES, ci="pm")
    lines = tex.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.startswith("L1 (\\%) & pconv &"))
    assert lines[i].endswith(r"\\[-2.5pt]")
    r = pick(s, "l1_percent", "pconv", "0.01-0.1", "N")
    assert lines[i + 1].startswith(" & & {\\scriptsize$\\pm$" + f"{(r.ci_high - r.ci_low) / 2:.2f}}}")
    j = next(k for k, ln in enumerate(lines) if ln.startswith("IS$^{*}$ & pconv &"))
    assert lines[j].endswith(r" \\") and lines[j + 1].startswith(" & conv &")  # no CI line for IS
    assert r"\pm" not in latex_table(s, META, NOTES, ci="none").split(r"\end{tabular}")[0]


def test_separate_gives_a_second_float_of_half_widths_without_is():
    s = realistic_summary()
    tex = latex_table(s, META, NOTES, ci="separate", label="tab:t1")
    assert tex.count(r"\begin{table}") == 2 and tex.count(r"\end{table}") == 2
    main, half = tex.split(r"\end{table}")[:2]
    assert r"\label{tab:t1}" in main and r"\label{tab:t1-ci}" in half
    assert "IS$^{*}$ & pconv" in main and "IS$^{*}$" not in half.split(r"\begin{tabular}")[1]
    r = pick(s, "psnr", "gl", "0.5-0.6", "B")
    assert row_cells("PSNR" + half.split("\nPSNR", 1)[1], "gl")[-1] == f"{(r.ci_high - r.ci_low) / 2:.2f}"


def metric_rows(float_tex: str) -> list[tuple[str, list[str]]]:
    """(metric label, its rows) of each metric block of one float's tabular."""
    body = float_tex.split("\\begin{tabular}")[1].split("\\end{tabular}")[0]
    body = body.split("\\midrule\n", 1)[1].split("\\bottomrule")[0]
    return [(b.split(" & ", 1)[0], b.strip().splitlines()) for b in body.split("\\midrule\n")]


def split_floats(tex: str) -> list[str]:
    return re.findall(r"\\begin\{table\*?\}.*?\\end\{table\*?\}", tex, re.S)


def header(float_tex: str) -> str:
    """The float's tabular up to its first metric block: column spec, bins, groups."""
    return float_tex.split("\\begin{tabular}")[1].split("\\midrule")[0]


def test_a_table_taller_than_the_page_is_split_between_metric_blocks():
    s = realistic_summary(methods=QUICK_METHODS)
    tex = latex_table(s, META, NOTES, ci="pm", label="tab:t1")
    whole = latex_table(s, META, NOTES, ci="pm", label="tab:t1", text_height=1e6)
    first, second = split_floats(tex)
    assert tex.count("\\begin{table}") == 2 and whole.count("\\begin{table}") == 1
    assert r"\label{tab:t1}" in first and r"\label{tab:t1-b}" in second and "tab:t1-b" not in first
    assert r"\caption{Results by hole-to-image area ratio. N: holes" in first
    assert r"\caption{Results by hole-to-image area ratio (continued).}" in second
    # Complete tables, same header; blocks whole and in order; notes under the last only.
    assert header(first) == header(second) == header(whole)
    blocks = metric_rows(first) + metric_rows(second)
    assert [b[0] for b in blocks[:3]] == ["L1 (\\%)", "PSNR", "SSIM"]
    assert [b[0] for b in blocks[3:]] == ["IS$^{*}$", "Hole L1 (\\%)", "FID$^{*}$", "KID$^{*}$"]
    assert blocks == metric_rows(whole)
    assert "\\par" not in first and second.count("\\par\n") == len(NOTES)
    # The estimates that decided it: the whole is too tall for the one-column page, each part is not.
    (est,) = estimates(whole)
    assert est > TEXT_HEIGHT[False] >= max(estimates(tex))


def test_a_split_never_breaks_a_metric_block_and_separate_splits_both_groups():
    s = realistic_summary()
    tex = latex_table(s, META, ["a note"], ci="separate", label="t", text_height=150, star=True)
    parts = split_floats(tex)
    labels = [re.search(r"\\label\{(.*)\}", f).group(1) for f in parts]
    # Too small a page for two blocks: one float a block (7 metrics, then the 4 with a CI).
    assert labels == ["t", "t-b", "t-c", "t-d", "t-e", "t-f", "t-g", "t-ci", "t-ci-b", "t-ci-c", "t-ci-d"]
    assert all(len(metric_rows(f)) == 1 and len(metric_rows(f)[0][1]) == len(METHODS) for f in parts)
    assert [f.count("a note") for f in parts] == [0] * 6 + [1] + [0] * 4
    assert "half-widths of the confidence intervals (continued)." in parts[-1]
    assert all(f.startswith("\\begin{table*}") for f in parts)


@pytest.mark.parametrize("ci", CI_MODES)
def test_a_table_that_fits_stays_one_float(ci):
    # The paper's 5 metrics x 7 methods fit the one-column page, and table* the standard two-column one.
    s = realistic_summary()
    for star in (False, True):
        tex = latex_table(s, META, NOTES, ci=ci, star=star, label="tab:t", metrics_subset=PAPER_METRICS)
        assert tex.count("\\begin{table") == 1 + (ci == "separate") and "tab:t-b" not in tex
        assert "(continued)" not in tex


def test_star_columns_and_metric_subset():
    s = realistic_summary()
    tex = latex_table(
        s,
        META,
        [],
        star=True,
        ci="none",
        columns=[("0.5-0.6", "B"), ("0.1-0.2", "N")],
        metrics_subset=["ssim", "psnr"],
    )
    assert tex.startswith("\\begin{table*}") and tex.rstrip().endswith("\\end{table*}")
    assert r"\begin{tabular}{@{}llrr@{}}" in tex
    assert r"\multicolumn{1}{c}{(0.5,0.6]} & \multicolumn{1}{c}{(0.1,0.2]}" in tex
    assert tex.index("SSIM &") < tex.index("PSNR &") and "L1" not in tex
    with pytest.raises(ValueError, match="ci must be"):
        latex_table(s, META, [], ci="both")


def test_escaping_of_names_notes_and_labels():
    s = one_metric({"a_b&c%": 1.0, "x#{y}": 2.0})
    tex = latex_table(
        s, META, ["IS* uses 10% of ~ pairs; ± 1 — see --help", "π"], caption="50% of $", ci="pm"
    )
    assert r"a\_b\&c\%" in tex and r"x\#\{y\}" in tex
    assert r"IS$^{*}$ uses 10\% of \textasciitilde{} pairs; $\pm$ 1 --- see -{}-help" in tex
    assert r"\caption{50\% of \$}" in tex and "?\\par" in tex  # unknown to pdflatex: '?'
    assert tex.count("{") == tex.count("}")


def test_metric_objects_as_metadata():
    from bench.metrics.registry import METRICS

    s = one_metric({"a": 20.0, "b": 21.0})
    assert row_cells(latex_table(s, METRICS, [], ci="none"), "b") == [r"\textbf{21.00}"]


# ---- compiled with a real LaTeX -------------------------------------------------------------------
needs_pdflatex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")

# (document class options, geometry or not, star): the one-column target and two two-column ones (the
# standard class's own a4 two-column \textwidth, 452 pt, is narrower than with 2 cm margins).
DOCUMENTS = {
    "onecolumn-2cm": ("a4paper", True, False),
    "twocolumn-2cm": ("a4paper,twocolumn", True, True),
    "twocolumn-standard": ("a4paper,twocolumn", False, True),
}


def compile_latex(
    body: str, options: str, geometry: bool, tmp: Path, packages: str = "booktabs", preamble: str = ""
) -> str:
    """pdflatex a minimal document around `body`; returns the log (the run must succeed)."""
    doc = "\n".join([
        f"\\documentclass[{options}]{{article}}",
        "\\usepackage[margin=2cm]{geometry}" if geometry else "",
        f"\\usepackage{{{packages}}}",
        preamble,
        "\\begin{document}",
        "\\typeout{TEXTWIDTH=\\the\\textwidth}",
        body,
        "Text.",
        "\\end{document}",
    ])  # fmt: skip
    (tmp / "doc.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert run.returncode == 0, log[-3000:]
    return log


# Every tabular typeset, measured in place: its natural width and the \tabcolsep it was set with; and a mark
# at each float. The last tabular of a float is the one on the page (an earlier one was a measurement).
MEASURE = r"""\makeatletter
\let\testOrigTabular\tabular \let\testOrigEndTabular\endtabular
\renewenvironment{tabular}{\setbox0\hbox\bgroup\testOrigTabular}%
  {\testOrigEndTabular\egroup\typeout{TABULAR=\the\wd0,\the\tabcolsep}\box0}
\makeatother"""


@dataclass
class Placed:
    natural: float  # width at the padding the float asks for first (pt)
    width: float  # width of the tabular on the page (pt)
    sep: float  # its \tabcolsep (pt)
    first_sep: float


def tabulars(tex: str, options: str, geometry: bool, tmp: Path) -> tuple[float, list[Placed], str]:
    """(\\textwidth, one Placed per float, log)."""
    marked = tex.replace("\\begin{table", "\\typeout{FLOAT}\\begin{table")
    log = compile_latex(MEASURE + "\n" + marked, options, geometry, tmp)
    text = float(re.search(r"TEXTWIDTH=([\d.]+)pt", log).group(1))
    out = []
    for part in log.split("FLOAT\n")[1:]:
        m = [(float(w), float(c)) for w, c in re.findall(r"TABULAR=([\d.]+)pt,([\d.]+)pt", part)]
        out.append(Placed(m[0][0], m[-1][0], m[-1][1], m[0][1]))
    return text, out, log


def overfull(log: str) -> list[str]:
    return re.findall(r"Overfull \\hbox.*", log)


# LaTeX's own check of a float's height (its box against \textheight: "Float too large"), reporting each.
FLOAT_HEIGHTS = r"""\makeatletter
\let\testOrigLargeFloatCheck\@largefloatcheck
\def\@largefloatcheck{\typeout{FLOATHEIGHT=\the\ht\@currbox}\testOrigLargeFloatCheck}
\makeatother"""


def float_heights(log: str) -> list[float]:
    return [float(h) for h in re.findall(r"FLOATHEIGHT=([\d.]+)pt", log)]


def estimates(tex: str) -> list[float]:
    """The height bench.reporting.latex estimated for each float (pt), from the comment at its top."""
    return [float(h) for h in re.findall(r"^% estimated height ([\d.]+)pt", tex, re.M)]


def floats(s: pd.DataFrame, star: bool, notes=NOTES, **kw) -> str:
    tables = [latex_table(s, META, notes, ci=c, star=star, label=f"tab:{c}", **kw) for c in CI_MODES]
    return "\n\\clearpage\n".join(tables)


@needs_pdflatex
@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_paper_metrics_table_compiles_and_fits_a_page(document, tmp_path):
    # IS, L1, PSNR, SSIM and hole L1 at the paddings of the module's docstring: width and height.
    options, geometry, star = DOCUMENTS[document]
    text, placed, log = tabulars(
        floats(realistic_summary(), star, metrics_subset=PAPER_METRICS), options, geometry, tmp_path
    )
    assert not overfull(log), overfull(log)
    assert "Float too large" not in log  # the pm table is two lines a method: it must still fit a page
    assert "LaTeX Warning: Reference" not in log
    assert len(placed) == 4 and all(t.width == t.natural <= text for t in placed), (text, placed)


# Documents where the default metrics (with FID and KID) may need narrower padding: the 2 cm targets, the
# standard two-column \textwidth and an 11 pt one-column document (larger table fonts).
WIDE = {**DOCUMENTS, "onecolumn-11pt-2cm": ("a4paper,11pt", True, False)}


@needs_pdflatex
@pytest.mark.parametrize("document", list(WIDE))
def test_default_metrics_table_fits_the_width_by_narrowing_its_padding_only_as_needed(document, tmp_path):
    options, geometry, star = WIDE[document]
    s = realistic_summary()
    assert {"fid", "kid"} <= set(s.metric) and (s[s.metric == "kid"]["mean"] < 0).any()
    tex = floats(s, star)
    text, placed, log = tabulars(tex, options, geometry, tmp_path)
    assert not overfull(log), overfull(log)
    assert len(placed) == tex.count("\\begin{table") >= 4  # taller than the page: split (see below)
    for t in placed:
        if t.natural <= text:
            assert (t.width, t.sep) == (t.natural, t.first_sep)  # fits as asked: left alone
        else:
            # Exactly the line width (to TeX's rounding), still some padding.
            assert text - 0.01 <= t.width <= text and 1.0 <= t.sep < t.first_sep, (text, t)
    if document == "onecolumn-11pt-2cm":
        assert sum(t.natural > text for t in placed) >= 3  # the narrowing was really exercised


@needs_pdflatex
@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_default_metrics_of_nine_methods_are_split_to_fit_the_page_in_every_ci_mode(document, tmp_path):
    # The quick profile's 9 methods x 7 metrics: taller than the page in every mode (means alone: 761 pt),
    # so each is split into two floats (and the half-widths of "separate" take a third).
    options, geometry, star = DOCUMENTS[document]
    tex = floats(realistic_summary(methods=QUICK_METHODS), star)
    assert tex.count("\\begin{table") == 7 and tex.count("(continued)") == 3
    log = compile_latex(FLOAT_HEIGHTS + "\n" + tex, options, geometry, tmp_path)
    assert "Float too large" not in log
    assert not overfull(log), overfull(log)
    heights = float_heights(log)
    assert len(heights) == 7 and all(0 <= e - h <= 10 for e, h in zip(estimates(tex), heights, strict=True))


LONG_CAPTION = "A caption of several sentences, as a paper may want one. " * 6
LONG_NOTES = [*NOTES, *(f"Note {i}: a further remark on the runs of this table." for i in range(4))]


@needs_pdflatex
@pytest.mark.parametrize("document", list(DOCUMENTS))
def test_height_estimate_is_never_below_the_compiled_float(document, tmp_path):
    # The estimate that decides the split, against LaTeX's height of each float: 1 to 12 methods, 1, 5 or 7
    # metrics, every ci mode, short and long captions and notes. Never below (a float would run off the
    # page); a few pt above with the default caption and notes, more where the generous count of caption
    # and note lines (_CHAR_WIDTH, _LINE_WIDTH) counts a line or two too many.
    options, geometry, star = DOCUMENTS[document]
    tables, usual = [], []
    for n in (1, 3, 7, 9, 12):
        s = realistic_summary(methods=(*QUICK_METHODS, "lama", "mat", "comodgan")[:n])
        for subset in (["psnr"], PAPER_METRICS, None):
            for caption, notes in ((None, NOTES), ("Results.", []), (LONG_CAPTION, LONG_NOTES)):
                for ci in CI_MODES:
                    kw = dict(ci=ci, star=star, metrics_subset=subset, caption=caption)
                    tables.append(tex := latex_table(s, META, notes, **kw))
                    usual += [caption is None] * tex.count("\\begin{table")
    tex = "\n\\clearpage\n".join(tables)
    log = compile_latex(FLOAT_HEIGHTS + "\n" + tex, options, geometry, tmp_path)
    assert "Float too large" not in log and not overfull(log), overfull(log)
    heights, est = float_heights(log), estimates(tex)
    assert len(heights) == len(est) == len(usual)
    over = [e - h for e, h in zip(est, heights, strict=True)]
    assert min(over) >= 0, min(over)
    assert max(o for o, u in zip(over, usual, strict=True) if u) <= 8 and max(over) <= 30, max(over)


@needs_pdflatex
def test_a_table_too_wide_even_at_the_least_padding_is_reported(tmp_path):
    # The standard one-column a4 article (345 pt) cannot take 12 columns of the default metrics.
    s = realistic_summary()
    text, placed, log = tabulars(latex_table(s, META, [], ci="none"), "a4paper", False, tmp_path)
    (t,) = placed
    assert t.sep == 1.0 and t.width > text
    assert overfull(log) and float(re.search(r"\(([\d.]+)pt too wide", overfull(log)[0]).group(1)) == (
        pytest.approx(t.width - text, abs=0.01)
    )
