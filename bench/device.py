"""Device choice: `--device auto|cpu|cuda` resolved in one place."""

from __future__ import annotations

import torch

from bench.errors import BenchError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda when available, else cpu. 'cuda' without a GPU is an error (exit 2)."""
    name = (name or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BenchError("--device cuda was asked for but no CUDA device is available; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise BenchError(f"unknown device {name!r} (use auto, cpu or cuda)") from e
