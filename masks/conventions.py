"""The conventions every module imports: mask polarity, hole ratio, bins, border groups, hole fill.

Defined once here (docs/conventions.md explains them); nothing else in the project redefines them.

>>> parse_ratio("0.3-0.4")
(Bin(lo=0.3, hi=0.4),)
>>> bin_of(0.25).name
'0.2-0.3'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

# On disk (uint8 PNG) and in tensors: 1 / 255 = valid, 0 = hole (the paper's M).
VALID: int = 255
HOLE: int = 0
# A uint8 mask pixel is valid from this value up (stored masks hold only 0 and 255).
VALID_THRESHOLD: int = 128
# What a hole pixel holds before a network sees it, and the fill of an image with no valid pixel at all:
# mid-grey, the paper's 127.5 for the Conv baseline.
HOLE_FILL: float = 0.5

# Border margin of group B at the paper's 512 px.
PAPER_SIZE: int = 512
PAPER_MARGIN: int = 50


@dataclass(frozen=True, order=True)
class Bin:
    """A hole-ratio bin (lo, hi]: left-open, right-closed."""

    lo: float
    hi: float

    @property
    def name(self) -> str:
        return f"{self.lo:g}-{self.hi:g}"

    def contains(self, ratio: float) -> bool:
        return self.lo < ratio <= self.hi

    def __str__(self) -> str:
        return self.name


_EDGES: tuple[float, ...] = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BINS: tuple[Bin, ...] = tuple(Bin(a, b) for a, b in zip(_EDGES[:-1], _EDGES[1:], strict=True))
BIN_NAMES: tuple[str, ...] = tuple(b.name for b in BINS)


class Group(StrEnum):
    """N: holes may touch the border. B: every hole pixel at least the margin away from it."""

    N = "N"
    B = "B"

    def __str__(self) -> str:
        return self.value


GROUPS: tuple[Group, ...] = (Group.N, Group.B)


def bin_by_name(name: str) -> Bin:
    for b in BINS:
        if b.name == name:
            return b
    raise ValueError(f"unknown bin {name!r}; known bins: {', '.join(BIN_NAMES)}")


def parse_ratio(text: str) -> tuple[Bin, ...]:
    """'0.3-0.4' -> the bin (0.3,0.4]; '0.01-0.6' -> all six. Edges must be bin edges."""
    parts = str(text).strip().split("-")
    try:
        if len(parts) != 2:
            raise ValueError
        lo, hi = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"ratio {text!r} is not of the form LO-HI, e.g. 0.3-0.4") from None
    if not lo < hi:
        raise ValueError(f"ratio {text!r}: the lower edge must be below the upper edge")
    edges = {round(e, 6): e for e in _EDGES}
    for edge in (lo, hi):
        if round(edge, 6) not in edges:
            raise ValueError(
                f"ratio {text!r}: {edge:g} is not a bin edge; edges are {', '.join(f'{e:g}' for e in _EDGES)}"
            )
    return tuple(b for b in BINS if b.lo >= lo - 1e-9 and b.hi <= hi + 1e-9)


def is_valid(mask: np.ndarray) -> np.ndarray:
    """Bool array, True at valid pixels. `mask` is uint8 (255 valid, 0 hole) or float/bool (1 valid)."""
    m = np.asarray(mask)
    return m >= VALID_THRESHOLD if m.dtype == np.uint8 else m >= 0.5


def composite(output, target, mask):
    """I_comp = M*I_gt + (1-M)*I_out with M = 1 on valid pixels: the known pixels from `target`, the holes
    from `output` (float arrays or tensors, broadcast). The paper's loss and every metric use this one."""
    return mask * target + (1.0 - mask) * output


def hole_ratio(mask: np.ndarray) -> float:
    """Hole pixels / all pixels. `mask` is uint8 (255 valid, 0 hole) or float/bool (1 valid, 0 hole)."""
    return float((~is_valid(mask)).mean())


def bin_of(ratio: float) -> Bin | None:
    """The bin holding `ratio`, or None outside (0.01, 0.6]."""
    for b in BINS:
        if b.contains(ratio):
            return b
    return None


def margin_for(size: int, margin: int | None = None) -> int:
    """Group-B border margin in pixels: round(50 * size / 512) unless given explicitly."""
    if margin is not None:
        return int(margin)
    return int(round(PAPER_MARGIN * size / PAPER_SIZE))


def hole_within_margin(mask: np.ndarray, margin: int) -> bool:
    """True when some hole pixel lies less than `margin` px from the image border."""
    hole = ~is_valid(mask)
    if margin <= 0:
        return False
    inner = hole[margin:-margin, margin:-margin] if hole.shape[0] > 2 * margin else hole[:0, :0]
    return bool(hole.sum() > inner.sum())


def group_of(mask: np.ndarray, margin: int) -> Group:
    """B when no hole pixel is within the margin, else N."""
    return Group.N if hole_within_margin(mask, margin) else Group.B


def flip_polarity(mask: np.ndarray) -> np.ndarray:
    """The one helper for the opposite convention (OpenCV, PyPatchMatch, LaMa: hole = 255).

    uint8 in, uint8 out: 255 <-> 0, other values v -> 255 - v. Float/bool: 1 - m.
    """
    m = np.asarray(mask)
    if m.dtype == np.uint8:
        return (VALID - m).astype(np.uint8)
    return (1 - m.astype(np.float32)).astype(np.float32)
