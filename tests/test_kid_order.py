"""KID against torch-fidelity with the argument order and seed its docstring names (bench.metrics.fid_kid)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

from bench.metrics.fid_kid import kid_from_features

KW = dict(kid_subsets=20, kid_subset_size=50, kid_kernel="poly", kid_kernel_poly_degree=3,
          kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, verbose=False)  # fmt: skip


def _tf(first: np.ndarray, second: np.ndarray, seed: int) -> float:
    out = kid_features_to_metric(torch.from_numpy(first), torch.from_numpy(second), rng_seed=seed, **KW)
    return out[KEY_METRIC_KID_MEAN]


def test_kid_equals_torch_fidelity_with_real_first_and_the_same_seed():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(120, 16)), rng.normal(size=(90, 16)) + 0.3
    ours = kid_from_features(real, fake, subsets=20, subset_size=50, seed=7)[0]
    assert ours == pytest.approx(_tf(real, fake, 7), rel=1e-9)
    # torch-fidelity's usual order (generated first) or its default seed 2020: other subsets, other value
    assert ours != pytest.approx(_tf(fake, real, 7), rel=1e-6)
    assert ours != pytest.approx(_tf(real, fake, 2020), rel=1e-6)
