"""`--save-outputs` in a run in parts: `--shard I/N` jobs and torchrun ranks save every pair's PNG once,
byte for byte the PNG of a run in one process, and the merged run's summary is the one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CROP_CORNERS, FakeISNet, write_crops

from bench.cli import main as cli
from bench.evaluation.runner import EvalConfig, evaluate
from bench.evaluation.saved_outputs import OUTPUTS_DIR, output_name
from bench.runs.records import read_pairs
from masks.conventions import BINS

REPO = Path(__file__).resolve().parents[1]
SIZE = 64
SEL_BINS = BINS[1:3]  # 0.1-0.2, 0.2-0.3
METHODS = ("mean", "telea")
METRICS = ("l1_percent", "psnr", "ssim", "is", "fid", "kid")

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("outshards")
    write_crops(root / "images", astronaut, SIZE, CROP_CORNERS[:3])
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    return root


def _run(ds: Path, out: Path, **kw):
    kw.setdefault("bins", SEL_BINS)
    kw.setdefault("batch_size", 2)  # several chunks, so that each part computes some
    kw.setdefault("n_boot", 50)
    kw.setdefault("figures", False)
    kw.setdefault("metrics", METRICS)
    cfg = EvalConfig(data=ds / "images", masks=ds / "masks", methods=METHODS, out=out, progress=False,
                     save_outputs=True, **kw)  # fmt: skip
    return evaluate(cfg, is_network=FakeISNet())


@pytest.fixture(scope="module")
def single(dataset, tmp_path_factory):
    """The run in one process that the parts must equal."""
    out = tmp_path_factory.mktemp("single") / "o"
    _run(dataset, out)
    return out


def _pngs(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out / OUTPUTS_DIR).as_posix(): p.read_bytes()
        for p in (out / OUTPUTS_DIR).rglob("*.png")
    }


def _index_lines(out: Path) -> list[dict]:
    return [json.loads(ln) for f in sorted((out / OUTPUTS_DIR).glob("*/outputs*.jsonl"))
            for ln in f.read_text().splitlines()]  # fmt: skip


def _check_like_single(out: Path, single: Path) -> None:
    """Every pair's PNG once, equal to the one-process run's; the same summary and pairs."""
    expected = {f"{m}/{output_name(i)}" for m in METHODS for i in read_pairs(single)["pair_id"]}
    assert len(expected) == len(METHODS) * len(read_pairs(single)) > 8
    pngs = _pngs(out)
    assert set(pngs) == expected
    assert pngs == _pngs(single)  # byte for byte
    # Each PNG was written once: one index line per file over all the parts' index files.
    lines = _index_lines(out)
    assert sorted(f"{x['file']}" for x in lines) == sorted(p.split("/")[1] for p in expected)
    assert (out / "pairs.csv").read_bytes() == (single / "pairs.csv").read_bytes()
    assert (out / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()


def test_shards_save_every_output_once_as_one_process_does(dataset, single, tmp_path):
    out = tmp_path / "sharded"
    first = _run(dataset, out, shard="1/2")
    assert first.computed > 0 and first.outputs == {} and not (out / "summary.csv").exists()
    # Shard 1/2 saved the PNGs of its own chunks only (chunk c of 2 pairs is shard c mod 2's).
    pairs = read_pairs(out)
    ids = pairs["pair_id"].tolist()
    own = {output_name(i) for k, i in enumerate(ids) if (k // 2) % 2 == 1}
    assert {p.split("/")[1] for p in _pngs(out)} == own
    assert {f.name for f in (out / OUTPUTS_DIR).glob("*/outputs*.jsonl")} == {"outputs.shard-1of2.jsonl"}
    last = _run(dataset, out, shard="0/2")  # the last to finish builds the tables and settles the outputs
    assert first.computed + last.computed == len(METHODS) * len(pairs)
    assert last.n_outputs == {m: len(pairs) for m in METHODS}
    assert {f.name for f in (out / OUTPUTS_DIR).glob("*/outputs*.jsonl")} == {
        "outputs.shard-0of2.jsonl", "outputs.shard-1of2.jsonl",
    }  # fmt: skip
    _check_like_single(out, single)

    # The merge the docs describe (`bench tables OUT`) gives the same summary; a shard run again
    # reuses its records and its PNGs, rewriting none.
    stamps = {p: (out / OUTPUTS_DIR / p).stat().st_mtime_ns for p in _pngs(out)}
    r = _cli_tables(out)
    assert r.exit_code == 0, r.output
    assert (
        json.loads(r.stdout)["summary"]
        and (out / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()
    )
    again = _run(dataset, out, shard="1/2")
    assert again.computed == 0 and not any("no saved output" in m for m in again.messages)
    assert {p: (out / OUTPUTS_DIR / p).stat().st_mtime_ns for p in _pngs(out)} == stamps
    _check_like_single(out, single)


def test_a_lost_png_of_a_shard_is_recomputed_by_that_shard(dataset, single, tmp_path):
    out = tmp_path / "sharded"
    _run(dataset, out, shard="0/2")
    _run(dataset, out, shard="1/2")
    lost = f"telea/{output_name(int(read_pairs(out)['pair_id'].iloc[2]))}"  # chunk 1: shard 1/2's
    (out / OUTPUTS_DIR / lost).unlink()
    other = _run(dataset, out, shard="0/2")  # not its pair: nothing to do, and it says nothing of it
    assert other.computed == 0 and not any("no saved output" in m for m in other.messages)
    res = _run(dataset, out, shard="1/2")
    assert res.computed == 1 and any("no saved output" in m for m in res.messages)
    assert _pngs(out) == _pngs(single)
    assert (out / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()


def _cli_tables(out: Path):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["tables", str(out), "--no-figures", "--json"])


def _eval_args(ds: Path, out: Path) -> list[str]:
    """`bench evaluate` of the same selection, methods and metrics as `_run`, saving its outputs."""
    return ["evaluate", "--data", str(ds / "images"), "--masks", str(ds / "masks"), "--method", "mean",
            "--method", "telea", "--ratio", "0.1-0.3", "--batch-size", "2", "--metrics", ",".join(METRICS),
            "--no-figures", "--device", "cpu", "--save-outputs", "--out", str(out)]  # fmt: skip


def _subprocess_eval(ds: Path, out: Path, torchrun: bool) -> subprocess.CompletedProcess:
    # --standalone: a rendezvous on a free local port (as tests/test_shards.py)
    launch = ["torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m"] if torchrun else []
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", *launch, "bench", *_eval_args(ds, out)], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=300)  # fmt: skip


@pytest.mark.slow
def test_torchrun_ranks_save_every_output_once_as_one_process_does(dataset, tmp_path):
    # The subprocesses load the IS network of the command line (the fixture's fake is this process's
    # only): the parts are compared with one process of the same command.
    one, two = tmp_path / "one", tmp_path / "two"
    r = _subprocess_eval(dataset, one, torchrun=False)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _subprocess_eval(dataset, two, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {f.name for f in (two / OUTPUTS_DIR).glob("*/outputs*.jsonl")} == {
        "outputs.rank-0of2.jsonl", "outputs.rank-1of2.jsonl",
    }  # fmt: skip
    _check_like_single(two, one)
    assert "saved outputs:" in r.stdout


def test_a_whole_run_resumes_a_sharded_one_and_keeps_its_pngs(dataset, single, tmp_path):
    out = tmp_path / "o"
    part = _run(dataset, out, shard="0/2")
    stamps = {p: (out / OUTPUTS_DIR / p).stat().st_mtime_ns for p in _pngs(out)}
    whole = _run(dataset, out)  # one process finishes what shard 1/2 did not compute
    assert part.computed + whole.computed == len(METHODS) * len(read_pairs(out)) and whole.reused > 0
    assert not any("no saved output" in m for m in whole.messages)
    assert {p: (out / OUTPUTS_DIR / p).stat().st_mtime_ns for p in stamps} == stamps  # not rewritten
    _check_like_single(out, single)
