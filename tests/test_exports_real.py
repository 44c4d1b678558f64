"""The exports of a real evaluation, opened with the tools their users open them with: table.tex compiled
by pdflatex in an article with 2 cm margins (no overfull box, no float taller than the page, each float's
height within bench.reporting.latex's estimate), report.html rendered by Chromium (its table cells equal
summary.csv)."""

from __future__ import annotations

import re

import cv2
import pandas as pd
import pytest
from test_latex import FLOAT_HEIGHTS, compile_latex, estimates, float_heights, needs_pdflatex
from test_report import chromium, needs_chromium, parse

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 32


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory, astronaut):
    from click.testing import CliRunner

    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("exports")
    for i in range(3):
        crop = cv2.resize(
            astronaut[i * 90 : i * 90 + 200, 100:300], (SIZE, SIZE), interpolation=cv2.INTER_AREA
        )
        write_png(root / "images" / f"im{i}.png", crop)
    generate_set(root / "masks", size=SIZE, per_bin=1, bins=BINS, seed=0, progress=False)
    out = root / "ev"
    args = ["evaluate", "--data", str(root / "images"), "--masks", str(root / "masks"), "--method", "mean",
            "--method", "telea", "--method", "ns", "--out", str(out)]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return out


def test_report_and_tex_are_written(evaluation):
    assert (evaluation / "report.html").is_file() and "\\begin{table}" in (
        evaluation / "table.tex"
    ).read_text()


def _block(tex: str, label: str) -> dict[str, list[str]]:
    """method -> cells of the rows of one metric block of table.tex (first float), bold and math removed."""
    rows, inside = {}, False
    for line in tex.split("\\end{tabular}")[0].splitlines():
        parts = [p.strip() for p in re.sub(r"\\\\(\[.*\])?$", "", line).split("&")]
        if len(parts) > 2 and (parts[0] == label or (inside and parts[0] == "")):
            inside = True
            if parts[1]:  # not a ± line
                cells = [re.sub(r"\\textbf\{(.*)\}", r"\1", c) for c in parts[2:]]
                rows[parts[1]] = [c.replace("$-$", "-") for c in cells]
        elif inside:
            break
    return rows


def test_fid_and_kid_are_in_the_default_tables_with_the_registry_format(evaluation):
    from bench.metrics.registry import METRICS

    s = pd.read_csv(evaluation / "summary.csv")
    assert {"is", "fid", "kid"} <= set(s.metric)
    tex = (evaluation / "table.tex").read_text()
    columns = [(b.name, g) for b in BINS for g in ("N", "B")]
    for metric, label in (("fid", "FID$^{*}$"), ("kid", "KID$^{*}$")):
        block = _block(tex, label)
        assert list(block) == ["mean", "telea", "ns"]
        d = METRICS[metric].decimals
        for method, cells in block.items():
            assert all(re.fullmatch(rf"-?\d+\.\d{{{d}}}", c) for c in cells), (metric, cells)
            for (b, g), cell in zip(columns, cells, strict=True):
                r = s[(s.metric == metric) & (s.method == method) & (s.bin == b) & (s.group == g)]
                mean = r["mean"].item()
                # summary.csv keeps 6 significant digits: the shown value is its rounding, up to that.
                assert abs(float(cell) - mean) <= 0.5 * 10**-d + 1e-5 * abs(mean), (metric, b, g)
    assert METRICS["kid"].decimals == 3


@needs_pdflatex
def test_real_table_tex_compiles_without_overfull_boxes_or_too_tall_floats(evaluation, tmp_path, runner):
    # The 2 cm one-column target, and table* in the standard two-column article (\textwidth 452 pt,
    # \textheight 598 pt).
    one, two = ("a4paper", True), ("a4paper,twocolumn", False)
    variants = [([], *one), (["--ci", "none"], *one), (["--ci", "separate"], *one),
                (["--two-column"], *two), (["--two-column", "--ci", "none"], *two),
                (["--two-column", "--ci", "separate"], *two)]  # fmt: skip
    for args, options, geometry in variants:
        res = runner.invoke(main, ["tables", str(evaluation), "--no-figures", *args])
        assert res.exit_code == 0, res.output
        tex = (evaluation / "table.tex").read_text()
        assert "FID$^{*}$ & mean" in tex and "KID$^{*}$ & mean" in tex
        log = compile_latex(FLOAT_HEIGHTS + "\n" + tex, options, geometry, tmp_path)
        assert "Overfull \\hbox" not in log, (args, re.findall(r"Overfull \\hbox.*", log))
        assert "Float too large" not in log, args
        # The split into floats is decided on an estimate of their height: with the real notes, method
        # names and numbers it must not fall short of LaTeX's (or a larger table would run off the page).
        est, heights = estimates(tex), float_heights(log)
        assert len(est) == len(heights) == tex.count("\\begin{table") >= 1 + ("separate" in args), args
        assert all(0 <= e - h <= 30 for e, h in zip(est, heights, strict=True)), (args, est, heights)
    # A shorter page (--text-height, as for an 11 pt paper): more floats, each fitting that page.
    res = runner.invoke(main, ["tables", str(evaluation), "--no-figures", "--text-height", "300"])
    assert res.exit_code == 0, res.output
    tex = (evaluation / "table.tex").read_text()
    page = "\\usepackage[margin=2cm,textheight=300pt]{geometry}"
    log = compile_latex(FLOAT_HEIGHTS + "\n" + tex, "a4paper", False, tmp_path, preamble=page)
    assert "Float too large" not in log and "Overfull \\hbox" not in log
    assert tex.count("\\begin{table}") > 1 and all(h <= 300 for h in float_heights(log))
    runner.invoke(main, ["tables", str(evaluation), "--no-figures"])  # back to the default table.tex


@needs_chromium
def test_real_report_renders_the_summary(evaluation, tmp_path):
    run = chromium(tmp_path, "--dump-dom", (evaluation / "report.html").as_uri())
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    cells = parse(run.stdout.decode()).cells
    s = pd.read_csv(evaluation / "summary.csv")
    for r in s.itertuples():
        a = cells[(r.method, r.metric, r.bin, r.group)]
        assert float(a["data-value"]) == pytest.approx(r.mean, rel=1e-5, abs=1e-9)
