"""Shared test fixtures: tiny images and a CLI runner. Everything here is small and CPU-only."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """A real colour photo that ships with scikit-image, uint8 (512,512,3)."""
    from skimage import data

    return data.astronaut()


# Top-left corners of 200 px crops of the astronaut photo, for the tiny test-image folders.
CROP_CORNERS = ((0, 0), (100, 200), (250, 120), (300, 300))


def write_crops(folder, photo: np.ndarray, size: int, corners=CROP_CORNERS) -> None:
    """A folder of test images: im0.png, im1.png, ... the 200 px crops of `photo` at `corners`, resized to
    size x size (INTER_AREA)."""
    import cv2

    from bench.core.files import write_png

    folder.mkdir(parents=True, exist_ok=True)
    for i, (y, x) in enumerate(corners):
        crop = photo[y : y + 200, x : x + 200]
        write_png(folder / f"im{i}.png", cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA))


def vgg16_conv1_to_conv3(model) -> dict:
    """The part of a torchvision VGG-16 state dict that the feature network reads (features[:17]): 7 MB
    instead of the whole file's 528 MB."""
    return {
        k: v for k, v in model.state_dict().items() if k.startswith("features.") and int(k.split(".")[1]) < 17
    }


class FakeISNet:
    """A cheap, deterministic stand-in classifier: softmax of a fixed projection of 4x4 pooled pixels."""

    name = "fake-net (tests)"
    label = "IS*"
    is_standin = True
    footnote = "Fake network for tests."

    def __init__(self) -> None:
        import torch

        self.w = torch.randn(3 * 4 * 4, 10, generator=torch.Generator().manual_seed(0))

    def outputs(self, images):
        import torch

        f = torch.nn.functional.adaptive_avg_pool2d(images.float().cpu(), 4).flatten(1)  # (B,48)
        return {"probs": torch.softmax(f @ self.w * 4, dim=1).double(), "pool": f}  # (B,10), (B,48)

    def probs(self, images):
        return self.outputs(images)["probs"]


@pytest.fixture
def fake_inception(monkeypatch):
    """The CLI loads bench.metrics.inception; give it the fake network (fast, no weights needed)."""
    import sys
    import types

    mod = types.ModuleType("bench.metrics.inception")
    mod.load_is_network = lambda weights=None, allow_download=False, device="cpu": FakeISNet()
    monkeypatch.setitem(sys.modules, "bench.metrics.inception", mod)
