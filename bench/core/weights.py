"""Pretrained weights, offline: where a file is looked for, and how it is read.

Lookup order, the same for every network (VGG-16 features, the Inception classifier, LPIPS backbones):
an explicit path (a flag) > an environment variable > the torch hub cache
(`torch.hub.get_dir()/checkpoints/<file>`). A path given explicitly that does not exist is an error,
not a silent fall-back. Nothing here downloads.

Every file is read with `torch.load(..., weights_only=True)`: a file that is not plain tensors and
containers is refused with one line naming it, never with advice to load it unsafely.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from bench.core.errors import BenchError


def hub_cache(file_name: str) -> Path:
    """Where torch (and torch-fidelity, torchvision) keep a downloaded checkpoint of that name."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def find_weights(
    explicit: str | os.PathLike | None, env_var: str, file_name: str, what: str
) -> tuple[Path, str] | None:
    """(file, source) by explicit path > $env_var > hub cache; source is "path", "env" or "cache".

    None when none of them exists. An explicit path or variable naming a missing file is a BenchError.
    """
    if explicit:
        p = Path(explicit).expanduser()
        if not p.is_file():
            raise BenchError(f"{what} weights not found: {p}")
        return p, "path"
    env = os.environ.get(env_var)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise BenchError(f"${env_var} points to a missing file: {p}")
        return p, "env"
    cached = hub_cache(file_name)
    return (cached, "cache") if cached.is_file() else None


def load_weights(path: str | os.PathLike, what: str, map_location: Any = "cpu") -> Any:
    """torch.load(path, weights_only=True); anything unreadable is a one-line BenchError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{what} {path} does not exist")
    return _safe_load(path, path, what, map_location)


def read_weights(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a weights file, read once: hash them, load them (`load_weights_bytes`), and the hash
    names what was loaded even when the file is replaced meanwhile."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"{what} {path} does not exist")
    try:
        return path.read_bytes()
    except OSError as e:
        raise BenchError(f"{what} {path} cannot be read ({e.strerror})") from None


def load_weights_bytes(data: bytes, path: str | os.PathLike, what: str, map_location: Any = "cpu") -> Any:
    """torch.load of bytes already read (`read_weights`), weights_only=True; errors name `path`."""
    return _safe_load(io.BytesIO(data), Path(path), what, map_location)


def _safe_load(source: Path | io.BytesIO, path: Path, what: str, map_location: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes are noise here
            return torch.load(source, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated file, not a pickle, a pickle with forbidden globals, ...
        raise BenchError(f"{path} is not a readable {what} ({_reason(e)})") from None


def _reason(e: Exception) -> str:
    """The informative part of torch.load's error: the forbidden global, or the first line; never the
    paragraph that suggests weights_only=False."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()] or [type(e).__name__]
    for i, ln in enumerate(lines):
        if "WeightsUnpickler error" in ln:
            detail = ln.split("WeightsUnpickler error", 1)[1].strip(" :;")
            if not detail and i + 1 < len(lines):
                detail = lines[i + 1]
            # The forbidden global, not torch's advice that follows it.
            detail = detail.split(";")[0].split(". ")[0].rstrip(".")
            return f"refused by the safe loader: {detail}"
    first = lines[0]
    if "weights_only" in first:
        return "it holds Python objects other than tensors and plain containers; refused for safety"
    return first[:200]


def load_state_dict(path: str | os.PathLike, what: str = "state dict") -> dict[str, Any]:
    """A state dict of tensors from a file that holds one, or a checkpoint holding it under 'state_dict'
    (mmagic's layout); anything else is a one-line BenchError naming the file."""
    path = Path(path)
    ckpt = load_weights(path, what)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(
            f"{path}: not a state dict of tensors (nor a checkpoint holding one in 'state_dict')"
        )
    return state


MAX_NAMES = 8  # tensor names quoted in one error message


def tensor_names(names: list[str] | tuple[str, ...]) -> str:
    """The first MAX_NAMES names, sorted, and how many more: for one-line errors about a weights file."""
    names = sorted(names)
    more = f" (+{len(names) - MAX_NAMES} more)" if len(names) > MAX_NAMES else ""
    return ", ".join(names[:MAX_NAMES]) + more


def refuse_mismatch(path: Path, network: str, missing: list[str], unexpected: list[str]) -> None:
    """A BenchError naming the missing and unexpected tensors of a weights file for `network`, if any."""
    parts = []
    if missing:
        parts.append(f"missing tensors: {tensor_names(missing)}")
    if unexpected:
        parts.append(f"unexpected tensors: {tensor_names(unexpected)}")
    if parts:
        raise BenchError(f"{path}: does not match the {network}; " + "; ".join(parts))
