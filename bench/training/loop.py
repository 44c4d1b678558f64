"""`bench train`: any registered trainable model (bench.models.registry), resumable bit-for-bit, one process
or many (torchrun).

The model's registration builds it, its critics and optimisers, and runs its training step and schedule
(PConv and Conv: bench.models.unet.recipe, the paper's two phases; GL and GntIpt: bench.models.gl.recipe,
bench.models.gntipt.recipe).
This module holds what every model shares: the data stream, a pure function of (seed, step, rank, slot), so a
run killed at any moment and resumed from `DIR/last.pt` sees exactly the batches it would have seen; the
loop; logs, samples and checkpoints.

>>> import tempfile
>>> from bench.training.config import resolve_config
>>> cfg = resolve_config("smoke", overrides={"steps": 2, "features": "none", "size": 32})
>>> last = train(cfg, Path(tempfile.mkdtemp()) / "run", progress=False)
>>> last.name
'last.pt'
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from bench.core.device import resolve_device, resolve_precision
from bench.core.distributed import Dist, agree, setup, teardown
from bench.core.errors import BenchError
from bench.core.files import make_dirs, read_mask, write_bytes, write_png, write_text
from bench.core.progress import progress_bar
from bench.models.checkpoint import (
    FORMAT,
    LAST,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from bench.models.registry import TrainableModel, get_model
from bench.models.unet.loss import TERMS, WEIGHTS, InpaintingLoss
from bench.training.config import RESUME_LOCKED, TrainConfig
from masks.conventions import is_valid

__all__ = ["train", "TrainSamples", "LOG_COLUMNS"]

# The loss terms of PConv/Conv (bench.models.unet.loss), then GL's/GntIpt's (reconstruction, critic loss).
LOG_COLUMNS = ("step", "phase", "lr", "loss", *TERMS, "recon", "d_loss", "images_per_s", "features")
_IMAGE_CACHE_BYTES = 512 << 20  # decoded training images kept in memory per worker (small sets only)


# ------------------------------------------------------------------------------------------------
# Data: sample (step, slot) of rank r is a pure function of (seed, step, r, slot).
# ------------------------------------------------------------------------------------------------


def _mask_files(mask_dir: Path, size: int, augment: str) -> tuple[list[Path], str]:
    """(mask PNGs of a folder, the augmentation to use): from its manifest when it has one, else every
    *.png. `augment` "auto" becomes "nvidia" for an imported or raw folder and "flips" for a generated
    set. Without the NVIDIA pipeline (which crops and resizes), masks must have the training size."""
    from masks.manifest import MANIFEST, read_manifest

    if (mask_dir / MANIFEST).is_file():
        df = read_manifest(mask_dir)
        if augment == "auto":
            augment = "nvidia" if (df["kind"] == "imported").all() else "flips"
        other = sorted(set(int(s) for s in df["size"]) - {size})
        if other and augment != "nvidia":
            raise BenchError(
                f"masks in {mask_dir} are {other[0]}x{other[0]} px but training images are {size}x{size}; "
                f"generate masks with --size {size}"
            )
        return [mask_dir / str(f) for f in df["file"]], augment
    files = sorted(p for p in mask_dir.rglob("*.png") if p.is_file())
    return files, ("nvidia" if augment == "auto" else augment)


class TrainSamples(Dataset):
    """Training pairs for one rank; `ds[(step, slot)] -> (image (3,S,S), mask (1,S,S))` float32.

    Images are visited in a fresh permutation per epoch (seeded by (seed, epoch)); sample g of the global
    stream is `(step * world + rank) * batch_size + slot`. Crop offset, flip and mask come from a
    numpy Generator seeded by (seed, step, rank, slot): nothing depends on workers or on earlier draws.
    """

    def __init__(
        self,
        files: list[Path],
        size: int,
        seed: int,
        batch_size: int,
        rank: int = 0,
        world: int = 1,
        mask_files: list[Path] | None = None,
        mask_kind: str = "mixed",
        mask_augment: str = "flips",
        bin_weights: dict[str, float] | None = None,
        group_weights: dict[str, float] | None = None,
        mask_threshold: float = 0.6,
    ) -> None:
        if not files:
            raise BenchError("the training set is empty: no images found")
        self.files = list(files)
        self.size, self.seed, self.batch_size, self.rank, self.world = size, seed, batch_size, rank, world
        self.mask_files = list(mask_files) if mask_files is not None else None
        self.augment, self.threshold = mask_augment, mask_threshold
        self.sampler = None
        if self.mask_files is None:
            from masks.sampler import MaskSampler

            try:
                self.sampler = MaskSampler(
                    size, kind=mask_kind, bin_weights=bin_weights, group_weights=group_weights
                )
            except ValueError as e:
                raise BenchError(f"mask settings: {e}") from e
        elif not self.mask_files:
            raise BenchError("the mask folder holds no masks")
        self._perm: tuple[int, np.ndarray] | None = None
        self._cache: dict[int, np.ndarray] = {}
        self._cache_bytes = 0

    def __len__(self) -> int:  # nominal: the stream is indexed by (step, slot), not by position
        return len(self.files)

    def _order(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            rng = np.random.default_rng([self.seed, 0x5EED, epoch])
            self._perm = (epoch, rng.permutation(len(self.files)))
        return self._perm[1]

    def _image(self, idx: int) -> np.ndarray:
        img = self._cache.get(idx)
        if img is None:
            from bench.data.decode import load_image

            try:
                img = load_image(self.files[idx])
            except (OSError, ValueError) as e:
                raise BenchError(f"training image {self.files[idx]}: {e}") from e
            h, w = img.shape[:2]
            if min(h, w) < self.size:  # upscale the short side to the crop size, keeping the aspect
                s = self.size / min(h, w)
                dims = (max(self.size, round(w * s)), max(self.size, round(h * s)))
                img = cv2.resize(img, dims, interpolation=cv2.INTER_LINEAR)
            if self._cache_bytes + img.nbytes <= _IMAGE_CACHE_BYTES:
                self._cache[idx] = img
                self._cache_bytes += img.nbytes
        return img

    def _mask(self, rng: np.random.Generator) -> np.ndarray:
        if self.sampler is not None:
            return self.sampler.sample(rng)
        path = self.mask_files[int(rng.integers(len(self.mask_files)))]
        try:
            m = read_mask(path)
        except ValueError as e:
            raise BenchError(str(e)) from e
        if self.augment == "nvidia":
            from masks.augment import nvidia_augment

            return nvidia_augment(m, rng, self.size, threshold=self.threshold)
        if m.shape != (self.size, self.size):
            raise BenchError(
                f"mask {path} is {m.shape[1]}x{m.shape[0]} but training images are {self.size}x{self.size}"
            )
        if self.augment == "none":
            return m
        # Random flips/transposes multiply the variety of a fixed mask set by 8.
        k = int(rng.integers(8))
        m = np.rot90(m, k % 4)
        return m.T if k >= 4 else m

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        step, slot = key
        g = (step * self.world + self.rank) * self.batch_size + slot
        epoch, pos = divmod(g, len(self.files))
        idx = int(self._order(epoch)[pos])
        rng = np.random.default_rng([self.seed, step, self.rank, slot])
        img = self._image(idx)
        h, w = img.shape[:2]
        y = int(rng.integers(h - self.size + 1))
        x = int(rng.integers(w - self.size + 1))
        img = img[y : y + self.size, x : x + self.size]
        if rng.random() < 0.5:
            img = img[:, ::-1]
        mask = self._mask(rng)
        image_t = torch.from_numpy(np.ascontiguousarray(img).transpose(2, 0, 1).astype(np.float32) / 255.0)
        mask_t = torch.from_numpy(is_valid(np.ascontiguousarray(mask)).astype(np.float32))[None]
        return image_t, mask_t


class StepBatches(Sampler):
    """Yields the keys [(step, 0), ..., (step, B-1)] for step = start, start+1, ..., stop-1."""

    def __init__(self, start: int, stop: int, batch_size: int) -> None:
        self.start, self.stop, self.batch_size = start, stop, batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start, self.stop):
            yield [(step, slot) for slot in range(self.batch_size)]

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def training_files(data: Path | None, size: int) -> list[Path]:
    """The train split of a `bench data prepare` folder (or of the builtin set when `data` is None)."""
    from bench.data.prepare import builtin_dataset, list_images

    folder = builtin_dataset(size) if data is None else Path(data)
    if not folder.is_dir():
        raise BenchError(f"data folder {folder} does not exist")
    files = list_images(folder, split="train")
    if not files:
        raise BenchError(f"the training set is empty: no train-split images in {folder}")
    return files


# ------------------------------------------------------------------------------------------------
# Processes and devices.
# ------------------------------------------------------------------------------------------------


def _loader_worker_init(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's signature
    """Data-loader workers die with the trainer, whatever kills it."""
    from bench.core.procs import die_with_parent

    die_with_parent()


def _all_finite(loss: torch.Tensor, d: Dist) -> bool:
    # every rank must stop together, or the others would hang in the next all-reduce
    return agree(d, bool(torch.isfinite(loss.detach()).all()))


# ------------------------------------------------------------------------------------------------
# Logs.
# ------------------------------------------------------------------------------------------------


class CsvLog:
    """DIR/log.csv: a row per logged step, appended and flushed; on resume rows after `start` are dropped."""

    def __init__(self, path: Path, start: int) -> None:
        self.path = path
        keep: list[dict[str, str]] = []
        if path.is_file() and start > 0:
            with open(path, newline="") as f:
                keep = [
                    r for r in csv.DictReader(f) if r.get("step", "").isdigit() and int(r["step"]) <= start
                ]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(keep)
        write_text(path, buf.getvalue())  # atomic: a kill here leaves the old log or the trimmed one
        self.f = open(path, "a", newline="")  # noqa: SIM115 - kept open for the run, closed in close()
        self.w = csv.DictWriter(self.f, fieldnames=LOG_COLUMNS, extrasaction="ignore", lineterminator="\n")

    def write(self, row: dict[str, Any]) -> None:
        self.w.writerow(row)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def _tensorboard(out: Path):
    """A SummaryWriter when the tensorboard package is installed, else None."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tensorboard"))


def sample_grid(images: torch.Tensor, masks: torch.Tensor, outputs: torch.Tensor, n: int = 4) -> np.ndarray:
    """uint8 RGB grid, one row per sample: input (holes white), output, composite, ground truth."""
    images, masks, outputs = images[:n].float().cpu(), masks[:n].float().cpu(), outputs[:n].float().cpu()
    outputs = outputs.clamp(0, 1)
    shown_input = masks * images + (1 - masks)
    comp = masks * images + (1 - masks) * outputs
    rows = [
        torch.cat([a, b, c, d], dim=2) for a, b, c, d in zip(shown_input, outputs, comp, images, strict=True)
    ]
    grid = torch.cat(rows, dim=1)  # (3, n*S, 4*S)
    return (grid.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)


# ------------------------------------------------------------------------------------------------
# The loop.
# ------------------------------------------------------------------------------------------------


def feature_label(net: nn.Module) -> str:
    """'vgg16', 'efficientnet-lite0 (stand-in)' or 'none': the name every log row and checkpoint carries."""
    return f"{net.name} (stand-in)" if net.is_standin and net.name != "none" else net.name


def _check_resume(
    ckpt: dict[str, Any], cfg: TrainConfig, arch: dict[str, Any], features: str, path: Path
) -> None:
    if ckpt.get("arch") != arch:
        raise BenchError(f"{path} holds another architecture ({ckpt.get('arch')}) than this run ({arch})")
    old = {**TrainConfig().to_dict(), **ckpt["config"]}  # a setting added since: its default
    diff = [f"{k}: {old[k]!r} -> {getattr(cfg, k)!r}" for k in RESUME_LOCKED if old[k] != getattr(cfg, k)]
    if diff:
        raise BenchError(
            f"cannot resume {path}: settings differ from the run that wrote it ({'; '.join(diff)})"
        )
    if ckpt.get("features_name") != features:
        raise BenchError(
            f"cannot resume {path}: it was trained with {ckpt.get('features_name')!r} features, this run "
            f"resolves {features!r}"
        )


def train(
    cfg: TrainConfig,
    out: Path,
    data: Path | None = None,
    masks: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train per `cfg`, writing DIR/last.pt, DIR/log.csv and DIR/samples/; returns the last checkpoint.

    `progress=False`: no progress bar and no messages."""
    from bench.core.folders import check_claim, claim

    cfg = dataclasses.replace(cfg).validate()
    out = Path(out)
    last = out / LAST
    # Under torchrun only rank 0 takes the folder's lock (below): ranks checking it at the same moment would
    # each see the other's check as a second writer, so the others check everything but the lock.
    check_claim(out, "train", busy_ok=int(os.environ.get("RANK", "0")) > 0)
    if last.exists() and not resume:
        raise BenchError(f"{last} exists: pass --resume to continue that run, or choose another --out")
    d, device = setup(resolve_device(cfg.device))
    try:
        # Only rank 0 writes (checkpoints, logs, samples), so only rank 0 holds the folder.
        with claim(out, "train") if d.main else contextlib.nullcontext():
            run = _prepare(cfg, out, d, device, data, masks, resume, progress and d.main)
            if run.start >= cfg.total_steps:
                run.say(f"{last} is already at step {run.start} of {cfg.total_steps}: nothing to do")
                return last
            return _loop(run)
    finally:
        teardown(d)


@dataclass
class _Run:
    """What the training loop needs, made by `_prepare`."""

    cfg: TrainConfig
    out: Path
    d: Dist
    device: torch.device
    model: nn.Module  # the generator itself (not a DDP wrapper)
    optimizer: torch.optim.Optimizer
    loss_fn: nn.Module
    dataset: TrainSamples
    arch: dict[str, Any]
    features: str  # name of the feature network ("vgg16", "efficientnet-lite0", "none")
    feat_label: str  # the name as logged, "(stand-in)" when it is not VGG-16
    standin: bool
    start: int  # first step to run
    precision: str  # resolved: "fp32" or "bf16" (autocast)
    channels_last: bool
    say: Any  # message printer (a no-op on ranks > 0 and without progress)
    progress: bool
    spec: TrainableModel | None = None  # the model's registration (bench.models.registry)
    critics: nn.Module | None = None  # its discriminators or critics, if it has any
    opt_d: torch.optim.Optimizer | None = None
    ema: dict[str, torch.Tensor] | None = None  # the weights' moving average (cfg.ema_decay > 0)

    def check_finite(self, loss: torch.Tensor) -> None:
        """A non-finite loss stops every rank together, naming the step and the last checkpoint."""
        if not _all_finite(loss, self.d):
            raise BenchError(f"the loss became {loss.item()}; stopped: the last good checkpoint is "
                             f"{self.out / LAST} (if one was written)")  # fmt: skip


def _mask_files_checked(masks: Path | None, size: int, augment: str) -> tuple[list[Path] | None, str]:
    """The mask files of a training mask folder and the augmentation, checked: present, and of the
    training size unless NVIDIA's pipeline (which crops and resizes) is used."""
    if masks is None:
        return None, augment
    masks = Path(masks)
    if not masks.is_dir():
        raise BenchError(f"mask folder {masks} does not exist")
    files, augment = _mask_files(masks, size, augment)
    if not files:
        raise BenchError(f"mask folder {masks} holds no masks")
    try:
        first = read_mask(files[0])
    except ValueError as e:
        raise BenchError(str(e)) from e
    if first.shape != (size, size) and augment != "nvidia":
        raise BenchError(
            f"masks in {masks} are {first.shape[1]}x{first.shape[0]} (e.g. {files[0].name}) but "
            f"training images are {size}x{size}; generate masks with --size {size}, or --mask-augment nvidia"
        )
    return files, augment


def _prepare(cfg, out, d: Dist, device, data, masks, resume: bool, progress: bool) -> _Run:
    """Features, data, model, optimiser and the resumed state: bad input fails before any compute."""
    from bench.metrics.features import load_feature_net

    say = tqdm.write if progress else (lambda *_a, **_k: None)
    # Python's and NumPy's global generators draw nothing of the data stream, but their states are saved
    # in every checkpoint: seeded here, a run's checkpoints are the same bytes each time it is run.
    random.seed(cfg.seed * 1000 + d.rank)
    np.random.seed((cfg.seed * 1000 + d.rank) % 2**32)
    spec = get_model(cfg.model)
    features = cfg.features if spec.uses_features else "none"  # a loss of its own: no feature network
    feature_net = load_feature_net(features, cfg.feature_weights, cfg.allow_download, device=device)
    files = training_files(data, cfg.size)
    mask_files, augment = _mask_files_checked(masks, cfg.size, cfg.mask_augment)
    dataset = TrainSamples(
        files, cfg.size, cfg.seed, cfg.batch_size, d.rank, d.world, mask_files, cfg.mask_kind, augment,
        cfg.mask_bin_weights, cfg.mask_group_weights, cfg.mask_threshold,
    )  # fmt: skip
    if mask_files is not None:
        say(f"training masks: {len(mask_files)} from {masks}, augmentation {augment}")
    model, arch = spec.make(cfg, device)
    loss_fn = _loss(cfg, feature_net).to(device)
    critics = spec.critics(cfg).to(device) if spec.critics is not None else None
    optimizer, opt_d = spec.optimisers(cfg, model, critics)
    run = _Run(cfg, Path(out), d, device, model, optimizer, loss_fn, dataset, arch, feature_net.name,
               feature_label(feature_net), bool(feature_net.is_standin), 0,
               resolve_precision(cfg.precision, device), cfg.channels_last, say, progress, spec, critics,
               opt_d)  # fmt: skip
    if cfg.ema_decay > 0 and run.critics is None:
        run.ema = {k: v.detach().clone() for k, v in model.state_dict().items()}
    last = run.out / LAST
    if resume and last.exists():
        _resume(run, last)
    elif resume:
        say(f"no {last} yet: starting a fresh run")
    if spec.on_start is not None:
        spec.on_start(run)  # e.g. under torchrun, every rank from rank 0's generator and critics
    if d.rank > 0:
        torch.manual_seed(cfg.seed * 1000 + d.rank)
    say(f"training {arch} at {cfg.size}px, batch {cfg.batch_size} x {d.world} process(es) on {device} "
        f"({run.precision}{', channels-last' if run.channels_last else ''}), "
        f"steps {run.start}->{cfg.total_steps} (phase 2 from {cfg.steps_phase1}), {run.feat_label} features, "
        f"{len(files)} training images")  # fmt: skip
    return run


def _resume(run: _Run, last: Path) -> None:
    """The state of `last` into `run`: weights, optimisers, moving average, critics, step, generators."""
    ckpt = load_checkpoint(last, map_location="cpu")
    _check_resume(ckpt, run.cfg, run.arch, run.features, last)
    if ckpt.get("precision", "fp32") != run.precision:
        raise BenchError(f"cannot resume {last}: it was trained in {ckpt.get('precision', 'fp32')}, this "
                         f"run resolves precision {run.precision} (pass --precision "
                         f"{ckpt.get('precision', 'fp32')})")  # fmt: skip
    load_model_state(run.model, ckpt["model"], last)
    run.optimizer.load_state_dict(ckpt["optimizer"])
    if run.ema is not None:
        for k, v in ckpt["ema"].items():
            run.ema[k].copy_(v)
    if run.critics is not None:
        load_model_state(run.critics, ckpt["discriminator"], last)
        run.opt_d.load_state_dict(ckpt["optimizer_d"])
    run.start = int(ckpt["step"])
    if run.d.world == ckpt.get("data", {}).get("world_size", 1) and "rng" in ckpt:
        set_rng_state(ckpt["rng"])  # per-rank states are not stored: ranks > 0 reseed in _prepare
    run.say(f"resuming {last} at step {run.start} ({run.feat_label} features)")


def _loss(cfg: TrainConfig, feature_net: nn.Module) -> InpaintingLoss:
    """The paper's loss, with the weights of `cfg.loss_weights` in place of the paper's where given."""
    unknown = sorted(set(cfg.loss_weights or {}) - set(WEIGHTS))
    if unknown:
        raise BenchError(f"loss_weights: unknown term(s) {', '.join(unknown)} (terms: {', '.join(WEIGHTS)})")
    return InpaintingLoss(feature_net, {**WEIGHTS, **(cfg.loss_weights or {})})


def _loader(run: _Run) -> DataLoader:
    cfg = run.cfg
    return DataLoader(
        run.dataset,
        batch_sampler=StepBatches(run.start, cfg.total_steps, cfg.batch_size),
        num_workers=cfg.workers,
        worker_init_fn=_loader_worker_init if cfg.workers > 0 else None,
        pin_memory=run.device.type == "cuda",
        persistent_workers=False,
        prefetch_factor=4 if cfg.workers > 0 else None,
    )


def _save(run: _Run, done: int) -> None:
    """Write DIR/last.pt after `done` steps (rank 0), every rank waiting for it."""
    cfg = run.cfg
    if run.d.main:
        save_checkpoint(run.out / LAST, {
            "format": FORMAT,
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "rng": rng_state(),
            "data": {"seed": cfg.seed, "next_step": done, "world_size": run.d.world,
                     "scheme": "pure function of (seed, step, rank, slot)"},
            "step": done,
            "phase": cfg.phase_of(done - 1),
            "config": cfg.to_dict(),
            "arch": run.arch,
            "features": run.feat_label,
            "features_name": run.features,
            "precision": run.precision,
            "features_standin": run.standin and run.features != "none",
            "torch": str(torch.__version__),
            **({"discriminator": run.critics.state_dict(), "optimizer_d": run.opt_d.state_dict()}
               if run.critics is not None else {}),
            **({"ema": run.ema} if run.ema is not None else {}),
        })  # fmt: skip
        if cfg.keep_every and done % cfg.keep_every == 0:  # learning curves evaluate these
            make_dirs(run.out / "steps")
            write_bytes(run.out / "steps" / f"step_{done:07d}.pt", (run.out / LAST).read_bytes())
    if run.d.enabled:
        dist.barrier()


def _loop(run: _Run) -> Path:
    """The training loop: batch, step, log, sample, checkpoint."""
    cfg, d, total = run.cfg, run.d, run.cfg.total_steps
    log = CsvLog(run.out / "log.csv", run.start) if d.main else None
    tb = _tensorboard(run.out) if d.main else None
    if d.main:
        (run.out / "samples").mkdir(parents=True, exist_ok=True)
    bar = progress_bar(total=total, initial=run.start, disable=None if run.progress else True, unit="step",
               desc=f"train {cfg.conv}", dynamic_ncols=True)  # fmt: skip
    last_saved = run.start if run.start > 0 else None
    model, rate, t0 = run.spec.wrap(run, cfg.phase_of(run.start)), None, time.perf_counter()
    try:
        for step, (images, masks) in zip(range(run.start, total), _loader(run), strict=True):
            if step == cfg.steps_phase1 and step > run.start:
                model = run.spec.wrap(run, 2)  # the phase boundary (PConv: encoder BatchNorm frozen)
            images = images.to(run.device, non_blocking=True)
            masks = masks.to(run.device, non_blocking=True)
            terms, output = run.spec.step(run, model, images, masks, step, last_saved)
            done, t1 = step + 1, time.perf_counter()
            ips = cfg.batch_size * d.world / max(t1 - t0, 1e-9)
            rate, t0 = (ips if rate is None else 0.9 * rate + 0.1 * ips), t1
            if d.main and (done % cfg.log_every == 0 or done == total):
                _log(run, log, tb, bar, done, terms, ips, rate)
            if d.main and (done % cfg.sample_every == 0 or done == total):
                grid = sample_grid(images, masks, output.detach())
                write_png(run.out / "samples" / f"step_{done:07d}.png", grid)
            bar.update(1)
            if done % cfg.checkpoint_every == 0 or done == total:
                _save(run, done)
                last_saved = done
    finally:
        bar.close()
        if log is not None:
            log.close()
        if tb is not None:
            tb.close()
    run.say(f"done: {run.out / LAST} (step {total}, {run.feat_label} features)")
    return run.out / LAST


def _log(run: _Run, log: CsvLog, tb, bar, done: int, terms: dict, ips: float, rate: float) -> None:
    phase = run.spec.phase(run.cfg, done - 1)
    row = {"step": done, "phase": phase, "lr": run.spec.lr(run, done - 1), "loss": float(terms["total"]),
           "images_per_s": round(ips, 3), "features": run.feat_label}  # fmt: skip
    row.update({k: float(v) for k, v in terms.items() if k in LOG_COLUMNS and k != "loss"})
    log.write(row)
    if tb is not None:
        for k, v in row.items():
            if k not in ("step", "features"):
                tb.add_scalar(f"train/{k}", v, done)
    bar.set_postfix(loss=f"{float(terms['total']):.4f}", img_s=f"{rate:.1f}", phase=phase)
