"""The paper's loss (Liu et al. 2018, Sec. 3.4), one pure function per term plus a thin module.

    L_total = L_valid + 6 L_hole + 0.05 L_perc + 120 (L_style_out + L_style_comp) + 0.1 L_tv

Conventions: images (B,3,H,W) in [0,1]; mask (B,1,H,W) float, 1 = valid, 0 = hole (the paper's M).
Every L1 term is a mean over the elements of the full tensor (the paper's 1/N_{I_gt}, 1/N_{Psi_p}), so a
masked term divides by all elements, not by the number of masked ones, exactly as written in the paper.

>>> from bench.metrics.features import load_feature_net
>>> loss = InpaintingLoss(load_feature_net("none"))
>>> gt, out = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
>>> mask = torch.ones(2, 1, 16, 16); mask[..., 4:9, 4:9] = 0
>>> total, terms = loss(out, gt, mask)
>>> sorted(terms)
['hole', 'perc', 'style_comp', 'style_out', 'total', 'tv', 'valid']
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from masks.conventions import composite

# The paper's weights (Sec. 3.4), chosen there by a hyper-parameter search on 100 validation images.
WEIGHTS: dict[str, float] = {
    "valid": 1.0,
    "hole": 6.0,
    "perc": 0.05,
    "style_out": 120.0,
    "style_comp": 120.0,
    "tv": 0.1,
}
TERMS: tuple[str, ...] = tuple(WEIGHTS)


def l1_valid(out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_valid = ||M * (I_out - I_gt)||_1 / N_{I_gt} (mean over all B*C*H*W elements)."""
    return (mask * (out - gt)).abs().mean()


def l1_hole(out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_hole = ||(1 - M) * (I_out - I_gt)||_1 / N_{I_gt}."""
    return ((1.0 - mask) * (out - gt)).abs().mean()


def perceptual_loss(
    feats_out: list[torch.Tensor], feats_comp: list[torch.Tensor], feats_gt: list[torch.Tensor]
) -> torch.Tensor:
    """L_perc = sum_p |Psi_p(I_out) - Psi_p(I_gt)|_mean + sum_p |Psi_p(I_comp) - Psi_p(I_gt)|_mean."""
    total = feats_gt[0].new_zeros(()) if feats_gt else torch.zeros(())
    for fo, fc, fg in zip(feats_out, feats_comp, feats_gt, strict=True):
        total = total + (fo - fg).abs().mean() + (fc - fg).abs().mean()
    return total


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) -> (B,C,C): Psi^T Psi scaled by K_p = 1 / (C*H*W), the paper's normalisation."""
    b, c, h, w = feat.shape
    f = feat.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_loss(feats: list[torch.Tensor], feats_gt: list[torch.Tensor]) -> torch.Tensor:
    """L_style = sum_p 1/(C_p C_p) |K_p (Psi_p^T Psi_p - Psi_gt^T Psi_gt)|_1, averaged over the batch.

    1/(C_p C_p) with the L1 sum over the C_p x C_p Gram entries is the mean over them.
    """
    total = feats_gt[0].new_zeros(()) if feats_gt else torch.zeros(())
    for f, fg in zip(feats, feats_gt, strict=True):
        total = total + (gram_matrix(f) - gram_matrix(fg)).abs().mean()
    return total


def dilate_holes(mask: torch.Tensor) -> torch.Tensor:
    """(B,1,H,W) 1 = valid -> (B,1,H,W) 1 on the hole region grown by one pixel (3x3 square), else 0.

    This is the paper's region P for L_tv ("the 1-pixel dilation of the hole region").
    """
    hole = 1.0 - mask
    return F.max_pool2d(hole, kernel_size=3, stride=1, padding=1)


def tv_loss(comp: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_tv on I_comp over P (the 1-pixel dilation of the holes), divided by N_{I_comp} = B*C*H*W.

    A horizontal pair (i,j),(i,j+1) counts when both pixels lie in P; the same for vertical pairs.
    """
    p = dilate_holes(mask)  # (B,1,H,W)
    pair_h = p[..., :, 1:] * p[..., :, :-1]  # (B,1,H,W-1)
    pair_v = p[..., 1:, :] * p[..., :-1, :]  # (B,1,H-1,W)
    dh = (comp[..., :, 1:] - comp[..., :, :-1]).abs() * pair_h
    dv = (comp[..., 1:, :] - comp[..., :-1, :]).abs() * pair_v
    return (dh.sum() + dv.sum()) / comp.numel()


def total_loss(terms: dict[str, torch.Tensor], weights: dict[str, float] = WEIGHTS) -> torch.Tensor:
    """The weighted sum of the terms named in `weights`."""
    return sum(weights[k] * terms[k] for k in weights)


class InpaintingLoss(nn.Module):
    """The paper's loss around a frozen feature network (bench.metrics.features.load_feature_net).

    `forward(out, gt, mask) -> (total, terms)`; `terms` holds every term (0-dim tensors, detached) and
    `total`. With a feature network named "none" the perceptual and style terms are zero.
    """

    def __init__(self, feature_net: nn.Module, weights: dict[str, float] | None = None):
        super().__init__()
        self.feature_net = feature_net
        self.weights = dict(WEIGHTS if weights is None else weights)

    def forward(
        self, out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        # Under bf16 autocast the network output may be bf16; the loss is summed in float32.
        out = out.float()
        comp = composite(out, gt, mask)
        terms = {
            "valid": l1_valid(out, gt, mask),
            "hole": l1_hole(out, gt, mask),
            "tv": tv_loss(comp, mask),
        }
        b = out.shape[0]
        # One pass over [I_out; I_comp] (gradients flow through the frozen net), one without grad for I_gt.
        feats = [f.float() for f in self.feature_net(torch.cat([out, comp], 0))]
        with torch.no_grad():
            feats_gt = [f.float() for f in self.feature_net(gt)]
        feats_out = [f[:b] for f in feats]
        feats_comp = [f[b:] for f in feats]
        terms["perc"] = perceptual_loss(feats_out, feats_comp, feats_gt).to(out)
        terms["style_out"] = style_loss(feats_out, feats_gt).to(out)
        terms["style_comp"] = style_loss(feats_comp, feats_gt).to(out)
        total = total_loss(terms, self.weights)
        logged = {k: v.detach() for k, v in terms.items()}
        logged["total"] = total.detach()
        return total, logged
