"""The exports of a real evaluation, opened with the tools their users open them with: table.tex compiled
by pdflatex in an article with 2 cm margins (no overfull box), report.html rendered by Chromium (its table
cells equal summary.csv)."""

from __future__ import annotations

import re

import cv2
import pandas as pd
import pytest
from test_latex import compile_latex, needs_pdflatex
from test_report import chromium, needs_chromium, parse

from bench.cli import main
from bench.io import write_png
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


@needs_pdflatex
def test_real_table_tex_compiles_without_overfull_boxes(evaluation, tmp_path, runner):
    for args in ([], ["--ci", "none"], ["--ci", "separate"]):
        res = runner.invoke(main, ["tables", str(evaluation), "--no-figures", *args])
        assert res.exit_code == 0, res.output
        log = compile_latex((evaluation / "table.tex").read_text(), "a4paper", True, tmp_path)
        assert "Overfull \\hbox" not in log, re.findall(r"Overfull \\hbox.*", log)


@needs_chromium
def test_real_report_renders_the_summary(evaluation, tmp_path):
    run = chromium(tmp_path, "--dump-dom", (evaluation / "report.html").as_uri())
    assert run.returncode == 0, run.stderr.decode()[-2000:]
    cells = parse(run.stdout.decode()).cells
    s = pd.read_csv(evaluation / "summary.csv")
    for r in s.itertuples():
        a = cells[(r.method, r.metric, r.bin, r.group)]
        assert float(a["data-value"]) == pytest.approx(r.mean, rel=1e-5, abs=1e-9)
