"""Distances between two sets of image features: FID and KID, as torch-fidelity computes them.

Both functions take the features themselves (numpy (N, D), cast to float64), not images, so that the
feature network is chosen elsewhere and the same features serve both metrics.

- `fid_from_features`: the Fréchet distance between Gaussians fitted to the two sets (sample mean,
  covariance with ddof=1). tr sqrt(S1 S2) is computed from symmetric eigendecompositions, see
  `_trace_sqrt_product`, or, when no set has more samples than D, as the sum of the singular values of
  an N1 x N2 matrix (the same number, exactly); it equals torch-fidelity's eigenvalue formula without its
  complex arithmetic.
- `kid_from_features(real, fake, seed=s)`: torch-fidelity's KID, the unbiased MMD^2 estimate with the
  polynomial kernel k(x, y) = (gamma x.y + coef0)^degree, averaged over random subsets drawn as
  torch-fidelity draws them (one `np.random.RandomState(seed)`, per subset a choice without replacement
  from the first set, then from the second). It equals `torch_fidelity.metric_kid.kid_features_to_metric(
  features_1=real, features_2=fake, rng_seed=s)` with the same subset count and size. Two things differ
  from a plain torch-fidelity call: its `calculate_metrics(input1=generated, input2=real)` puts the
  generated set first, so it draws other subsets (the same estimator, another value within its spread);
  and its default seed is 2020, ours 0 (bench.metrics.registry passes the run's seed).

>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(200, 8))
>>> abs(fid_from_features(x, x)) < 1e-9
True
>>> mean, std = kid_from_features(x, x + 1.0, subsets=10, subset_size=50)
>>> mean > 0.1
True
"""

from __future__ import annotations

import numpy as np

from bench.core.errors import BenchError


def _as_features(a, name: str) -> np.ndarray:
    """(N, D) float64 with finite values; anything else is a one-line BenchError."""
    try:
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise BenchError(f"{name} features are not numeric") from None
    if arr.ndim != 2:
        raise BenchError(f"{name} features must be a 2-D array (N, D), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise BenchError(f"{name} features contain NaN or infinite values")
    return arr


def _check_pair(real, fake, min_n: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    real, fake = _as_features(real, "real"), _as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise BenchError(f"real and fake features differ in width: {real.shape[1]} vs {fake.shape[1]}")
    for name, arr in (("real", real), ("fake", fake)):
        if arr.shape[0] < min_n:
            raise BenchError(f"{metric} needs at least {min_n} {name} samples, got {arr.shape[0]}")
    return real, fake


def _psd_eigenvalues(w: np.ndarray) -> np.ndarray:
    """Eigenvalues (D,) of a positive semi-definite matrix with rounding noise removed: those below
    D * eps * the largest (numpy's matrix_rank tolerance) are 0. Without this the ~1e-16 noise of a
    rank-deficient covariance (N <= D) becomes ~1e-8 per eigenvalue after the square root, and the FID
    of a set with itself comes out at -1e-7 instead of ~1e-15."""
    tol = max(float(w.max(initial=0.0)), 0.0) * w.shape[0] * np.finfo(np.float64).eps
    return np.where(w > tol, w, 0.0)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance matrix (D, D)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(_psd_eigenvalues(w))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr sqrt(s1 s2) for covariance matrices s1, s2 (D, D).

    s1 s2 is similar to sqrt(s1) s2 sqrt(s1), which is symmetric positive semi-definite, so its eigenvalues
    are real and >= 0 and eigvalsh finds them stably. torch-fidelity takes the eigenvalues of the
    non-symmetric s1 s2 instead, sqrt's them as complex numbers and keeps the real part, which drops
    negative ones to 0 as `_psd_eigenvalues` does; the two agree to rounding (~1e-8 relative when a
    covariance is rank-deficient, where torch-fidelity keeps the square roots of rounding noise). No eps
    retry is needed (pytorch-fid's offset for a singular product): rank-deficient covariances are fine.
    """
    r = _sqrt_psd(s1)
    m = r @ s2 @ r
    m = (m + m.T) / 2  # remove the rounding asymmetry before the symmetric solver
    return float(np.sqrt(_psd_eigenvalues(np.linalg.eigvalsh(m))).sum())


def fid_from_features(real, fake) -> float:
    """Fréchet distance ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2) between the two sets.

    `real`, `fake`: (N1, D), (N2, D) features, each N >= 2 (a covariance needs two samples). The value can
    be a tiny negative number (rounding) when the sets are identical.
    """
    real, fake = _check_pair(real, fake, 2, "FID")
    mu1, mu2 = real.mean(axis=0), fake.mean(axis=0)  # (D,)
    diff = mu1 - mu2
    if max(len(real), len(fake)) <= real.shape[1]:
        # Few samples (a cell of a few hundred pairs, 2048-d features): S1 = A^T A and S2 = B^T B with
        # A, B the centred samples / sqrt(N - 1). The non-zero eigenvalues of S1 S2 are those of
        # (A B^T)(A B^T)^T, so tr sqrt(S1 S2) is the sum of the singular values of the (N1, N2) matrix
        # A B^T: exact, and an N x N problem instead of two D x D eigendecompositions.
        a = (real - mu1) / np.sqrt(len(real) - 1)
        b = (fake - mu2) / np.sqrt(len(fake) - 1)
        tr_sqrt = float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
        return float(diff @ diff + (a * a).sum() + (b * b).sum() - 2.0 * tr_sqrt)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)  # (D, D), ddof=1
    s1, s2 = np.atleast_2d(s1), np.atleast_2d(s2)  # np.cov gives a 0-d array when D == 1
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * _trace_sqrt_product(s1, s2))


def _poly_kernel(x: np.ndarray, y: np.ndarray, degree: int, gamma: float, coef0: float) -> np.ndarray:
    return (x @ y.T * gamma + coef0) ** degree  # (m, m)


def _mmd2_unbiased(k_xx: np.ndarray, k_xy: np.ndarray, k_yy: np.ndarray) -> float:
    """torch-fidelity's (and Binkowski et al.'s) 'unbiased' MMD^2 from the three (m, m) kernel matrices.

    The within-set terms leave out the diagonal (k(x_i, x_i)); the cross term keeps all m*m pairs, as
    torch-fidelity's default estimator does.
    """
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))
    return float(within / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kid_from_features(
    real,
    fake,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `subsets` random subsets of each set; std with ddof=0.

    `gamma` None means 1 / D. torch-fidelity refuses a subset size above either set's size; here the
    subset size is min(subset_size, N_real, N_fake) instead, so a small cell (say 300 images in a hole
    bin) still gets a KID, estimated from subsets of that size: compare such values only between cells of
    the same size. When the subset size equals both set sizes every subset holds every sample, so all
    subsets give the same MMD^2 and std is ~0. At least 2 samples per set are needed (the within-set term
    averages over pairs of distinct samples).
    """
    real, fake = _check_pair(real, fake, 2, "KID")
    if subsets < 1:
        raise BenchError(f"KID needs at least 1 subset, got {subsets}")
    if subset_size < 2:
        raise BenchError(f"KID subset size must be at least 2, got {subset_size}")
    n1, n2 = real.shape[0], fake.shape[0]
    m = min(subset_size, n1, n2)
    g = 1.0 / real.shape[1] if gamma is None else float(gamma)
    rng = np.random.RandomState(seed)  # torch-fidelity's generator, so the same seed draws the same subsets
    mmds = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(n1, m, replace=False)]  # (m, D)
        y = fake[rng.choice(n2, m, replace=False)]  # (m, D)
        mmds[i] = _mmd2_unbiased(
            _poly_kernel(x, x, degree, g, coef0),
            _poly_kernel(x, y, degree, g, coef0),
            _poly_kernel(y, y, degree, g, coef0),
        )
    return float(mmds.mean()), float(mmds.std())
