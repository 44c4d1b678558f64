"""Contextual attention (Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018).

Every foreground position is rebuilt as an attention-weighted sum of background patches:

1. foreground and background are resized by 1/``rate`` (nearest) and matched there: the background is cut
   into ``ksize`` x ``ksize`` patches (stride ``stride``, zero "same" padding), each divided by its L2 norm
   (at least 1e-4), and correlated with the foreground, so a score is the cosine similarity up to the
   foreground patch's norm (the released code does not normalise the foreground; neither do we);
2. attention propagation (``fuse``): the score matrix (foreground index x background index) is convolved
   with a ``fuse_k`` x ``fuse_k`` identity kernel, once in row-major order and once with both indices in
   column-major order, so neighbouring matches that shift together reinforce each other;
3. only background patches that lie entirely in the known region are candidates; softmax over the
   background patches with ``softmax_scale`` (10);
4. reconstruction: a transposed convolution pastes the raw full-resolution background patches (size
   2 * ``rate``, stride ``rate``) weighted by the attention; overlapping pastes are divided by 4.

Defaults follow the authors' released TensorFlow code (``inpaint_ops.contextual_attention``):
``resize="tf"`` samples like ``tf.image.resize_nearest_neighbor(align_corners=True)`` (neuralgym's
``resize``), ``masking="released"`` zeroes the scores of hole patches before the softmax and zeroes their
weights after it (so hole patches still take a share of the softmax denominator, and the weights of one
position sum to less than 1), ``normalise="released"`` divides by 4 everywhere. mmagic's PyTorch module
differs in all three, covered by ``resize="floor"`` (``F.interpolate``), ``masking="exclude"`` (hole patches
get -inf: a true softmax over the candidates) and ``normalise="overlap"`` (divides by the number of pastes
that cover each pixel: 4 inside, 2 on the border rows, 1 in the corners).

Masks follow this project's convention: (B,1,Hb,Wb), 1 = valid, 0 = hole, at the background's size. The
released code uses the first sample's mask for the whole batch; here each sample uses its own.

Example:
    >>> fg, bg = torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8)
    >>> out, att = contextual_attention(fg, bg, torch.ones(2, 1, 8, 8))
    >>> out.shape, att.shape
    (torch.Size([2, 4, 8, 8]), torch.Size([2, 16, 4, 4]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.core.errors import BenchError

RESIZES = ("tf", "floor")
MASKINGS = ("released", "exclude")
NORMALISES = ("released", "overlap")
NORM_EPS = 1e-4  # the released floor on a background patch's L2 norm


def resize_nearest(x: Tensor, size: tuple[int, int], mode: str = "tf") -> Tensor:
    """Nearest-neighbour resize of (B,C,H,W) to ``size``.

    ``"tf"``: TF1 ``resize_nearest_neighbor(align_corners=True)``: source index
    round(i * (in - 1) / (out - 1)), rounded half away from zero. ``"floor"``: ``F.interpolate``'s
    floor(i * in / out).
    """
    if mode == "floor":
        return F.interpolate(x, size=size, mode="nearest")
    if mode != "tf":
        raise BenchError(f"resize mode must be one of {', '.join(RESIZES)}, got {mode!r}")
    idx = [_tf_index(n_in, n_out, x.device) for n_in, n_out in zip(x.shape[-2:], size, strict=True)]
    return x.index_select(-2, idx[0]).index_select(-1, idx[1])


def _tf_index(n_in: int, n_out: int, device: torch.device) -> Tensor:
    # TF computes the scale and the product in float32, then roundf (half away from zero).
    scale = (n_in - 1) / (n_out - 1) if n_out > 1 else n_in / max(n_out, 1)
    pos = torch.arange(n_out, dtype=torch.float32, device=device) * torch.tensor(scale, dtype=torch.float32)
    return torch.floor(pos + 0.5).long().clamp(max=n_in - 1)


def same_pad(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF "SAME" padding (before, after) of one axis: output ceil(size / stride), the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def extract_patches(x: Tensor, kernel: int, stride: int) -> Tensor:
    """(B,C,H,W) -> (B, L, C, kernel, kernel): TF ``extract_image_patches`` with zero "SAME" padding.

    L = ceil(H / stride) * ceil(W / stride), in row-major order of the patch positions.
    """
    b, c, h, w = x.shape
    top, bottom = same_pad(h, kernel, stride)
    left, right = same_pad(w, kernel, stride)
    cols = F.unfold(F.pad(x, (left, right, top, bottom)), kernel, stride=stride)  # (B, C*k*k, L)
    return cols.transpose(1, 2).reshape(b, -1, c, kernel, kernel)


def fuse_scores(scores: Tensor, fg_hw: tuple[int, int], bg_hw: tuple[int, int], fuse_k: int) -> Tensor:
    """Attention propagation of (B, Lb, hf, wf) scores, as the released code does it.

    The (fg index, bg index) matrix is convolved with a fuse_k x fuse_k identity kernel (zero padding),
    then both indices are re-ordered column-major, convolved again and put back: each score becomes the
    sum of the scores of neighbouring foreground positions matched to equally shifted background patches,
    first along rows, then along columns.
    """
    b, lb, hf, wf = scores.shape
    hb, wb = bg_hw
    eye = torch.eye(fuse_k, dtype=scores.dtype, device=scores.device).view(1, 1, fuse_k, fuse_k)
    pad = same_pad(hf * wf, fuse_k, 1)
    pads = (pad[0], pad[1], pad[0], pad[1])  # square kernel, stride 1: the same on both axes
    y = scores.permute(0, 2, 3, 1).reshape(b, 1, hf * wf, lb)  # rows: fg index, columns: bg index
    y = F.conv2d(F.pad(y, pads), eye)
    y = y.view(b, hf, wf, hb, wb).permute(0, 2, 1, 4, 3).reshape(b, 1, wf * hf, wb * hb)
    y = F.conv2d(F.pad(y, pads), eye)
    y = y.view(b, wf, hf, wb, hb).permute(0, 2, 1, 4, 3)  # (B, hf, wf, hb, wb)
    return y.reshape(b, hf, wf, lb).permute(0, 3, 1, 2)


def contextual_attention(
    fg: Tensor,
    bg: Tensor,
    mask: Tensor | None = None,
    ksize: int = 3,
    stride: int = 1,
    rate: int = 2,
    fuse_k: int = 3,
    softmax_scale: float = 10.0,
    fuse: bool = True,
    *,
    resize: str = "tf",
    masking: str = "released",
    normalise: str = "released",
) -> tuple[Tensor, Tensor]:
    """Rebuild ``fg`` (B,C,H,W) from patches of ``bg`` (B,C,Hb,Wb); returns (out, attention).

    out: (B,C,H,W). attention: (B, Lb, H/rate, W/rate), the softmax weight of every background patch
    (Lb = ceil(Hb/(rate*stride)) * ceil(Wb/(rate*stride)), row-major) at every matched foreground
    position. ``mask``: (B,1,Hb,Wb), 1 = valid, 0 = hole; None: every patch is a candidate. H, W, Hb and
    Wb must be multiples of ``rate``.
    """
    _check(fg, bg, mask, ksize, stride, rate, fuse_k, resize, masking, normalise)
    b, c, h, w = fg.shape
    hb_full, wb_full = bg.shape[-2:]
    kernel = 2 * rate
    # Raw background patches for the paste, taken at full resolution: (B, Lb, C, 2r, 2r).
    raw = extract_patches(bg, kernel, rate * stride)
    f = resize_nearest(fg, (h // rate, w // rate), resize)
    bs = resize_nearest(bg, (hb_full // rate, wb_full // rate), resize)
    hf, wf = f.shape[-2:]
    patches = extract_patches(bs, ksize, stride)  # (B, Lb, C, k, k)
    lb = patches.shape[1]
    hb, wb = -(-bs.shape[-2] // stride), -(-bs.shape[-1] // stride)
    norms = patches.pow(2).sum(dim=(2, 3, 4), keepdim=True).sqrt().clamp(min=NORM_EPS)
    kernels = (patches / norms).reshape(b * lb, c, ksize, ksize)
    # One grouped convolution correlates every sample with its own patches: (B, Lb, hf, wf).
    top, bottom = same_pad(hf, ksize, 1)
    left, right = same_pad(wf, ksize, 1)
    scores = F.conv2d(F.pad(f.reshape(1, b * c, hf, wf), (left, right, top, bottom)), kernels, groups=b)
    scores = scores.view(b, lb, hf, wf)
    if fuse:
        scores = fuse_scores(scores, (hf, wf), (hb, wb), fuse_k)
    if mask is None:
        known = torch.ones(b, lb, 1, 1, dtype=fg.dtype, device=fg.device)
    else:
        hole = 1.0 - resize_nearest(mask.to(fg.dtype), bs.shape[-2:], resize)
        # A candidate patch holds no hole pixel; the zero padding outside the image counts as known.
        hole_in_patch = extract_patches(hole, ksize, stride).sum(dim=(2, 3, 4))
        known = (hole_in_patch == 0).to(fg.dtype).view(b, lb, 1, 1)
    if masking == "released":
        att = F.softmax(scores * known * softmax_scale, dim=1) * known
    else:
        att = F.softmax((scores * softmax_scale).masked_fill(known == 0, float("-inf")), dim=1)
        att = torch.nan_to_num(att, nan=0.0)  # a sample without any candidate patch pastes nothing
    # Paste: transposed convolution (stride rate) of the weights with the raw patches, cropped as TF's
    # "SAME" conv2d_transpose does: the full output is H + rate, the crop starts at rate // 2.
    full = F.conv_transpose2d(
        att.reshape(1, b * lb, hf, wf), raw.reshape(b * lb, c, kernel, kernel), stride=rate, groups=b
    ).view(b, c, (hf + 1) * rate, (wf + 1) * rate)
    crop = rate // 2
    out = full[:, :, crop : crop + h, crop : crop + w]
    if normalise == "released":
        out = out / 4.0
    else:
        ones = torch.ones(1, 1, hf, wf, dtype=fg.dtype, device=fg.device)
        cover = F.conv_transpose2d(
            ones, torch.ones(1, 1, kernel, kernel, dtype=fg.dtype, device=fg.device), stride=rate
        )[:, :, crop : crop + h, crop : crop + w]
        out = out / cover.clamp(min=1.0)
    return out, att


def _check(
    fg: Tensor,
    bg: Tensor,
    mask: Tensor | None,
    ksize: int,
    stride: int,
    rate: int,
    fuse_k: int,
    resize: str,
    masking: str,
    normalise: str,
) -> None:
    if fg.dim() != 4 or bg.dim() != 4 or fg.shape[:2] != bg.shape[:2]:
        raise BenchError(
            f"contextual attention needs fg and bg of shape (B,C,H,W) with the same B and C, "
            f"got {tuple(fg.shape)} and {tuple(bg.shape)}"
        )
    if rate < 1 or stride < 1 or ksize < 1 or ksize % 2 == 0 or fuse_k < 1 or fuse_k % 2 == 0:
        raise BenchError(
            f"contextual attention needs rate, stride >= 1 and odd ksize, fuse_k; "
            f"got rate={rate}, stride={stride}, ksize={ksize}, fuse_k={fuse_k}"
        )
    sizes = (*fg.shape[-2:], *bg.shape[-2:])
    if any(s % rate or s < rate for s in sizes):
        raise BenchError(f"contextual attention needs sizes that are multiples of rate={rate}, got {sizes}")
    if mask is not None and (
        mask.dim() != 4
        or mask.shape[1] != 1
        or mask.shape[0] != bg.shape[0]
        or mask.shape[-2:] != bg.shape[-2:]
    ):
        raise BenchError(
            f"contextual attention needs a mask of shape {(bg.shape[0], 1, *bg.shape[-2:])}, "
            f"got {tuple(mask.shape)}"
        )
    for name, value, allowed in (
        ("resize", resize, RESIZES),
        ("masking", masking, MASKINGS),
        ("normalise", normalise, NORMALISES),
    ):
        if value not in allowed:
            raise BenchError(
                f"contextual attention {name} must be one of {', '.join(allowed)}, got {value!r}"
            )
