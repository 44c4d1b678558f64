"""FID and KID from features: the same numbers as torch-fidelity's own functions, and the estimators'
expected behaviour (zero distance to itself, unbiasedness, small sets)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from bench.core.errors import BenchError
from bench.metrics.fid_kid import fid_from_features, kid_from_features


def _features(seed: int, n: int, d: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Correlated, non-negative-ish features (N, D) like pooled ReLU activations."""
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(1000).normal(size=(d, d)) / np.sqrt(d)  # shared correlation structure
    return np.abs(rng.normal(size=(n, d)) @ mix * scale + shift)


def _tf_fid(a: np.ndarray, b: np.ndarray) -> float:
    s1 = fid_features_to_statistics(torch.from_numpy(a))
    s2 = fid_features_to_statistics(torch.from_numpy(b))
    return fid_statistics_to_metric(s1, s2, verbose=False)["frechet_inception_distance"]


def _tf_kid(a: np.ndarray, b: np.ndarray, **kw) -> tuple[float, float]:
    out = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), verbose=False, **kw)
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


@pytest.mark.parametrize(
    ("n1", "n2", "d"), [(500, 400, 32), (300, 300, 128), (40, 60, 64), (64, 10, 64), (70, 10, 64)]
)
def test_fid_matches_torch_fidelity(n1, n2, d):
    # (40, 60, 64): both covariances are rank-deficient (N <= D), the case that needs a stable sqrt; up to
    # (64, 10, 64) FID is computed from the samples' cross products, from (70, 10, 64) from the covariances.
    real, fake = _features(1, n1, d), _features(2, n2, d, shift=0.3, scale=1.2)
    ours, theirs = fid_from_features(real, fake), _tf_fid(real, fake)
    assert ours == pytest.approx(theirs, rel=1e-6)


def test_fid_matches_scipy_sqrtm():
    # The pytorch-fid formula (scipy's sqrtm of S1 S2) on a well-conditioned pair.
    real, fake = _features(3, 800, 16), _features(4, 700, 16, shift=0.5)
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = (mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert fid_from_features(real, fake) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize(("n", "d"), [(500, 32), (30, 64)])
def test_fid_of_a_set_with_itself_is_zero(n, d):
    x = _features(5, n, d)
    scale = np.trace(np.cov(x, rowvar=False))
    assert abs(fid_from_features(x, x)) < 1e-12 * scale  # rank-deficient (30 < 64) included
    assert abs(fid_from_features(x, x.copy()[::-1])) < 1e-12 * scale  # order does not matter


def test_fid_of_gaussians_with_known_distance():
    # N(0, I) vs N(m, I) in D dims: FID -> |m|^2 (covariance terms cancel) as N grows.
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(20000, 4)), rng.normal(size=(20000, 4)) + 1.0
    assert fid_from_features(a, b) == pytest.approx(4.0, abs=0.05)


@pytest.mark.parametrize(
    ("n1", "n2", "kw"),
    [
        (300, 250, {"subsets": 20, "subset_size": 100}),
        (200, 200, {"subsets": 10, "subset_size": 200}),  # every subset is the whole set
        (150, 120, {"subsets": 15, "subset_size": 50, "degree": 2, "gamma": 0.5, "coef0": 0.3, "seed": 7}),
    ],
)
def test_kid_matches_torch_fidelity(n1, n2, kw):
    real, fake = _features(7, n1, 48), _features(8, n2, 48, shift=0.2)
    ours = kid_from_features(real, fake, **kw)
    tf_kw = {
        "kid_subsets": kw["subsets"],
        "kid_subset_size": kw["subset_size"],
        "kid_kernel": "poly",
        "kid_kernel_poly_degree": kw.get("degree", 3),
        "kid_kernel_poly_gamma": kw.get("gamma"),
        "kid_kernel_poly_coef0": kw.get("coef0", 1),
        "rng_seed": kw.get("seed", 0),
    }
    theirs = _tf_kid(real, fake, **tf_kw)
    assert ours[0] == pytest.approx(theirs[0], rel=1e-6)
    assert ours[1] == pytest.approx(theirs[1], rel=1e-6, abs=1e-12 * abs(theirs[0]))


def test_kid_is_unbiased_near_zero_for_one_distribution():
    # Two independent samples of one distribution: the unbiased estimate scatters around 0 (negative
    # values included), its mean over many subsets is far closer to 0 than to the spread of one subset.
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    mean, std = kid_from_features(a, b, subsets=200, subset_size=100)
    assert std > 0
    assert abs(mean) < 0.2 * std
    single = [kid_from_features(a, b, subsets=1, subset_size=100, seed=s)[0] for s in range(30)]
    assert min(single) < 0 < max(single)
    # A shifted distribution is clearly positive.
    shifted, _ = kid_from_features(a, b + 0.5, subsets=20, subset_size=100)
    assert shifted > 10 * std


def test_kid_small_cells_use_the_smaller_set_size():
    real, fake = _features(10, 60, 32), _features(11, 45, 32, shift=0.2)
    ours = kid_from_features(real, fake, subsets=10, subset_size=1000)
    # torch-fidelity refuses subset_size > N; asked for the clipped size it gives the same numbers.
    theirs = _tf_kid(
        real, fake, kid_subsets=10, kid_subset_size=45, kid_kernel="poly", kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None, kid_kernel_poly_coef0=1, rng_seed=0,
    )  # fmt: skip
    assert ours == pytest.approx(theirs, rel=1e-6)
    # Both sets at the subset size: every subset is everything, so the subsets agree.
    x, y = _features(12, 40, 8), _features(13, 40, 8)
    _, std = kid_from_features(x, y, subsets=5, subset_size=1000)
    assert std < 1e-12
    # The smallest possible cell: two samples each.
    assert np.isfinite(kid_from_features(x[:2], y[:2])[0])


@pytest.mark.parametrize(
    ("real", "fake", "match"),
    [
        (np.zeros((10, 4)), np.zeros((10, 5)), "width"),
        (np.zeros(10), np.zeros((10, 4)), "2-D"),
        (np.full((10, 4), np.nan), np.zeros((10, 4)), "NaN"),
        (np.zeros((1, 4)), np.zeros((10, 4)), "at least 2 real"),
        (np.zeros((10, 4)), np.zeros((0, 4)), "at least 2 fake"),
    ],
)
def test_bad_features_are_refused(real, fake, match):
    for fn in (fid_from_features, kid_from_features):
        with pytest.raises(BenchError, match=match):
            fn(real, fake)


def test_kid_bad_options_are_refused():
    x = np.zeros((10, 4))
    with pytest.raises(BenchError, match="subset size"):
        kid_from_features(x, x, subset_size=1)
    with pytest.raises(BenchError, match="subset"):
        kid_from_features(x, x, subsets=0)
