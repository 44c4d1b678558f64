"""The paper's inpainting U-Net (Liu et al. 2018, Sec. 3.2 and supplementary table) and its plain-conv twin.

Encoder: L stride-2 convolutions, kernels 7, 5, 5, 3, 3, ...; channels min(width * 2^i, 8 * width)
(64, 128, 256, 512, 512, ... at width 64); ReLU; BatchNorm on every layer but the first.
Decoder: nearest x2 upsampling of features (and masks), concatenation with the skip features (and skip
masks; the last layer concatenates with the input image and mask), 3x3 stride-1 convolution, BatchNorm,
LeakyReLU(0.2); the last layer goes to ``in_channels`` with a bias and no BatchNorm or activation.
Only layers without BatchNorm carry a bias (a bias before BatchNorm is cancelled by it).

``conv="partial"`` uses partial convolutions; ``conv="standard"`` is the paper's Conv baseline: the same
network with ordinary convolutions, masks ignored, holes filled with 0.5 before the network (Fig. 2(e)).

Example:
    >>> net = InpaintingUNet(layers=layers_for_size(64), width=8)
    >>> net(torch.rand(2, 3, 64, 64), torch.ones(2, 1, 64, 64)).shape
    torch.Size([2, 3, 64, 64])
    >>> InpaintingUNet(**net.arch()).arch() == net.arch()
    True
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.models.unet.pconv import PartialConv2d, all_valid, partial_conv2d_counts
from masks.conventions import HOLE_FILL

MAX_LAYERS = 8  # the paper's depth at 512 px
MIN_BOTTLENECK = 2  # smallest spatial size at the bottleneck (2x2 at 512 px with 8 layers)
CONV_KINDS = ("partial", "standard")


def layers_for_size(size: int, max_layers: int = MAX_LAYERS) -> int:
    """Encoder depth for a ``size`` px image: the most stride-2 layers (at most ``max_layers``) that
    divide ``size`` exactly and leave at least 2x2 at the bottleneck. 512 -> 8, 256 -> 7, 128 -> 6, 64 -> 5.
    """
    if size < 2 * MIN_BOTTLENECK:
        raise ValueError(f"image size {size} is too small for the U-Net (need at least {2 * MIN_BOTTLENECK})")
    layers = 0
    while (
        layers < max_layers
        and size % (2 ** (layers + 1)) == 0
        and size // 2 ** (layers + 1) >= MIN_BOTTLENECK
    ):
        layers += 1
    if layers == 0:
        raise ValueError(f"image size {size} is odd: the U-Net needs a size divisible by 2")
    return layers


def encoder_channels(layers: int, width: int) -> list[int]:
    """Output channels of each encoder layer: min(width * 2^i, 8 * width)."""
    return [min(width * 2**i, 8 * width) for i in range(layers)]


def encoder_kernel(i: int) -> int:
    """Kernel size of encoder layer i (0-based): 7, 5, 5, then 3."""
    return 7 if i == 0 else 5 if i < 3 else 3


class ConvBlock(nn.Module):
    """conv -> optional BatchNorm -> optional activation; ``partial`` selects PartialConv2d."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, bn: bool, act: str | None, partial: bool
    ) -> None:
        super().__init__()
        conv_cls = PartialConv2d if partial else nn.Conv2d
        self.conv = conv_cls(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(c_out) if bn else None
        # In place is safe: BatchNorm's backward needs its input, and relu_/leaky_relu_ save their result.
        if act == "relu":
            self.act: nn.Module | None = nn.ReLU(inplace=True)
        elif act == "leaky":
            self.act = nn.LeakyReLU(0.2, inplace=True)
        else:
            self.act = None

    def post(self, out: Tensor) -> Tensor:
        """BatchNorm and activation after the convolution."""
        if self.bn is not None:
            out = self.bn(out)
        if self.act is not None:
            out = self.act(out)
        return out


class InpaintingUNet(nn.Module):
    """The paper's U-Net. ``forward(images (B,C,H,W) in [0,1], masks (B,1,H,W) 1=valid)`` returns the raw
    output (B,C,H,W); compositing with the known pixels is the caller's job. H and W must be divisible
    by 2**layers."""

    def __init__(self, layers: int, width: int = 64, conv: str = "partial", in_channels: int = 3) -> None:
        super().__init__()
        if conv not in CONV_KINDS:
            raise ValueError(f"conv must be one of {CONV_KINDS}, got {conv!r}")
        if layers < 1 or width < 1 or in_channels < 1:
            raise ValueError(
                f"layers, width and in_channels must be >= 1 (got {layers}, {width}, {in_channels})"
            )
        self.layers, self.width, self.conv, self.in_channels = int(layers), int(width), conv, int(in_channels)
        # One draw from the global generator seeds the initialisation, so a seeded run gives the same
        # weights to the PConv and Conv networks (their layers consume the global generator differently).
        init_seed = int(torch.randint(0, 2**62, (1,)))
        partial = conv == "partial"
        chans = encoder_channels(layers, width)
        self.encoder = nn.ModuleList(
            ConvBlock(
                in_channels if i == 0 else chans[i - 1],
                chans[i],
                encoder_kernel(i),
                2,
                bn=i > 0,
                act="relu",
                partial=partial,
            )
            for i in range(layers)
        )
        # Decoder block j upsamples the output of depth L-j and meets skip L-1-j (skip 0 = the input).
        skips = [in_channels, *chans]
        dec = []
        for j in range(layers):
            c_up = skips[layers - j]  # encoder's last output for j = 0, else decoder block j-1's output
            c_skip = skips[layers - 1 - j]
            last = j == layers - 1
            c_out = in_channels if last else c_skip
            dec.append(
                ConvBlock(
                    c_up + c_skip, c_out, 3, 1, bn=not last, act=None if last else "leaky", partial=partial
                )
            )
        self.decoder = nn.ModuleList(dec)
        self._encoder_bn_frozen = False
        self.init_seed = init_seed
        self.init_weights(torch.Generator().manual_seed(init_seed))

    def init_weights(self, generator: torch.Generator, scheme: str = "he") -> None:
        """Initialise every convolution from `generator`.

        "he": kaiming normal (fan_in, gain sqrt(2)), biases 0: the paper's and the common
        reimplementations' choice. "torch": PyTorch's default for nn.Conv2d (kaiming uniform with
        a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same bound for the biases), drawn from
        `generator` so that PConv and Conv start from the same weights."""
        if scheme not in ("he", "torch"):
            raise ValueError(f"init must be 'he' or 'torch', not {scheme!r}")
        for block in [*self.encoder, *self.decoder]:
            w, b = block.conv.weight, block.conv.bias
            if scheme == "he":
                nn.init.kaiming_normal_(w, a=0.0, mode="fan_in", nonlinearity="relu", generator=generator)
            else:
                nn.init.kaiming_uniform_(w, a=5**0.5, generator=generator)
            if b is None:
                continue
            if scheme == "he":
                nn.init.zeros_(b)
            else:
                bound = 1.0 / (w[0].numel() ** 0.5)
                nn.init.uniform_(b, -bound, bound, generator=generator)

    # ---- description, phases -------------------------------------------------------------------------
    def arch(self) -> dict[str, Any]:
        """JSON-able constructor arguments: ``InpaintingUNet(**net.arch())`` rebuilds this network."""
        return {
            "layers": self.layers,
            "width": self.width,
            "conv": self.conv,
            "in_channels": self.in_channels,
        }

    def encoder_batchnorms(self) -> list[nn.BatchNorm2d]:
        return [b.bn for b in self.encoder if b.bn is not None]

    def set_encoder_bn_frozen(self, frozen: bool) -> None:
        """Phase 2 (fine-tuning): encoder BatchNorm uses its running statistics and its affine parameters
        stop learning. Stays in force across ``train()`` calls. Set it before wrapping in DDP."""
        self._encoder_bn_frozen = bool(frozen)
        for bn in self.encoder_batchnorms():
            for p in bn.parameters():
                p.requires_grad_(not frozen)
        self.train(self.training)

    @property
    def encoder_bn_frozen(self) -> bool:
        return self._encoder_bn_frozen

    def train(self, mode: bool = True) -> InpaintingUNet:
        super().train(mode)
        if self._encoder_bn_frozen:
            for bn in self.encoder_batchnorms():
                bn.eval()
        return self

    # ---- forward -------------------------------------------------------------------------------------
    def check_inputs(self, images: Tensor, masks: Tensor) -> None:
        """Raise ValueError for shapes the network cannot take."""
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"images must be (B,{self.in_channels},H,W); got {tuple(images.shape)}")
        b, _, h, w = images.shape
        if tuple(masks.shape) != (b, 1, h, w):
            raise ValueError(f"masks must be (B,1,H,W) = {(b, 1, h, w)}; got {tuple(masks.shape)}")
        f = 2**self.layers
        if h % f or w % f:
            raise ValueError(
                f"image size {h}x{w} is not divisible by 2**layers = {f} ({self.layers} layers); "
                f"crop or pad the images, or build the network with layers_for_size()"
            )

    def forward(self, images: Tensor, masks: Tensor) -> Tensor:
        self.check_inputs(images, masks)
        masks = masks.to(images.dtype)
        if self.conv == "partial":
            return self._forward_partial(images, masks)
        return self._forward_standard(images, masks)

    def _forward_standard(self, images: Tensor, masks: Tensor) -> Tensor:
        # Paper Fig. 2(e): holes filled with 0.5 so the network never sees the hole pixels' values.
        x = torch.where(masks > 0, images, torch.full_like(images, HOLE_FILL))
        skips = [x]
        h = x
        for blk in self.encoder:
            h = blk.post(blk.conv(h))
            skips.append(h)
        for j, blk in enumerate(self.decoder):
            up = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = blk.post(blk.conv(torch.cat([up, skips[self.layers - 1 - j]], dim=1)))
        return h

    def _forward_partial(self, images: Tensor, masks: Tensor) -> Tensor:
        # Each mask is checked once for "no holes" (then multiplying by it is an exact no-op we skip);
        # the flag travels with the skip connection.
        skips: list[tuple[Tensor, Tensor, bool]] = [(images, masks, all_valid(masks))]
        h, m, full = skips[0]
        for blk in self.encoder:
            c = blk.conv
            x_masked = h if full else h * m.to(h.dtype)
            out, m = partial_conv2d_counts(x_masked, m, 1, c.weight, c.bias, c.stride, c.padding, c.dilation)
            h, full = blk.post(out), all_valid(m)
            skips.append((h, m, full))
        for j, blk in enumerate(self.decoder):
            s_h, s_m, s_full = skips[self.layers - 1 - j]
            c_up, c_skip = h.shape[1], s_h.shape[1]
            # Multiply before upsampling (4x fewer elements; nearest upsampling commutes with it exactly).
            hm = h if full else h * m.to(h.dtype)
            sm = s_h if s_full else s_h * s_m.to(s_h.dtype)
            x_masked = torch.cat([F.interpolate(hm, scale_factor=2.0, mode="nearest"), sm], dim=1)
            with torch.no_grad():
                m_up = F.interpolate(m, scale_factor=2.0, mode="nearest")
                # (B,1,H,W) float32: valid channels per pixel of the concatenation, never materialised
                # as a (B,C_up+C_skip,H,W) mask.
                count = torch.add(c_skip * s_m.float(), m_up.float(), alpha=c_up)
            c = blk.conv
            out, m = partial_conv2d_counts(
                x_masked, count, c_up + c_skip, c.weight, c.bias, c.stride, c.padding, c.dilation
            )
            h, full = blk.post(out), all_valid(m)
        return h
