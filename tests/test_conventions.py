import numpy as np
import pytest

from masks.conventions import (
    BINS,
    Group,
    bin_of,
    flip_polarity,
    group_of,
    hole_ratio,
    margin_for,
    parse_ratio,
)


def test_bins_are_the_papers_six_left_open_right_closed():
    assert [b.name for b in BINS] == ["0.01-0.1", "0.1-0.2", "0.2-0.3", "0.3-0.4", "0.4-0.5", "0.5-0.6"]
    assert bin_of(0.1).name == "0.01-0.1"  # right-closed
    assert bin_of(0.1000001).name == "0.1-0.2"
    assert bin_of(0.01) is None  # left-open
    assert bin_of(0.6).name == "0.5-0.6"
    assert bin_of(0.61) is None and bin_of(0.0) is None


@pytest.mark.parametrize(
    ("text", "names"),
    [("0.3-0.4", ["0.3-0.4"]), ("0.01-0.6", [b.name for b in BINS]), ("0.2-0.4", ["0.2-0.3", "0.3-0.4"])],
)
def test_parse_ratio(text, names):
    assert [b.name for b in parse_ratio(text)] == names


@pytest.mark.parametrize("text", ["0.3-0.9", "abc", "0.4-0.3", "0.3", "0.35-0.4", ""])
def test_parse_ratio_rejects(text):
    with pytest.raises(ValueError):
        parse_ratio(text)


def test_hole_ratio_and_polarity():
    m = np.full((10, 10), 255, np.uint8)
    m[:3, :5] = 0  # 15 hole pixels
    assert hole_ratio(m) == pytest.approx(0.15)
    assert hole_ratio(m.astype(np.float32) / 255) == pytest.approx(0.15)
    assert hole_ratio(flip_polarity(m)) == pytest.approx(0.85)
    assert np.array_equal(flip_polarity(flip_polarity(m)), m)


def test_margin_and_group():
    assert margin_for(512) == 50 and margin_for(256) == 25 and margin_for(64) == 6
    assert margin_for(64, 3) == 3
    m = np.full((64, 64), 255, np.uint8)
    m[6:58, 6:58] = 0  # exactly at the margin: allowed in B
    assert group_of(m, 6) is Group.B
    m[5, 30] = 0
    assert group_of(m, 6) is Group.N
