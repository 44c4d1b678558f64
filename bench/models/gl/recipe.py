"""GL trained by `bench train --model gl`: its generator, critics, step and phases (registered here).

* GL (Iizuka et al. 2017): the completion network and the global + local context discriminators, with the
  paper's three phases: reconstruction only (MSE in the holes) for the first GL_TC of the steps,
  discriminators only for the next GL_TD, then both with the adversarial weight 0.0004. The paper's
  schedule is T_C = 90,000 and T_D = 10,000 of 500,000 iterations; here the same shares of the run.

The discriminators see a local crop of half the image side centred on a random hole pixel
(bench.models.gl.network.local_crop_boxes; irregular holes have no box of their own). What GL shares with
GntIpt's training (ranks, broadcasts, random generators) is in bench.models.adversarial.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bench.models.adversarial import SHARED, maker, step_rngs, sync_buffers, update
from bench.models.registry import TrainableModel, register_model
from masks.conventions import composite

GL_TC, GL_TD = 90_000 / 500_000, 10_000 / 500_000  # the paper's phase shares
# Convolution weights at width 1 per unit of width squared (6.07M at width 64): a width's weights are about
# this times width**2.
_GL_WEIGHTS_PER_WIDTH2 = 6_072_131 / 64**2


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
    from bench.models.gl.network import GLDiscriminator

    return GLDiscriminator(global_size=cfg.size, local_size=cfg.size // 2, width=cfg.width)


def gl_optimisers(cfg: Any, gen: nn.Module, critics: nn.Module):
    """(generator's, discriminator's) optimisers: Adam at `lr`, or the paper's ADADELTA (`gl_optimizer`;
    torch's rho 0.9, eps 1e-6, at lr 1: it has no learning rate of its own, torch scales its step by lr)."""
    if cfg.gl_optimizer == "adadelta":
        return torch.optim.Adadelta(gen.parameters(), lr=1.0), torch.optim.Adadelta(
            critics.parameters(), lr=1.0
        )
    lr = float(cfg.lr)
    return torch.optim.Adam(gen.parameters(), lr=lr), torch.optim.Adam(critics.parameters(), lr=lr)


def gl_step(run: Any, gen: nn.Module, images: Tensor, masks: Tensor, step: int, last_saved: Any = None):
    """One GL step in its phase; returns (logged terms, the raw output). `gen` is run.model (no wrapper);
    `last_saved` is not used (a non-finite loss names the last checkpoint through run.check_finite)."""
    from bench.models.gl.network import (
        crop_patches,
        gl_discriminator_loss,
        gl_generator_loss,
        local_crop_boxes,
    )

    disc = run.critics
    phase = gl_phase(step, run.cfg.total_steps)
    rng, _ = step_rngs(run.cfg.seed, step, run.d.rank)
    boxes = local_crop_boxes(masks, images.shape[-1] // 2, rng)
    output = gen(images, masks)
    completed = composite(output, images, masks)
    terms: dict[str, float] = {}
    if phase in (2, 3):  # the discriminators learn real vs completed
        fake = completed.detach()
        d_loss = gl_discriminator_loss(
            disc(images, crop_patches(images, boxes)), disc(fake, crop_patches(fake, boxes))
        )
        update(run.opt_d, d_loss, run)
        terms["d_loss"] = float(d_loss.detach())
    if phase in (1, 3):  # the completion network learns
        logits = disc(completed, crop_patches(completed, boxes)) if phase == 3 else None
        g_loss = gl_generator_loss(output, images, masks, logits)
        update(run.optimizer, g_loss, run)
        terms["recon"] = float(((1 - masks) * (output - images)).pow(2).mean().detach())
        terms["total"] = float(g_loss.detach())
    terms.setdefault("total", terms.get("d_loss", 0.0))
    sync_buffers(run)
    return terms, output.detach()


def build_gl(arch: dict[str, Any]) -> nn.Module:
    from bench.models.gl.network import GLCompletionNet

    return GLCompletionNet(width=int(arch["width"]))


def _gl_phase(cfg: Any, step: int) -> int:
    return gl_phase(step, cfg.total_steps)


register_model(TrainableModel(
    "gl", build=build_gl, weights=lambda arch, path: int(_GL_WEIGHTS_PER_WIDTH2 * arch["width"] ** 2),
    make=maker("gl"), critics=gl_critics, optimisers=gl_optimisers, step=gl_step,
    phase=_gl_phase, summary="Iizuka et al. 2017", **SHARED,
), origin=__name__)  # fmt: skip
