"""No method is marked best in a FID/KID column of too few pairs; the same rule in Markdown, LaTeX and
HTML, and the notes say why. Hand-made summaries with known winners."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from test_report import parse

from bench.reporting import tables as T
from bench.reporting.latex import latex_table
from bench.reporting.report import report_html

SMALL, LARGE = 8, T.BEST_MIN_N_DISTRIBUTION


def summary(n_n: int, n_b: int) -> pd.DataFrame:
    """Methods a and b; column (0.1-0.2, N) of n_n pairs, (0.1-0.2, B) of n_b pairs. a wins every
    metric: lower FID and KID, higher PSNR."""
    rows = []
    for g, n in (("N", n_n), ("B", n_b)):
        for metric, a, b in (("psnr", 30.0, 20.0), ("fid", 10.0, 50.0), ("kid", 0.010, 0.050)):
            for method, mean in (("a", a), ("b", b)):
                rows.append(dict(method=method, bin="0.1-0.2", group=g, metric=metric, mean=mean,
                                 ci_low=mean, ci_high=mean, n=n, std=0.0))  # fmt: skip
    return pd.DataFrame(rows)


def ctx_of(s: pd.DataFrame) -> T.TableContext:
    ctx = T.TableContext()
    T._note_cells(ctx, s, s.iloc[:0])
    return ctx


def bold_md(s: pd.DataFrame) -> set[tuple[str, str, str]]:
    """(metric label, method, group) of the cells in bold in the Markdown table."""
    ctx = ctx_of(s)
    lines = [ln for ln in T.format_table_md(s, ctx, show_ci=False).splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    out = set()
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        for col, c in zip(header[2:], cells[2:], strict=True):
            if c.startswith("**"):
                out.add((cells[0], cells[1], col.split()[-1]))
    return out


def bold_tex(s: pd.DataFrame) -> set[tuple[str, str]]:
    """(method, value) of the cells in bold in table.tex (values are distinct per metric here)."""
    ctx = ctx_of(s)
    names = T.metric_order(list(dict.fromkeys(s["metric"])))
    tex = latex_table(s, T.latex_metrics(ctx, names), ctx.notes(), ci="none")
    return set(re.findall(r"\\textbf\{([^}]*)\}", tex))


def bold_html(s: pd.DataFrame) -> set[tuple[str, str, str]]:
    ctx = ctx_of(s)
    names = T.metric_order(list(dict.fromkeys(s["metric"])))
    page = report_html(s, T.latex_metrics(ctx, names), ctx.notes())
    return {(m, metric, g) for (m, metric, _b, g), a in parse(page).cells.items() if "best" in a["class"]}


def test_distribution_metrics_are_fid_and_kid():
    from bench.metrics.registry import METRICS

    assert {n for n, m in METRICS.items() if T.is_distribution_metric(m)} == {"fid", "kid"}
    assert T.best_min_n(METRICS["psnr"]) == 0


def test_small_fid_kid_columns_unmarked_everywhere():
    s = summary(SMALL, LARGE)
    # PSNR: best in both columns; FID/KID: only in the column of enough pairs (B)
    assert bold_md(s) == {("PSNR", "a", "N"), ("PSNR", "a", "B"), ("FID", "a", "B"), ("KID", "a", "B")}
    assert bold_html(s) == {("a", "psnr", "N"), ("a", "psnr", "B"), ("a", "fid", "B"), ("a", "kid", "B")}
    # LaTeX: PSNR 30.00 twice, FID 10.00 and KID 0.010 once (column B) -> still the same value set
    assert bold_tex(s) == {"30.00", "10.00", "0.010"}
    assert bold_tex(summary(SMALL, SMALL)) == {"30.00"}


@pytest.mark.parametrize("n", [SMALL, LARGE - 1])
def test_below_threshold_no_bold_and_a_note(n):
    s = summary(n, n)
    assert bold_md(s) == {("PSNR", "a", "N"), ("PSNR", "a", "B")}
    assert {c for c in bold_html(s) if c[1] != "psnr"} == set()
    notes = [ln for ln in ctx_of(s).notes() if "no value in bold" in ln]
    assert len(notes) == 1 and str(LARGE) in notes[0]


def test_enough_pairs_bold_and_no_note():
    s = summary(LARGE, LARGE + 10)
    assert ("FID", "a", "N") in bold_md(s) and ("KID", "a", "B") in bold_md(s)
    assert not any("no value in bold" in ln for ln in ctx_of(s).notes())
