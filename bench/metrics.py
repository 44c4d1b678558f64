"""Image-quality metrics of Table 1: L1 (%), PSNR, SSIM, hole-only L1 and the Inception Score.

All per-image metrics take float tensors (B,3,H,W) in [0,1] and return one float64 value per image,
shape (B,). They are computed on the composited output I_comp = M*I_gt + (1-M)*I_out over the whole
image (DESIGN.md); use :func:`composite` first.

SSIM follows ``skimage.metrics.structural_similarity(a, b, data_range=1, channel_axis=-1,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: an 11-tap Gaussian (sigma 1.5,
scipy's ``truncate=3.5``), population covariance, K1=0.01, K2=0.03, SSIM map averaged over the
interior (skimage crops (11-1)//2 = 5 px of border, so a valid-mode filter needs no padding at all),
per channel, then the channel means averaged.

Example::

    >>> x = torch.rand(2, 3, 32, 32)
    >>> all_metrics(x, x, torch.ones(2, 1, 32, 32))["ssim"]
    tensor([1., 1.], dtype=torch.float64)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "METRIC_KEYS",
    "SSIM_WIN",
    "all_metrics",
    "composite",
    "hole_l1_percent",
    "inception_score",
    "l1_percent",
    "psnr",
    "ssim",
]

# Result keys of all_metrics, in table order.
METRIC_KEYS: tuple[str, ...] = ("l1_percent", "psnr", "ssim", "hole_l1_percent")

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # skimage's value for gaussian_weights=True: radius int(3.5*1.5+0.5) = 5
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
SSIM_WIN = 2 * SSIM_RADIUS + 1  # 11
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _check_pair(output: Tensor, target: Tensor) -> None:
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError(
            f"expected two (B,C,H,W) tensors of one shape, got {tuple(output.shape)}, {tuple(target.shape)}"
        )


def composite(output: Tensor, images: Tensor, masks: Tensor) -> Tensor:
    """I_comp = M*I_gt + (1-M)*I_out: valid pixels (mask 1) from the ground truth, holes from the output."""
    return masks * images + (1.0 - masks) * output


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> Tensor:
    # scipy.ndimage.gaussian_filter1d's kernel: exp(-x^2 / (2 sigma^2)) on x = -r..r, normalised to sum 1.
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    w /= w.sum()
    return torch.as_tensor(w, dtype=dtype, device=device)


def _filter_valid(maps: Tensor) -> Tensor:
    """Separable Gaussian, valid mode: (N,C,H,W) -> (N,C,H-10,W-10).

    Depthwise (grouped) convs, one per direction, over all C maps at once: much faster on CPU than a
    single-channel conv over a large batch. Interior pixels of a valid-mode filter equal skimage's
    reflect-padded filter after its 5-px crop.
    """
    c = maps.shape[1]
    taps = _gaussian_taps(maps.dtype, maps.device)
    x = F.conv2d(
        maps, taps.view(1, 1, 1, SSIM_WIN).expand(c, 1, 1, SSIM_WIN).contiguous(), groups=c
    )  # along W
    return F.conv2d(
        x, taps.view(1, 1, SSIM_WIN, 1).expand(c, 1, SSIM_WIN, 1).contiguous(), groups=c
    )  # along H


def _ssim(output: Tensor, target: Tensor) -> Tensor:
    b, c, h, w = output.shape
    if h < SSIM_WIN or w < SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} px, got {h}x{w}")
    # Centre on 0.5: variances are shift-invariant, and smaller magnitudes mean less float32
    # cancellation in E[x^2] - E[x]^2. The means are shifted back for the luminance term.
    x = output.float() - 0.5
    y = target.float() - 0.5
    # (B,5*C,H,W): the 5 maps of every channel stacked, one grouped filter call per direction.
    stack = torch.cat((x, y, x * x, y * y, x * y), dim=1)
    mx, my, mxx, myy, mxy = _filter_valid(stack).chunk(5, dim=1)
    vx = mxx - mx * mx
    vy = myy - my * my
    vxy = mxy - mx * my
    ux = mx + 0.5
    uy = my + 0.5
    c1 = SSIM_K1**2  # data range 1
    c2 = SSIM_K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # (B,C,h',w') -> per-channel means in float64 (as skimage), then the channel average.
    return s.double().mean(dim=(2, 3)).mean(dim=1)


def ssim(output: Tensor, target: Tensor) -> Tensor:
    """SSIM per image, (B,). Matches skimage (see module docstring) within ~1e-5; needs H, W >= 11."""
    _check_pair(output, target)
    return _ssim(output, target)


def l1_percent(output: Tensor, target: Tensor) -> Tensor:
    """100 * mean |output - target| per image, (B,) float64."""
    _check_pair(output, target)
    return (output.float() - target.float()).abs().double().mean(dim=(1, 2, 3)) * 100.0


def _psnr_from_mse(mse: Tensor) -> Tensor:
    # Data range 1: 10 log10(1 / mse). Identical images (mse 0) give +inf, as skimage does.
    return -10.0 * torch.log10(mse)


def psnr(output: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB with data range 1, per image, (B,) float64. Identical images give +inf."""
    _check_pair(output, target)
    d = (output.float() - target.float()).double()
    return _psnr_from_mse((d * d).mean(dim=(1, 2, 3)))


def _hole_l1_from_absdiff(absdiff: Tensor, masks: Tensor) -> Tensor:
    # absdiff (B,C,H,W), masks (B,1,H,W) with 1 = valid, 0 = hole.
    hole = 1.0 - masks.double()
    n_hole = hole.sum(dim=(1, 2, 3)) * absdiff.shape[1]
    total = (absdiff.double() * hole).sum(dim=(1, 2, 3))
    # NaN where an image has no hole pixel: the quantity is undefined, not zero.
    return torch.where(n_hole > 0, total / n_hole.clamp_min(1.0), torch.full_like(total, math.nan)) * 100.0


def hole_l1_percent(output: Tensor, target: Tensor, masks: Tensor) -> Tensor:
    """100 * mean |output - target| over hole pixels (mask 0) and channels, (B,); NaN with no hole."""
    _check_pair(output, target)
    return _hole_l1_from_absdiff((output.float() - target.float()).abs(), masks)


def all_metrics(output: Tensor, target: Tensor, masks: Tensor) -> dict[str, Tensor]:
    """All per-image metrics in one pass: keys METRIC_KEYS, each (B,) float64.

    ``output`` is the composited output (see :func:`composite`); ``masks`` (B,1,H,W), 1 = valid,
    is used only for the hole-only L1.
    """
    _check_pair(output, target)
    with torch.no_grad():
        d = output.float() - target.float()
        absdiff = d.abs()
        d64 = d.double()
        return {
            "l1_percent": absdiff.double().mean(dim=(1, 2, 3)) * 100.0,
            "psnr": _psnr_from_mse((d64 * d64).mean(dim=(1, 2, 3))),
            "ssim": _ssim(output, target),
            "hole_l1_percent": _hole_l1_from_absdiff(absdiff, masks),
        }


def inception_score(probs: Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score (mean, std over splits) from class probabilities p(y|x), (N,K).

    IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y) the split's marginal. As torch-fidelity's
    ``isc_features_to_metric``: rows shuffled by ``np.random.RandomState(seed).permutation(N)``,
    split i = rows [i*N//splits, (i+1)*N//splits), float64, population std (ddof 0).
    """
    if probs.dim() != 2:
        raise ValueError(f"expected (N,K) probabilities, got shape {tuple(probs.shape)}")
    n = probs.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"need 1 <= splits <= N, got splits={splits}, N={n}")
    p = probs.detach().double().cpu()[np.random.RandomState(seed).permutation(n)]
    # 0 * log 0 = 0: xlogy handles rows with zero-probability classes (one-hot predictions).
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits : (i + 1) * n // splits]
        marginal = chunk.mean(dim=0, keepdim=True)
        kl = (torch.special.xlogy(chunk, chunk) - torch.special.xlogy(chunk, marginal)).sum(dim=1)
        scores.append(math.exp(kl.mean().item()))
    return float(np.mean(scores)), float(np.std(scores))
