"""Placeholder for commands that are not built yet: they say so and exit 2."""

from __future__ import annotations

from bench.errors import BenchError


def not_built(name: str) -> None:
    raise BenchError(f"`bench {name}` is not built yet")
