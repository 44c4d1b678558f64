"""`bench tables --json` and `bench evaluate --json`: the warnings of the tables step (the grid's pairs
left out, corrupt record lines ignored, partial tables) are in the document's messages, stdout stays one
JSON document, and each warning is on stderr once."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 64
SEL_BINS = BINS[1:3]  # 0.1-0.2, 0.2-0.3

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture
def dataset(tmp_path, astronaut):
    from masks.manifest import generate_set

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    for i, (y, x) in enumerate([(0, 0), (100, 200)]):
        crop = astronaut[y : y + 200, x : x + 200]
        write_png(
            root / "images" / f"im{i}.png", cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        )
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    return root


def _evaluate(runner, ds: Path, out: Path, *extra):
    args = ["evaluate", "--data", str(ds / "images"), "--masks", str(ds / "masks"), "--out", str(out),
            "--ratio", "0.1-0.3", "--method", "mean", "--batch-size", "4", *extra]  # fmt: skip
    return runner.invoke(main, args)


def _doc(res) -> dict:
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # stdout is the document and nothing else
    assert doc["format"] == "pconv-bench/summary" and doc["summary"]
    return doc


def _warned(doc: dict, text: str) -> list[str]:
    return [m for m in doc["messages"] if m.startswith("Warning: ") and text in m]


def test_a_grid_warning_of_bench_tables_is_in_the_json(runner, dataset, tmp_path):
    out = tmp_path / "o"
    assert _evaluate(runner, dataset, out, "--no-figures").exit_code == 0
    (dataset / "images" / "im0.png").write_bytes(b"not a png")  # the grid cannot show its pairs
    res = runner.invoke(main, ["tables", str(out), "--json"])
    doc = _doc(res)
    (line,) = _warned(doc, "grid.png: ")
    assert "im0.png" in line and "sample pair(s) left out" in line
    assert res.stderr.count("Warning: grid.png: ") == 1  # shown once, as before
    assert "grid.png" in doc["files"]  # the grid of the other pairs


def test_corrupt_record_lines_and_partial_tables_are_in_the_json(runner, dataset, tmp_path):
    out = tmp_path / "o"
    assert _evaluate(runner, dataset, out, "--no-figures").exit_code == 0
    (records,) = (out / "records").glob("mean-*/records.jsonl")
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join(lines[:-1]) + '{"pair_id": 9, "ima\n')  # a pair lost, a corrupt line
    res = runner.invoke(main, ["tables", str(out), "--json", "--no-figures", "--partial"])
    doc = _doc(res)
    assert _warned(doc, "PARTIAL TABLES from an unfinished evaluation: mean (")
    (line,) = _warned(doc, "corrupt record line(s) ignored")
    assert line in res.stderr.splitlines()  # the terminal text that --json replaces said it; stderr does
    assert "PARTIAL TABLES" in res.stderr

    # `bench evaluate --json` finishes the run: the lost pair computed, the corrupt line dropped.
    doc = _doc(_evaluate(runner, dataset, out, "--no-figures", "--json"))
    assert doc["computed"] == 1 and not _warned(doc, "")


def test_the_last_shard_warns_of_another_shards_corrupt_line_in_its_json(runner, dataset, tmp_path):
    out = tmp_path / "o"
    assert _evaluate(runner, dataset, out, "--no-figures", "--shard", "0/2").exit_code == 0
    (records,) = (out / "records").glob("mean-*/records.shard-0of2.jsonl")
    with open(records, "a") as f:
        f.write('{"pair_id": 9, "ima\n')  # shard 0/2's file; shard 1/2 reads it and leaves it
    res = _evaluate(runner, dataset, out, "--no-figures", "--shard", "1/2", "--json")
    doc = _doc(res)
    (line,) = _warned(doc, "mean: 1 corrupt record line(s) ignored")
    assert res.stderr.splitlines().count(line) == 1


def test_a_python_warning_of_an_evaluation_is_in_its_json(runner, dataset, tmp_path, monkeypatch):
    import warnings

    import bench.reporting.plots

    def figures(tables):
        warnings.warn("grid.png: a warning of the figures", stacklevel=1)
        return []

    monkeypatch.setattr(bench.reporting.plots, "write_figures", figures)
    res = _evaluate(runner, dataset, tmp_path / "o", "--json")
    doc = _doc(res)
    assert _warned(doc, "") == ["Warning: grid.png: a warning of the figures"]
    assert res.stderr.count("Warning: grid.png: a warning of the figures") == 1


def test_no_warning_no_warning_message(runner, dataset, tmp_path):
    out = tmp_path / "o"
    doc = _doc(_evaluate(runner, dataset, out, "--json"))
    assert not [m for m in doc["messages"] if m.startswith("Warning: ")]
    doc = _doc(runner.invoke(main, ["tables", str(out), "--json"]))
    assert doc["messages"] == []
