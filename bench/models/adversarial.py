"""What GL's and GntIpt's training share (bench.models.gl.recipe, bench.models.gntipt.recipe): the step's
random generators, the optimiser step with gradients averaged over torchrun ranks, and the state
broadcasts.

Every random choice of a step comes from generators seeded by (seed, step, rank) (`step_rngs`), so a
resumed run repeats the same steps.

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


def step_rngs(seed: int, step: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """The step's numpy and torch generators: functions of (seed, step, rank) only."""
    torch_seed = int(np.random.default_rng([seed, step, rank, 0xC1]).integers(2**62))
    return np.random.default_rng([seed, step, rank, 0xC0]), torch.Generator().manual_seed(torch_seed)


def update(opt: torch.optim.Optimizer, loss: Tensor, run: Any) -> None:
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


def sync_buffers(run: Any) -> None:
    """Under torchrun: BatchNorm running statistics as on rank 0 after each step (DDP's
    broadcast_buffers); batch statistics stay per rank. Nothing to do for networks without buffers."""
    if run.d.enabled:
        buffers = [*run.model.buffers(), *run.critics.buffers()]
        if buffers:
            _broadcast(buffers)


def maker(name: str) -> Any:
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


SHARED = dict(wrap=_unwrapped, lr=_optimiser_lr, on_start=broadcast_state)  # every GAN's registration
