"""PConv and Conv as trainable models (bench.models.registry): the U-Net of bench.models.unet.network, the
paper's loss and its two-phase schedule.

Phase 1: Adam at `cfg.lr` (after `cfg.warmup_steps` of linear warm-up) with BatchNorm on; phase 2 (from
step `cfg.steps_phase1`): `cfg.finetune_lr` with the encoder's BatchNorm frozen. Under torchrun the
U-Net is wrapped in DistributedDataParallel, rebuilt at the phase boundary (the freeze changes which
parameters take gradients). Conv is the same U-Net with plain convolutions (`--conv standard`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bench.core.device import autocast
from bench.core.distributed import agree
from bench.core.errors import BenchError
from bench.models.checkpoint import LAST
from bench.models.registry import TrainableModel, register_model
from masks.conventions import HOLE_FILL


def build(arch: dict[str, Any]) -> nn.Module:
    """InpaintingUNet(**arch), the arch of a checkpoint."""
    from bench.models.unet.network import InpaintingUNet

    return InpaintingUNet(**{k: v for k, v in arch.items() if k != "model"})


def weights(arch: dict[str, Any], path: Any) -> int:
    """Convolution weights of the U-Net `arch` describes, its ints checked first (bench.models.checkpoint)."""
    from bench.models.checkpoint import MAX_ARCH_IN_CHANNELS, MAX_ARCH_LAYERS, arch_int, unet_weights

    layers = arch_int(arch, "layers", MAX_ARCH_LAYERS, path)
    in_ch = arch_int(arch, "in_channels", MAX_ARCH_IN_CHANNELS, path) if "in_channels" in arch else 3
    return unet_weights(layers, int(arch["width"]), in_ch)


def make(cfg: Any, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The U-Net of `cfg`, initialised from cfg.seed (the same on every rank)."""
    from bench.models.checkpoint import build_model
    from bench.models.unet.network import layers_for_size

    try:
        layers = cfg.layers if cfg.layers is not None else layers_for_size(cfg.size)
    except ValueError as e:
        raise BenchError(f"--size {cfg.size}: {e}") from e
    arch = {"layers": int(layers), "width": int(cfg.width), "conv": cfg.conv, "in_channels": 3}
    torch.manual_seed(cfg.seed)
    model = build_model(arch, "the configuration").to(device)
    if cfg.init != "he":  # the same seed as the constructor's He draw, so PConv and Conv still start equal
        model.init_weights(torch.Generator().manual_seed(model.init_seed), cfg.init)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    return model, dict(model.arch())


def optimisers(cfg: Any, model: nn.Module, critics: None) -> tuple[torch.optim.Optimizer, None]:  # noqa: ARG001
    return torch.optim.Adam(model.parameters(), lr=cfg.lr), None


def wrap(run: Any, phase: int) -> nn.Module:
    """The model for `phase`: encoder BatchNorm frozen in phase 2; DDP (re)built after the freeze, which
    changes the parameters that take gradients."""
    run.model.set_encoder_bn_frozen(phase == 2)
    if not run.d.enabled:
        return run.model
    cuda = run.device.type == "cuda"
    return nn.parallel.DistributedDataParallel(run.model, device_ids=[run.device.index] if cuda else None)


def step(run: Any, model: nn.Module, images: torch.Tensor, masks: torch.Tensor, step: int, last_saved):
    """One optimisation step; returns (terms, output). A non-finite loss stops every rank (BenchError)."""
    cfg = run.cfg
    for group in run.optimizer.param_groups:
        group["lr"] = cfg.lr_of(step)
    model.train()  # InpaintingUNet.train keeps frozen encoder BN in eval mode
    x = torch.where(masks > 0.5, images, torch.full_like(images, HOLE_FILL))  # holes never reach the net
    masks_in = masks
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        masks_in = masks.contiguous(memory_format=torch.channels_last)
    with autocast(run.device, run.precision):
        output = model(x, masks_in)
        loss, terms = run.loss_fn(output, images, masks)
    # every rank must stop together, or the others would hang in the next all-reduce
    if not agree(run.d, bool(torch.isfinite(loss.detach()).all())):
        where = f"the last good checkpoint is {run.out / LAST} (step {last_saved})" if last_saved else (
            "no checkpoint was written yet")  # fmt: skip
        raise BenchError(f"the loss became {loss.item()} at step {step + 1} (phase {cfg.phase_of(step)}); "
                         f"stopped: {where}")  # fmt: skip
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    if run.ema is not None:
        ema_update(run.ema, run.model, cfg.ema_decay, step + 1)
    return terms, output


@torch.no_grad()
def ema_update(ema: dict[str, torch.Tensor], model: nn.Module, decay: float, done: int) -> None:
    """ema <- d * ema + (1 - d) * weights after `done` steps, d = min(decay, (1 + done) / (10 + done)): the
    warm-up keeps the average from being dominated by the first, random weights in a short run. Buffers
    that are not floating point (BatchNorm's step count) are copied."""
    d = min(decay, (1 + done) / (10 + done))
    for k, v in model.state_dict().items():
        if v.is_floating_point():
            ema[k].lerp_(v, 1.0 - d)
        else:
            ema[k].copy_(v)


def check(cfg: Any) -> None:
    """An explicit depth must fit the size: the U-Net halves the image `layers` times."""
    if cfg.layers is not None:
        f = 2 ** min(int(cfg.layers), 64)
        if cfg.layers < 1 or cfg.size % f or cfg.size // f < 1:
            raise BenchError(
                f"layers {cfg.layers} does not fit size {cfg.size}: the U-Net needs a size divisible "
                f"by 2**layers (leave layers unset to follow the size)"
            )


def _phase(cfg: Any, step: int) -> int:
    return cfg.phase_of(step)


def _lr(run: Any, step: int) -> float:
    return run.cfg.lr_of(step)


_UNET = dict(build=build, weights=weights, make=make, optimisers=optimisers, step=step, wrap=wrap,
             phase=_phase, lr=_lr, arch_names_model=False, uses_features=True, check=check)  # fmt: skip
register_model(TrainableModel("pconv", **_UNET, twin="conv", summary="the paper's"))
register_model(TrainableModel("conv", **_UNET, conv="standard", summary="its plain-conv twin"))
