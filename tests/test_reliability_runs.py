"""Reliability, second round (issue 22): what `bench tables` does beside an unfinished or running evaluation
(item 5) and with bad options (14), how the Inception weights are loaded (7), and what the training
stages of `bench reproduce` are keyed by (13).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 64
EXPORTS = ("summary.csv", "table.csv", "table.md", "table.tex", "report.html")


def _photos(folder: Path, n: int = 5) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
        write_png(folder / f"p{i}.png", cv2.resize(small, (96, 80), interpolation=cv2.INTER_LINEAR))
    return folder


def _cli(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def _one_error_line(res) -> str:
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished evaluation (the mean fill, 64 px, two bins, 12 pairs) with its exports."""
    from click.testing import CliRunner

    from bench.data.prepare import prepare_dataset
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("runs")
    prepare_dataset(root / "data", size=SIZE, source=str(_photos(root / "photos")), seed=0,
                    test_fraction=0.6, progress=False)  # fmt: skip
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:3], seed=0, progress=False)
    out = root / "ev"
    res = _evaluate(CliRunner(), root, out)
    assert res.exit_code == 0, res.output
    return out


def _evaluate(runner, root: Path, out: Path):
    return _cli(runner, "evaluate", "--data", root / "data", "--masks", root / "masks", "--method", "mean",
                "--out", out, "--no-is", "--no-figures", "--ratio", "0.1-0.3")  # fmt: skip


@pytest.fixture
def ev(finished, tmp_path) -> Path:
    out = tmp_path / "ev"
    shutil.copytree(finished, out)
    return out


def _exports(out: Path) -> dict[str, tuple[bytes, int]]:
    return {f: ((out / f).read_bytes(), (out / f).stat().st_mtime_ns) for f in EXPORTS if (out / f).exists()}


def _stop_midway(out: Path, keep: int) -> None:
    """What a killed `bench evaluate` leaves: run.json still 'running', `keep` records of the mean fill."""
    run = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**run, "status": "running"}))
    (rec,) = out.glob("records/mean-*/records.jsonl")
    rec.write_text("".join(line + "\n" for line in rec.read_text().splitlines()[:keep]))


# ---------------------------------------------------------------------------------------------- 5


def test_5_tables_of_a_finished_run_are_unchanged_and_unmarked(ev, runner):
    before = _exports(ev)
    res = _cli(runner, "tables", ev, "--no-figures")
    assert res.exit_code == 0, res.output
    after = _exports(ev)
    for f in ("summary.csv", "table.csv", "table.md", "table.tex"):
        assert after[f][0] == before[f][0], f
    assert "PARTIAL" not in res.output and "PARTIAL" not in after["report.html"][0].decode()


def test_5_tables_refused_while_an_evaluation_holds_the_folder(ev, runner):
    from bench.core.folders import claim

    before = _exports(ev)
    with claim(ev, "eval"):  # what `bench evaluate` holds from its start to its last table
        res = _cli(runner, "tables", ev, "--no-figures")
    assert res.exit_code == 2 and "in use" in _one_error_line(res)
    assert _exports(ev) == before


def test_5_an_evaluation_cannot_start_while_tables_are_written(ev, runner, monkeypatch):
    """A slow `bench tables` once overwrote the tables of an evaluation that finished meanwhile: it holds
    the folder now, so the evaluation is refused at its claim."""
    import bench.reporting.tables
    from bench.core.errors import BenchError
    from bench.core.folders import check_claim

    real, seen = bench.reporting.tables.build_tables, []

    def build(out, **kw):
        with pytest.raises(BenchError, match="in use"):
            check_claim(out, "eval")  # the claim `bench evaluate` makes before writing anything
        seen.append(out)
        return real(out, **kw)

    monkeypatch.setattr(bench.reporting.tables, "build_tables", build)
    res = _cli(runner, "tables", ev, "--no-figures")
    assert res.exit_code == 0, res.output
    assert seen == [ev]


def test_5_tables_of_a_stopped_run_refused_and_exports_kept(ev, runner):
    _stop_midway(ev, keep=7)
    before = _exports(ev)
    res = _cli(runner, "tables", ev, "--no-figures")
    line = _one_error_line(res)
    assert (
        res.exit_code == 2 and "not finished" in line and "mean (7/12 pairs)" in line and "--partial" in line
    )
    assert _exports(ev) == before


def test_5_partial_tables_say_so_in_every_file(finished, ev, runner):
    _stop_midway(ev, keep=7)
    res = _cli(runner, "tables", ev, "--no-figures", "--partial")
    assert res.exit_code == 0, res.output
    for f in ("table.csv", "table.md", "table.tex", "report.html"):
        assert "PARTIAL TABLES" in (ev / f).read_text(), f
    assert (ev / "table.csv").read_text().startswith("# PARTIAL TABLES")  # the first note line
    n = pd.read_csv(ev / "summary.csv")["n"]
    assert n.sum() == 7 * 4  # 7 pairs recorded, 4 pair metrics each
    # Finishing the run (all of it reused but the 5 missing pairs) gives unmarked tables again.
    again = _evaluate(runner, finished.parent, ev)
    assert again.exit_code == 0, again.output
    assert "5 computed now" in again.output and "PARTIAL" not in (ev / "table.md").read_text()


def test_5_a_record_lost_from_a_finished_run_is_partial_too(ev, runner):
    (rec,) = ev.glob("records/mean-*/records.jsonl")
    rec.write_text("".join(line + "\n" for line in rec.read_text().splitlines()[1:]))
    res = _cli(runner, "tables", ev, "--no-figures")
    assert res.exit_code == 2 and "mean (11/12 pairs)" in _one_error_line(res)
    assert "run.json says" not in res.output  # finished, a record lost since


# ---------------------------------------------------------------------------------------------- 14


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--metrics", "nope"], ["--metrics", "nope", "psnr"]),
        (["--metrics", "psnr,fid"], ["--metrics", "fid"]),  # registered, not computed in this run
        (["--columns", "0.4-0.5:N"], ["--columns", "0.4-0.5:N"]),
        (["--reference", "BAD"], ["--reference", "'abc' is not a number"]),
        (["--reference", "EMPTY"], ["--reference"]),
        (["--reference", "NONE"], ["--reference", "does not exist"]),
        (["--format", "pdf"], ["pdf"]),
        (["--paired", "mean,nosuch"], ["nosuch"]),
        (["--text-height", "nan"], ["--text-height"]),
    ],
)
def test_14_bad_options_refused_before_any_export_is_rewritten(ev, runner, tmp_path, args, words):
    files = {"BAD": "method,group,bin,l1_percent,psnr\nMean,N,0.1-0.2,abc,20\n", "EMPTY": ""}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a) if a in (*files, "NONE") else a for a in args]
    before = _exports(ev)
    res = _cli(runner, "tables", ev, *args)
    line = _one_error_line(res)
    assert res.exit_code == 2 and all(w in line for w in words), line
    assert _exports(ev) == before
    assert not (ev / "curves.png").exists() and not (ev / "reference.csv").exists()


def test_14_a_good_reference_and_metric_subset_still_work(ev, runner, tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text("# a comment\nmethod,group,bin,l1_percent,psnr\nMean,N,0.1-0.2,5.0,\n")
    res = _cli(runner, "tables", ev, "--no-figures", "--reference", ref, "--metrics", "psnr,ssim")
    assert res.exit_code == 0, res.output
    cmp = pd.read_csv(ev / "reference.csv")
    assert list(cmp["metric"]) == ["l1_percent"] and cmp["reference"].tolist() == [5.0]
    tex = (ev / "table.tex").read_text()
    assert "PSNR" in tex and "SSIM" in tex and "Hole L1" not in tex


# ---------------------------------------------------------------------------------------------- 7


@pytest.fixture(scope="module")
def inception_file(tmp_path_factory) -> Path:
    """torch-fidelity's Inception-v3 state dict (real names and shapes, random values, float16 to halve
    the file), built without torch-fidelity loading anything."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
        torch.manual_seed(0)
        model = fe.FeatureExtractorInceptionV3("x", ["logits_unbiased"])
    path = tmp_path_factory.mktemp("inception") / "weights-inception.pth"
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)
    return path


@pytest.fixture
def torch_loads(monkeypatch, tmp_path):
    """Every torch.load call, as (what was loaded, weights_only); no hub cache, no env variable."""
    import torch

    from bench.metrics.inception import INCEPTION_ENV

    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls, real = [], torch.load

    def load(f, *args, **kwargs):
        calls.append((f, kwargs.get("weights_only")))
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", load)
    return calls


def test_7_inception_is_built_from_tensors_loaded_once_safely(inception_file, torch_loads):
    import io

    import torch

    from bench.metrics.inception import load_is_network

    net = load_is_network(inception_file)
    assert (net.name, net.label, net.source) == ("inception-v3-compat", "IS", "path")
    assert len(torch_loads) == 1 and torch_loads[0][1] is True  # one load, weights_only
    assert isinstance(torch_loads[0][0], io.BytesIO)  # of bytes already read, not of the path again
    state = torch.load(inception_file, weights_only=True)
    model = net.model.state_dict()
    assert set(model) == set(state)
    assert all(
        torch.equal(model[k], state[k].to(model[k].dtype))
        for k in ("fc.weight", "Mixed_7c.branch_pool.conv.weight")
    )
    out = net.outputs(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert out["probs"].shape == (1, 1008) and out["pool"].shape == (1, 2048)


class _Payload:
    """A pickle that, once unpickled with weights_only=False, makes a folder (the proof it ran)."""

    def __init__(self, proof: Path) -> None:
        self.proof = proof

    def __reduce__(self):
        import os

        return os.mkdir, (str(self.proof),)


def test_7_weights_swapped_after_the_check_are_never_unpickled(
    inception_file, torch_loads, tmp_path, monkeypatch
):
    """The file is replaced by a pickle payload right after the first (safe) load, as an attacker with
    write access to the hub cache or $PCONV_BENCH_INCEPTION could: nothing reads it again."""
    import pickle

    import torch

    from bench.metrics.inception import load_is_network

    weights, proof = tmp_path / "inception.pth", tmp_path / "payload-ran"
    shutil.copyfile(inception_file, weights)
    bad = tmp_path / "payload.pth"
    bad.write_bytes(pickle.dumps(_Payload(proof)))
    safe = torch.load

    def load_then_swap(f, *args, **kwargs):
        out = safe(f, *args, **kwargs)
        if bad.exists():
            bad.replace(weights)
        return out

    monkeypatch.setattr(torch, "load", load_then_swap)
    try:
        net = load_is_network(weights)
    except Exception:  # noqa: BLE001 - a refusal is fine; the payload running is not
        net = None
    assert not proof.exists(), "the swapped-in pickle was unpickled with weights_only=False"
    assert net is not None and net.name == "inception-v3-compat"


def test_7_wrong_tensors_are_one_line_errors(inception_file, torch_loads, tmp_path):
    import torch

    from bench.core.errors import BenchError
    from bench.metrics.inception import load_is_network

    state = torch.load(inception_file, weights_only=True)
    short = tmp_path / "short.pth"
    torch.save({k: v for k, v in state.items() if not k.startswith("Mixed_7c")}, short)
    with pytest.raises(BenchError, match="Missing key") as e:
        load_is_network(short)
    assert "\n" not in str(e.value) and str(short) in str(e.value)
    wide = tmp_path / "wide.pth"
    torch.save({**state, "fc.weight": torch.zeros(10, 2048)}, wide)
    with pytest.raises(BenchError, match="size mismatch for fc.weight"):
        load_is_network(wide)
    assert all(w is True for _, w in torch_loads)


# ---------------------------------------------------------------------------------------------- 13

# Modules bench.training.loop imports that cannot change a trained model
# (bench.pipeline.reproduce.TRAINING_CODE).
NOT_TRAINING_CODE = {
    "bench.core.errors",
    "bench.core.folders",
    "bench.core.procs",
    "bench.training.config",
    "bench.core.progress",
    "bench.core.plugins",
}


def test_13_training_code_is_everything_bench_train_imports():
    from test_layout import graph

    from bench.pipeline.reproduce import TRAINING_CODE

    g, seen, todo = graph(), set(), ["bench.training.loop"]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += [d for d in g.get(m, {}) if d != m]
    assert seen - NOT_TRAINING_CODE <= set(TRAINING_CODE), sorted(
        seen - NOT_TRAINING_CODE - set(TRAINING_CODE)
    )
    assert {
        "bench.models.unet.loss",
        "bench.models.adversarial",
        "bench.models.gl.recipe",
        "bench.models.gntipt.recipe",
        "bench.models.gl.network",
        "bench.models.gntipt.network",
        "masks.sampler",
    } <= set(TRAINING_CODE)


def _image_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i in range(3):
        write_png(folder / f"{i}.png", np.full((8, 8, 3), 40 * i, np.uint8))
    return folder


@pytest.fixture
def fingerprint(tmp_path):
    """fingerprint(model="pconv", **settings) of a training stage on a small image folder."""
    from bench.core.digests import DigestCache
    from bench.pipeline.reproduce import _train_config, train_fingerprint
    from bench.training.config import TrainConfig

    data = _image_folder(tmp_path / "data")

    def make(model: str = "pconv", **settings):
        cfg = _train_config(TrainConfig(**settings), model, "cpu", {})
        return train_fingerprint(cfg, data, None, DigestCache(None))

    make.data = data
    return make


def test_13_a_changed_training_module_changes_the_fingerprint(fingerprint, monkeypatch):
    import bench.pipeline.reproduce as rp

    base = fingerprint()
    assert fingerprint() == base  # stable
    assert base["code"]["package"] and len(base["code"]["source_sha256"]) == 16
    real = rp.module_source
    for module in (
        "bench.models.unet.loss",
        "bench.models.gl.network",
        "masks.sampler",
        "bench.training.loop",
    ):
        with monkeypatch.context() as mp:  # one byte more in that module's source
            mp.setattr(rp, "module_source", lambda name, m=module: real(name) + (b"#" if name == m else b""))
            assert fingerprint()["code"] != base["code"], module
    monkeypatch.setattr(rp.metadata, "version", lambda name: "9.9.9")
    assert fingerprint()["code"]["package"] == "9.9.9"
    assert fingerprint()["code"]["source_sha256"] == base["code"]["source_sha256"]


def test_13_data_and_settings_change_the_fingerprint(fingerprint):
    base = fingerprint()
    assert fingerprint(seed=1)["config"] != base["config"]
    assert fingerprint("gl")["features"] == "none" and base["features"] != "none"
    write_png(fingerprint.data / "1.png", np.full((8, 8, 3), 41, np.uint8))  # one pixel value, one image
    again = fingerprint()
    assert again["data"] != base["data"] and {k: v for k, v in again.items() if k != "data"} == {
        k: v for k, v in base.items() if k != "data"
    }


def test_13_a_stale_model_is_retrained_from_scratch_not_resumed(tmp_path, monkeypatch):
    """The stage of a model made by other code reruns from step 0 (a resume would keep the old weights,
    its checkpoint being at the last step already); a stopped run of the same code resumes."""
    import bench.pipeline.reproduce as rp
    import bench.training.loop
    from bench.training.config import TrainConfig

    calls = []

    def fake_train(cfg, run_dir, data, masks, resume):
        calls.append(resume)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "last.pt").write_text(str(len(calls)))

    monkeypatch.setattr(bench.training.loop, "train", fake_train)
    monkeypatch.setattr(rp, "_train_done", lambda last, steps: last.is_file())
    out, cfg, logs = tmp_path / "out", rp._train_config(TrainConfig(), "pconv", "cpu", {}), []
    stages = rp.Stages(out, logs.append)

    def stage(params):
        return rp._train_stage(out, "pconv", cfg, params, tmp_path, None, stages)

    v1, v2 = {"code": "1"}, {"code": "2"}
    stage(v1)
    stage(v1)
    assert calls == [False] and any("complete, skipped" in m for m in logs)
    stage(v2)  # other code: trained again, from scratch, the old run kept aside
    assert calls == [False, False]
    assert (out / "train" / "pconv.stale-1" / "last.pt").read_text() == "1"
    assert (out / "train" / "pconv" / "last.pt").read_text() == "2"
    (out / "stages" / "train-pconv.json").unlink()  # as if stopped while running with v2
    stage(v2)
    assert calls == [False, False, True]  # resumed
    (out / "stages" / "train-pconv.json").unlink()  # stopped with v3, then back to v1: not resumed
    stages.run("train-pconv", {"code": "3"}, lambda: False, lambda: None)
    stage(v1)
    assert calls == [False, False, True, False] and (out / "train" / "pconv.stale-2").is_dir()
