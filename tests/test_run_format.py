"""Format versions: run.json's `format_version` (written by `bench evaluate`, a run.json without it read as
version 1) and the version a training checkpoint carries in its `format`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FakeISNet, write_crops

from bench.cli import main
from bench.core.errors import BenchError
from bench.evaluation.runner import EvalConfig, evaluate
from bench.reporting.tables import build_tables
from bench.runs.records import RUN_FORMAT_VERSION, run_format_version, upgrade_run
from masks.conventions import BINS

SIZE = 32
SEL_BINS = BINS[1:2]

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("runformat")
    write_crops(root / "images", astronaut, SIZE)
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    return root


def _run(ds: Path, out: Path, **kw):
    cfg = EvalConfig(data=ds / "images", masks=ds / "masks", methods=("mean",), out=out, bins=SEL_BINS,
                     n_boot=50, figures=False, progress=False, **kw)  # fmt: skip
    return evaluate(cfg, is_network=FakeISNet())


def _as_version_1(out: Path) -> None:
    """Rewrite run.json as a run.json of version 1 may be: no format_version, no pairing, IS network `is`."""
    run = json.loads((out / "run.json").read_text())
    v1 = {k: v for k, v in run.items() if k not in ("format_version", "pairing", "is_network")}
    (out / "run.json").write_text(json.dumps({**v1, "is": run["is_network"]}))


def test_versions_of_hand_made_run_files():
    assert run_format_version({}) == 1
    assert run_format_version({"format_version": 7}) == 7
    for bad in ("2", 2.0, True, 0, None):
        with pytest.raises(BenchError, match="format_version"):
            run_format_version({"format_version": bad})
    v1 = {"methods": [], "is": {"name": "x"}}
    assert upgrade_run(v1) == {
        "methods": [],
        "is": {"name": "x"},
        "is_network": {"name": "x"},
        "pairing": "cross",
    }
    assert v1 == {"methods": [], "is": {"name": "x"}}  # a new dict: the caller's is left as it was
    v2 = {"format_version": 2, "methods": [], "pairing": "distinct", "is_network": None}
    assert upgrade_run(v2) == v2  # nothing of version 1 filled into a current run.json
    assert "pairing" not in upgrade_run({"format_version": 2})
    with pytest.raises(BenchError, match="format_version 3; .*up to 2"):
        upgrade_run({"format_version": RUN_FORMAT_VERSION + 1})


def test_evaluate_writes_the_version_and_reads_a_version_1_folder(dataset, tmp_path):
    out = tmp_path / "o"
    first = _run(dataset, out)
    run = json.loads((out / "run.json").read_text())
    assert type(run["format_version"]) is int and run["format_version"] == RUN_FORMAT_VERSION == 2
    summary = (out / "summary.csv").read_bytes()
    _as_version_1(out)
    assert build_tables(out).summary is not None and (out / "summary.csv").read_bytes() == summary
    # Pairing read as cross: a distinct run is another run; the same run reuses every record.
    with pytest.raises(BenchError, match="pairing: 'cross' there, 'distinct' now"):
        _run(dataset, out, pairing="distinct")
    again = _run(dataset, out)
    assert (again.computed, again.reused) == (0, first.computed) and first.computed > 0
    assert json.loads((out / "run.json").read_text())["format_version"] == RUN_FORMAT_VERSION
    assert (out / "summary.csv").read_bytes() == summary


def test_a_newer_run_file_is_one_line_and_exit_2(dataset, tmp_path, runner):
    out = tmp_path / "o"
    _run(dataset, out)
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**run, "format_version": RUN_FORMAT_VERSION + 1}))
    before = (out / "summary.csv").read_bytes()
    res = runner.invoke(main, ["tables", str(out), "--no-figures"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"Error: run.json has format_version 3; this pconv-bench reads up to {RUN_FORMAT_VERSION}: update "
        "pconv-bench"
    ]
    assert (out / "summary.csv").read_bytes() == before


def _checkpoint_bytes(fmt: str) -> bytes:
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"format": fmt, "model": {}, "step": 0, "config": {}, "arch": {}, "features": ""}, buf)
    return buf.getvalue()


def test_checkpoint_format_version_is_read_from_its_format():
    from bench.models.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint

    assert FORMAT == f"pconv-bench/train/{FORMAT_VERSION}"
    ckpt = load_checkpoint("c.pt", data=_checkpoint_bytes(FORMAT))
    assert ckpt["format"] == FORMAT
    newer = f"pconv-bench/train/{FORMAT_VERSION + 1}"
    with pytest.raises(BenchError, match=f"format version {FORMAT_VERSION + 1} was written by a newer"):
        load_checkpoint("c.pt", data=_checkpoint_bytes(newer))
    for foreign in ("other/train/1", "pconv-bench/train/x", "pconv-bench/train/0", ""):
        with pytest.raises(BenchError, match="unknown checkpoint format"):
            load_checkpoint("c.pt", data=_checkpoint_bytes(foreign))
