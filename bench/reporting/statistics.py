"""Statistics of the tables: per-cell bootstrap intervals, the two-way interval where images or masks
repeat, the paired test of two methods and the Holm adjustment. Pure numpy/pandas/scipy on tidy frames;
every random draw comes from a generator seeded by the cell (`cell_rng`), so tables rebuild identically.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from masks.conventions import BIN_NAMES, GROUPS


def cell_rng(seed: int, *parts: str) -> np.random.Generator:
    # One generator per cell, derived from the cell's name: a cell's CI does not depend on other cells.
    return np.random.default_rng([seed, zlib.crc32("|".join(parts).encode())])


def bootstrap_ci(
    values: np.ndarray, n_boot: int = 1000, ci: float = 0.95, rng: np.random.Generator | None = None
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (n,) or of each column of (n, m).

    Returns (low, high) floats for 1-D input, arrays (m,) for 2-D. The same resampled indices serve
    every column, so metrics of one cell are resampled jointly.
    """
    v = np.asarray(values, dtype=np.float64)
    one = v.ndim == 1
    v2 = v[:, None] if one else v
    n = v2.shape[0]
    if n == 0:
        nan = np.full(v2.shape[1], np.nan)
        return (float("nan"), float("nan")) if one else (nan, nan)
    rng = rng if rng is not None else np.random.default_rng(0)
    idx = rng.integers(0, n, size=(n_boot, n))  # (n_boot, n)
    means = v2[idx].mean(axis=1)  # (n_boot, m)
    alpha = (1.0 - ci) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha], axis=0)
    if one:
        return float(lo[0]), float(hi[0])
    return lo, hi


# ---- intervals where images or masks repeat --------------------------------------------------------
# Under cross pairing a mask serves several images of a cell (and an image every cell), so pairs are not
# independent and the pairs bootstrap is too narrow. The intervals below resample what repeats: a
# one-way cluster bootstrap variance when only images or only masks repeat, and the two-way cluster variance
# of Cameron, Gelbach & Miller (2011, "Robust inference with multiway clustering", JBES 29(2)),
# V = V_image + V_mask - V_pair, from three bootstraps, when both do; t(G - 1) critical values and the
# G / (G - 1) factor as they recommend for few clusters. Nothing repeating: the pairs bootstrap, as before.
CI_KINDS = {
    "pairs": "percentile bootstrap of the pairs (no image or mask repeats)",
    "masks": "mean ± t(G-1)·SE, SE from a bootstrap of the G masks, each drawn with all its pairs (masks "
    "repeat, images do not)",
    "images": "mean ± t(G-1)·SE, SE from a bootstrap of the G images, each drawn with all its pairs (images "
    "repeat, masks do not)",
    "two-way": "mean ± t(G-1)·SE, SE² = V_image + V_mask - V_pair from bootstraps of images, of masks and of "
    "pairs (Cameron, Gelbach & Miller 2011), G the fewer of images and masks",
}


def ci_kind(images: Sequence[str], masks: Sequence[str]) -> str:
    """Which interval fits these pairs: 'pairs', 'masks', 'images' or 'two-way' (see CI_KINDS)."""
    n = len(images)
    img_rep, mask_rep = len(set(images)) < n, len(set(masks)) < n
    return {(False, False): "pairs", (False, True): "masks", (True, False): "images"}.get(
        (img_rep, mask_rep), "two-way"
    )


def _cluster_var(v: np.ndarray, clusters: Sequence[str], n_boot: int, rng: np.random.Generator) -> tuple:
    """(variance (m,), G): the bootstrap variance of the mean of `v` (n, m) when its G clusters are drawn
    with replacement, each with all its rows, times G / (G - 1) (the small-sample factor of cluster-robust
    variances)."""
    codes, uniq = pd.factorize(pd.Series(list(clusters)), sort=True)
    g = len(uniq)
    sums = np.zeros((g, v.shape[1]))
    np.add.at(sums, codes, v)  # (G, m) cluster totals
    counts = np.bincount(codes, minlength=g).astype(np.float64)  # (G,)
    w = rng.multinomial(g, np.full(g, 1.0 / g), size=n_boot).astype(np.float64)  # (n_boot, G)
    means = (w @ sums) / (w @ counts)[:, None]  # (n_boot, m)
    return means.var(axis=0, ddof=1) * g / max(g - 1, 1), g


def two_way_ci(
    values: np.ndarray,
    images: Sequence[str],
    masks: Sequence[str],
    n_boot: int = 1000,
    ci: float = 0.95,
    rng: np.random.Generator | None = None,
) -> tuple[Any, Any]:
    """CI of the mean of `values` (n,) or of each column of (n, m) for pairs of `images` and `masks`,
    resampling what repeats (ci_kind): mean +- t(G - 1) sqrt(V), V from cluster bootstraps, G the fewer
    clusters. Without repeats it is bootstrap_ci, draw for draw."""
    from scipy.stats import t

    kind = ci_kind(images, masks)
    rng = rng if rng is not None else np.random.default_rng(0)
    if kind == "pairs" or len(values) < 2:
        return bootstrap_ci(values, n_boot, ci, rng)
    v = np.asarray(values, dtype=np.float64)
    one = v.ndim == 1
    v2 = v[:, None] if one else v
    if kind in ("masks", "images"):
        var, g = _cluster_var(v2, masks if kind == "masks" else images, n_boot, rng)
    else:
        var_i, g_i = _cluster_var(v2, images, n_boot, rng)
        var_m, g_m = _cluster_var(v2, masks, n_boot, rng)
        var_p, _ = _cluster_var(v2, [str(i) for i in range(len(v2))], n_boot, rng)
        # V_pair can exceed V_image + V_mask by chance in small samples: never below a one-way variance.
        var, g = np.maximum(var_i + var_m - var_p, np.maximum(var_i, var_m)), min(g_i, g_m)
    half = t.ppf(1.0 - (1.0 - ci) / 2.0, max(g - 1, 1)) * np.sqrt(var)
    mean = v2.mean(axis=0)
    lo, hi = mean - half, mean + half
    return (float(lo[0]), float(hi[0])) if one else (lo, hi)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN and does not count as a test).

    >>> holm([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def paired_test(
    frame: pd.DataFrame,
    method_a: str,
    method_b: str,
    metrics: Sequence[str],
    *,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """A vs B per (bin, group, metric) on the pairs both methods ran (joined on pair_id), for the per-pair
    `metrics` (columns of `frame`, in the order of the rows made).

    mean_diff = mean(A - B) with a bootstrap CI (two_way_ci), the two-sided Wilcoxon signed-rank p-value
    (scipy.stats.wilcoxon; 1 when every difference is zero), and that p-value Holm-adjusted over all
    `n_tests` tests made here (p_holm)."""
    from scipy.stats import wilcoxon

    pm = list(metrics)
    a = frame[frame["method"] == method_a]
    b = frame[frame["method"] == method_b]
    joined = a.merge(b, on=["pair_id", "bin", "group"], suffixes=("_a", "_b"))
    rows = []
    bins = [x for x in BIN_NAMES if x in set(joined["bin"])]
    for bn in bins:
        for g in (g.value for g in GROUPS):
            cell = joined[(joined["bin"] == bn) & (joined["group"] == g)].sort_values("pair_id")
            n = len(cell)
            if n == 0:
                continue
            diffs = np.stack(
                [cell[f"{m}_a"].to_numpy(float) - cell[f"{m}_b"].to_numpy(float) for m in pm],
                axis=1,
            )  # (n, 4)
            rng = cell_rng(seed, "paired", method_a, method_b, bn, g)
            lo, hi = two_way_ci(diffs, list(cell["image_a"]), list(cell["mask_a"]), n_boot, ci, rng)
            for j, m in enumerate(pm):
                d = diffs[:, j]
                if np.all(d == 0):
                    p = 1.0
                elif n < 2:
                    p = float("nan")
                else:
                    p = float(wilcoxon(d).pvalue)
                rows.append(
                    dict(
                        method_a=method_a,
                        method_b=method_b,
                        bin=bn,
                        group=g,
                        metric=m,
                        n=n,
                        mean_a=float(cell[f"{m}_a"].mean()),
                        mean_b=float(cell[f"{m}_b"].mean()),
                        mean_diff=float(d.mean()),
                        ci_low=float(lo[j]),
                        ci_high=float(hi[j]),
                        p_value=p,
                        test="wilcoxon signed-rank",
                    )
                )
    cols = ["method_a", "method_b", "bin", "group", "metric", "n", "mean_a", "mean_b", "mean_diff", "ci_low",
            "ci_high", "p_value", "test"]  # fmt: skip
    return _with_holm(pd.DataFrame(rows, columns=cols))


def _with_holm(paired: pd.DataFrame) -> pd.DataFrame:
    """Add n_tests (the p-values made, over every cell and metric) and p_holm (Holm-adjusted over them)."""
    n_tests = int(np.isfinite(paired["p_value"].to_numpy(float)).sum())
    at = paired.columns.get_loc("p_value") + 1
    paired.insert(at, "p_holm", holm(paired["p_value"].to_numpy(float)))
    paired.insert(at + 1, "n_tests", n_tests)
    return paired
