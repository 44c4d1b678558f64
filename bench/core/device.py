"""Device choice: `--device auto|cpu|cuda` resolved in one place."""

from __future__ import annotations

import torch

from bench.core.errors import BenchError


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


PRECISIONS = ("auto", "fp32", "bf16")


def bf16_native(device: torch.device) -> bool:
    """Whether `device` computes bf16 natively: a CUDA GPU with bf16 support, or a CPU with AVX-512 BF16
    or AMX (elsewhere torch emulates bf16 on the CPU, slower than fp32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name)()) for name in checks if hasattr(cpu, name))


def resolve_precision(name: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device computes it natively, else 'fp32'; 'fp32' and 'bf16' as asked."""
    if name not in PRECISIONS:
        raise BenchError(f"unknown precision {name!r} (use {', '.join(PRECISIONS)})")
    if name == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return name


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision: bf16 autocast, or none for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
