"""Per-image metrics against scikit-image and hand-computed cases; Inception Score against the formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.metrics.registry import (
    METRIC_KEYS,
    all_metrics,
    composite,
    hole_l1_percent,
    inception_score,
    l1_percent,
    psnr,
    ssim,
)

SSIM_TOL = 5e-4  # the largest deviation from scikit-image accepted
PSNR_TOL = 1e-3  # dB
# Both implementations are checked against skimage: the fused numba kernel (CPU default) and the
# torch one (any device).
BACKENDS = ["numba", "torch"]


def _sk_ssim(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    # a, b (B,3,H,W) -> skimage on float64 HWC, the reference settings of docs/conventions.md.
    return np.array(
        [
            structural_similarity(
                x.permute(1, 2, 0).double().numpy(),
                y.permute(1, 2, 0).double().numpy(),
                data_range=1,
                channel_axis=-1,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for x, y in zip(a, b, strict=True)
        ]
    )


def _sk_psnr(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    return np.array(
        [
            peak_signal_noise_ratio(y.double().numpy(), x.double().numpy(), data_range=1)
            for x, y in zip(a, b, strict=True)
        ]
    )


def _to_t(img: np.ndarray) -> torch.Tensor:
    # uint8 or float HWC -> float32 (1,3,H,W) in [0,1]
    if img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]


def _degraded_pairs(astronaut: np.ndarray, rng: np.random.Generator, h: int, w: int) -> tuple:
    """Real crops and blurred / noisy / shifted versions, (4,3,h,w) each."""
    outs, tgts = [], []
    for k in range(4):
        y0 = int(rng.integers(0, 512 - h))
        x0 = int(rng.integers(0, 512 - w))
        crop = astronaut[y0 : y0 + h, x0 : x0 + w].astype(np.float32) / 255.0
        if k == 0:
            deg = gaussian_filter(crop, sigma=(1.2, 1.2, 0))
        elif k == 1:
            deg = np.clip(crop + rng.normal(0, 0.05, crop.shape), 0, 1)
        elif k == 2:
            deg = np.clip(0.8 * crop + 0.1, 0, 1)
        else:
            deg = np.roll(crop, 2, axis=1)
        outs.append(_to_t(deg.astype(np.float32)))
        tgts.append(_to_t(crop))
    return torch.cat(outs), torch.cat(tgts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [(11, 11), (11, 17), (16, 40), (33, 21), (64, 64), (96, 128)])
def test_ssim_psnr_match_skimage_random(
    size: tuple[int, int], backend: str, rng: np.random.Generator
) -> None:
    h, w = size
    tgt = torch.from_numpy(rng.random((3, 3, h, w), dtype=np.float32))
    # Noise of several strengths, clipped into [0,1], and one pair of unrelated images.
    noise = torch.from_numpy(rng.normal(0, 1, (3, 3, h, w)).astype(np.float32))
    out = (tgt + noise * torch.tensor([0.02, 0.2, 1.0]).view(3, 1, 1, 1)).clamp(0, 1)
    out[2] = torch.from_numpy(rng.random((3, h, w), dtype=np.float32))
    np.testing.assert_allclose(
        ssim(out, tgt, backend=backend).numpy(), _sk_ssim(out, tgt), atol=SSIM_TOL, rtol=0
    )
    np.testing.assert_allclose(psnr(out, tgt).numpy(), _sk_psnr(out, tgt), atol=PSNR_TOL, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [(128, 128), (57, 100)])
def test_ssim_psnr_match_skimage_real(
    size, backend: str, astronaut: np.ndarray, rng: np.random.Generator
) -> None:
    out, tgt = _degraded_pairs(astronaut, rng, *size)
    ours = ssim(out, tgt, backend=backend).numpy()
    ref = _sk_ssim(out, tgt)
    np.testing.assert_allclose(ours, ref, atol=SSIM_TOL, rtol=0)
    np.testing.assert_allclose(psnr(out, tgt).numpy(), _sk_psnr(out, tgt), atol=PSNR_TOL, rtol=0)
    # The degradations must actually spread SSIM out, or the comparison proves little.
    assert ref.min() < 0.9


@pytest.mark.parametrize("backend", BACKENDS)
def test_ssim_full_size_real(backend: str, astronaut: np.ndarray) -> None:
    # One 512x512 pair: the benchmark's size, where float32 accumulation error would show most.
    tgt = _to_t(astronaut)
    out = _to_t(np.clip(gaussian_filter(astronaut / 255.0, sigma=(2, 2, 0)), 0, 1))
    np.testing.assert_allclose(ssim(out, tgt, backend=backend).numpy(), _sk_ssim(out, tgt), atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_all_metrics_agree_with_single_functions(backend: str, rng: np.random.Generator) -> None:
    tgt = torch.from_numpy(rng.random((3, 3, 24, 30), dtype=np.float32))
    raw = torch.from_numpy(rng.random((3, 3, 24, 30), dtype=np.float32))
    masks = torch.from_numpy((rng.random((3, 1, 24, 30)) > 0.3).astype(np.float32))
    out = composite(raw, tgt, masks)
    got = all_metrics(out, tgt, masks, backend=backend)
    assert tuple(got) == METRIC_KEYS
    for v in got.values():
        assert v.shape == (3,) and v.dtype == torch.float64
    torch.testing.assert_close(got["l1_percent"], l1_percent(out, tgt))
    torch.testing.assert_close(got["psnr"], psnr(out, tgt))
    torch.testing.assert_close(got["ssim"], ssim(out, tgt, backend=backend))
    # The two SSIM implementations do the same float32 maths in different orders.
    torch.testing.assert_close(
        got["ssim"], ssim(out, tgt, backend="torch" if backend == "numba" else "numba"), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(got["hole_l1_percent"], hole_l1_percent(out, tgt, masks))


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_independence(backend: str, rng: np.random.Generator) -> None:
    tgt = torch.from_numpy(rng.random((8, 3, 20, 23), dtype=np.float32))
    out = (tgt + torch.from_numpy(rng.normal(0, 0.1, (8, 3, 20, 23)).astype(np.float32))).clamp(0, 1)
    masks = torch.from_numpy((rng.random((8, 1, 20, 23)) > 0.5).astype(np.float32))
    batch = all_metrics(out, tgt, masks, backend=backend)
    for i in range(8):
        one = all_metrics(out[i : i + 1], tgt[i : i + 1], masks[i : i + 1], backend=backend)
        for k in METRIC_KEYS:
            assert torch.allclose(one[k], batch[k][i : i + 1], rtol=1e-6, atol=1e-9), k


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_cases(backend: str, rng: np.random.Generator) -> None:
    img = torch.from_numpy(rng.random((2, 3, 16, 16), dtype=np.float32)) * 0.5
    ones = torch.ones(2, 1, 16, 16)
    same = all_metrics(img, img, ones, backend=backend)
    assert torch.all(same["ssim"] == 1.0)
    assert torch.all(same["l1_percent"] == 0.0)
    assert torch.all(same["psnr"] == 100.0)  # identical: MSE floored at 1e-10 (docs/conventions.md)
    assert torch.all(torch.isnan(same["hole_l1_percent"]))  # no hole pixel -> undefined
    for c in (0.01, 0.1, 0.25):
        shifted = img + c
        assert torch.allclose(l1_percent(shifted, img), torch.full((2,), 100 * c, dtype=torch.float64))
        expected = -20 * math.log10(c)
        assert torch.allclose(psnr(shifted, img), torch.full((2,), expected, dtype=torch.float64), atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hole_l1_hand_made_mask(backend: str) -> None:
    tgt = torch.zeros(2, 3, 12, 12)
    out = torch.zeros(2, 3, 12, 12)
    masks = torch.ones(2, 1, 12, 12)
    masks[0, 0, :2, :2] = 0  # 4 hole pixels in image 0
    out[0, 0, 0, 0] = 1.0  # inside the hole, channel 0: |diff| 1
    out[0, 2, 1, 1] = 0.5  # inside the hole, channel 2: |diff| 0.5
    out[0, 1, 3, 3] = 1.0  # outside the hole: ignored by hole L1, counted by L1
    out[1] = 0.3  # image 1 has no hole -> NaN
    got = hole_l1_percent(out, tgt, masks)
    assert got[0].item() == pytest.approx(100 * 1.5 / (4 * 3))
    assert math.isnan(got[1].item())
    assert l1_percent(out, tgt)[0].item() == pytest.approx(100 * 2.5 / (3 * 144))
    fused = all_metrics(out, tgt, masks, backend=backend)
    assert fused["hole_l1_percent"][0].item() == pytest.approx(100 * 1.5 / (4 * 3))
    assert math.isnan(fused["hole_l1_percent"][1].item())
    assert fused["l1_percent"][0].item() == pytest.approx(100 * 2.5 / (3 * 144))
    assert fused["l1_percent"][1].item() == pytest.approx(30.0)


def test_composite_takes_valid_from_ground_truth() -> None:
    gt = torch.full((1, 3, 2, 2), 0.2)
    out = torch.full((1, 3, 2, 2), 0.9)
    m = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    c = composite(out, gt, m)
    assert torch.allclose(c[0, :, 0, 0], torch.tensor(0.2)) and torch.allclose(
        c[0, :, 0, 1], torch.tensor(0.9)
    )


def test_bad_shapes_rejected() -> None:
    with pytest.raises(ValueError):
        ssim(torch.rand(1, 3, 10, 20), torch.rand(1, 3, 10, 20))  # below the 11-px window
    with pytest.raises(ValueError):
        psnr(torch.rand(1, 3, 12, 12), torch.rand(1, 3, 12, 13))


# ---- Inception Score -----------------------------------------------------------------------------


def _np_is(p: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    """Plain numpy formula, written independently of bench.metrics.registry (torch-fidelity's split rule)."""
    p = p[np.random.RandomState(seed).permutation(len(p))].astype(np.float64)
    n = len(p)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(axis=0)
        kls = []
        for row in part:
            nz = row > 0
            kls.append(np.sum(row[nz] * (np.log(row[nz]) - np.log(py[nz]))))
        scores.append(math.exp(np.mean(kls)))
    return float(np.mean(scores)), float(np.std(scores))


def test_is_uniform_predictions_is_one() -> None:
    mean, std = inception_score(torch.full((50, 7), 1 / 7), splits=5)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_is_one_hot_spread_over_k_classes_is_k(k: int) -> None:
    # Each split holds every class equally often (N = k * splits, one split per contiguous block
    # after sorting is not guaranteed by a shuffle, so use splits=1 for the exact value K).
    probs = torch.eye(k).repeat(6, 1)
    assert inception_score(probs, splits=1)[0] == pytest.approx(k)


def test_is_hand_computed_two_classes() -> None:
    # Rows (0.9, 0.1) and (0.1, 0.9): marginal (0.5, 0.5); KL = 0.9 ln 1.8 + 0.1 ln 0.2 for both.
    probs = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64)
    kl = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    assert inception_score(probs, splits=1)[0] == pytest.approx(math.exp(kl), rel=1e-12)


def test_is_matches_numpy_formula_and_torch_fidelity(rng: np.random.Generator) -> None:
    from torch_fidelity.metric_isc import isc_features_to_metric

    logits = rng.normal(0, 3, (103, 20))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for splits, seed in [(10, 0), (3, 7), (1, 0)]:
        got = inception_score(torch.from_numpy(p), splits=splits, seed=seed)
        assert got == pytest.approx(_np_is(p, splits, seed), rel=1e-10)
        # torch-fidelity takes logits and applies softmax; log p is a valid set of logits for p.
        ref = isc_features_to_metric(torch.from_numpy(np.log(p)), splits=splits, shuffle=True, rng_seed=seed)
        assert got[0] == pytest.approx(ref["inception_score_mean"], rel=1e-10)
        assert got[1] == pytest.approx(ref["inception_score_std"], rel=1e-8, abs=1e-12)


def test_is_seed_changes_splits_not_single_split(rng: np.random.Generator) -> None:
    p = torch.from_numpy(rng.dirichlet(np.full(10, 0.3), size=60))
    assert inception_score(p, splits=6, seed=0) == inception_score(p, splits=6, seed=0)
    assert inception_score(p, splits=6, seed=0)[1] != inception_score(p, splits=6, seed=1)[1]
    assert inception_score(p, splits=1, seed=0)[0] == pytest.approx(inception_score(p, splits=1, seed=5)[0])


@pytest.mark.filterwarnings("ignore:Metric `InceptionScore` will save")
def test_is_matches_torchmetrics_formula(rng: np.random.Generator) -> None:
    """torchmetrics' InceptionScore fed log-probabilities through an identity 'network'.

    torchmetrics shuffles with torch.randperm (global RNG) and splits with chunk; N = 100 divisible by
    10 splits makes chunk and our i*N//splits rule agree. Rows are pre-arranged so that its shuffle
    yields our order; its std is the sample std (ddof 1), ours the population std as torch-fidelity.
    """
    from torchmetrics.image.inception import InceptionScore

    n, splits, seed = 100, 10, 3
    p = torch.from_numpy(rng.dirichlet(np.full(30, 0.2), size=n))
    torch.manual_seed(123)
    idx = torch.randperm(n)
    ours_order = torch.from_numpy(np.random.RandomState(seed).permutation(n))
    fed = torch.empty_like(p)
    fed[idx] = p[ours_order]  # after torchmetrics' features[idx] the rows come out in our order
    metric = InceptionScore(feature=torch.nn.Identity(), splits=splits)
    metric.update(fed.log())
    torch.manual_seed(123)
    tm_mean, tm_std = metric.compute()
    mean, std = inception_score(p, splits=splits, seed=seed)
    assert mean == pytest.approx(tm_mean.item(), rel=1e-10)
    assert std * math.sqrt(splits / (splits - 1)) == pytest.approx(tm_std.item(), rel=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_ssim_near_flat_images(backend: str, rng: np.random.Generator) -> None:
    # Tiny variances next to a large mean: the hardest case for float32 E[x^2] - E[x]^2.
    tgt = torch.full((2, 3, 40, 40), 0.93)
    tgt[1] = 0.02
    out = (tgt + torch.from_numpy(rng.normal(0, 1e-3, (2, 3, 40, 40)).astype(np.float32))).clamp(0, 1)
    np.testing.assert_allclose(ssim(out, tgt, backend=backend).numpy(), _sk_ssim(out, tgt), atol=5e-5, rtol=0)
