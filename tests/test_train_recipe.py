"""bench train's recipe knobs and precision: warm-up, initialisation, weight average, bf16 and channels-last.

Each knob is checked against a hand computation; bf16 runs (emulated where the CPU lacks native bf16) must
resume bit for bit like fp32 ones. All tiny (32 px)."""

from __future__ import annotations

import math

import pytest
import torch
from test_train import images, states_equal, tiny_cfg  # noqa: F401 - the images fixture
from torch import nn

import bench.models.unet.loss
from bench.core.device import bf16_native, resolve_precision
from bench.core.errors import BenchError
from bench.models.checkpoint import LAST, load_checkpoint, load_checkpoint_model
from bench.models.unet.network import InpaintingUNet
from bench.models.unet.recipe import ema_update
from bench.training.config import TrainConfig, resolve_config
from bench.training.loop import train

RECIPE = dict(steps_phase1=6, steps_phase2=2, checkpoint_every=2, warmup_steps=3, ema_decay=0.9, init="torch")


def test_warmup_ramps_linearly_then_holds_then_finetunes():
    cfg = tiny_cfg(lr=1e-3, finetune_lr=1e-5, warmup_steps=4, steps_phase1=6, steps_phase2=2)
    assert [cfg.lr_of(s) for s in range(8)] == pytest.approx(
        [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3, 1e-5, 1e-5]
    )
    assert tiny_cfg(lr=1e-3).lr_of(0) == 1e-3  # no warm-up by default: the paper's schedule


def test_torch_init_is_pytorchs_default_distribution_and_equal_for_both_convolutions():
    nets = {}
    for conv in ("partial", "standard"):
        torch.manual_seed(5)
        net = InpaintingUNet(layers=3, width=8, conv=conv)
        net.init_weights(torch.Generator().manual_seed(net.init_seed), "torch")
        nets[conv] = net
    a, b = nets["partial"].state_dict(), nets["standard"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # PConv and Conv start from the same weights
    for block in [*nets["partial"].encoder, *nets["partial"].decoder]:
        w = block.conv.weight.detach()
        bound = 1 / math.sqrt(w[0].numel())  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), +)
        assert float(w.abs().max()) <= bound
        if w.numel() > 2000:  # enough draws for the uniform's standard deviation bound / sqrt(3)
            assert float(w.std()) == pytest.approx(bound / math.sqrt(3), rel=0.1)
        if block.conv.bias is not None:
            b = block.conv.bias.detach().abs().max()
            assert 0 < float(b) <= bound
    he = InpaintingUNet(layers=3, width=8).encoder[1].conv.weight.detach()
    assert float(he.std()) == pytest.approx(math.sqrt(2 / he[0].numel()), rel=0.1)
    with pytest.raises(BenchError, match="init"):
        tiny_cfg(init="xavier")


def test_ema_update_against_the_formula():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = {k: v.clone() for k, v in net.state_dict().items()}
    start = {k: v.clone() for k, v in ema.items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].num_batches_tracked += 7
    ema_update(ema, net, decay=0.99, done=5)
    d = 6 / 15  # min(0.99, (1 + 5) / (10 + 5)): the warm-up of the average
    now = net.state_dict()
    for k, v in ema.items():
        if v.is_floating_point():
            assert torch.allclose(v, d * start[k] + (1 - d) * now[k], atol=1e-6), k
        else:
            assert torch.equal(v, now[k])  # integer buffers are copied


def test_evaluation_uses_the_averaged_weights(images, tmp_path):  # noqa: F811
    last = train(tiny_cfg(**RECIPE), tmp_path / "run", data=images, progress=False)
    ckpt = load_checkpoint(last)
    assert not states_equal(ckpt["ema"], ckpt["model"])
    model, _ = load_checkpoint_model(last)
    got = model.state_dict()
    assert all(torch.equal(got[k], ckpt["ema"][k].contiguous()) for k in got)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_is_bit_identical_with_every_knob(images, tmp_path, monkeypatch, precision):  # noqa: F811
    cfg = tiny_cfg(**RECIPE, precision=precision, channels_last=True)
    ref = load_checkpoint(train(cfg, tmp_path / "straight", data=images, progress=False))
    assert ref["precision"] == precision
    calls = {"n": 0}
    real = bench.models.unet.loss.l1_hole

    def crashing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:  # inside step 4: last.pt holds step 2
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(bench.models.unet.loss, "l1_hole", crashing)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "killed", data=images, progress=False)
    monkeypatch.setattr(bench.models.unet.loss, "l1_hole", real)
    assert load_checkpoint(tmp_path / "killed" / LAST)["step"] == 2
    got = load_checkpoint(train(cfg, tmp_path / "killed", data=images, resume=True, progress=False))
    for key in ("model", "optimizer", "ema"):
        assert states_equal(ref[key], got[key]), key


def test_bf16_trains_another_model_than_fp32_and_resume_refuses_a_switch(images, tmp_path):  # noqa: F811
    a = load_checkpoint(train(tiny_cfg(precision="fp32"), tmp_path / "a", data=images, progress=False))
    b = load_checkpoint(train(tiny_cfg(precision="bf16"), tmp_path / "b", data=images, progress=False))
    assert not states_equal(a["model"], b["model"])  # autocast really ran in bf16
    with pytest.raises(BenchError, match="precision"):
        train(tiny_cfg(precision="bf16", steps_phase2=4), tmp_path / "a", data=images, resume=True)


def test_precision_resolution():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if bf16_native(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    with pytest.raises(BenchError, match="precision"):
        resolve_precision("fp16", cpu)
    assert TrainConfig(amp=True).validate().precision == "bf16"  # the former --amp
    assert resolve_config("smoke").precision == "fp32"  # tests and the smoke profile run in fp32


def test_keep_every_keeps_a_copy_per_interval(images, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    last = train(tiny_cfg(keep_every=2, steps_phase1=3, steps_phase2=2), out, data=images, progress=False)
    kept = sorted(p.name for p in (out / "steps").iterdir())
    assert kept == ["step_0000002.pt", "step_0000004.pt"]  # every 2 steps; the last step (5) is last.pt
    assert load_checkpoint(out / "steps" / "step_0000004.pt")["step"] == 4
    assert load_checkpoint(last)["step"] == 5


def test_loss_weights_replace_the_papers_where_given(images, tmp_path):  # noqa: F811
    from bench.metrics.features import load_feature_net
    from bench.models.unet.loss import WEIGHTS
    from bench.training.loop import _loss

    loss = _loss(tiny_cfg(loss_weights={"tv": 1.5}), load_feature_net("none"))
    assert loss.weights == {**WEIGHTS, "tv": 1.5}
    gt, out = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    mask = torch.ones(2, 1, 16, 16)
    mask[..., 3:9, 4:12] = 0
    total, terms = loss(out, gt, mask)
    want = terms["valid"] + 6 * terms["hole"] + 1.5 * terms["tv"]
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    with pytest.raises(BenchError, match="unknown term"):
        train(tiny_cfg(loss_weights={"tvv": 1.0}), tmp_path / "x", data=images, progress=False)
    with pytest.raises(BenchError, match="tv must be a number"):
        tiny_cfg(loss_weights={"tv": -1})


@pytest.mark.slow
def test_checkpoints_are_byte_reproducible_across_processes(images, tmp_path):  # noqa: F811
    """Two processes training the same run write the same last.pt bytes (the saved Python and NumPy
    generator states included, which a fresh process would otherwise start from the OS's entropy)."""
    import hashlib
    import subprocess
    import sys

    code = (
        "import sys; from pathlib import Path; from bench.training.config import TrainConfig\n"
        "from bench.training.loop import train\n"
        "cfg = TrainConfig(profile='test', size=32, width=4, batch_size=2, steps_phase1=2, steps_phase2=1,\n"
        "                  features='none', seed=3).validate()\n"
        "train(cfg, Path(sys.argv[1]), data=Path(sys.argv[2]), progress=False)"
    )
    digests = []
    for k in range(2):
        out = tmp_path / f"run{k}"
        subprocess.run([sys.executable, "-c", code, str(out), str(images)], check=True, timeout=300)
        digests.append(hashlib.sha256((out / LAST).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
