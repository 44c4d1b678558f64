"""NVIDIA's training-mask threshold as a setting: both readings of "threshold 0.6" on a grey raw mask."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.core.errors import BenchError
from bench.core.files import write_png
from bench.training.config import resolve_config
from bench.training.loop import TrainSamples


@pytest.mark.parametrize(("threshold", "holes"), [(0.6, False), (0.4, True)])
def test_grey_mask_pixels_are_holes_only_under_the_other_reading(tmp_path, astronaut, threshold, holes):
    img = tmp_path / "img"
    img.mkdir()
    write_png(img / "a.png", cv2.resize(astronaut[:200, :200], (32, 32)))
    raw = tmp_path / "raw"
    raw.mkdir()
    m = np.full((32, 32), 255, np.uint8)
    m[8:24, 8:24] = 128  # grey: 1 - 128/255 = 0.498, a hole for threshold 0.4 only (v <= 153, not <= 102)
    write_png(raw / "0.png", m)
    cfg = resolve_config("smoke", overrides={"size": 32, "mask_threshold": threshold})
    ds = TrainSamples([img / "a.png"], 32, 0, 1, mask_files=[raw / "0.png"], mask_augment="nvidia",
                      mask_threshold=cfg.mask_threshold)  # fmt: skip
    mask = ds[(0, 0)][1]
    assert bool((mask == 0).any()) is holes


def test_the_default_is_the_hole_channel_reading_and_bad_values_are_refused():
    assert resolve_config("paper").mask_threshold == 0.6
    with pytest.raises(BenchError, match="mask_threshold"):
        resolve_config("smoke", overrides={"mask_threshold": 0.0})
