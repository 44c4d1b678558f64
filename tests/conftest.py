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


def vgg16_conv1_to_conv3(model) -> dict:
    """The part of a torchvision VGG-16 state dict that the feature network reads (features[:17]): 7 MB
    instead of the whole file's 528 MB."""
    return {
        k: v for k, v in model.state_dict().items() if k.startswith("features.") and int(k.split(".")[1]) < 17
    }
