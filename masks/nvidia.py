"""NVIDIA's Irregular Mask Dataset (the PConv paper's masks): the test set's layout, labels and polarity.

The layout of the 12,000-file test set (six blocks of 2,000 masks in ascending ratio order, each block
half N and half B) is a convention of the repositories that use it, not a statement of NVIDIA's: see
docs/nvidia-masks.md for what is stated and by whom. `bench masks import --layout nvidia-test` therefore
measures every mask's bin and group, and reports the conventional labels beside the measurements
(`label_report`). Test masks are 512x512 with white holes (the opposite of this project); training masks
have black holes, like this project's.

>>> nvidia_test_label(0)
(Bin(lo=0.01, hi=0.1), <Group.N: 'N'>)
>>> nvidia_test_label(11999)[0].name
'0.5-0.6'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from os import PathLike, fspath
from pathlib import PurePath

import numpy as np
import pandas as pd

from masks.conventions import BINS, GROUPS, HOLE, VALID, Bin, Group, bin_of, flip_polarity

NVIDIA_TEST_COUNT: int = 12000
NVIDIA_TRAIN_COUNT: int = 55116
NVIDIA_TEST_SIZE: int = 512
# Pixel value of a hole in the test PNGs (white); the project's own files use HOLE = 0.
NVIDIA_TEST_HOLE_VALUE: int = 255

# One block per bin, each split into two halves of one group each.
BLOCK: int = NVIDIA_TEST_COUNT // len(BINS)  # 2000
HALF: int = BLOCK // len(GROUPS)  # 1000

# Which group each half of a block holds: (first 1000, second 1000).  Unconfirmed, see ORDERING_SOURCE.
DEFAULT_HALF_ORDER: tuple[Group, Group] = (Group.N, Group.B)

ORDERING_SOURCE: str = (
    "Bins: CONVENTION, NOT STATED BY NVIDIA. NVIDIA's page states only 6 ratio bins x with/without border "
    "constraint x 1000 masks; its first author calls the test set 'well-organized according to the mask "
    "ratio' (NVIDIA/partialconv issues). Repositories that select by index use six consecutive blocks of "
    "2000 files, 00000-01999 = (0.01,0.1] ... 10000-11999 = (0.5,0.6]; others re-bin by measured ratio. "
    "Groups within a block: UNKNOWN, stated nowhere found; the default (first 1000 = N, second 1000 = B) "
    "follows the paper's Table 1 column order only. Check both with label_report / infer_half_order on "
    "the real files before relying on these labels."
)

_NUMBERED_PNG = re.compile(r"^(\d+)\.png$", re.IGNORECASE)


def _check_half_order(half_order: tuple[Group, Group]) -> tuple[Group, Group]:
    order = tuple(Group(g) for g in half_order)
    if len(order) != 2 or set(order) != set(GROUPS):
        raise ValueError(f"half_order must name N and B once each, got {half_order!r}")
    return order  # type: ignore[return-value]


def nvidia_test_label(index: int, half_order: tuple[Group, Group] = DEFAULT_HALF_ORDER) -> tuple[Bin, Group]:
    """(bin, group) of test mask number `index` (0..11999) under the convention in ORDERING_SOURCE.

    Block index // 2000 is the bin in ascending order; within a block, the first 1000 masks belong to
    half_order[0] and the next 1000 to half_order[1].
    """
    if isinstance(index, bool) or int(index) != index:
        raise TypeError(f"index must be an integer, got {index!r}")
    i = int(index)
    if not 0 <= i < NVIDIA_TEST_COUNT:
        raise ValueError(f"index {i} is outside 0..{NVIDIA_TEST_COUNT - 1}")
    order = _check_half_order(half_order)
    return BINS[i // BLOCK], order[(i % BLOCK) // HALF]


def nvidia_test_index(name: str | PathLike[str]) -> int | None:
    """The number in a test-mask file name ('00042.png', '42.PNG', 'dir/00042.png' -> 42), else None."""
    m = _NUMBERED_PNG.match(PurePath(fspath(name)).name)
    return int(m.group(1)) if m else None


def is_nvidia_test_layout(files: Iterable[str | PathLike[str]]) -> bool:
    """True when the PNG files are exactly the numbers 0..11999, each once (any zero padding).

    `files` are names or paths (only the last component is read).  Files that are not PNGs (a readme,
    .DS_Store) are ignored; a PNG whose stem is not a number, a repeated number ('7.png' and '0007.png')
    or a number outside the range makes the answer False.
    """
    seen: set[int] = set()
    for f in files:
        name = PurePath(fspath(f)).name
        if not name.lower().endswith(".png"):
            continue
        idx = nvidia_test_index(name)
        if idx is None or idx >= NVIDIA_TEST_COUNT or idx in seen:
            return False
        seen.add(idx)
    return len(seen) == NVIDIA_TEST_COUNT


def from_nvidia_test(mask: np.ndarray) -> np.ndarray:
    """A test-set mask (hole = white) in the project's polarity: uint8 (H,W), 255 valid, 0 hole.

    Accepts (H,W) or (H,W,C) uint8 (the PNGs are sometimes stored as RGB; the first channel is used) and
    binarises at the middle grey, so resampled or anti-aliased copies come back binary.
    """
    m = np.asarray(mask)
    if m.dtype != np.uint8:
        raise TypeError(f"expected a uint8 mask, got {m.dtype}")
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(f"expected a (H,W) or (H,W,C) mask, got shape {m.shape}")
    ours = flip_polarity(m)
    return np.where(ours >= VALID / 2, VALID, HOLE).astype(np.uint8)


def _labels_array(labels: Sequence[tuple[Bin, Group]]) -> tuple[list[Bin], list[Group]]:
    bins = [b for b, _ in labels]
    groups = [Group(g) for _, g in labels]
    return bins, groups


def infer_half_order(
    indices: Sequence[int], measured_groups: Sequence[Group], min_agreement: float = 0.9
) -> tuple[Group, Group] | None:
    """Which group each half of a 2000-block holds, judged from measured border groups.

    `indices` are test-mask numbers and `measured_groups` the group measured on each (group_of at the
    margin for the mask's size).  A group-B mask measures as B by definition; a mask drawn without the
    constraint may still measure as B by chance, so the vote is: which ordering gets at least
    `min_agreement` of the measured-N masks in its N halves.  None when neither ordering passes or no
    mask measured as N.
    """
    if len(indices) != len(measured_groups):
        raise ValueError(f"{len(indices)} indices but {len(measured_groups)} measured groups")
    first_half_n = 0
    total_n = 0
    for i, g in zip(indices, measured_groups, strict=True):
        if Group(g) is Group.N:
            total_n += 1
            first_half_n += int((int(i) % BLOCK) < HALF)
    if total_n == 0:
        return None
    if first_half_n / total_n >= min_agreement:
        return (Group.N, Group.B)
    if (total_n - first_half_n) / total_n >= min_agreement:
        return (Group.B, Group.N)
    return None


def label_report(
    labels: Sequence[tuple[Bin, Group]],
    measured_ratios: Sequence[float],
    measured_groups: Sequence[Group],
) -> pd.DataFrame:
    """Per label block (bin, group): how well the measured masks fit their labels.

    Columns: bin (name), group, count, ratio_min, ratio_max (measured hole ratio), bin_mismatch (masks
    whose measured ratio falls in another bin or outside (0.01, 0.6]), group_mismatch (masks whose
    measured border group differs from the label).  One row per label block present, in bin then
    group (N, B) order.
    """
    n = len(labels)
    if not (len(measured_ratios) == n and len(measured_groups) == n):
        raise ValueError(
            f"lengths differ: {n} labels, {len(measured_ratios)} ratios, {len(measured_groups)} groups"
        )
    bins, groups = _labels_array(labels)
    unknown = sorted({b.name for b in bins} - {b.name for b in BINS})
    if unknown:
        raise ValueError(f"labels name bins outside the paper's six: {', '.join(unknown)}")
    frame = pd.DataFrame(
        {
            "bin": [b.name for b in bins],
            "group": [g.value for g in groups],
            "ratio": np.asarray(measured_ratios, dtype=float),
            "bin_bad": [bin_of(float(r)) != b for r, b in zip(measured_ratios, bins, strict=True)],
            "group_bad": [Group(m) is not g for m, g in zip(measured_groups, groups, strict=True)],
        }
    )
    columns = ["bin", "group", "count", "ratio_min", "ratio_max", "bin_mismatch", "group_mismatch"]
    rows = []
    for b in BINS:
        for g in GROUPS:
            block = frame[(frame["bin"] == b.name) & (frame["group"] == g.value)]
            if block.empty:
                continue
            rows.append(
                {
                    "bin": b.name,
                    "group": g.value,
                    "count": int(len(block)),
                    "ratio_min": float(block["ratio"].min()),
                    "ratio_max": float(block["ratio"].max()),
                    "bin_mismatch": int(block["bin_bad"].sum()),
                    "group_mismatch": int(block["group_bad"].sum()),
                }
            )
    return pd.DataFrame(rows, columns=columns)
