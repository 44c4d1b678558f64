"""`bench reproduce`: the smoke profile end to end, resuming after a stage was removed, the paper profile
on CPU with small overrides, and its clear error when VGG-16 weights are absent."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import vgg16_conv1_to_conv3

from bench.cli import main

# Keep the end-to-end runs small: 2 test images x 12 cells x 7 methods.
SMOKE = ["reproduce", "--profile", "smoke", "--limit", "2"]


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("smoke")
    result = CliRunner().invoke(main, [*SMOKE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_smoke_end_to_end(smoke_run):
    out, output = smoke_run
    res = out / "results"
    for name in ("table.md", "table.csv", "table.tex", "summary.csv", "curves.png", "curves.pdf",
                 "environment.json", "report.html"):  # fmt: skip
        assert (res / name).is_file(), name
    table = (res / "table.md").read_text()
    for method in ("pconv", "conv", "GL", "GntIpt", "patchmatch", "telea", "ns", "biharmonic", "mean"):
        assert f"| {method} " in table
    assert "(0.5,0.6] B" in table and "(0.01,0.1] N" in table
    assert "IS*" in table and "| IS " not in table  # the stand-in is never labelled IS
    env = json.loads((res / "environment.json").read_text())
    assert env["feature_networks"] == {"pconv": "efficientnet-lite0", "conv": "efficientnet-lite0",
                                       "gl": "none", "gntipt": "none"}  # fmt: skip
    assert set(env["wall_time_s"]) >= {"data", "masks", "train-pconv", "train-conv", "evaluate", "total"}
    assert env["packages"]["torch"] == torch.__version__.split("+")[0]
    assert env["commands"] and "reproduce" in env["commands"][0]
    assert "L1 (%)" in output and str(res / "table.md") in output


def test_rerun_skips_complete_stages_and_resumes_a_removed_one(smoke_run):
    from click.testing import CliRunner

    out, _ = smoke_run
    before = (out / "results" / "table.csv").read_text()
    shutil.rmtree(out / "masks")  # a removed stage runs again; the same seed gives the same masks
    result = CliRunner().invoke(main, [*SMOKE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[masks] running" in result.output
    for stage in ("data", "train-pconv", "train-conv", "train-gl", "train-gntipt"):
        assert f"[{stage}] complete, skipped" in result.output
    assert "[evaluate] complete, records reused" in result.output
    assert (out / "results" / "table.csv").read_text() == before


def test_paper_profile_needs_vgg16_weights(tmp_path, monkeypatch, runner):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("PCONV_BENCH_VGG16", raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    out = tmp_path / "paper"
    result = runner.invoke(main, ["reproduce", "--profile", "paper", "--out", str(out)])
    assert result.exit_code == 2
    assert "VGG-16 ImageNet weights are needed" in result.output
    assert not out.exists()


def test_paper_profile_on_cpu_with_small_overrides(tmp_path, runner):
    """The paper's network (width 64, VGG-16 features) at 64 px for 2 steps, 1 mask per cell, 1 image."""
    from torchvision.models import vgg16

    weights = tmp_path / "vgg16.pth"
    # Random weights of the layers read (conv1-conv3): the code path, not the numbers.
    torch.save(vgg16_conv1_to_conv3(vgg16(weights=None)), weights)
    out = tmp_path / "paper"
    args = ["reproduce", "--profile", "paper", "--out", str(out), "--size", "64", "--per-bin", "1",
            "--limit", "1", "--steps", "2", "--batch-size", "2", "--workers", "1",
            "--feature-weights", str(weights)]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    env = json.loads((out / "results" / "environment.json").read_text())
    assert env["feature_networks"] == {"pconv": "vgg16", "conv": "vgg16", "gl": "none", "gntipt": "none"}
    from bench.models.checkpoint import load_checkpoint

    ckpt = load_checkpoint(out / "train" / "pconv" / "last.pt")
    assert ckpt["arch"]["width"] == 64 and ckpt["step"] == 2
