"""The paper's loss terms against hand-computed values on tiny tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench.models.unet.loss import (
    WEIGHTS,
    InpaintingLoss,
    composite,
    dilate_holes,
    gram_matrix,
    l1_hole,
    l1_valid,
    perceptual_loss,
    style_loss,
    tv_loss,
)


def test_l1_valid_and_hole_are_means_over_all_elements():
    gt = torch.zeros(1, 3, 2, 2)
    out = torch.full((1, 3, 2, 2), 0.5)
    mask = torch.ones(1, 1, 2, 2)
    mask[0, 0, 1, 1] = 0  # one hole pixel
    # valid: 3 pixels * 3 channels * 0.5 / 12 elements; hole: 1 * 3 * 0.5 / 12.
    assert l1_valid(out, gt, mask).item() == pytest.approx(4.5 / 12)
    assert l1_hole(out, gt, mask).item() == pytest.approx(1.5 / 12)


def test_l1_hole_only_sees_hole_pixels():
    gt = torch.zeros(2, 3, 4, 4)
    out = gt.clone()
    mask = torch.ones(2, 1, 4, 4)
    mask[1, 0, 0, 0] = 0
    out[0, :, 2, 2] = 1.0  # an error in a valid pixel
    out[1, 1, 0, 0] = -2.0  # an error in the hole, one channel
    assert l1_hole(out, gt, mask).item() == pytest.approx(2.0 / 96)
    assert l1_valid(out, gt, mask).item() == pytest.approx(3.0 / 96)


def test_composite():
    gt = torch.ones(1, 3, 1, 2)
    out = torch.zeros(1, 3, 1, 2)
    mask = torch.tensor([[[[1.0, 0.0]]]])
    assert composite(out, gt, mask)[0, :, 0].tolist() == [[1.0, 0.0]] * 3


def test_gram_matrix_normalised_by_chw():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, C=2, H=1, W=2)
    # rows (1,2) and (3,4): F F^T = [[5, 11], [11, 25]], divided by C*H*W = 4.
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    assert torch.allclose(gram_matrix(f), expected)


def test_style_loss_hand_computed():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    g = torch.zeros_like(f)
    g[0, 0, 0, 0] = 2.0  # Gram of g: [[4, 0], [0, 0]] / 4
    # |[[5,11],[11,25]]/4 - [[4,0],[0,0]]/4| = [[1,11],[11,25]]/4, mean over 4 entries = 48/16 = 3.
    assert style_loss([f], [g]).item() == pytest.approx(3.0)
    # Two layers add up; identical features give zero.
    assert style_loss([f, f], [g, f]).item() == pytest.approx(3.0)
    assert style_loss([], []).item() == 0.0


def test_perceptual_loss_hand_computed():
    fg = [torch.zeros(1, 2, 2, 2), torch.zeros(1, 4, 1, 1)]
    fo = [torch.ones(1, 2, 2, 2), torch.full((1, 4, 1, 1), 2.0)]
    fc = [torch.zeros(1, 2, 2, 2), torch.full((1, 4, 1, 1), -0.5)]
    # out: 1 + 2; comp: 0 + 0.5.
    assert perceptual_loss(fo, fc, fg).item() == pytest.approx(3.5)


def test_dilation_is_one_pixel_square():
    mask = torch.ones(1, 1, 5, 5)
    mask[0, 0, 2, 2] = 0
    p = dilate_holes(mask)[0, 0]
    expected = torch.zeros(5, 5)
    expected[1:4, 1:4] = 1
    assert torch.equal(p, expected)


def test_tv_on_a_row():
    # A 1x5 row with a hole at index 2: P = {1, 2, 3}, pairs (1,2), (2,3): |3-1| + |6-3| = 5.
    img = torch.tensor([0.0, 1.0, 3.0, 6.0, 10.0]).reshape(1, 1, 1, 5)
    mask = torch.ones(1, 1, 1, 5)
    mask[..., 2] = 0
    assert tv_loss(img, mask).item() == pytest.approx(5.0 / 5)


def test_tv_on_a_hand_made_image_against_a_loop():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 6, 7, generator=g)
    mask = torch.ones(2, 1, 6, 7)
    mask[0, 0, 0, 0] = 0  # corner hole: P = the 2x2 corner block
    mask[1, 0, 3, 4] = 0
    mask[1, 0, 3, 5] = 0
    total = 0.0
    for b in range(2):
        m = mask[b, 0]
        hole = [(i, j) for i in range(6) for j in range(7) if m[i, j] == 0]
        grown = {(i + di, j + dj) for i, j in hole for di in (-1, 0, 1) for dj in (-1, 0, 1)}
        inside = {(i, j) for i, j in grown if 0 <= i < 6 and 0 <= j < 7}
        for i, j in inside:
            if (i, j + 1) in inside:
                total += (img[b, :, i, j + 1] - img[b, :, i, j]).abs().sum().item()
            if (i + 1, j) in inside:
                total += (img[b, :, i + 1, j] - img[b, :, i, j]).abs().sum().item()
    assert tv_loss(img, mask).item() == pytest.approx(total / img.numel(), rel=1e-5)


class _PoolNet(nn.Module):
    """A fixed 'feature network': the image and two average-pooled copies (no parameters)."""

    def forward(self, x):
        return [x, nn.functional.avg_pool2d(x, 2), nn.functional.avg_pool2d(x, 4)]


def test_module_matches_terms_and_weights():
    g = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 3, 8, 8, generator=g)
    out = torch.rand(2, 3, 8, 8, generator=g, requires_grad=True)
    mask = (torch.rand(2, 1, 8, 8, generator=g) > 0.3).float()
    total, terms = InpaintingLoss(_PoolNet())(out, gt, mask)
    comp = composite(out, gt, mask)
    net = _PoolNet()
    fo, fc, fg = net(out), net(comp), net(gt)
    assert terms["perc"].item() == pytest.approx(perceptual_loss(fo, fc, fg).item(), rel=1e-6)
    assert terms["style_comp"].item() == pytest.approx(style_loss(fc, fg).item(), rel=1e-6)
    expected = sum(WEIGHTS[k] * terms[k].item() for k in WEIGHTS)
    assert expected == pytest.approx(
        1 * terms["valid"].item()
        + 6 * terms["hole"].item()
        + 0.05 * terms["perc"].item()
        + 120 * (terms["style_out"].item() + terms["style_comp"].item())
        + 0.1 * terms["tv"].item()
    )
    assert total.item() == pytest.approx(expected, rel=1e-6)
    assert terms["total"].item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()


def test_module_without_features_and_perfect_output():
    class _NoNet(nn.Module):
        def forward(self, x):
            return []

    gt = torch.rand(1, 3, 8, 8)
    mask = torch.ones(1, 1, 8, 8)
    mask[..., 2:5, 2:5] = 0
    _, terms = InpaintingLoss(_NoNet())(gt.clone(), gt, mask)
    for k in ("valid", "hole", "perc", "style_out", "style_comp"):
        assert terms[k].item() == 0.0
    assert terms["tv"].item() > 0  # the image itself has variation inside P
