"""`--json` of evaluate and tables (stdout is one JSON document: summary.csv's rows) and `--save-outputs`
(every composited output as OUT/outputs/METHOD/<pair_id>.png, equal to what was scored)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CROP_CORNERS, FakeISNet, write_crops

from bench.cli import main
from bench.core.errors import BenchError
from bench.core.files import read_mask
from bench.evaluation.runner import EvalConfig, evaluate
from bench.evaluation.saved_outputs import OUTPUTS_DIR, output_folders, output_name
from bench.reporting.summary_json import dumps, summary_rows
from bench.runs.records import read_pairs
from masks.conventions import BINS, is_valid

SIZE = 32
SEL_BINS = BINS[1:3]  # 0.1-0.2, 0.2-0.3

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("outset")
    write_crops(root / "images", astronaut, SIZE, CROP_CORNERS[:3])
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    return root


def _run(ds: Path, out: Path, methods=("mean", "telea"), **kw) -> object:
    kw.setdefault("bins", SEL_BINS)
    kw.setdefault("batch_size", 4)
    kw.setdefault("n_boot", 50)
    kw.setdefault("figures", False)
    kw.setdefault("save_outputs", True)
    cfg = EvalConfig(data=ds / "images", masks=ds / "masks", methods=tuple(methods), out=out, progress=False,
                     **kw)  # fmt: skip
    return evaluate(cfg, is_network=FakeISNet())


def _pngs(out: Path) -> set[str]:
    return {p.relative_to(out / OUTPUTS_DIR).as_posix() for p in (out / OUTPUTS_DIR).rglob("*.png")}


def _expected(out: Path, methods) -> set[str]:
    return {f"{m}/{output_name(i)}" for m in methods for i in read_pairs(out)["pair_id"]}


def _stats(out: Path) -> dict[str, tuple[int, int]]:
    return {
        f: ((out / OUTPUTS_DIR / f).stat().st_ino, (out / OUTPUTS_DIR / f).stat().st_mtime_ns)
        for f in _pngs(out)
    }


# ---------------------------------------------------------------------------------------------- --json


def _check_against_csv(doc: dict, out: Path) -> None:
    csv = pd.read_csv(out / "summary.csv")
    rows = doc["summary"]
    assert len(rows) == len(csv) > 0
    for row, (_, ref) in zip(rows, csv.iterrows(), strict=True):
        assert set(row) == {"method", "bin", "group", "metric", "mean", "ci_low", "ci_high", "n"}
        assert (row["method"], row["bin"], row["group"], row["metric"]) == (
            ref["method"], ref["bin"], ref["group"], ref["metric"],
        )  # fmt: skip
        for k in ("mean", "ci_low", "ci_high"):
            want = float(ref[k])
            if math.isfinite(want):
                assert row[k] == want, (row, k)
            else:
                assert row[k] is None, (row, k)
        assert row["n"] == int(ref["n"])


def _cli(runner, dataset, out, *extra):
    args = ["evaluate", "--data", str(dataset / "images"), "--masks", str(dataset / "masks"),
            "--out", str(out), "--ratio", "0.1-0.3", "--no-figures", "--batch-size", "4",
            "--method", "mean", "--method", "telea", *extra]  # fmt: skip
    return runner.invoke(main, args)


def test_json_on_stdout_is_summary_csv(runner, dataset, tmp_path):
    out = tmp_path / "o"
    res = _cli(runner, dataset, out, "--json", "--save-outputs")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # stdout holds the document and nothing else
    assert res.stdout.lstrip().startswith("{") and "NaN" not in res.stdout and "Infinity" not in res.stdout
    assert doc["format"] == "pconv-bench/summary" and doc["command"] == "evaluate"
    assert doc["out"] == str(out.resolve())
    n_pairs = len(read_pairs(out))
    assert (doc["n_pairs"], doc["computed"], doc["reused"]) == (n_pairs, 2 * n_pairs, 0)
    assert "summary.csv" in doc["files"] and all((out / f).is_file() for f in doc["files"])
    assert {m: v["n"] for m, v in doc["outputs"].items()} == {"mean": n_pairs, "telea": n_pairs}
    assert doc["outputs"]["mean"]["folder"] == "outputs/mean"
    assert {r["metric"] for r in doc["summary"]} >= {"psnr", "ssim", "l1_percent", "fid"}
    _check_against_csv(doc, out)

    res = _cli(runner, dataset, out, "--json", "--save-outputs")  # a rerun: everything reused
    doc = json.loads(res.stdout)
    assert (doc["computed"], doc["reused"]) == (0, 2 * n_pairs)
    _check_against_csv(doc, out)

    res = runner.invoke(main, ["tables", str(out), "--json", "--no-figures"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["command"] == "tables" and doc["n_pairs"] == n_pairs and doc["computed"] is None
    _check_against_csv(doc, out)


def test_json_values_are_standard_json():
    df = pd.DataFrame(
        [
            dict(
                method="m",
                bin="0.1-0.2",
                group="N",
                metric="fid",
                mean=float("nan"),
                ci_low=-math.inf,
                ci_high=1.23456789,
                n=3,
                std=0.0,
            )
        ]  # fmt: skip
    )
    (row,) = summary_rows(df)
    assert row == dict(method="m", bin="0.1-0.2", group="N", metric="fid", mean=None, ci_low=None,
                       ci_high=1.23457, n=3)  # fmt: skip
    assert json.loads(dumps({"summary": [row]}))["summary"] == [row]


# -------------------------------------------------------------------------------------- --save-outputs


def _rgb(path: Path) -> torch.Tensor:
    """A PNG as the evaluation reads images: (3, H, W) float in [0, 1]."""
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    return torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0


def test_saved_outputs_are_the_scored_outputs(dataset, tmp_path):
    from bench.methods.inpainters import get_inpainters
    from bench.metrics.registry import composite, pair_metric_values

    out = tmp_path / "o"
    res = _run(dataset, out)
    assert _pngs(out) == _expected(out, ("mean", "telea"))  # pairs x methods, nothing else
    n = len(read_pairs(out))
    assert res.n_outputs == {"mean": n, "telea": n}
    pairs = read_pairs(out).sort_values("pair_id")
    imgs = torch.stack([_rgb(dataset / "images" / i) for i in pairs["image"]])
    msks = torch.from_numpy(
        np.stack([is_valid(read_mask(dataset / "masks" / m)).astype(np.float32) for m in pairs["mask"]])
    )[:, None]
    saved = torch.stack([_rgb(out / "outputs/mean" / output_name(i)) for i in pairs["pair_id"]])
    # The PNG is the composited output of the method, rounded to uint8.
    (mean,) = get_inpainters(["mean"])
    comp = composite(mean.inpaint(imgs.clone(), msks.clone()), imgs, msks)
    assert torch.equal((comp.clamp(0, 1) * 255.0 + 0.5).floor(), saved * 255.0)
    # A metric computed from the saved PNGs is the recorded one, within the uint8 rounding.
    recs = pd.read_json(next((out / "records").glob("mean-*/records.jsonl")), lines=True)
    rec = {int(r["pair_id"]): r["metrics"] for _, r in recs.iterrows()}
    again = pair_metric_values(saved, imgs, msks, ["l1_percent", "psnr"])
    for j, pid in enumerate(pairs["pair_id"]):
        assert again["l1_percent"][j] == pytest.approx(rec[int(pid)]["l1_percent"], abs=100 * 0.5 / 255)
        assert again["psnr"][j] == pytest.approx(rec[int(pid)]["psnr"], abs=0.2)
    # ... and the summary's mean of the cell, too.
    s = res.summary[(res.summary.method == "mean") & (res.summary.metric == "l1_percent")]
    for _, cell in s.iterrows():
        sel = ((pairs["bin"] == cell["bin"]) & (pairs["group"] == cell["group"])).to_numpy()
        assert again["l1_percent"][sel].mean() == pytest.approx(cell["mean"], abs=100 * 0.5 / 255)


def test_resume_keeps_saved_outputs_and_recomputes_missing_ones(dataset, tmp_path):
    out = tmp_path / "o"
    first = _run(dataset, out)
    before = _stats(out)
    again = _run(dataset, out)
    assert again.computed == 0 and _stats(out) == before  # not rewritten
    lost = f"telea/{output_name(2)}"
    data = (out / OUTPUTS_DIR / lost).read_bytes()
    (out / OUTPUTS_DIR / lost).unlink()
    res = _run(dataset, out)
    assert res.computed == 1 and any("no saved output" in m for m in res.messages)
    assert (out / OUTPUTS_DIR / lost).read_bytes() == data
    assert {k: v for k, v in _stats(out).items() if k != lost} == {
        k: v for k, v in before.items() if k != lost
    }
    pd.testing.assert_frame_equal(res.summary, first.summary)


def test_outputs_of_a_run_without_them_are_computed_when_asked(dataset, tmp_path):
    out = tmp_path / "o"
    _run(dataset, out, save_outputs=False)
    assert not (out / OUTPUTS_DIR).exists()
    res = _run(dataset, out)
    n = len(read_pairs(out))
    assert res.computed == 2 * n and sum("no saved output" in m for m in res.messages) == 2
    assert _pngs(out) == _expected(out, ("mean", "telea"))


def test_another_selection_leaves_only_its_own_outputs(dataset, tmp_path):
    out = tmp_path / "o"
    _run(dataset, out)
    res = _run(dataset, out, methods=("mean",), limit=1)  # replaces the tables (library default)
    assert {p for p in _pngs(out) if p.startswith("mean/")} == _expected(out, ("mean",))
    assert any("removed" in m for m in res.messages)


def test_method_folders_are_safe_and_distinct():
    assert output_folders(["pconv", "pconv@abc123", "a/b"]) == {
        "pconv": "pconv", "pconv@abc123": "pconv@abc123", "a/b": "a_b",
    }  # fmt: skip
    with pytest.raises(BenchError, match="share the folder"):
        output_folders(["a b", "a_b"])


def test_reproduce_json_keeps_the_stage_log_off_stdout(runner, monkeypatch, tmp_path):
    import bench.pipeline.reproduce

    summary = pd.DataFrame([dict(method="telea", bin="0.1-0.2", group="N", metric="psnr", mean=20.123456789,
                                 ci_low=19.5, ci_high=float("nan"), n=2, std=1.0)])  # fmt: skip
    results = tmp_path / "r" / "results"

    def fake(rep, train, out, results=None, log=print, **kw):
        log("[data] running")
        results = results or out / "results"  # as bench.pipeline.reproduce.reproduce's default
        return bench.pipeline.reproduce.ReproduceResult(
            out=out, results=results, text="TABLE", files=[results / "summary.csv"], timings={},
            summary=summary, n_pairs=2, computed=2, reused=0,
        )  # fmt: skip

    monkeypatch.setattr(bench.pipeline.reproduce, "reproduce", fake)
    res = runner.invoke(main, ["reproduce", "--profile", "smoke", "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert "[data] running" in res.stderr and "TABLE" not in res.output
    assert doc["command"] == "reproduce" and doc["out"] == str(results.resolve())
    assert doc["files"] == ["summary.csv"] and (doc["computed"], doc["reused"]) == (2, 0)
    assert doc["summary"] == [dict(method="telea", bin="0.1-0.2", group="N", metric="psnr", mean=20.1235,
                                   ci_low=19.5, ci_high=None, n=2)]  # fmt: skip
