"""Partial convolution against a plain loop over windows, plus its invariants."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.models.unet.pconv import PartialConv2d, partial_conv2d, partial_conv2d_counts


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def loop_pconv(x, mask, weight, bias, stride, padding, dilation):
    """The paper's definition, one output pixel at a time, in float64 numpy.

    mask (B,1,H,W) is shared by all input channels, (B,C,H,W) is per channel; zero padding is hole."""
    x, mask, weight = (t.detach().double().numpy() for t in (x, mask, weight))
    bias = None if bias is None else bias.detach().double().numpy()
    b, c, h, w = x.shape
    mask = np.broadcast_to(mask, x.shape)
    c_out, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    xp = np.zeros((b, c, h + 2 * ph, w + 2 * pw))
    mp = np.zeros_like(xp)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    mp[:, :, ph : ph + h, pw : pw + w] = mask
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((b, c_out, ho, wo))
    new = np.zeros((b, 1, ho, wo))
    for n in range(b):
        for i in range(ho):
            for j in range(wo):
                rows = [i * sh + dh * a for a in range(kh)]
                cols = [j * sw + dw * a for a in range(kw)]
                xw = xp[n][:, rows][:, :, cols]  # (C,kh,kw)
                mw = mp[n][:, rows][:, :, cols]
                s = mw.sum()
                if s > 0:
                    val = np.einsum("ockl,ckl->o", weight, xw * mw) * (c * kh * kw / s)
                    out[n, :, i, j] = val + (0 if bias is None else bias)
                    new[n, 0, i, j] = 1
    return out, new


def random_mask(gen: torch.Generator, shape, p_valid: float, block: int = 5) -> torch.Tensor:
    m = (torch.rand(shape, generator=gen) < p_valid).float()
    # A solid hole block at least as large as the kernel, so some windows hold only holes.
    m[..., 1 : 1 + block, 2 : 2 + block] = 0
    return m


CASES = [
    # kernel, stride, padding, dilation
    (3, 1, 1, 1),
    (3, 2, 1, 1),
    (1, 1, 0, 1),
    (5, 2, 2, 1),
    (7, 2, 3, 1),
    ((2, 3), (1, 2), (1, 0), 1),
    (3, 1, 2, 1),  # padding beyond k//2: the convolution window-sum path
    (3, 1, 2, 2),  # dilation
    ((3, 2), 2, (0, 1), (2, 1)),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation", CASES)
@pytest.mark.parametrize("multi", [False, True])
def test_matches_loop(kernel, stride, padding, dilation, multi):
    gen = torch.Generator().manual_seed(2 * CASES.index((kernel, stride, padding, dilation)) + multi)
    kh, kw = _pair(kernel)
    x = torch.randn(2, 3, 13, 12, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 3, kh, kw, generator=gen, dtype=torch.float64)
    bias = torch.randn(4, generator=gen, dtype=torch.float64)
    mask = random_mask(gen, (2, 3 if multi else 1, 13, 12), 0.4, block=9).double()
    for b in (bias, None):
        out, new = partial_conv2d(x, mask, weight, b, stride, padding, dilation)
        ref_out, ref_new = loop_pconv(x, mask, weight, b, stride, padding, dilation)
        assert new.shape == ref_new.shape and out.shape == ref_out.shape
        np.testing.assert_array_equal(new.numpy(), ref_new)
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-10, atol=1e-10)
    assert (ref_new == 0).any() and (ref_new == 1).any()  # the case exercises both branches


def test_module_matches_function_and_keeps_no_state():
    gen = torch.Generator().manual_seed(1)
    conv = PartialConv2d(3, 5, 3, stride=2, padding=1)
    x = torch.rand(2, 3, 16, 16, generator=gen)
    m1, m2 = random_mask(gen, (2, 1, 16, 16), 0.5), random_mask(gen, (2, 1, 16, 16), 0.9)
    a1 = conv(x, m1)
    conv(x, m2)  # a call with another mask must not change the next answer
    b1 = conv(x, m1)
    ref = partial_conv2d(x, m1, conv.weight, conv.bias, 2, 1)
    for got in (a1, b1):
        torch.testing.assert_close(got[0], ref[0], rtol=0, atol=0)
        torch.testing.assert_close(got[1], ref[1], rtol=0, atol=0)
    assert set(dict(conv.named_buffers())) == set()
    with pytest.raises(ValueError):
        PartialConv2d(3, 5, 3, padding="same")
    with pytest.raises(ValueError):
        PartialConv2d(3, 5, 3, padding=1, padding_mode="reflect")


@pytest.mark.parametrize("kernel,stride,padding", [(3, 1, 1), (5, 2, 2), (7, 2, 3), (3, 1, 0)])
def test_all_ones_is_plain_conv_away_from_borders(kernel, stride, padding):
    gen = torch.Generator().manual_seed(kernel * 10 + stride)
    x = torch.randn(2, 6, 20, 20, generator=gen)
    w = torch.randn(8, 6, kernel, kernel, generator=gen)
    out, new = partial_conv2d(x, torch.ones(2, 1, 20, 20), w, None, stride, padding)
    ref = F.conv2d(x, w, None, stride, padding)
    assert torch.equal(new, torch.ones_like(new))
    # Output pixels whose window lies fully inside the image: ratio is exactly 1.
    lo = -(-padding // stride)  # ceil(padding / stride)
    hi = (20 + padding - kernel) // stride + 1
    assert hi > lo
    assert torch.equal(out[..., lo:hi, lo:hi], ref[..., lo:hi, lo:hi])
    if padding:
        # At zero-padded borders the paper's re-weighting applies: the output is scaled up.
        assert not torch.allclose(out[..., 0, 0], ref[..., 0, 0])
    b = torch.randn(8, generator=gen)
    out_b, _ = partial_conv2d(x, torch.ones(2, 1, 20, 20), w, b, stride, padding)
    torch.testing.assert_close(
        out_b[..., lo:hi, lo:hi], F.conv2d(x, w, b, stride, padding)[..., lo:hi, lo:hi]
    )


def test_multi_channel_identical_channels_equals_single_channel():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 12, 12, generator=gen)
    w, b = torch.randn(4, 5, 3, 3, generator=gen), torch.randn(4, generator=gen)
    m = random_mask(gen, (3, 1, 12, 12), 0.5)
    single = partial_conv2d(x, m, w, b, 2, 1)
    multi = partial_conv2d(x, m.expand(-1, 5, -1, -1).contiguous(), w, b, 2, 1)
    assert torch.equal(single[0], multi[0]) and torch.equal(single[1], multi[1])


def test_counts_form_equals_concatenated_full_mask():
    # The U-Net decoder's trick: a concatenation of two tensors with one mask each, described by the
    # count plane C1*m1 + C2*m2, equals the partial conv with the materialised (B,C1+C2,H,W) mask.
    gen = torch.Generator().manual_seed(4)
    x1, x2 = torch.randn(2, 3, 10, 10, generator=gen), torch.randn(2, 4, 10, 10, generator=gen)
    m1, m2 = random_mask(gen, (2, 1, 10, 10), 0.5), random_mask(gen, (2, 1, 10, 10), 0.3)
    w, b = torch.randn(6, 7, 3, 3, generator=gen), torch.randn(6, generator=gen)
    full = torch.cat([m1.expand(-1, 3, -1, -1), m2.expand(-1, 4, -1, -1)], 1)
    ref = partial_conv2d(torch.cat([x1, x2], 1), full, w, b, 1, 1)
    got = partial_conv2d_counts(torch.cat([x1 * m1, x2 * m2], 1), 3 * m1 + 4 * m2, 7, w, b, 1, 1)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-6, atol=1e-6)
    assert torch.equal(got[1], ref[1])


def test_batch_of_one_equals_slice_of_batch():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(8, 4, 16, 16, generator=gen)
    m = random_mask(gen, (8, 1, 16, 16), 0.5)
    w, b = torch.randn(6, 4, 5, 5, generator=gen), torch.randn(6, generator=gen)
    out, new = partial_conv2d(x, m, w, b, 2, 2)
    for i in (0, 3, 7):
        o1, n1 = partial_conv2d(x[i : i + 1], m[i : i + 1], w, b, 2, 2)
        torch.testing.assert_close(o1, out[i : i + 1], rtol=1e-5, atol=1e-5)
        assert torch.equal(n1, new[i : i + 1])


def test_holes_do_not_leak_and_gradients_vanish_there():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(2, 3, 12, 12, generator=gen)
    m = random_mask(gen, (2, 1, 12, 12), 0.5)
    w, b = torch.randn(4, 3, 3, 3, generator=gen), torch.randn(4, generator=gen)
    noise = torch.randn(x.shape, generator=gen) * 100
    out, new = partial_conv2d(x, m, w, b, 1, 1)
    out2, _ = partial_conv2d(x + noise * (1 - m), m, w, b, 1, 1)
    assert torch.equal(out, out2)
    assert torch.equal(out * (1 - new), torch.zeros_like(out))  # zero where the new mask is hole
    xg = x.clone().requires_grad_(True)
    partial_conv2d(xg, m, w, b, 1, 1)[0].square().sum().backward()
    assert torch.equal(xg.grad * (1 - m), torch.zeros_like(x))


@pytest.mark.parametrize("mask_kind", ["holes", "ones", "multi"])
def test_gradcheck_float64(mask_kind):
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, generator=gen, dtype=torch.float64, requires_grad=True)
    if mask_kind == "ones":
        m = torch.ones(1, 1, 6, 5, dtype=torch.float64)
    else:
        m = (torch.rand(1, 2 if mask_kind == "multi" else 1, 6, 5, generator=gen) < 0.5).double()
    for stride, padding in itertools.product((1, 2), (0, 1)):
        assert torch.autograd.gradcheck(
            lambda x, w, b, s=stride, p=padding: partial_conv2d(x, m, w, b, s, p)[0],
            (x, w, b),
            fast_mode=True,
        )


def test_bad_shapes_raise():
    x = torch.zeros(2, 3, 8, 8)
    w = torch.zeros(4, 3, 3, 3)
    with pytest.raises(ValueError):
        partial_conv2d(x, torch.ones(2, 2, 8, 8), w)
    with pytest.raises(ValueError):
        partial_conv2d(x, torch.ones(2, 1, 8, 7), w)
    with pytest.raises(ValueError):
        partial_conv2d(x, torch.ones(2, 1, 8, 8), torch.zeros(4, 2, 3, 3))
