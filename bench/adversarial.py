"""GL and GntIpt trained by `bench train --model gl|gntipt`: their generators, critics and steps.

* GL (Iizuka et al. 2017): the completion network and the global + local context discriminators, with the
  paper's three phases: reconstruction only (MSE in the holes) for the first GL_TC of the steps,
  discriminators only for the next GL_TD, then both with the adversarial weight 0.0004. The paper's
  schedule is T_C = 90,000 and T_D = 10,000 of 500,000 iterations; here the same shares of the run.
* GntIpt (Yu et al. 2018, contextual attention): coarse + refinement generator, WGAN-GP global and local
  critics, the spatially discounted L1 (gamma 0.99) and the released loss weights (bench.gntipt.LossWeights);
  Adam with the released betas (0.5, 0.9). The released trainer updates the critics 5 times per
  generator step on fresh batches; here they are updated CRITIC_STEPS times on the step's own batch
  (one generator forward per step), to keep CPU runs affordable.

Both discriminators see a local crop of half the image side centred on a random hole pixel (bench.gl
and bench.gntipt `local_crop_boxes`; irregular holes have no box of their own). Every random choice of a
step comes from generators seeded by (seed, step, rank), so a resumed run repeats the same steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

MODELS: tuple[str, ...] = ("pconv", "conv", "gl", "gntipt")
ADVERSARIAL: tuple[str, ...] = ("gl", "gntipt")
GL_TC, GL_TD = 90_000 / 500_000, 10_000 / 500_000  # the paper's phase shares
CRITIC_STEPS = 1


def gl_phases(total: int) -> tuple[int, int]:
    """(T_C, T_D) of a GL run of `total` steps, at least one step each."""
    t_c = max(1, round(GL_TC * total))
    return t_c, max(1, round(GL_TD * total))


def build_critics(model: str, size: int, width: int) -> nn.Module:
    """GL's fused context discriminator, or GntIpt's two WGAN critics, for `size` px images."""
    if model == "gl":
        from bench.gl import GLDiscriminator

        return GLDiscriminator(global_size=size, local_size=size // 2, width=width)
    from bench.gntipt import global_critic, local_critic

    return nn.ModuleDict({"global": global_critic(size, width), "local": local_critic(size // 2, width)})


def optimisers(model: str, gen: nn.Module, critics: nn.Module, lr: float):
    betas = (0.5, 0.9) if model == "gntipt" else (0.9, 0.999)
    return (torch.optim.Adam(gen.parameters(), lr=lr, betas=betas),
            torch.optim.Adam(critics.parameters(), lr=lr, betas=betas))  # fmt: skip


def phase_of(model: str, step: int, total: int) -> int:
    """GL: 1 reconstruction, 2 discriminators only, 3 joint. GntIpt: always 1 (joint from the start)."""
    if model != "gl":
        return 1
    t_c, t_d = gl_phases(total)
    return 1 if step < t_c else (2 if step < t_c + t_d else 3)


def _rngs(seed: int, step: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """The step's numpy and torch generators: functions of (seed, step, rank) only."""
    torch_seed = int(np.random.default_rng([seed, step, rank, 0xC1]).integers(2**62))
    return np.random.default_rng([seed, step, rank, 0xC0]), torch.Generator().manual_seed(torch_seed)


def gl_step(run: Any, images: Tensor, masks: Tensor, step: int) -> tuple[dict[str, float], Tensor]:
    """One GL step in its phase; returns (logged terms, the raw output)."""
    from bench.gl import crop_patches, gl_discriminator_loss, gl_generator_loss, local_crop_boxes

    gen, disc = run.model, run.critics
    phase = phase_of("gl", step, run.cfg.total_steps)
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
    return terms, output.detach()


def gntipt_step(run: Any, images: Tensor, masks: Tensor, step: int) -> tuple[dict[str, float], Tensor]:
    """One GntIpt step: CRITIC_STEPS critic updates (WGAN-GP, global + local), then the generator."""
    from bench.gntipt import (
        LossWeights,
        crop_boxes,
        from_net_range,
        gradient_penalty,
        local_crop_boxes,
        reconstruction_losses,
        to_net_range,
        wgan_losses,
    )

    w, gen, critics = LossWeights(), run.model, run.critics
    _, tgen = _rngs(run.cfg.seed, step, run.d.rank)
    boxes = local_crop_boxes(masks, images.shape[-1] // 2, tgen)
    hole = 1 - masks
    coarse, refined = gen(images, masks)
    gt, x2 = to_net_range(images), to_net_range(masks * images + hole * refined)  # [-1,1], as released

    def scores(x: Tensor) -> tuple[Tensor, Tensor]:
        return critics["global"](x), critics["local"](crop_boxes(x, boxes))

    for _ in range(CRITIC_STEPS):
        fake = x2.detach()
        (rg, rl), (fg, fl) = scores(gt), scores(fake)
        gp_g = gradient_penalty(critics["global"], gt, fake, hole, generator=tgen)
        gp_l = gradient_penalty(critics["local"], crop_boxes(gt, boxes), crop_boxes(fake, boxes),
                                crop_boxes(hole, boxes), generator=tgen)  # fmt: skip
        d_loss = w.critic(wgan_losses(rg, fg)[1], wgan_losses(rl, fl)[1], gp_g, gp_l)
        _update(run.opt_d, d_loss, run)
    fg, fl = scores(x2)
    l1, ae = reconstruction_losses(gt, masks, to_net_range(coarse), to_net_range(refined), w)
    g_loss = w.generator(l1, ae, wgan_losses(fg, fg)[0], wgan_losses(fl, fl)[0])
    _update(run.optimizer, g_loss, run)
    out = from_net_range(to_net_range(refined)).detach()
    return {
        "total": float(g_loss.detach()),
        "recon": float(l1.detach()),
        "d_loss": float(d_loss.detach()),
    }, out


def _update(opt: torch.optim.Optimizer, loss: Tensor, run: Any) -> None:
    run.check_finite(loss)  # a non-finite loss stops every rank with a BenchError
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


STEPS = {"gl": gl_step, "gntipt": gntipt_step}
