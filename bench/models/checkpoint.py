"""Training checkpoints: written atomically, read with `torch.load(..., weights_only=True)`.

A checkpoint is a dict of tensors and plain Python values only (so weights_only loading works):
format, model (state dict), optimizer, rng, data, step, phase, config, arch, features, features_name,
features_standin, torch.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.core.errors import BenchError
from bench.core.files import write_bytes

# The format's version is the last part of FORMAT; readers key compatibility on checkpoint_version().
# Version 1 is the only one written so far, so there is no compatibility code yet: a new version adds its
# upgrade step to load_checkpoint, keyed on the version read.
FORMAT_NAME = "pconv-bench/train"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
LAST = "last.pt"
REQUIRED = ("format", "model", "step", "config", "arch", "features")


def rng_state() -> dict[str, Any]:
    """Python, NumPy (legacy global), torch CPU and CUDA generator states, as tensors and plain values."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` saved (CUDA only when both sides have it)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, ckpt: dict[str, Any]) -> Path:
    """torch.save into memory, then a temporary file and a rename: a kill at any moment leaves the old
    file whole, and a full disk is an OSError naming the file (not torch's zip-writer message)."""
    path = Path(path)
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    write_bytes(path, buf.getvalue())
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", data: bytes | None = None
) -> dict[str, Any]:
    """Read a `bench train` checkpoint; anything else (missing, corrupt, foreign) is a BenchError.

    `data`: the file's bytes, already read (and hashed) by the caller; loading them rather than the file
    again means the hash names the weights actually used, even when the file is replaced meanwhile."""
    from bench.core.weights import load_weights, load_weights_bytes

    path = Path(path)
    if data is not None:
        ckpt = load_weights_bytes(data, path, "bench train checkpoint", map_location)
    elif not path.is_file():
        raise missing_checkpoint(path, "checkpoint")
    else:
        ckpt = load_weights(path, "bench train checkpoint", map_location)
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        have = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise BenchError(f"{path} is not a bench train checkpoint (expected keys {REQUIRED}, found {have})")
    version = checkpoint_version(ckpt, path)
    if version != FORMAT_VERSION:  # a newer file: an older version is upgraded here when one exists
        raise BenchError(
            f"{path}: checkpoint format version {version} was written by a newer pconv-bench "
            f"(this version reads {FORMAT_VERSION}); update pconv-bench"
        )
    return ckpt


def checkpoint_version(ckpt: dict[str, Any], path: str | os.PathLike) -> int:
    """The format version of a checkpoint dict ("pconv-bench/train/<version>"); a BenchError otherwise."""
    name, _, version = str(ckpt.get("format", "")).rpartition("/")
    if name != FORMAT_NAME or not version.isdigit() or int(version) < 1:
        found = ckpt.get("format")
        raise BenchError(f"{path}: unknown checkpoint format {found!r} (this version reads {FORMAT})")
    return int(version)


def load_model_state(model: nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """load_state_dict(strict) with a one-line BenchError naming the file when the architecture differs."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise BenchError(f"{path} holds another architecture than this model: {detail[:300]}") from e


def missing_checkpoint(path: str | os.PathLike, what: str) -> BenchError:
    """The error for a checkpoint path that is not a file: a folder gets the file to name inside it."""
    path = Path(path)
    if path.is_dir():
        inner = path / LAST
        hint = f"pass {inner}" if inner.is_file() else f"a training folder holds {LAST}; pass that file"
        return BenchError(f"{what} {path} is a folder, not a checkpoint file; {hint}")
    return BenchError(f"{what} {path} does not exist")


# Bounds on what a checkpoint's `arch` may ask for, checked before a tensor is allocated (a crafted
# checkpoint could ask for 10**9 layers or a width of 10**7). The paper's U-Net (8 layers, width 64) has
# 33M weights; the bound is 8 times that.
MAX_ARCH_LAYERS = 16
MAX_ARCH_WIDTH = 1024
MAX_ARCH_IN_CHANNELS = 16
MAX_WEIGHTS = 2**28


def unet_weights(layers: int, width: int, in_channels: int = 3) -> int:
    """Convolution weights of InpaintingUNet(layers, width, in_channels), counted without building it."""
    from bench.models.unet.network import encoder_channels, encoder_kernel

    chans = encoder_channels(layers, width)
    skips = [in_channels, *chans]
    n = sum(skips[i] * chans[i] * encoder_kernel(i) ** 2 for i in range(layers))
    for j in range(layers):
        c_up, c_skip = skips[layers - j], skips[layers - 1 - j]
        n += (c_up + c_skip) * (in_channels if j == layers - 1 else c_skip) * 9
    return n


def arch_int(arch: dict[str, Any], key: str, high: int, path: str | os.PathLike) -> int:
    v = arch.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= high:
        raise BenchError(f"{path}: checkpoint arch {key}={v!r} is not an integer within [1, {high}]")
    return v


def check_arch(arch: dict[str, Any], path: str | os.PathLike) -> None:
    """A BenchError when `arch` asks for a network beyond the bounds above (before allocation); the
    model's registration (bench.models.registry) estimates its weights."""
    from bench.models.registry import model_for_arch

    arch_int(arch, "width", MAX_ARCH_WIDTH, path)
    weights = model_for_arch(arch, path).weights(arch, path)
    if weights > MAX_WEIGHTS:
        raise BenchError(
            f"{path}: checkpoint arch {arch} would have about {weights:,} weights, more than the "
            f"{MAX_WEIGHTS:,} allowed; not a network this project trains"
        )


def build_model(arch: dict[str, Any], path: str | os.PathLike) -> nn.Module:
    """The generator an arch dict describes, built by the registration of its model (bench.models.registry:
    arch["model"], or the U-Net of arch["conv"] without it). An arch it does not accept is a BenchError."""
    from bench.models.registry import model_for_arch

    if not isinstance(arch, dict):
        raise BenchError(f"{path}: checkpoint field 'arch' is not a dict ({type(arch).__name__})")
    check_arch(arch, path)
    try:
        return model_for_arch(arch, path).build(arch)
    except (TypeError, ValueError, KeyError) as e:
        raise BenchError(f"{path}: cannot build the network it describes ({arch}): {e}") from e


def load_checkpoint_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", data: bytes | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """The trained U-Net in eval mode and its metadata (config, arch, features, step, phase).

    Used by the inpainter registry (`--method pconv=DIR/last.pt`). Errors name the file. `data`: the
    file's bytes, already read (see `load_checkpoint`).
    """
    ckpt = load_checkpoint(path, map_location="cpu", data=data)
    model = build_model(ckpt["arch"], path)
    # A run with a moving average of its weights is evaluated with the average (bench.training.loop).
    load_model_state(model, ckpt["ema"] if isinstance(ckpt.get("ema"), dict) else ckpt["model"], path)
    model.to(device).eval()
    meta = {
        k: ckpt.get(k)
        for k in ("config", "arch", "features", "features_name", "features_standin", "step", "phase")
    }
    meta["path"] = str(path)
    return model, meta
