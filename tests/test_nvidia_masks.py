"""NVIDIA test-set labels, layout detection and the label report, on names and small synthetic arrays."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from masks.conventions import BINS, GROUPS, Group, group_of, hole_ratio, margin_for
from masks.nvidia import (
    DEFAULT_HALF_ORDER,
    NVIDIA_TEST_COUNT,
    ORDERING_SOURCE,
    from_nvidia_test,
    infer_half_order,
    is_nvidia_test_layout,
    label_report,
    nvidia_test_index,
    nvidia_test_label,
)

SIZE = 64  # synthetic masks are (64,64); group-B margin round(50*64/512) = 6 px


def _names(count: int = NVIDIA_TEST_COUNT, width: int = 5) -> list[str]:
    return [f"{i:0{width}d}.png" for i in range(count)]


def test_labels_follow_the_block_convention():
    assert NVIDIA_TEST_COUNT == 12000
    assert DEFAULT_HALF_ORDER == (Group.N, Group.B)
    assert "NOT STATED" in ORDERING_SOURCE and "UNKNOWN" in ORDERING_SOURCE
    for block, b in enumerate(BINS):
        start = block * 2000
        assert nvidia_test_label(start) == (b, Group.N)
        assert nvidia_test_label(start + 999) == (b, Group.N)
        assert nvidia_test_label(start + 1000) == (b, Group.B)
        assert nvidia_test_label(start + 1999) == (b, Group.B)
    counts = Counter(nvidia_test_label(i) for i in range(NVIDIA_TEST_COUNT))
    assert len(counts) == 12 and set(counts.values()) == {1000}


def test_half_order_can_be_swapped_and_is_checked():
    assert nvidia_test_label(0, (Group.B, Group.N))[1] is Group.B
    assert nvidia_test_label(1000, ("B", "N"))[1] is Group.N
    with pytest.raises(ValueError):
        nvidia_test_label(0, (Group.N, Group.N))


@pytest.mark.parametrize("bad", [-1, 12000, 10**6])
def test_label_rejects_out_of_range(bad):
    with pytest.raises(ValueError):
        nvidia_test_label(bad)


@pytest.mark.parametrize("bad", [1.5, True, "3"])
def test_label_rejects_non_integers(bad):
    with pytest.raises(TypeError):
        nvidia_test_label(bad)


def test_index_parsing():
    assert nvidia_test_index("00042.png") == 42
    assert nvidia_test_index(Path("a/b/42.PNG")) == 42
    assert nvidia_test_index("mask_42.png") is None
    assert nvidia_test_index("42.jpg") is None


def test_layout_accepts_the_download_and_other_paddings():
    assert is_nvidia_test_layout(_names())
    assert is_nvidia_test_layout(_names(width=1))  # no padding
    mixed = [f"{i:05d}.png" if i % 2 else f"{i}.png" for i in range(NVIDIA_TEST_COUNT)]
    assert is_nvidia_test_layout(mixed)
    paths = [Path("test_mask/mask/testing_mask_dataset") / n for n in _names()]
    assert is_nvidia_test_layout(paths + [Path("test_mask/mask/readme.txt"), ".DS_Store"])
    assert is_nvidia_test_layout(reversed(_names()))  # order of listing does not matter


def test_layout_rejects_wrong_counts_and_names():
    names = _names()
    assert not is_nvidia_test_layout(names[:-1])  # 11,999 files
    assert not is_nvidia_test_layout(names + ["12000.png"])  # a number past the range
    assert not is_nvidia_test_layout(names[1:] + ["7.png"])  # 0 missing, 7 twice
    assert not is_nvidia_test_layout(names[:-1] + ["0007.png"])  # same number, other padding
    assert not is_nvidia_test_layout(names[:-1] + ["mask.png"])  # a PNG that is not numbered
    assert not is_nvidia_test_layout([n.replace(".png", ".jpg") for n in names])
    assert not is_nvidia_test_layout(_names(55116))  # the training set's count
    assert not is_nvidia_test_layout([])


def _synthetic(b, g: Group, j: int) -> np.ndarray:
    """A (64,64) uint8 mask (255 valid) whose hole ratio lies in bin `b` and whose border group is `g`."""
    side = int(round(np.sqrt((b.lo + b.hi) / 2 * SIZE * SIZE))) + (j % 2)
    m = np.full((SIZE, SIZE), 255, np.uint8)
    if g is Group.N:
        m[:side, :side] = 0  # touches the top-left corner
    else:
        top = (SIZE - side) // 2
        m[top : top + side, top : top + side] = 0
    return m


def _folder(per_half: int = 3, half_order=DEFAULT_HALF_ORDER):
    """A folder-like listing (all 12,000 names) plus arrays for a few files of each of the 12 blocks."""
    names = _names()
    arrays: dict[str, np.ndarray] = {}
    for block, b in enumerate(BINS):
        for half, g in enumerate(half_order):
            for j in range(per_half):
                name = names[block * 2000 + half * 1000 + j * 333]
                arrays[name] = _synthetic(b, g, j)
    return names, arrays


def _measure(arrays: dict[str, np.ndarray]):
    margin = margin_for(SIZE)
    idx = [nvidia_test_index(n) for n in arrays]
    ratios = [hole_ratio(a) for a in arrays.values()]
    groups = [group_of(a, margin) for a in arrays.values()]
    return idx, ratios, groups


def test_label_report_on_a_synthetic_folder():
    names, arrays = _folder()
    assert is_nvidia_test_layout(names)
    idx, ratios, groups = _measure(arrays)
    labels = [nvidia_test_label(i) for i in idx]
    report = label_report(labels, ratios, groups)
    assert list(report.columns) == [
        "bin",
        "group",
        "count",
        "ratio_min",
        "ratio_max",
        "bin_mismatch",
        "group_mismatch",
    ]
    assert len(report) == 12
    assert [(r.bin, r.group) for r in report.itertuples()] == [
        (b.name, g.value) for b in BINS for g in GROUPS
    ]
    assert (report["count"] == 3).all()
    assert (report["bin_mismatch"] == 0).all() and (report["group_mismatch"] == 0).all()
    for r in report.itertuples():
        lo, hi = (float(x) for x in r.bin.split("-"))
        assert lo < r.ratio_min <= r.ratio_max <= hi


def test_label_report_counts_disagreements():
    _, arrays = _folder()
    names = list(arrays)
    # Label 00000.png's slot with a B mask of the next bin up: one bin and one group disagreement there.
    arrays[names[0]] = _synthetic(BINS[1], Group.B, 0)
    idx, ratios, groups = _measure(arrays)
    report = label_report([nvidia_test_label(i) for i in idx], ratios, groups).set_index(["bin", "group"])
    assert report.loc[("0.01-0.1", "N"), "bin_mismatch"] == 1
    assert report.loc[("0.01-0.1", "N"), "group_mismatch"] == 1
    assert report["bin_mismatch"].sum() == 1 and report["group_mismatch"].sum() == 1
    assert report.loc[("0.01-0.1", "N"), "ratio_max"] > 0.1
    # A ratio outside (0.01, 0.6] never matches a bin.
    report = label_report([nvidia_test_label(0)], [0.0], [Group.N])
    assert int(report["bin_mismatch"].iloc[0]) == 1


def test_label_report_checks_lengths():
    with pytest.raises(ValueError):
        label_report([nvidia_test_label(0)], [0.05, 0.05], [Group.N])


def test_half_order_is_inferred_from_measured_groups():
    for order in [(Group.N, Group.B), (Group.B, Group.N)]:
        _, arrays = _folder(half_order=order)
        idx, _, groups = _measure(arrays)
        assert infer_half_order(idx, groups) == order
    assert infer_half_order([1000, 1001], [Group.B, Group.B]) is None  # nothing measured as N
    assert infer_half_order([0, 1000], [Group.N, Group.N]) is None  # N on both halves: undecided


def test_test_set_polarity_is_flipped_into_ours():
    nvidia = np.zeros((8, 8), np.uint8)
    nvidia[2:4, 2:4] = 255  # white = hole in the download
    nvidia[5, 5] = 200  # a resampled grey edge pixel: mostly hole
    ours = from_nvidia_test(nvidia)
    assert ours.dtype == np.uint8 and set(np.unique(ours)) == {0, 255}
    assert (ours[2:4, 2:4] == 0).all() and ours[5, 5] == 0 and ours[0, 0] == 255
    rgb = np.repeat(nvidia[..., None], 3, axis=2)
    assert np.array_equal(from_nvidia_test(rgb), ours)
    with pytest.raises(TypeError):
        from_nvidia_test(nvidia.astype(np.float32))
