"""The metric registry: a plugin metric appears everywhere, and adding one recomputes nothing else."""

from __future__ import annotations

import json
import sys
import textwrap

import cv2
import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 32
PLUGIN = """
from bench.metrics.registry import register_metric


@register_metric("max_err", label="Max error", higher_is_better=False, decimals=3)
def max_err(output, target, valid):
    return float(abs(output - target).max())
"""


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "metric_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PCONV_BENCH_PLUGINS", "metric_plugin")
    import bench.metrics.registry as bm

    monkeypatch.setattr("bench.core.plugins._loaded", False)
    monkeypatch.setattr(bm, "METRICS", dict(bm.METRICS))
    sys.modules.pop("metric_plugin", None)
    yield
    sys.modules.pop("metric_plugin", None)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("reg")
    for i, (y, x) in enumerate([(0, 0), (200, 150)]):
        crop = cv2.resize(astronaut[y : y + 256, x : x + 256], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        write_png(root / "images" / f"im{i}.png", crop)
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:2], seed=0, progress=False)
    return root


def _eval(runner, inputs, out):
    args = ["evaluate", "--data", str(inputs / "images"), "--masks", str(inputs / "masks"),
            "--method", "mean", "--out", str(out), "--ratio", "0.1-0.2", "--no-is",
            "--no-figures"]  # fmt: skip
    return runner.invoke(main, args)


def test_registry_holds_each_builtin_once():
    from bench.metrics.registry import METRICS

    assert list(METRICS)[:5] == ["l1_percent", "psnr", "ssim", "is", "hole_l1_percent"]
    assert METRICS["ssim"].decimals == 3 and METRICS["l1_percent"].higher_is_better is False
    assert METRICS["is"].kind == "cell" and METRICS["is"].network == "is"


def test_a_plugin_metric_appears_in_every_export(plugin, runner, inputs, tmp_path):
    out = tmp_path / "ev"
    res = _eval(runner, inputs, out)
    assert res.exit_code == 0, res.output
    s = pd.read_csv(out / "summary.csv")
    assert "max_err" in set(s["metric"]) and "Max error" in set(s["label"])
    for f in ("table.csv", "table.md", "table.tex"):
        assert "Max error" in (out / f).read_text(), f
    # Its values are the formula's, on the composited outputs of the records.
    rec = json.loads(next(out.glob("records/mean-*/records.jsonl")).read_text().splitlines()[0])
    assert 0 < rec["metrics"]["max_err"] <= 1


def test_adding_a_metric_computes_only_that_metric(runner, inputs, tmp_path, monkeypatch):
    out = tmp_path / "ev"
    assert _eval(runner, inputs, out).exit_code == 0
    rec_file = next(out.glob("records/mean-*/records.jsonl"))
    before_lines = rec_file.read_text().splitlines()
    before = pd.read_csv(out / "summary.csv")
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "metric_plugin.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path / "p"))
    monkeypatch.setenv("PCONV_BENCH_PLUGINS", "metric_plugin")
    import bench.metrics.registry as bm

    monkeypatch.setattr("bench.core.plugins._loaded", False)
    monkeypatch.setattr(bm, "METRICS", dict(bm.METRICS))
    sys.modules.pop("metric_plugin", None)
    # The builtin metrics must not be computed again: make that fail loudly.
    monkeypatch.setattr(bm, "all_metrics", lambda *a, **k: pytest.fail("builtin metrics recomputed"))
    res = _eval(runner, inputs, out)
    assert res.exit_code == 0, res.output
    assert "4 computed now" in res.output  # the 4 pairs, for the new metric only
    lines = rec_file.read_text().splitlines()
    assert lines[: len(before_lines)] == before_lines  # old records untouched
    added = [json.loads(x) for x in lines[len(before_lines) :]]
    assert added and all(set(r["metrics"]) == {"max_err"} for r in added)
    after = pd.read_csv(out / "summary.csv")
    old = after[after.metric != "max_err"].reset_index(drop=True)
    pd.testing.assert_frame_equal(old, before)
    assert np.isfinite(after.loc[after.metric == "max_err", "mean"]).all()
    sys.modules.pop("metric_plugin", None)
