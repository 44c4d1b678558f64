"""bench train: exact resume, phases, bad input, checkpoints, CLI, 2-process gloo. All tiny (32 px)."""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import bench.models.unet.loss
from bench.cli import main as cli
from bench.core.errors import BenchError
from bench.models.checkpoint import LAST, load_checkpoint, load_checkpoint_model
from bench.training.config import TrainConfig
from bench.training.loop import TrainSamples, train

REPO = Path(__file__).resolve().parents[1]


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(
        profile="test", size=32, width=4, layers=None, batch_size=2, steps_phase1=4, steps_phase2=2,
        features="none", checkpoint_every=2, sample_every=3, seed=3,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base).validate()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """Six 40x40 crops of two scikit-image photos (larger than 32 px: random crops are exercised)."""
    from skimage import data

    folder = tmp_path_factory.mktemp("images")
    for k, photo in enumerate((data.astronaut(), data.coffee())):
        for j in range(3):
            crop = cv2.resize(
                photo[j * 60 : j * 60 + 300, j * 50 : j * 50 + 300], (40, 40), interpolation=cv2.INTER_AREA
            )
            cv2.imwrite(str(folder / f"p{k}_{j}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return folder


def states_equal(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, dict):
            if not states_equal(x, y):
                return False
        elif isinstance(x, torch.Tensor):
            if not (x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def read_log(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_data_stream_is_a_pure_function_of_seed_and_step(images):
    files = sorted(images.glob("*.png"))
    a = TrainSamples(files, 32, seed=1, batch_size=2)
    b = TrainSamples(files, 32, seed=1, batch_size=2)
    keys = [(5, 1), (0, 0), (5, 1), (2, 0)]
    got_a = [a[k] for k in keys]
    got_b = [b[k] for k in reversed(keys)][::-1]  # another order, another object: same samples
    for (ia, ma), (ib, mb) in zip(got_a, got_b, strict=True):
        assert torch.equal(ia, ib) and torch.equal(ma, mb)
    assert got_a[0][0].shape == (3, 32, 32) and got_a[0][1].shape == (1, 32, 32)
    assert set(torch.unique(got_a[0][1]).tolist()) <= {0.0, 1.0}
    assert not torch.equal(a[(0, 0)][1], a[(0, 1)][1])  # different masks per slot
    # Another rank draws other data at the same step.
    r1 = TrainSamples(files, 32, seed=1, batch_size=2, rank=1, world=2)
    assert not torch.equal(a[(0, 0)][1], r1[(0, 0)][1])
    # An epoch is a permutation: every image once.
    assert sorted(a._order(0).tolist()) == list(range(6))
    assert a._order(0).tolist() != a._order(1).tolist()


RESUME_CFG = dict(steps_phase1=10, steps_phase2=4, checkpoint_every=2)


@pytest.fixture(scope="module")
def reference(images, tmp_path_factory) -> tuple[dict, list[dict[str, str]]]:
    """One straight run (14 steps, phase 2 from step 10): the checkpoint and log resumed runs must match."""
    out = tmp_path_factory.mktemp("straight")
    last = train(tiny_cfg(**RESUME_CFG), out, data=images)
    return load_checkpoint(last), read_log(out / "log.csv")


def test_resume_after_interrupt_is_bit_identical(images, reference, tmp_path, monkeypatch):
    ref, ref_log = reference
    cfg = tiny_cfg(**RESUME_CFG)
    # Crash inside step 7 (1-based): last.pt holds step 6; steps 7.. are redone after the resume.
    calls = {"n": 0}
    real = bench.models.unet.loss.l1_hole

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(bench.models.unet.loss, "l1_hole", crashing)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", data=images)
    monkeypatch.setattr(bench.models.unet.loss, "l1_hole", real)
    assert load_checkpoint(tmp_path / "killed" / LAST)["step"] == 6
    got = load_checkpoint(train(cfg, tmp_path / "killed", data=images, resume=True))
    assert got["step"] == ref["step"] == 14
    assert states_equal(ref["model"], got["model"])
    assert states_equal(ref["optimizer"], got["optimizer"])
    # The log continues without duplicates and with the same losses.
    log = read_log(tmp_path / "killed" / "log.csv")
    assert [r["step"] for r in log] == [str(i) for i in range(1, 15)]
    assert [r["loss"] for r in log] == [r["loss"] for r in ref_log]
    assert {r["features"] for r in log} == {"none"}


def test_resume_after_sigkill_is_bit_identical(images, reference, tmp_path):
    ref, _ = reference
    cfg = tiny_cfg(**RESUME_CFG)
    out = tmp_path / "run"
    code = (
        "from pathlib import Path; from bench.training.config import TrainConfig; "
        "from bench.training.loop import train;"
        f"train(TrainConfig(**{cfg.to_dict()!r}), Path({str(out)!r}), data=Path({str(images)!r}))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    try:
        while time.time() < deadline and proc.poll() is None:
            if (out / LAST).is_file() and load_checkpoint(out / LAST)["step"] >= 2:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = load_checkpoint(out / LAST)["step"]
    assert 2 <= killed_at < 14, "the run should be killed in the middle"
    resumed = load_checkpoint(train(cfg, out, data=images, resume=True))
    assert states_equal(ref["model"], resumed["model"])
    assert states_equal(ref["optimizer"], resumed["optimizer"])


def test_phase_two_freezes_encoder_batchnorm_from_the_boundary(images, tmp_path):
    out = tmp_path / "run"
    # Run phase 1 only (the boundary is the same), keep its state, then extend into phase 2.
    first = load_checkpoint(train(tiny_cfg(steps_phase2=0), out, data=images))
    final = load_checkpoint(train(tiny_cfg(steps_phase2=2), out, data=images, resume=True))
    model, _ = load_checkpoint_model(out / LAST)
    enc = {n for n, m in model.named_modules() if any(m is bn for bn in model.encoder_batchnorms())}
    assert enc, "the encoder has BatchNorm layers"
    changed_enc = changed_other = 0
    for name, value in final["model"].items():
        module = name.rsplit(".", 1)[0]
        same = torch.equal(value, first["model"][name])
        if module in enc:
            assert same, f"{name} moved in phase 2"
            changed_enc += 1
        elif value.is_floating_point() and not same:
            changed_other += 1
    assert changed_enc > 0 and changed_other > 0
    log = read_log(out / "log.csv")
    assert [(r["phase"], float(r["lr"])) for r in log] == [("1", 2e-4)] * 4 + [("2", 5e-5)] * 2


def test_nan_loss_stops_with_exit_2_and_keeps_the_last_checkpoint(images, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = bench.models.unet.loss.l1_hole

    def poisoned(*a, **k):
        calls["n"] += 1
        v = real(*a, **k)
        return v * float("nan") if calls["n"] == 3 else v

    monkeypatch.setattr(bench.models.unet.loss, "l1_hole", poisoned)
    out = tmp_path / "run"
    with pytest.raises(BenchError, match=r"step 3 .*last good checkpoint is .*last\.pt \(step 2\)"):
        train(tiny_cfg(), out, data=images)
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_bad_checkpoint_files(images, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(BenchError, match="junk.pt"):
        load_checkpoint_model(junk)
    with pytest.raises(BenchError, match="does not exist"):
        load_checkpoint_model(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(BenchError, match="foreign.pt is not a bench train checkpoint"):
        load_checkpoint_model(foreign)
    # --resume onto a corrupt last.pt: a clear error, and the file is left as it was.
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(junk, out / LAST)
    with pytest.raises(BenchError, match="last.pt"):
        train(tiny_cfg(), out, data=images, resume=True)
    assert (out / LAST).read_bytes() == junk.read_bytes()


def test_checkpoint_of_another_architecture(images, tmp_path):
    out = tmp_path / "run"
    last = train(tiny_cfg(steps_phase1=1, steps_phase2=0), out, data=images)
    model, meta = load_checkpoint_model(last)
    assert not model.training and meta["step"] == 1 and meta["features"] == "none"
    assert meta["arch"]["width"] == 4 and meta["arch"]["conv"] == "partial"
    # Resume with a wider net: refused, checkpoint untouched.
    before = last.read_bytes()
    with pytest.raises(BenchError, match="another architecture"):
        train(tiny_cfg(width=8), out, data=images, resume=True)
    assert last.read_bytes() == before
    # A checkpoint whose arch field disagrees with its weights.
    ckpt = load_checkpoint(last)
    ckpt["arch"] = dict(ckpt["arch"], width=8)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    with pytest.raises(BenchError, match="bad.pt holds another architecture"):
        load_checkpoint_model(bad)
    # Other settings that define the run cannot change on resume either.
    with pytest.raises(BenchError, match="seed"):
        train(tiny_cfg(steps_phase1=1, steps_phase2=0, seed=4), out, data=images, resume=True)


def test_masks_of_another_size(images, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    cv2.imwrite(str(masks / "m0.png"), np.full((48, 48), 255, np.uint8))
    # Without NVIDIA's pipeline (which crops and resizes; the default for a raw folder) sizes must agree.
    with pytest.raises(BenchError, match=r"48x48.*32x32"):
        train(
            dataclasses.replace(tiny_cfg(), mask_augment="flips"), tmp_path / "run", data=images, masks=masks
        )
    assert not (tmp_path / "run" / LAST).exists()


def test_mask_folder_is_used(images, tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.full((32, 32), 255, np.uint8)
    m[8:20, 4:30] = 0
    cv2.imwrite(str(masks / "m0.png"), m)
    ds = TrainSamples(sorted(images.glob("*.png")), 32, 0, 2, mask_files=[masks / "m0.png"])
    got = ds[(0, 0)][1][0].numpy()
    assert got.sum() == (m > 127).sum()  # the same mask, flipped or rotated
    train(tiny_cfg(steps_phase1=1, steps_phase2=0), tmp_path / "run", data=images, masks=masks)


def test_empty_dataset(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BenchError, match="no images"):
        train(tiny_cfg(), tmp_path / "run", data=empty)


def test_existing_run_needs_resume(images, tmp_path):
    out = tmp_path / "run"
    train(tiny_cfg(steps_phase1=1, steps_phase2=0), out, data=images)
    with pytest.raises(BenchError, match="--resume"):
        train(tiny_cfg(steps_phase1=1, steps_phase2=0), out, data=images)


def test_cli_smoke(runner, images, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--profile", "smoke", "--size", "32", "--steps", "3",
            "--features", "none", "--data", str(images), "--checkpoint-every", "2"]  # fmt: skip
    r = runner.invoke(cli, args)
    assert r.exit_code == 0, r.output
    meta = load_checkpoint(out / LAST)
    assert meta["step"] == 3 and meta["config"]["profile"] == "smoke"
    # 3 steps split like the smoke profile's 6 + 2: 2 + 1.
    assert (meta["config"]["steps_phase1"], meta["config"]["steps_phase2"]) == (2, 1)
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000003.png"]
    r = runner.invoke(cli, args)
    assert r.exit_code == 2 and "--resume" in r.output
    r = runner.invoke(cli, [*args, "--resume"])
    assert r.exit_code == 0 and "nothing to do" in r.output
    (tmp_path / "nodata").mkdir()
    r = runner.invoke(
        cli, ["train", "--out", str(tmp_path / "x"), "--profile", "smoke", "--data", str(tmp_path / "nodata")]
    )
    assert r.exit_code == 2 and "no images" in r.output


@pytest.mark.slow
def test_two_process_gloo(images, tmp_path):
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    out = tmp_path / "ddp"
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(29500 + os.getpid() % 1000),
           "-m", "bench", "train", "--profile", "smoke", "--size", "32", "--steps", "2", "--features", "none",
           "--data", str(images), "--out", str(out), "--device", "cpu"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ckpt = load_checkpoint(out / LAST)
    assert ckpt["step"] == 2 and ckpt["data"]["world_size"] == 2
    assert [row["step"] for row in read_log(out / "log.csv")] == ["1", "2"]  # rank 0 writes, once


def test_config_precedence(tmp_path):
    from bench.training.config import PROFILES, resolve_config

    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("size: 48\nbatch_size: 3\nmask_bin_weights: {'0.3-0.4': 1.0}\n")
    cfg = resolve_config("smoke", yaml_file, {"batch_size": 5, "lr": None})
    assert (cfg.size, cfg.batch_size, cfg.width) == (48, 5, PROFILES["smoke"]["train"]["width"])
    assert cfg.mask_bin_weights == {"0.3-0.4": 1.0}
    assert cfg.lr == 2e-4 and cfg.finetune_lr == 5e-5
    paper = resolve_config("paper")
    assert (paper.size, paper.width, paper.layers, paper.batch_size, paper.features) == (
        512,
        64,
        8,
        6,
        "vgg16",
    )
    q = resolve_config("quick", overrides={"steps": 100})
    share = TrainConfig().steps_phase1 / TrainConfig().total_steps
    assert q.total_steps == 100 and q.steps_phase1 == round(100 * share)
    yaml_file.write_text("sise: 48\n")
    with pytest.raises(BenchError, match="sise"):
        resolve_config(None, yaml_file)
    with pytest.raises(BenchError):
        resolve_config("huge")
    assert dataclasses.asdict(TrainConfig()) == TrainConfig().to_dict()


def test_sample_grid_layout():
    from bench.training.loop import sample_grid

    images = torch.rand(3, 3, 8, 8)
    masks = torch.ones(3, 1, 8, 8)
    masks[:, :, 2:5, 2:5] = 0
    outputs = torch.full((3, 3, 8, 8), 2.0)  # out of range: shown clamped to 1
    grid = sample_grid(images, masks, outputs, n=2)
    assert grid.shape == (16, 32, 3) and grid.dtype == np.uint8
    gt = (images[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(grid[:8, 24:32], gt)  # column 4: ground truth
    assert (grid[2:5, 2:5] == 255).all()  # column 1: holes shown white
    assert (grid[:8, 8:16] == 255).all()  # column 2: the (clamped) output
    comp = grid[:8, 16:24]
    assert (comp[2:5, 2:5] == 255).all() and np.array_equal(comp[0], gt[0])  # column 3: composite
