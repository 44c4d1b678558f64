"""The registry of trainable models (bench.models.registry): the builtins' registrations, a plugin's toy model
trained by `bench train`, resumed and loaded, and checkpoints' format_version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

from bench.core.errors import BenchError
from bench.core.files import write_png

# A plugin's trainable model: one 3x3 convolution from (image with holes zeroed, mask) to RGB, trained
# with SGD on the L1 error in the holes. Nothing of it exists in bench/.
TOY_PLUGIN = """
import torch
from torch import nn

from bench.models.registry import TrainableModel, register_model


class Toy(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(4, 3 * width, 3, padding=1)

    def forward(self, images, masks):
        y = self.conv(torch.cat([images * masks, masks], 1))
        return torch.sigmoid(y.view(y.shape[0], 3, -1, *y.shape[2:]).mean(2))


def build(arch):
    return Toy(int(arch["width"]))


def make(cfg, device):
    arch = {"model": "toy", "width": int(cfg.width)}
    torch.manual_seed(cfg.seed)
    return build(arch).to(device), arch


def optimisers(cfg, model, critics):
    return torch.optim.SGD(model.parameters(), lr=cfg.lr), None


def step(run, model, images, masks, step, last_saved):
    out = model(images, masks)
    loss = ((out - images).abs() * (1 - masks)).mean()
    run.check_finite(loss)
    run.optimizer.zero_grad()
    loss.backward()
    run.optimizer.step()
    return {"total": float(loss)}, out.detach()


register_model(TrainableModel(
    "toy", build=build, weights=lambda arch, path: 111 * int(arch["width"]), make=make,
    optimisers=optimisers, step=step, wrap=lambda run, phase: run.model, phase=lambda cfg, s: 7,
    lr=lambda run, s: run.optimizer.param_groups[0]["lr"], summary="a test plugin's",
))
"""


@pytest.fixture
def toy_plugin(tmp_path, monkeypatch):
    """The toy plugin importable and named in $PCONV_BENCH_PLUGINS, for this process and its children."""
    import bench.models.registry as models

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "toy_model_plugin.py").write_text(TOY_PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PCONV_BENCH_PLUGINS", "toy_model_plugin")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setattr("bench.core.plugins._loaded", False)
    monkeypatch.setattr(models, "_MODELS", dict(models._MODELS))
    monkeypatch.setattr(models, "_ORIGINS", dict(models._ORIGINS))
    sys.modules.pop("toy_model_plugin", None)
    yield folder
    sys.modules.pop("toy_model_plugin", None)


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut):
    from bench.data.prepare import prepare_dataset

    src = tmp_path_factory.mktemp("toy-src")
    for i in range(4):
        write_png(src / f"p{i}.png", cv2.resize(astronaut[i * 80 : i * 80 + 160, 100:260], (48, 48)))
    out = tmp_path_factory.mktemp("toy") / "data"
    prepare_dataset(out, size=32, source=str(src), test_fraction=0.5, progress=False)
    return out


def test_builtins_are_registered_and_unknown_names_refused():
    from bench.models.registry import get_model, model_names
    from bench.training.config import TrainConfig

    assert model_names()[:4] == ("pconv", "conv", "gl", "gntipt")
    assert get_model("conv").conv == "standard" and get_model("pconv").twin == "conv"
    assert [get_model(m).critics is not None for m in model_names()[:4]] == [False, False, True, True]
    with pytest.raises(BenchError, match="model must be one of pconv, conv, gl, gntipt, not 'nope'"):
        TrainConfig(model="nope").validate()
    assert TrainConfig(model="pconv", conv="standard").validate().model == "conv"  # --conv standard


def test_a_builtin_name_cannot_be_taken_by_another_module():
    import dataclasses

    from bench.models.registry import get_model, register_model

    with pytest.raises(BenchError, match="'gl' is taken by bench.models.gl.recipe"):
        register_model(dataclasses.replace(get_model("gl")), origin="someone_elses_plugin")


def test_model_for_arch_names_the_model_that_wrote_it():
    from bench.models.registry import model_for_arch

    assert model_for_arch({"model": "gntipt", "width": 8}, "x").name == "gntipt"
    # PConv and Conv checkpoints carry no "model": told apart by their convolutions.
    assert model_for_arch({"layers": 3, "width": 8, "conv": "standard"}, "x").name == "conv"
    assert model_for_arch({"layers": 3, "width": 8, "conv": "partial"}, "x").name == "pconv"
    with pytest.raises(BenchError, match="unknown model 'nope'"):
        model_for_arch({"model": "nope", "width": 8}, "x")


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, timeout=300)


def _toy_train(out: Path, data: Path, config: Path, *more: str) -> subprocess.CompletedProcess:
    return _bench("train", "--profile", "smoke", "--model", "toy", "--size", "32", "--data", str(data),
                  "--out", str(out), "--config", str(config), "--device", "cpu", "--checkpoint-every", "1",
                  *more)  # fmt: skip


def test_a_plugin_model_trains_resumes_and_loads(toy_plugin, images, tmp_path):
    """The toy model, registered by a plugin module only: `bench train --model toy` trains it 2 steps,
    `--resume` continues to 4 (phase 2 lengthened), equal bit for bit to a straight 4-step run; its
    checkpoint loads into the plugin's network."""
    from bench.models.checkpoint import load_checkpoint, load_checkpoint_model

    short, long = tmp_path / "short.yaml", tmp_path / "long.yaml"
    short.write_text("steps_phase1: 1\nsteps_phase2: 1\nlr: 0.5\n")
    long.write_text("steps_phase1: 1\nsteps_phase2: 3\nlr: 0.5\n")
    r = _toy_train(tmp_path / "a", images, short)
    assert r.returncode == 0, r.stderr
    first = load_checkpoint(tmp_path / "a" / "last.pt")
    assert first["step"] == 2 and first["arch"] == {"model": "toy", "width": 8}
    r = _toy_train(tmp_path / "a", images, long, "--resume")
    assert r.returncode == 0, r.stderr
    assert _toy_train(tmp_path / "b", images, long).returncode == 0
    resumed, straight = (
        load_checkpoint(tmp_path / "a" / "last.pt"),
        load_checkpoint(tmp_path / "b" / "last.pt"),
    )
    assert resumed["step"] == straight["step"] == 4
    assert all(torch.equal(v, straight["model"][k]) for k, v in resumed["model"].items())
    assert not torch.equal(first["model"]["conv.weight"], resumed["model"]["conv.weight"])  # it learned
    log = (tmp_path / "a" / "log.csv").read_text().splitlines()
    assert [row.split(",")[:3] for row in log[1:]] == [[str(s), "7", "0.5"] for s in range(1, 5)]
    model, meta = load_checkpoint_model(tmp_path / "a" / "last.pt")
    assert type(model).__name__ == "Toy" and type(model).__module__ == "toy_model_plugin"
    assert meta["arch"]["model"] == "toy" and not model.training
    out = model(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32))
    assert out.shape == (1, 3, 32, 32)


def test_without_the_plugin_the_toy_is_unknown(tmp_path, images):
    r = _bench(
        "train", "--profile", "smoke", "--model", "toy", "--data", str(images), "--out", str(tmp_path / "x")
    )
    assert r.returncode == 2 and "toy" in r.stderr
