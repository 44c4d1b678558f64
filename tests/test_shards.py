"""One evaluation in parts: `--shard I/N` jobs and torchrun ranks give the tables of one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CROP_CORNERS, FakeISNet, write_crops

from bench.cli import main as cli
from bench.core.errors import BenchError
from bench.core.folders import claim, sublock
from bench.evaluation.runner import EvalConfig, evaluate
from bench.reporting.tables import build_tables
from bench.runs.records import list_method_dirs
from bench.runs.shards import marker_path, parse_shard
from masks.conventions import BINS

REPO = Path(__file__).resolve().parents[1]
SIZE = 32
SEL_BINS = BINS[1:3]
METRICS = ("l1_percent", "psnr", "ssim", "is", "fid", "kid")

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("shardset")
    write_crops(root / "images", astronaut, SIZE, (*CROP_CORNERS, (50, 280)))
    generate_set(root / "masks", size=SIZE, per_bin=3, bins=SEL_BINS, seed=1, progress=False)
    return root


def _cfg(ds: Path, out: Path, **kw) -> EvalConfig:
    kw.setdefault("bins", SEL_BINS)
    kw.setdefault("batch_size", 4)
    kw.setdefault("n_boot", 100)
    kw.setdefault("figures", False)
    kw.setdefault("metrics", METRICS)
    return EvalConfig(data=ds / "images", masks=ds / "masks", methods=("mean", "telea"), out=out,
                      progress=False, **kw)  # fmt: skip


def _run(ds: Path, out: Path, **kw):
    return evaluate(_cfg(ds, out, **kw), is_network=FakeISNet())


def _records_files(out: Path) -> list[str]:
    return sorted(f.name for d in list_method_dirs(out) for f in d.glob("records*.jsonl"))


def test_parse_shard():
    assert (parse_shard("0/4").index, parse_shard("3/4").count) == (0, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0", "1/2/3"):
        with pytest.raises(BenchError, match="--shard"):
            parse_shard(bad)


def test_shards_merge_to_one_run_and_a_missing_shard_is_named(dataset, tmp_path):
    single = tmp_path / "single"
    _run(dataset, single)
    out = tmp_path / "sharded"
    first = _run(dataset, out, shard="1/3")
    assert "0/3" in first.text and "2/3" in first.text and not (out / "summary.csv").exists()
    with pytest.raises(BenchError, match=r"shard\(s\) 0/3, 2/3 "):
        build_tables(out)
    assert not (out / "summary.csv").exists()  # nothing half-built
    second = _run(dataset, out, shard="0/3")
    last = _run(dataset, out, shard="2/3")  # the last shard to finish builds the tables
    assert (out / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()
    assert (out / "overall.csv").read_bytes() == (single / "overall.csv").read_bytes()
    # Shard i computed the chunks c (of 4 pairs) with c mod 3 = i, for 2 methods; together all pairs once.
    n = first.n_pairs
    sizes = [min(4, n - start) for start in range(0, n, 4)]
    own = [2 * sum(size for c, size in enumerate(sizes) if c % 3 == i) for i in range(3)]
    assert [x.computed for x in (second, first, last)] == own and len(set(own)) > 1
    assert sum(x.computed for x in (first, second, last)) == 2 * n
    # Each shard wrote its own records file and nothing else's.
    assert set(_records_files(out)) == {f"records.shard-{i}of3.jsonl" for i in range(3)}
    n_lines = sum(
        len(f.read_text().splitlines()) for d in list_method_dirs(out) for f in d.glob("records*.jsonl")
    )
    n_single = sum(len((d / "records.jsonl").read_text().splitlines()) for d in list_method_dirs(single))
    assert n_lines == n_single  # every pair once, in exactly one shard
    run = json.loads((out / "run.json").read_text())
    assert run["shards"] == 3 and run["status"] == "sharded"

    # A marker that no longer matches (here: removed) makes `bench tables` refuse, exports untouched.
    before = {f: (out / f).read_bytes() for f in ("summary.csv", "table.tex", "table.md")}
    stamp = (out / "summary.csv").stat().st_mtime_ns
    marker_path(out, parse_shard("2/3")).unlink()
    from click.testing import CliRunner

    r = CliRunner().invoke(cli, ["tables", str(out), "--no-figures"])
    assert r.exit_code == 2 and "shard(s) 2/3 " in r.output, r.output
    assert {f: (out / f).read_bytes() for f in before} == before
    assert (out / "summary.csv").stat().st_mtime_ns == stamp
    # Rerunning that shard reuses its records and completes the run again.
    again = _run(dataset, out, shard="2/3")
    assert again.computed == 0 and again.reused > 0
    assert (out / "summary.csv").read_bytes() == (single / "summary.csv").read_bytes()


def test_a_shard_runs_once_and_never_beside_a_whole_run(dataset, tmp_path):
    out = tmp_path / "o"
    with claim(out, "eval", shared=True), sublock(out, "shard-0of2"):
        with pytest.raises(BenchError, match="in use"):
            _run(dataset, out, shard="0/2")  # the same shard twice
        with pytest.raises(BenchError, match="in use"):
            _run(dataset, out)  # a whole run while a shard works
        _run(dataset, out, shard="1/2")  # another shard may work beside it
    with claim(out, "eval"):
        with pytest.raises(BenchError, match="in use"):
            _run(dataset, out, shard="0/2")  # a shard while a whole run works


def test_shard_is_refused_under_torchrun(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(BenchError, match="torchrun"):
        _run(dataset, tmp_path / "o", shard="0/2")
    assert not (tmp_path / "o").exists()


def _cli_eval(ds: Path, out: Path, torchrun: bool) -> subprocess.CompletedProcess:
    args = ["-m", "bench", "evaluate", "--data", str(ds / "images"), "--masks", str(ds / "masks"),
            "--method", "mean", "--method", "telea", "--ratio", "0.1-0.3", "--batch-size", "4",
            "--metrics", ",".join(METRICS), "--no-figures", "--device", "cpu", "--out", str(out)]  # fmt: skip
    if torchrun:
        # --standalone: a rendezvous on a free local port (a fixed port could be taken)
        args = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args[1:]]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


@pytest.mark.slow
def test_torchrun_equals_one_process_and_resumes_a_killed_rank(dataset, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r = _cli_eval(dataset, one, torchrun=False)
    assert r.returncode == 0, r.stderr[-3000:]
    r = _cli_eval(dataset, two, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("computed now") == 1  # rank 0 reports for both
    summary = (two / "summary.csv").read_bytes()
    assert summary == (one / "summary.csv").read_bytes() and b",fid," in summary and b",kid," in summary
    assert set(_records_files(two)) == {"records.rank-0of2.jsonl", "records.rank-1of2.jsonl"}
    # Rank 1 killed after its first chunk: its later lines are lost; the next launch computes just those.
    lost = 0
    for d in list_method_dirs(two):
        f = d / "records.rank-1of2.jsonl"
        lines = f.read_text().splitlines(keepends=True)
        lost += len(lines) - 4 if not d.name.startswith("ground-truth-") else 0
        f.write_text("".join(lines[:4]) + '{"pair_id": 9, "ima')  # and a torn last line
    assert lost > 0
    r = _cli_eval(dataset, two, torchrun=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"{lost} computed now" in r.stdout, r.stdout[-2000:]
    assert (two / "summary.csv").read_bytes() == (one / "summary.csv").read_bytes()


def test_cli_shards(dataset, tmp_path, runner):
    out = tmp_path / "o"
    args = ["evaluate", "--data", str(dataset / "images"), "--masks", str(dataset / "masks"), "--method",
            "mean", "--ratio", "0.1-0.3", "--no-figures", "--out", str(out)]  # fmt: skip
    r = runner.invoke(cli, [*args, "--shard", "2/2"])
    assert r.exit_code == 2 and "--shard '2/2'" in r.output and not out.exists(), r.output
    r = runner.invoke(cli, [*args, "--shard", "0/2"])
    assert r.exit_code == 0 and "(shard 0/2)" in r.output and "shard(s) 1/2 " in r.output, r.output
    assert "Wrote" not in r.output
    r = runner.invoke(cli, [*args, "--shard", "1/2"])
    assert r.exit_code == 0 and "Wrote: summary.csv" in r.output, r.output


def test_default_workers_share_the_cores_between_torchrun_processes(monkeypatch):
    from bench.evaluation.runner import auto_workers

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert auto_workers() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert auto_workers() == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert auto_workers() == 1
