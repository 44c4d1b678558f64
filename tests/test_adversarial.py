"""GL and GntIpt trained by the harness: smoke training, bit-identical resume, evaluation from checkpoints."""

from __future__ import annotations

import cv2
import pytest
import torch

from bench.cli import main
from bench.core.files import write_png
from bench.models.checkpoint import LAST, load_checkpoint
from bench.training.config import resolve_config
from bench.training.loop import train

SIZE = 32


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut):
    from bench.data.prepare import prepare_dataset

    src = tmp_path_factory.mktemp("adv-src")
    for i in range(4):
        write_png(src / f"p{i}.png", cv2.resize(astronaut[i * 80 : i * 80 + 160, 100:260], (48, 48)))
    out = tmp_path_factory.mktemp("adv") / "data"
    prepare_dataset(out, size=SIZE, source=str(src), test_fraction=0.5, progress=False)
    return out


def _cfg(model: str, steps: int = 6):
    over = {"model": model, "size": SIZE, "steps": steps, "features": "none", "checkpoint_every": 2}
    return resolve_config("smoke", overrides=over)


@pytest.mark.parametrize("model", ["gl", "gntipt"])
def test_training_writes_generator_critics_and_both_optimisers(images, tmp_path, model):
    last = train(_cfg(model), tmp_path / "run", data=images, progress=False)
    ckpt = load_checkpoint(last)
    assert ckpt["arch"]["model"] == model and ckpt["step"] == 6
    assert {"model", "discriminator", "optimizer", "optimizer_d"} <= set(ckpt)
    assert ckpt["config"]["model"] == model
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert len(log) == 7 and "recon" in log[0] and "d_loss" in log[0]
    if model == "gl":  # the three phases: reconstruction, discriminators only, joint
        assert [row.split(",")[1] for row in log[1:4]] == ["1", "2", "3"]


@pytest.mark.parametrize("model", ["gl", "gntipt"])
def test_interrupted_run_resumes_bit_identical(images, tmp_path, monkeypatch, model):
    """Stopped during step 5 (a checkpoint every 2 steps: the last is at 4), resumed to 6: the same
    generator and critics, bit for bit, as a run never stopped."""
    import dataclasses

    import bench.models.registry as models

    straight = load_checkpoint(train(_cfg(model), tmp_path / "a", data=images, progress=False))
    spec = models.get_model(model)

    def stop_at_5(run, gen, images, masks, step, last_saved):
        if step == 4:
            raise KeyboardInterrupt
        return spec.step(run, gen, images, masks, step, last_saved)

    monkeypatch.setitem(models._MODELS, model, dataclasses.replace(spec, step=stop_at_5))
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(model), tmp_path / "b", data=images, progress=False)
    monkeypatch.setitem(models._MODELS, model, spec)
    assert load_checkpoint(tmp_path / "b" / LAST)["step"] == 4
    resumed = load_checkpoint(train(_cfg(model), tmp_path / "b", data=images, resume=True, progress=False))
    for key in ("model", "discriminator"):
        assert all(torch.equal(v, resumed[key][k]) for k, v in straight[key].items()), key


def test_evaluation_from_checkpoints(images, tmp_path, runner):
    from masks.manifest import generate_set

    ckpts = {m: train(_cfg(m, steps=2), tmp_path / m, data=images, progress=False) for m in ("gl", "gntipt")}
    generate_set(tmp_path / "masks", size=SIZE, per_bin=1, seed=0, progress=False)
    out = tmp_path / "ev"
    res = runner.invoke(main, ["evaluate", "--data", str(images), "--masks", str(tmp_path / "masks"),
                               "--method", f"gl={ckpts['gl']}", "--method", f"gntipt={ckpts['gntipt']}",
                               "--method", "mean", "--ratio", "0.1-0.3", "--no-is", "--no-figures",
                               "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    import json

    run = json.loads((out / "run.json").read_text())
    labels = {m["name"]: m["meta"]["label"] for m in run["methods"] if m["name"] in ("gl", "gntipt")}
    assert labels["gl"].startswith("GL: retrained on irregular masks")
    assert labels["gntipt"].startswith("GntIpt: retrained on irregular masks")
    res = runner.invoke(main, ["evaluate", "--data", str(images), "--masks", str(tmp_path / "masks"),
                               "--method", f"gl={ckpts['gntipt']}", "--ratio", "0.1-0.2", "--no-is",
                               "--out", str(tmp_path / "ev2")])  # fmt: skip
    assert res.exit_code == 2 and "'gntipt' checkpoint" in res.output


def test_gntipt_critic_steps(images, tmp_path):
    """`critic_steps` (TrainConfig, default 1; the released trainer takes 5): the critics' optimiser steps
    that many times per generator step; a run resumes only with the same value."""
    from bench.core.errors import BenchError

    assert _cfg("gntipt").critic_steps == 1
    with pytest.raises(BenchError, match="critic_steps"):
        resolve_config("smoke", overrides={"model": "gntipt", "critic_steps": 0})
    cfg = resolve_config("smoke", overrides={"model": "gntipt", "size": SIZE, "steps": 2, "features": "none",
                                             "critic_steps": 3})  # fmt: skip
    ckpt = load_checkpoint(train(cfg, tmp_path / "run", data=images, progress=False))
    assert ckpt["config"]["critic_steps"] == 3
    assert int(ckpt["optimizer"]["state"][0]["step"]) == 2
    assert int(ckpt["optimizer_d"]["state"][0]["step"]) == 6
    with pytest.raises(BenchError, match="critic_steps: 3 -> 1"):
        train(_cfg("gntipt", steps=2), tmp_path / "run", data=images, resume=True, progress=False)
