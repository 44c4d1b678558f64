"""The tables' intervals where images or masks repeat (bench.reporting.statistics.two_way_ci), against
closed-form cluster-robust variances and a simulation with known variance; Holm's adjustment on hand-made
p-values."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import t

from bench.reporting import statistics as S
from bench.reporting import tables as T


def _sim():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "intervals.py"
    spec = importlib.util.spec_from_file_location("intervals_sim", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_ci_kind_names_what_repeats():
    assert S.ci_kind(["a", "b"], ["x", "y"]) == "pairs"
    assert S.ci_kind(["a", "b"], ["x", "x"]) == "masks"
    assert S.ci_kind(["a", "a"], ["x", "y"]) == "images"
    assert S.ci_kind(["a", "a", "b"], ["x", "y", "y"]) == "two-way"


def test_without_repeats_it_is_the_pairs_bootstrap_draw_for_draw(rng):
    v = rng.normal(size=(30, 3))
    keys = [str(i) for i in range(30)]
    got = S.two_way_ci(v, keys, keys, 300, 0.95, np.random.default_rng(4))
    want = S.bootstrap_ci(v, 300, 0.95, np.random.default_rng(4))
    assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))


def _cluster_sum_sq(y: np.ndarray, clusters: np.ndarray) -> float:
    """sum over clusters of (cluster total of the residuals)^2, written as a loop."""
    r = y - y.mean()
    return sum(float(r[clusters == c].sum()) ** 2 for c in np.unique(clusters))


def test_one_way_half_width_matches_the_cluster_robust_formula(rng):
    masks = np.repeat(np.arange(12), rng.integers(1, 6, 12))  # 12 masks, 1-5 pairs each
    n = len(masks)
    y = rng.normal(size=12)[masks] + 0.3 * rng.normal(size=n)
    lo, hi = S.two_way_ci(y, [f"i{i}" for i in range(n)], [f"m{m}" for m in masks], 20000, 0.95, rng)
    se = np.sqrt(12 / 11 * _cluster_sum_sq(y, masks) / n**2)  # CR1 variance of the mean
    assert (hi - lo) / 2 == pytest.approx(t.ppf(0.975, 11) * se, rel=0.03)
    assert (lo + hi) / 2 == pytest.approx(y.mean(), abs=1e-12)


def test_two_way_half_width_matches_cameron_gelbach_miller(rng):
    images, masks = np.meshgrid(np.arange(15), np.arange(8), indexing="ij")
    images, masks = images.ravel(), masks.ravel()
    n = len(images)
    y = rng.normal(size=15)[images] + rng.normal(size=8)[masks] + 0.5 * rng.normal(size=n)
    keys_i, keys_m = [f"i{i}" for i in images], [f"m{m}" for m in masks]
    lo, hi = S.two_way_ci(y, keys_i, keys_m, 20000, 0.95, rng)
    var = (15 / 14 * _cluster_sum_sq(y, images) + 8 / 7 * _cluster_sum_sq(y, masks)
           - n / (n - 1) * _cluster_sum_sq(y, np.arange(n))) / n**2  # fmt: skip
    assert (hi - lo) / 2 == pytest.approx(t.ppf(0.975, 7) * np.sqrt(var), rel=0.03)


def _coverage(design: str, reps: int, old_max: float) -> None:
    """Mask-heavy variance: the new interval covers the true mean 0 about 95 % of the time, the pairs
    bootstrap at most `old_max`."""
    sim = _sim()
    rng = np.random.default_rng(1)
    hit_old = hit_new = 0
    for _ in range(reps):
        images, masks = sim.design(design, rng)
        y = 0.5 * rng.normal(size=images.max() + 1)[images] + 1.5 * rng.normal(size=masks.max() + 1)[masks]
        y = y + 0.5 * rng.normal(size=len(y))
        lo, hi = S.bootstrap_ci(y, 200, 0.95, rng)
        hit_old += lo <= 0 <= hi
        lo, hi = S.two_way_ci(y, list(images.astype(str)), list(masks.astype(str)), 200, 0.95, rng)
        hit_new += lo <= 0 <= hi
    assert 0.89 <= hit_new / reps <= 0.99, (design, hit_new / reps)
    assert hit_old / reps <= old_max, (design, hit_old / reps)


def test_coverage_near_nominal_in_a_cross_pairing_cell():
    """One cross-pairing cell: 80 images once each, 24 masks reused ~3.3x (the quick profile's cell)."""
    _coverage("cross cell", 150, 0.85)


@pytest.mark.slow
def test_coverage_near_nominal_with_twelve_cross_cells_pooled():
    """Images in every cell and masks reused: the two-way case."""
    _coverage("cross, 12 cells pooled", 100, 0.8)


def test_holm_against_hand_computed_values():
    # sorted p: 0.01 (x4 = 0.04), 0.02 (x3 = 0.06), 0.03 (x2 = 0.06), 0.5 (x1); NaN is not a test
    got = S.holm([0.03, np.nan, 0.5, 0.01, 0.02])
    assert np.allclose(got[[0, 2, 3, 4]], [0.06, 0.5, 0.04, 0.06]) and np.isnan(got[1])
    assert np.allclose(S.holm([0.3, 0.4]), [0.6, 0.6])  # monotone: the second may not drop below the first
    assert np.allclose(S.holm([0.9, 0.8]), [1.0, 1.0])  # capped at 1


def test_paired_test_counts_its_tests_and_holm_adjusts_over_all_of_them(rng):
    import pandas as pd

    rows = []
    for method, shift in (("a", 0.0), ("b", 0.3)):
        r = np.random.default_rng(0)  # the same base values for both methods
        for bn in ("0.1-0.2", "0.2-0.3"):
            for i in range(12):
                x, y = r.normal(size=2)
                rows.append(dict(method=method, pair_id=len(rows) % 24, image=f"i{i}", mask=f"m{i % 4}",
                                 bin=bn, group="N", psnr=x - shift * (i + 1), ssim=y))  # fmt: skip
    frame = pd.DataFrame(rows)
    p = S.paired_test(frame, "a", "b", T.pair_metrics_of(frame), n_boot=100)
    assert (p["n_tests"] == 4).all()  # 2 cells x 2 metrics
    # ssim: every difference 0, p = 1; psnr: all 12 differences positive, exact p = 2 / 2**12
    psnr = p[p.metric == "psnr"]
    assert np.allclose(psnr.p_value, 2 / 2**12) and np.allclose(psnr.p_holm, 4 * 2 / 2**12)
    assert (p[p.metric == "ssim"].p_holm == 1.0).all()
    text = T.format_paired_text(p)
    assert "4 tests (cells x metrics)" in text and "p (Holm)" in text
