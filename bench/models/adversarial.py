"""GL and GntIpt trained by `bench train --model gl|gntipt`: their generators, critics and steps.

* GL (Iizuka et al. 2017): the completion network and the global + local context discriminators, with the
  paper's three phases: reconstruction only (MSE in the holes) for the first GL_TC of the steps,
  discriminators only for the next GL_TD, then both with the adversarial weight 0.0004. The paper's
  schedule is T_C = 90,000 and T_D = 10,000 of 500,000 iterations; here the same shares of the run.
* GntIpt (Yu et al. 2018, contextual attention): coarse + refinement generator, WGAN-GP global and local
  critics, the spatially discounted L1 (gamma 0.99) and the released loss weights
  (bench.models.gntipt.LossWeights); Adam with the released betas (0.5, 0.9) at `gntipt_lr` (the release's
  1e-4 in the paper profile), critics of the release's widths (base 64, whatever the generator's cnum;
  `critic_width` narrows them on the CPU profiles). GL: Adam at `lr`, or the paper's ADADELTA (`gl_optimizer`,
  the paper profile's choice); the table row of a model trained here states these choices. The released
  trainer updates the critics 5 times per generator step on fresh batches; here they are updated
  `TrainConfig.critic_steps` times (default CRITIC_STEPS = 1, the paper profile 5) on the step's own batch
  (one generator forward per step), to keep CPU runs affordable.

Both discriminators see a local crop of half the image side centred on a random hole pixel
(bench.models.gl.local_crop_boxes; irregular holes have no box of their own). Every random choice of a
step comes from generators seeded by (seed, step, rank), so a resumed run repeats the same steps.

Many processes (torchrun; gloo on the CPU, nccl on CUDA, set up by bench.training.loop): no network is wrapped
in DistributedDataParallel. Each rank runs the step on its own batch, and after every `backward()` the
gradients of the optimiser about to step, and only those, are averaged over the ranks with one
`all_reduce` (sum of one flat tensor, divided by the world size; `_update`). Why not DDP: the critics run
in the generator's backward (their gradients there must be neither reduced nor applied), WGAN-GP's
`autograd.grad(create_graph=True)` does not mix with DDP's reducer hooks, and in GL's phases 1 and 2 one
network gets no gradient at all (DDP would need find_unused_parameters). Here the generator and the
critics alternate exactly as in one process; every rank makes the same collective calls in the same order
because the phase is a function of the step, and a non-finite loss stops every rank together (the
all-reduced check in `run.check_finite`). Parameters and buffers are broadcast from rank 0 once at the
start (`broadcast_state`), so the ranks start equal and, with equal averaged gradients, stay equal bit for
bit; rank 0 writes the checkpoints. BatchNorm (GL's networks; GntIpt has none) stays plain BatchNorm, not
SyncBatchNorm (CUDA-only in PyTorch, and it would make CPU and GPU runs train different models): batch
statistics are per rank, as for PConv under DDP, and the running statistics are broadcast from rank 0
after each step (`_sync_buffers`, as DDP's broadcast_buffers). So a run on N ranks of batch B equals one
process on the union of their batches up to float rounding, except for BatchNorm's per-rank statistics
and for GntIpt's losses that normalise by the batch's hole and valid pixel counts (equal only when every
rank's batch has the same counts); the random crops and gradient-penalty draws are per rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from bench.models.registry import TrainableModel, register_model

GL_TC, GL_TD = 90_000 / 500_000, 10_000 / 500_000  # the paper's phase shares
CRITIC_STEPS = 1  # GntIpt critic updates per generator step: TrainConfig.critic_steps' default


def gl_phases(total: int) -> tuple[int, int]:
    """(T_C, T_D) of a GL run of `total` steps, at least one step each: the paper's shares of the run."""
    t_c = max(1, round(GL_TC * total))
    return t_c, max(1, round(GL_TD * total))


def gl_phase(step: int, total: int) -> int:
    """Phase of 0-based `step` of a GL run of `total` steps: 1 reconstruction (the completion network
    alone, MSE in the holes) for T_C steps, 2 discriminators only for T_D steps, 3 both after."""
    t_c, t_d = gl_phases(total)
    return 1 if step < t_c else (2 if step < t_c + t_d else 3)


def gl_critics(cfg: Any) -> nn.Module:
    """GL's fused context discriminator at GL's `width`, for `cfg.size` px images."""
    from bench.models.gl import GLDiscriminator

    return GLDiscriminator(global_size=cfg.size, local_size=cfg.size // 2, width=cfg.width)


def gntipt_critics(cfg: Any) -> nn.Module:
    """GntIpt's two WGAN critics for `cfg.size` px images at base width `cfg.critic_width` (None: the
    release's 64), whatever the generator's cnum."""
    from bench.models.gntipt import CRITIC_CNUM, global_critic, local_critic

    c = CRITIC_CNUM if cfg.critic_width is None else int(cfg.critic_width)
    return nn.ModuleDict({"global": global_critic(cfg.size, c), "local": local_critic(cfg.size // 2, c)})


def gl_optimisers(cfg: Any, gen: nn.Module, critics: nn.Module):
    """(generator's, discriminator's) optimisers: Adam at `lr`, or the paper's ADADELTA (`gl_optimizer`;
    torch's rho 0.9, eps 1e-6, at lr 1: it has no learning rate of its own, torch scales its step by lr)."""
    if cfg.gl_optimizer == "adadelta":
        return torch.optim.Adadelta(gen.parameters(), lr=1.0), torch.optim.Adadelta(
            critics.parameters(), lr=1.0
        )
    lr = float(cfg.lr)
    return torch.optim.Adam(gen.parameters(), lr=lr), torch.optim.Adam(critics.parameters(), lr=lr)


def gntipt_optimisers(cfg: Any, gen: nn.Module, critics: nn.Module):
    """(generator's, critics') optimisers: Adam with the released betas (0.5, 0.9) at `gntipt_lr` (None:
    `lr`)."""
    lr, betas = float(cfg.gntipt_lr or cfg.lr), (0.5, 0.9)
    return (torch.optim.Adam(gen.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(critics.parameters(), lr=lr, betas=betas))  # fmt: skip


def _rngs(seed: int, step: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """The step's numpy and torch generators: functions of (seed, step, rank) only."""
    torch_seed = int(np.random.default_rng([seed, step, rank, 0xC1]).integers(2**62))
    return np.random.default_rng([seed, step, rank, 0xC0]), torch.Generator().manual_seed(torch_seed)


def gl_step(run: Any, gen: nn.Module, images: Tensor, masks: Tensor, step: int, last_saved: Any = None):
    """One GL step in its phase; returns (logged terms, the raw output). `gen` is run.model (no wrapper);
    `last_saved` is not used (a non-finite loss names the last checkpoint through run.check_finite)."""
    from bench.models.gl import crop_patches, gl_discriminator_loss, gl_generator_loss, local_crop_boxes

    disc = run.critics
    phase = gl_phase(step, run.cfg.total_steps)
    rng, _ = _rngs(run.cfg.seed, step, run.d.rank)
    boxes = local_crop_boxes(masks, images.shape[-1] // 2, rng)
    output = gen(images, masks)
    completed = masks * images + (1 - masks) * output
    terms: dict[str, float] = {}
    if phase in (2, 3):  # the discriminators learn real vs completed
        fake = completed.detach()
        d_loss = gl_discriminator_loss(
            disc(images, crop_patches(images, boxes)), disc(fake, crop_patches(fake, boxes))
        )
        _update(run.opt_d, d_loss, run)
        terms["d_loss"] = float(d_loss.detach())
    if phase in (1, 3):  # the completion network learns
        logits = disc(completed, crop_patches(completed, boxes)) if phase == 3 else None
        g_loss = gl_generator_loss(output, images, masks, logits)
        _update(run.optimizer, g_loss, run)
        terms["recon"] = float(((1 - masks) * (output - images)).pow(2).mean().detach())
        terms["total"] = float(g_loss.detach())
    terms.setdefault("total", terms.get("d_loss", 0.0))
    _sync_buffers(run)
    return terms, output.detach()


def gntipt_step(run: Any, gen: nn.Module, images: Tensor, masks: Tensor, step: int, last_saved: Any = None):
    """One GntIpt step: `cfg.critic_steps` critic updates (WGAN-GP, global + local), then the generator.
    Arguments and result as `gl_step`'s."""
    from bench.models.gl import crop_patches, local_crop_boxes
    from bench.models.gntipt import (
        LossWeights,
        from_net_range,
        gradient_penalty,
        reconstruction_losses,
        to_net_range,
        wgan_losses,
    )

    w, critics = LossWeights(), run.critics
    _, tgen = _rngs(run.cfg.seed, step, run.d.rank)
    boxes = local_crop_boxes(masks, images.shape[-1] // 2, tgen)
    hole = 1 - masks
    coarse, refined = gen(images, masks)
    gt, x2 = to_net_range(images), to_net_range(masks * images + hole * refined)  # [-1,1], as released

    def scores(x: Tensor) -> tuple[Tensor, Tensor]:
        return critics["global"](x), critics["local"](crop_patches(x, boxes))

    for _ in range(run.cfg.critic_steps):
        fake = x2.detach()
        (rg, rl), (fg, fl) = scores(gt), scores(fake)
        gp_g = gradient_penalty(critics["global"], gt, fake, hole, generator=tgen)
        gp_l = gradient_penalty(critics["local"], crop_patches(gt, boxes), crop_patches(fake, boxes),
                                crop_patches(hole, boxes), generator=tgen)  # fmt: skip
        d_loss = w.critic(wgan_losses(rg, fg)[1], wgan_losses(rl, fl)[1], gp_g, gp_l)
        _update(run.opt_d, d_loss, run)
    fg, fl = scores(x2)
    l1, ae = reconstruction_losses(gt, masks, to_net_range(coarse), to_net_range(refined), w)
    g_loss = w.generator(l1, ae, wgan_losses(fg, fg)[0], wgan_losses(fl, fl)[0])
    _update(run.optimizer, g_loss, run)
    out = from_net_range(to_net_range(refined)).detach()
    _sync_buffers(run)
    return {
        "total": float(g_loss.detach()),
        "recon": float(l1.detach()),
        "d_loss": float(d_loss.detach()),
    }, out


def _update(opt: torch.optim.Optimizer, loss: Tensor, run: Any) -> None:
    """One optimiser step on `loss`; under torchrun its gradients are first averaged over the ranks."""
    run.check_finite(loss)  # a non-finite loss stops every rank with a BenchError
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if run.d.enabled:
        _average_gradients(opt)
    opt.step()


def _average_gradients(opt: torch.optim.Optimizer) -> None:
    """Replace each gradient of `opt`'s parameters by its mean over the ranks: one all_reduce of a flat
    tensor. Parameters without a gradient are skipped; which have one is the same on every rank (it
    depends on the phase, a function of the step, not on the data)."""
    grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)  # sum
    flat /= dist.get_world_size()
    for g, avg in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
        g.copy_(avg.view_as(g))


def _broadcast(tensors: list[Tensor]) -> None:
    """Overwrite `tensors` with rank 0's values: one broadcast per dtype."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        flat = torch.cat([t.detach().reshape(-1) for t in group])
        dist.broadcast(flat, src=0)
        with torch.no_grad():
            for t, v in zip(group, flat.split([t.numel() for t in group]), strict=True):
                t.copy_(v.view_as(t))


def broadcast_state(run: Any) -> None:  # on_start of both registrations
    """Under torchrun: the generator's and critics' parameters and buffers as on rank 0 (as DDP does
    when it wraps a module), so every rank starts from the same weights."""
    if run.d.enabled:
        _broadcast([*run.model.state_dict().values(), *run.critics.state_dict().values()])


def _sync_buffers(run: Any) -> None:
    """Under torchrun: BatchNorm running statistics as on rank 0 after each step (DDP's
    broadcast_buffers); batch statistics stay per rank. Nothing to do for networks without buffers."""
    if run.d.enabled:
        buffers = [*run.model.buffers(), *run.critics.buffers()]
        if buffers:
            _broadcast(buffers)


# ------------------------------------------------------------------------------------ registrations


def build_gl(arch: dict[str, Any]) -> nn.Module:
    from bench.models.gl import GLCompletionNet

    return GLCompletionNet(width=int(arch["width"]))


def build_gntipt(arch: dict[str, Any]) -> nn.Module:
    from bench.models.gntipt import GntIptGenerator

    return GntIptGenerator(cnum=int(arch["width"]), flavour=arch.get("flavour", "tf"))


# Convolution weights at width 1 per unit of width squared: GL's completion net (6.07M at width 64) and
# GntIpt's generator (3.60M at cnum 32); a width's weights are about this times width**2.
_GL_WEIGHTS_PER_WIDTH2, _GNTIPT_WEIGHTS_PER_WIDTH2 = 6_072_131 / 64**2, 3_601_542 / 32**2


def _maker(name: str) -> Any:
    def make(cfg: Any, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
        """The generator of `cfg` (arch: the model's name and width), initialised from cfg.seed."""
        from bench.models.checkpoint import build_model

        arch = {"model": name, "width": int(cfg.width)}
        torch.manual_seed(cfg.seed)
        return build_model(arch, "the configuration").to(device), arch

    return make


def _unwrapped(run: Any, phase: int) -> nn.Module:  # noqa: ARG001 - no wrapper in any phase (see above)
    return run.model


def _optimiser_lr(run: Any, step: int) -> float:  # noqa: ARG001 - the optimiser's own
    return run.optimizer.param_groups[0]["lr"]


def _joint(cfg: Any, step: int) -> int:  # noqa: ARG001 - GntIpt: one phase, joint from the start
    return 1


def _gl_phase(cfg: Any, step: int) -> int:
    return gl_phase(step, cfg.total_steps)


_SHARED = dict(wrap=_unwrapped, lr=_optimiser_lr, on_start=broadcast_state)
register_model(TrainableModel(
    "gl", build=build_gl, weights=lambda arch, path: int(_GL_WEIGHTS_PER_WIDTH2 * arch["width"] ** 2),
    make=_maker("gl"), critics=gl_critics, optimisers=gl_optimisers, step=gl_step,
    phase=_gl_phase, summary="Iizuka et al. 2017", **_SHARED,
))  # fmt: skip
register_model(TrainableModel(
    "gntipt", build=build_gntipt,
    weights=lambda arch, path: int(_GNTIPT_WEIGHTS_PER_WIDTH2 * arch["width"] ** 2),
    make=_maker("gntipt"), critics=gntipt_critics, optimisers=gntipt_optimisers,
    step=gntipt_step, phase=_joint, summary="Yu et al. 2018", **_SHARED,
))  # fmt: skip
