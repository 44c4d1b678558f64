"""Processes started by torchrun: who this process is, its device, and agreeing on going on.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. `setup` joins the process group (nccl on CUDA, each rank on
the GPU of its LOCAL_RANK; gloo on CPU); without torchrun it returns the one-process `Dist()` and touches
nothing. `agree` is the barrier of a step that may fail on any rank: every rank says whether its part
went well, and all learn whether all did, so no rank waits forever for one that stopped.

>>> d = Dist(); (d.enabled, d.main, agree(d, True), total(d, [3, 4]))
(False, True, True, [3, 4])
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env() -> Dist:
    """This process's place among torchrun's processes (Dist() outside torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    return Dist(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join torchrun's process group; returns this rank and its device (cuda:LOCAL_RANK on CUDA)."""
    d = from_env()
    if not d.enabled:
        return d, device
    if device.type == "cuda":
        device = torch.device("cuda", d.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return d, device


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(d: Dist, ok: bool) -> bool:
    """True on every rank when `ok` is true on every rank (a barrier: all ranks must call it)."""
    if not d.enabled:
        return bool(ok)
    flag = torch.tensor([1.0 if ok else 0.0], device=_device())
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item() > 0)


def total(d: Dist, counts: list[int]) -> list[int]:
    """Element-wise sums of `counts` over the ranks (all ranks must call it)."""
    if not d.enabled:
        return list(counts)
    t = torch.tensor(counts, dtype=torch.float64, device=_device())
    dist.all_reduce(t)
    return [int(round(x)) for x in t.tolist()]
