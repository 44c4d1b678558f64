"""The terminal table: within 100 columns by default (a block per metric, a row per group and method, a
column per bin), the paper layout with --wide; every mean where its cell says."""

from __future__ import annotations

import re

import pandas as pd
from test_evaluate import _cli, dataset  # noqa: F401 (dataset: a module-scoped fixture)
from test_latex import QUICK_METHODS, realistic_summary

from bench.cli import main
from bench.reporting import tables as T


def _blocks(text: str) -> dict[str, list[str]]:
    """Narrow text -> {metric title: its lines (header, rule, rows)}; the notes after the last block."""
    out = {}
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if len(lines) > 2 and set(lines[2]) <= {"-", " "}:
            out[lines[0]] = lines[1:]
    return out


def test_narrow_fits_100_columns_and_puts_every_mean_in_its_cell():
    s = realistic_summary(methods=QUICK_METHODS)  # 9 methods, 7 metrics, 6 bins x 2 groups
    ctx = T.TableContext()
    text = T.format_table_text(s, ctx)
    assert max(len(line) for line in text.splitlines()) <= T.TERMINAL_WIDTH
    blocks = _blocks(text)
    assert len(blocks) == s["metric"].nunique()
    for metric in s["metric"].unique():
        spec = ctx.spec(metric)
        title = next(t for t in blocks if t.startswith(f"{ctx.label_of(metric)} ("))
        assert ("higher is better" in title) == spec.higher_is_better
        header, _rule, *rows = blocks[title]
        bins = re.findall(r"\(\S+\]", header)
        assert len(rows) == len(QUICK_METHODS) * 2
        for row in rows:
            method, group, *cells = row.split()
            cells = [c for c in cells if not c.startswith("±")]
            for b, cell in zip(bins, cells, strict=True):
                lo, hi = b.strip("(]").split(",")
                r = s[(s.metric == metric) & (s.method == method) & (s.group == group)
                      & (s.bin == f"{lo}-{hi}")].iloc[0]  # fmt: skip
                assert cell == f"{r['mean']:.{spec.decimals}f}"


def test_narrow_drops_the_ci_only_where_it_does_not_fit():
    s = realistic_summary(methods=("pconv", "conv"))
    short = T.format_table_text(s, T.TableContext())
    assert "±" in short
    # a 20-character name: "0.30 ±0.07" (L1) is as wide as its bin's header and fits, "35.69 ±1.20" (PSNR)
    # would make the block 103 columns wide
    long = s.assign(method=s["method"].map({"pconv": "pconv-" + "x" * 14, "conv": "conv"}))
    blocks = _blocks(T.format_table_text(long, T.TableContext()))
    assert "±" in "".join(blocks["L1 (%) (lower is better)"])
    assert "±" not in "".join(blocks["PSNR (higher is better)"])
    assert max(len(line) for b in blocks.values() for line in b) <= T.TERMINAL_WIDTH


def test_wide_is_the_paper_layout():
    s = realistic_summary(methods=QUICK_METHODS)
    text = T.format_table_text(s, T.TableContext(), wide=True)
    header = text.splitlines()[0]
    assert header.split()[:2] == ["Metric", "Method"] and "(0.5,0.6] B" in header
    assert max(len(line) for line in text.splitlines()) > 2 * T.TERMINAL_WIDTH


def test_cli_tables_narrow_by_default_wide_on_request(runner, dataset, tmp_path):  # noqa: F811
    out = tmp_path / "o"
    res = _cli(runner, dataset, out, "--method", "mean", "--method", "telea", "--limit", "2")
    assert res.exit_code == 0, res.output
    assert "Method  N/B" in res.output and max(map(len, res.stdout.splitlines()[:-1])) <= T.TERMINAL_WIDTH
    narrow = runner.invoke(main, ["tables", str(out), "--no-figures"])
    wide = runner.invoke(main, ["tables", str(out), "--no-figures", "--wide"])
    assert narrow.exit_code == 0 and wide.exit_code == 0, narrow.output + wide.output
    assert "Method  N/B" in narrow.output and "Method  N/B" not in wide.output
    assert re.search(r"Metric\s+Method\s+\(0\.1,0\.2\] N\s+\(0\.1,0\.2\] B", wide.output)
    summary = pd.read_csv(out / "summary.csv")
    assert summary["metric"].nunique() == len(_blocks(narrow.output))
