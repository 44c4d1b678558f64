"""Partial convolution (Liu et al., ECCV 2018), exact and cheap.

    out = W . (X * M) * (sum(1) / sum(M)) + b    where the window holds a valid input value
    out = 0, new_mask = 0                          elsewhere

sum(1) = C_in * kh * kw and sum(M) runs over the window and all input channels; zero padding counts as
hole. A (B,1,H,W) mask is shared by all input channels, so sum(M) = C_in * window_sum(mask) and the ratio
is kh * kw / window_sum(mask). A (B,C_in,H,W) mask (NVIDIA's ``multi_channel``) is first summed over
channels into a (B,1,H,W) count plane; either way the mask path is ONE single-channel window sum per
layer, computed without autograd, never a ones-convolution over all channels.

Example:
    >>> x, m = torch.rand(2, 3, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    >>> out, new_m = partial_conv2d(x, m, torch.randn(4, 3, 3, 3), stride=2, padding=1)
    >>> out.shape, new_m.shape
    (torch.Size([2, 4, 4, 4]), torch.Size([2, 1, 4, 4]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

IntPair = int | tuple[int, int]


def _pair(v: IntPair) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    a, b = v
    return (int(a), int(b))


def all_valid(mask: Tensor) -> bool:
    """True when every entry of ``mask`` is non-zero (used to skip exact no-op multiplies).

    Only evaluated on CPU: on an accelerator the check would force a host sync that costs more than
    the multiply it saves, so there it always answers False.
    """
    if mask.device.type != "cpu":
        return False
    return bool(mask.all())


def window_sum(
    count: Tensor, kernel_size: IntPair, stride: IntPair, padding: IntPair, dilation: IntPair
) -> Tensor:
    """Sum of ``count`` (B,1,H,W) over every convolution window, zero padding included: (B,1,H',W').

    Float32, without autograd or autocast. Counts are integers (masks are {0,1}), so the direct sum of
    avg_pool2d is exact; the convolution fallback (dilation, wide padding) is rounded so that no
    convolution algorithm (Winograd, FFT, TF32) can leave a tiny non-zero where a window holds only holes.
    """
    kh, kw = _pair(kernel_size)
    stride, padding, dilation = _pair(stride), _pair(padding), _pair(dilation)
    with torch.no_grad(), torch.autocast(count.device.type, enabled=False):
        c = count.detach().float()
        if dilation == (1, 1) and padding[0] <= kh // 2 and padding[1] <= kw // 2:
            # Direct summation (no Winograd): divisor_override=1 turns the average into the window sum.
            return F.avg_pool2d(
                c, (kh, kw), stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=1
            )
        ones = torch.ones(1, 1, kh, kw, dtype=c.dtype, device=c.device)
        return torch.round(F.conv2d(c, ones, None, stride, padding, dilation))


def partial_conv2d_counts(
    x_masked: Tensor,
    valid_count: Tensor,
    channels: int,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[Tensor, Tensor]:
    """Partial convolution of an input that is ALREADY multiplied by its mask.

    x_masked: (B,C_in,H,W) = X * M.  valid_count: (B,1,H,W) with ratio = channels*kh*kw / window_sum(count):
    ``channels=1, valid_count=mask`` for a mask shared by all channels (B,1,H,W); ``channels=C_in,
    valid_count=M.sum(1)`` for a full mask, or for a concatenation of tensors that each carry a
    single-channel mask, as in the U-Net decoder: valid_count = C1 * m1 + C2 * m2 (float32, integers).
    Returns (out (B,C_out,H',W'), new_mask (B,1,H',W') float32 in {0,1}).
    """
    kh, kw = weight.shape[-2:]
    with torch.no_grad():
        wsum = window_sum(valid_count, (kh, kw), stride, padding, dilation)  # (B,1,H',W')
        # (B,1,H',W'): 1 where any valid value lies under the kernel (window sums are integers >= 0).
        new_mask = wsum.clamp(max=1.0)
        # ratio = sum(1)/sum(M) where the window holds a valid value, 0 elsewhere: the zero folds the
        # "out = 0 in holes" rule into the same multiply. Few ops on purpose: each small op is a parallel
        # region on CPU, costly on a busy machine. area / 0 = inf in all-hole windows, then set to 0.
        # Float64 ratio for float64 inputs (gradcheck, reference tests), float32 otherwise. A tensor
        # numerator on purpose: `scalar / tensor` runs as reciprocal * scalar, which rounds twice; a 0-dim
        # CPU tensor mixes with tensors on any device without a host-to-device copy.
        rdtype = torch.float64 if x_masked.dtype == torch.float64 else torch.float32
        area = torch.tensor(float(channels * kh * kw), dtype=rdtype)
        ratio = torch.div(area, wsum.to(rdtype)).nan_to_num_(posinf=0.0, neginf=0.0)
    out = F.conv2d(x_masked, weight, None, stride, padding, dilation)
    # In place is safe for autograd: conv2d's backward needs its input and weight, not its output.
    out.mul_(ratio.to(out.dtype))
    if bias is not None:
        # (1,C_out,1,1) * (B,1,H',W'): the bias only where the new mask is valid, fused into one op.
        out.addcmul_(bias.view(1, -1, 1, 1).to(out.dtype), new_mask.to(out.dtype))
    return out, new_mask


def partial_conv2d(
    x: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[Tensor, Tensor]:
    """Partial convolution. x (B,C_in,H,W); mask (B,1,H,W) or (B,C_in,H,W), 1 = valid, 0 = hole;
    weight (C_out,C_in,kh,kw). Returns (out (B,C_out,H',W'), new_mask (B,1,H',W') in {0,1})."""
    if x.dim() != 4 or mask.dim() != 4:
        raise ValueError(f"x and mask must be 4-D (B,C,H,W); got {tuple(x.shape)} and {tuple(mask.shape)}")
    b, c_in, h, w = x.shape
    if mask.shape[0] != b or mask.shape[2:] != x.shape[2:] or mask.shape[1] not in (1, c_in):
        raise ValueError(
            f"mask {tuple(mask.shape)} does not fit x {tuple(x.shape)}: need (B,1,H,W) or (B,C_in,H,W)"
        )
    if weight.shape[1] != c_in:
        raise ValueError(
            f"weight {tuple(weight.shape)} expects {weight.shape[1]} input channels, x has {c_in}"
        )
    mask = mask.to(x.dtype)
    # Multiplying by an all-ones mask is an exact no-op: skip the copy (deep layers are usually hole-free).
    x_masked = x if all_valid(mask) else x * mask
    if mask.shape[1] == 1:
        return partial_conv2d_counts(x_masked, mask, 1, weight, bias, stride, padding, dilation)
    count = mask.detach().float().sum(1, keepdim=True)  # (B,1,H,W) float32: valid channels per pixel
    return partial_conv2d_counts(x_masked, count, c_in, weight, bias, stride, padding, dilation)


class PartialConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose ``forward(x, mask)`` is :func:`partial_conv2d`; it keeps no mask state.

    Only integer zero padding and groups=1 (the partial-convolution re-weighting assumes both).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.padding, str) or self.padding_mode != "zeros":
            raise ValueError("PartialConv2d needs integer zero padding (padding counts as hole)")
        if self.groups != 1:
            raise ValueError("PartialConv2d supports groups=1 only")

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return partial_conv2d(x, mask, self.weight, self.bias, self.stride, self.padding, self.dilation)
