"""GL and GntIpt under torchrun: 2 gloo processes on the CPU.

bench.models.adversarial (shared by both recipes) averages the generator's and the critics' gradients over the
ranks itself (no DDP wrapper). One 2-process run per model (spawned once per module, `ddp`) feeds every test
here:

* fixed batches, step by step: after every step the ranks hold the same weights, bit for bit, and these
  equal one process that takes the union of both ranks' batches (up to float rounding). Two things are
  per rank by design and are matched in that one process: GL's BatchNorm statistics (the union is fed
  through the networks as two halves, `_Halves`) and the gradient penalty's random interpolation
  (replaced by a per-sample function of the data on both sides, `_gp_of_data`). The holes lie in the
  top-left 8x8 pixels, so every local crop is the same box whatever the random draw, and every sample
  has the same number of hole pixels, as GntIpt's losses normalise by the batch's hole count.
* `bench.training.loop.train` itself under torchrun's environment: the ranks stay equal after every step, the
  weights move, rank 0 writes one log, and a run stopped after its checkpoint and resumed ends with the
  same generator and critics, bit for bit, as a run never stopped.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bench.core.distributed import Dist
from bench.core.files import write_png
from bench.models.checkpoint import LAST, build_model, load_checkpoint
from bench.models.gntipt import network as gntipt
from bench.models.registry import get_model
from bench.training.config import resolve_config
from bench.training.loop import train

SIZE, BATCH, WORLD, FIXED_STEPS = 32, 2, 2, 4  # GL at 6 steps: phases 1, 2, 3, 3 in the first four
HOLES = 20  # hole pixels per sample, all in the top-left 8x8 pixels
_GRADIENT_PENALTY = gntipt.gradient_penalty
TIMEOUT_S = 240


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# ------------------------------------------------------------------------------------------------
# Fixed batches, the step functions alone.
# ------------------------------------------------------------------------------------------------


def _batch(step: int, rank: int, n: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample g = (step * world + rank) * n + slot, a function of g alone: the union of the ranks'
    batches of a step is the batch of one process with world 1 and n * world samples."""
    images, masks = [], []
    for slot in range(n):
        g = torch.Generator().manual_seed((step * world + rank) * n + slot)
        images.append(torch.rand(3, SIZE, SIZE, generator=g))
        mask = torch.ones(SIZE * SIZE)
        holes = torch.randperm(64, generator=g)[:HOLES]
        mask[(holes // 8) * SIZE + holes % 8] = 0
        masks.append(mask.view(1, SIZE, SIZE))
    return torch.stack(images), torch.stack(masks)


def _gp_of_data(critic, real, fake, hole=None, alpha=None, generator=None):  # noqa: ARG001
    """The gradient penalty with alpha a function of each sample (not of the rank's random stream)."""
    alpha = (real.detach().flatten(1).mean(1) * 7.0).remainder(1.0)
    return _GRADIENT_PENALTY(critic, real, fake, hole, alpha=alpha)


class _Halves(torch.nn.Module):
    """A network fed `parts` equal slices of the batch, one after another: BatchNorm's batch statistics
    per slice, as on that many ranks."""

    def __init__(self, net: torch.nn.Module, parts: int) -> None:
        super().__init__()
        self.net, self.parts = net, parts

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(*part) for part in zip(*(x.chunk(self.parts) for x in xs), strict=True)])


def _fixed_run(model: str, d: Dist) -> tuple[SimpleNamespace, torch.nn.Module, torch.nn.Module]:
    cfg = resolve_config("smoke", overrides={"model": model, "size": SIZE, "steps": 6, "features": "none"})
    torch.manual_seed(cfg.seed)
    gen = build_model({"model": model, "width": cfg.width}, "the test")
    critics = get_model(model).critics(cfg)
    opt, opt_d = get_model(model).optimisers(cfg, gen, critics)
    halves = model == "gl" and d.world == 1  # the union, in one process: GL's BatchNorm per half
    run = SimpleNamespace(cfg=cfg, d=d, optimizer=opt, opt_d=opt_d, check_finite=lambda loss: None,
                          model=_Halves(gen, WORLD) if halves else gen,
                          critics=_Halves(critics, WORLD) if halves else critics)  # fmt: skip
    return run, gen, critics


def _state(gen: torch.nn.Module, critics: torch.nn.Module) -> dict[str, dict[str, torch.Tensor]]:
    """Weights, buffers and the gradients left by the step (the last update's, averaged)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, net in (("gen", gen), ("critics", critics)):
        out[name] = {k: v.detach().clone() for k, v in net.state_dict().items()}
        out[name + "_grad"] = {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}
    return out


def fixed_batch_states(model: str, d: Dist) -> list[dict]:
    """The initial state, then the state after each of FIXED_STEPS steps: of rank d.rank on its batches,
    or (world 1) of one process on the union of WORLD ranks' batches."""
    run, gen, critics = _fixed_run(model, d)
    n, world, rank = (BATCH, WORLD, d.rank) if d.enabled else (BATCH * WORLD, 1, 0)
    states = [_state(gen, critics)]
    with mock.patch.object(gntipt, "gradient_penalty", _gp_of_data):
        for step in range(FIXED_STEPS):
            images, masks = _batch(step, rank, n, world)
            get_model(model).step(run, run.model, images, masks, step, None)
            states.append(_state(gen, critics))
    return states


# ------------------------------------------------------------------------------------------------
# bench.training.loop.train under torchrun's environment.
# ------------------------------------------------------------------------------------------------


def _train_cfg(model: str):
    over = {"model": model, "size": SIZE, "steps": 4, "features": "none", "checkpoint_every": 2,
            "device": "cpu", "workers": 0}  # fmt: skip
    return resolve_config("smoke", overrides=over)


def _train_runs(model: str, data: Path, tmp: Path, ports: list[int]) -> list[dict]:
    """A straight 4-step run (`a`, states recorded after every step, the initial one first), one stopped
    during step 4 (`b`, its last checkpoint at step 2), then `b` resumed."""
    import dataclasses

    import bench.models.registry as models

    spec, states, stop = models.get_model(model), [], [None]

    def step_fn(run, gen, images, masks, step, last_saved):
        if step == stop[0]:
            raise KeyboardInterrupt  # on every rank at once, before any collective of the step
        if step == 0:
            states.append(_state(run.model, run.critics))
        result = spec.step(run, gen, images, masks, step, last_saved)
        states.append(_state(run.model, run.critics))
        return result

    models._MODELS[model] = dataclasses.replace(spec, step=step_fn)
    os.environ["MASTER_PORT"] = str(ports[0])
    train(_train_cfg(model), tmp / "a", data=data, progress=False)
    recorded, stop[0] = list(states), 3
    os.environ["MASTER_PORT"] = str(ports[1])
    try:
        train(_train_cfg(model), tmp / "b", data=data, progress=False)
    except KeyboardInterrupt:
        pass
    stop[0] = None
    os.environ["MASTER_PORT"] = str(ports[2])
    train(_train_cfg(model), tmp / "b", data=data, resume=True, progress=False)
    return recorded


def _worker(rank: int, model: str, data: str, tmp: str, ports: list[int]) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(ports[3]), RANK=str(rank),
                      WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank))  # fmt: skip
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        fixed = fixed_batch_states(model, Dist(rank, WORLD, rank))
    finally:
        dist.destroy_process_group()
    trained = _train_runs(model, Path(data), Path(tmp), ports)
    torch.save({"fixed": fixed, "train": trained}, Path(tmp) / f"rank{rank}.pt")


def _spawn(model: str, data: Path, tmp: Path) -> list[dict]:
    ctx = mp.start_processes(_worker, args=(model, str(data), str(tmp), _free_ports(4)), nprocs=WORLD,
                             join=False, start_method="spawn")  # fmt: skip
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not ctx.join(timeout=2):
            if time.monotonic() > deadline:
                pytest.fail(f"the 2-process {model} run took over {TIMEOUT_S} s (a rank is stuck?)")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    return [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.fixture(scope="module")
def images(tmp_path_factory, astronaut):
    from bench.data.prepare import prepare_dataset

    src = tmp_path_factory.mktemp("ddp-src")
    for i in range(4):
        write_png(src / f"p{i}.png", cv2.resize(astronaut[i * 80 : i * 80 + 160, 100:260], (48, 48)))
    out = tmp_path_factory.mktemp("ddp") / "data"
    prepare_dataset(out, size=SIZE, source=str(src), test_fraction=0.5, progress=False)
    return out


@pytest.fixture(scope="module", params=["gl", "gntipt"])
def ddp(request, images, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"ddp-{request.param}")
    return SimpleNamespace(model=request.param, tmp=tmp, ranks=_spawn(request.param, images, tmp))


# ------------------------------------------------------------------------------------------------
# The checks.
# ------------------------------------------------------------------------------------------------


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _compared(state: dict) -> list[str]:
    """The parameters compared with one process: not BatchNorm's running statistics (per rank by design)
    nor the convolution biases right before a BatchNorm, whose gradient is zero up to rounding: Adam turns
    that rounding into steps of either sign, in one process just as well."""
    return [k for k, v in state.items() if v.is_floating_point() and "running_" not in k
            and not (k.endswith("conv.bias") and k.replace("conv.bias", "bn.weight") in state)]  # fmt: skip


def _relative(a: dict, b: dict, keys: list[str]) -> float:
    """|a - b| / |b| over `keys` as one vector (0 when both are 0)."""
    num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in keys)
    den = sum(float(b[k].double().pow(2).sum()) for k in keys)
    return (num / den) ** 0.5 if den else float(num > 0)


def test_ranks_equal_after_every_step(ddp):
    # The critics' gradients are compared where they are the reduced ones: after GL's phase 2 step (state
    # 2 of either list, whose first state is the initial one). Elsewhere they
    # hold the generator step's gradients through the critics, which are never reduced nor applied.
    reduced_critic_grads = {("fixed", 2), ("train", 2)} if ddp.model == "gl" else set()
    for key in ("fixed", "train"):
        r0, r1 = ddp.ranks[0][key], ddp.ranks[1][key]
        assert len(r0) == len(r1) == (FIXED_STEPS + 1 if key == "fixed" else 5)
        for i, (s0, s1) in enumerate(zip(r0, r1, strict=True)):
            for part in ("gen", "critics", "gen_grad"):
                assert _equal(s0[part], s1[part]), (key, i, part)
            if (key, i) in reduced_critic_grads:
                assert s0["critics_grad"] and _equal(s0["critics_grad"], s1["critics_grad"]), (key, i)
    first, last = ddp.ranks[0]["train"][0], ddp.ranks[0]["train"][-1]
    for part in ("gen", "critics"):  # the networks did train
        assert not _equal(first[part], last[part]), part


def test_two_ranks_equal_one_process_on_the_union(ddp):
    """Up to float rounding: the weights' change from the start and the averaged gradients agree with one
    process's within 0.1 % (relative, as one vector). Without the averaging each rank would step on its own
    gradient: with Adam every weight moves by about the learning rate, of another sign for many. A sum
    instead of a mean would train alike under Adam, hence the gradients are compared too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the same summation order in the convolutions
    try:
        union = fixed_batch_states(ddp.model, Dist())
    finally:
        torch.set_num_threads(threads)
    ranked = ddp.ranks[0]["fixed"]
    for step in range(1, FIXED_STEPS + 1):
        for part in ("gen", "critics"):
            keys = _compared(union[0][part])
            moved = {k: ranked[step][part][k] - ranked[0][part][k] for k in keys}
            moved_one = {k: union[step][part][k] - union[0][part][k] for k in keys}
            assert _relative(moved, moved_one, keys) < 1e-3, (step, part)
        grads = list(union[step]["gen_grad"])
        assert _relative(ranked[step]["gen_grad"], union[step]["gen_grad"], grads) < 1e-3, step
    if ddp.model == "gl":  # after step 2 (phase 2): the discriminators' own, reduced gradients
        grads = list(union[2]["critics_grad"])
        assert grads and _relative(ranked[2]["critics_grad"], union[2]["critics_grad"], grads) < 1e-3


def test_torchrun_checkpoint_log_and_bit_identical_resume(ddp):
    straight, resumed = load_checkpoint(ddp.tmp / "a" / LAST), load_checkpoint(ddp.tmp / "b" / LAST)
    assert straight["step"] == resumed["step"] == 4 and straight["data"]["world_size"] == 2
    for key in ("model", "discriminator"):
        assert _equal(straight[key], resumed[key]), key
    final = ddp.ranks[1]["train"][-1]  # rank 1's weights are the ones rank 0 wrote
    assert _equal(straight["model"], final["gen"]) and _equal(straight["discriminator"], final["critics"])
    rows = (ddp.tmp / "a" / "log.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4"]  # rank 0 alone writes the log
