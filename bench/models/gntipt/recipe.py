"""GntIpt trained by `bench train --model gntipt`: its generator, critics and step (registered here).

* GntIpt (Yu et al. 2018, contextual attention): coarse + refinement generator, WGAN-GP global and local
  critics, the spatially discounted L1 (gamma 0.99) and the released loss weights
  (bench.models.gntipt.network.LossWeights); Adam with the released betas (0.5, 0.9) at `gntipt_lr` (the
  release's 1e-4 in the paper profile), critics of the release's widths (base 64, whatever the generator's
  cnum; `critic_width` narrows them on the CPU profiles). GL: Adam at `lr`, or the paper's ADADELTA
  (`gl_optimizer`, the paper profile's choice); the table row of a model trained here states these choices.
  The released trainer updates the critics 5 times per generator step on fresh batches; here they are updated
  `TrainConfig.critic_steps` times (default CRITIC_STEPS = 1, the paper profile 5) on the step's own batch
  (one generator forward per step), to keep CPU runs affordable.

The critics see a local crop of half the image side centred on a random hole pixel (GL's
bench.models.gl.network.local_crop_boxes). What GntIpt shares with GL's training (ranks, broadcasts, random
generators) is in bench.models.adversarial.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from bench.models.adversarial import SHARED, maker, step_rngs, sync_buffers, update
from bench.models.registry import TrainableModel, register_model
from masks.conventions import composite

CRITIC_STEPS = 1  # GntIpt critic updates per generator step: TrainConfig.critic_steps' default
# Convolution weights at cnum 1 per unit of cnum squared (3.60M at cnum 32).
_GNTIPT_WEIGHTS_PER_WIDTH2 = 3_601_542 / 32**2


def gntipt_critics(cfg: Any) -> nn.Module:
    """GntIpt's two WGAN critics for `cfg.size` px images at base width `cfg.critic_width` (None: the
    release's 64), whatever the generator's cnum."""
    from bench.models.gntipt.network import CRITIC_CNUM, global_critic, local_critic

    c = CRITIC_CNUM if cfg.critic_width is None else int(cfg.critic_width)
    return nn.ModuleDict({"global": global_critic(cfg.size, c), "local": local_critic(cfg.size // 2, c)})


def gntipt_optimisers(cfg: Any, gen: nn.Module, critics: nn.Module):
    """(generator's, critics') optimisers: Adam with the released betas (0.5, 0.9) at `gntipt_lr` (None:
    `lr`)."""
    lr, betas = float(cfg.gntipt_lr or cfg.lr), (0.5, 0.9)
    return (torch.optim.Adam(gen.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(critics.parameters(), lr=lr, betas=betas))  # fmt: skip


def gntipt_step(run: Any, gen: nn.Module, images: Tensor, masks: Tensor, step: int, last_saved: Any = None):
    """One GntIpt step: `cfg.critic_steps` critic updates (WGAN-GP, global + local), then the generator.
    Arguments and result as `gl_step`'s."""
    from bench.models.gl.network import crop_patches, local_crop_boxes
    from bench.models.gntipt.network import (
        LossWeights,
        from_net_range,
        gradient_penalty,
        reconstruction_losses,
        to_net_range,
        wgan_losses,
    )

    w, critics = LossWeights(), run.critics
    _, tgen = step_rngs(run.cfg.seed, step, run.d.rank)
    boxes = local_crop_boxes(masks, images.shape[-1] // 2, tgen)
    hole = 1 - masks
    coarse, refined = gen(images, masks)
    gt, x2 = to_net_range(images), to_net_range(composite(refined, images, masks))  # [-1,1], as released

    def scores(x: Tensor) -> tuple[Tensor, Tensor]:
        return critics["global"](x), critics["local"](crop_patches(x, boxes))

    for _ in range(run.cfg.critic_steps):
        fake = x2.detach()
        (rg, rl), (fg, fl) = scores(gt), scores(fake)
        gp_g = gradient_penalty(critics["global"], gt, fake, hole, generator=tgen)
        gp_l = gradient_penalty(critics["local"], crop_patches(gt, boxes), crop_patches(fake, boxes),
                                crop_patches(hole, boxes), generator=tgen)  # fmt: skip
        d_loss = w.critic(wgan_losses(rg, fg)[1], wgan_losses(rl, fl)[1], gp_g, gp_l)
        update(run.opt_d, d_loss, run)
    fg, fl = scores(x2)
    l1, ae = reconstruction_losses(gt, masks, to_net_range(coarse), to_net_range(refined), w)
    g_loss = w.generator(l1, ae, wgan_losses(fg, fg)[0], wgan_losses(fl, fl)[0])
    update(run.optimizer, g_loss, run)
    out = from_net_range(to_net_range(refined)).detach()
    sync_buffers(run)
    return {
        "total": float(g_loss.detach()),
        "recon": float(l1.detach()),
        "d_loss": float(d_loss.detach()),
    }, out


def build_gntipt(arch: dict[str, Any]) -> nn.Module:
    from bench.models.gntipt.network import GntIptGenerator

    return GntIptGenerator(cnum=int(arch["width"]), flavour=arch.get("flavour", "tf"))


def _joint(cfg: Any, step: int) -> int:  # noqa: ARG001 - GntIpt: one phase, joint from the start
    return 1


register_model(TrainableModel(
    "gntipt", build=build_gntipt,
    weights=lambda arch, path: int(_GNTIPT_WEIGHTS_PER_WIDTH2 * arch["width"] ** 2),
    make=maker("gntipt"), critics=gntipt_critics, optimisers=gntipt_optimisers,
    step=gntipt_step, phase=_joint, summary="Yu et al. 2018", **SHARED,
), origin=__name__)  # fmt: skip
