"""Click parameter types and options shared by several commands (defined once)."""

from __future__ import annotations

import click

from bench.errors import BenchError
from masks.conventions import GROUPS, Bin, Group, parse_ratio


class RatioParam(click.ParamType):
    """`0.3-0.4` -> (Bin(0.3, 0.4),); `0.01-0.6` -> all six bins."""

    name = "LO-HI"

    def convert(self, value, param, ctx) -> tuple[Bin, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_ratio(value)
        except ValueError as e:
            raise BenchError(f"--ratio: {e}") from None  # one line, exit code 2


RATIO = RatioParam()


def ratio_option(default: str = "0.01-0.6"):
    return click.option(
        "--ratio",
        type=RATIO,
        default=default,
        show_default=True,
        help="Hole-ratio bins LO-HI: 0.3-0.4 is the bin (0.3,0.4]; 0.01-0.6 all six.",
    )


def border_option():
    """--border = group B, --no-border = group N, neither = both."""
    return click.option(
        "--border/--no-border",
        "border",
        default=None,
        help="Group B (holes >= margin from the border) or N (holes may touch it); default both.",
    )


def groups_from_flag(border: bool | None) -> tuple[Group, ...]:
    if border is None:
        return GROUPS
    return (Group.B,) if border else (Group.N,)
