"""GntIpt: Yu et al., "Generative Image Inpainting with Contextual Attention" (CVPR 2018, DeepFill v1).

Generator, as the authors' released TensorFlow ``build_inpaint_net`` (v1.0.0): plain convolutions with ELU
(no gating, no normalisation), ``cnum`` = 32 at full size.

* coarse network: 5x5/c, 3x3/2c stride 2, 3x3/2c, 3x3/4c stride 2, two 3x3/4c, four 3x3/4c dilated 2, 4, 8,
  16, two 3x3/4c, x2 nearest upsampling + 3x3/2c, 3x3/2c, x2 upsampling + 3x3/c, 3x3/(c/2), 3x3/3 without
  activation, clipped to [-1, 1];
* refinement network on the coarse result pasted into the holes: a dilated-convolution branch (5x5/c,
  3x3/c stride 2, 3x3/2c, 3x3/2c stride 2, two 3x3/4c, four dilated 3x3/4c) and a contextual-attention
  branch (5x5/c, 3x3/c stride 2, 3x3/2c, 3x3/4c stride 2, 3x3/4c, 3x3/4c with ReLU, contextual attention
  with the mask at 1/4 size, two 3x3/4c), concatenated and decoded like the coarse network.

Layer names are the released variable names (``conv1`` ... ``conv17``, ``xconv*``, ``pmconv*``,
``allconv*``). Network convention (released): image in [-1, 1] with the holes set to 0, concatenated with
a channel of ones and the hole mask (1 = hole); outputs in [-1, 1]. ``GntIptGenerator.forward`` takes this
project's images in [0, 1] and masks with 1 = valid and converts at the edge; ``net_forward`` is the
released convention. H and W must be multiples of 8.

``flavour="tf"`` reproduces the TensorFlow graph: "SAME" zero padding (the extra row/column of a stride-2
convolution at the bottom/right) and nearest resizes with ``align_corners=True`` (neuralgym's ``resize``).
``flavour="mmagic"`` is mmagic's DeepFill v1: reflection padding, ``F.interpolate`` resizes, ELU on the last
attention-branch encoder layer and mmagic's contextual attention (hole patches excluded from the softmax,
pastes divided by their overlap count); see ``bench.models.gntipt.attention``.

Critics (released ``build_wgan_local_discriminator`` / ``global``): four 5x5 stride-2 convolutions with
LeakyReLU(0.2), widths 64, 128, 256, 512 (local) and 64, 128, 256, 256 (global), flattened into one linear
output (WGAN: no sigmoid). They see images in [-1, 1]. The linear layer flattens (C,H,W) where TF flattened
(H,W,C); nothing here loads released critic weights.

Losses (released ``inpaint.yml``): L1_LOSS_ALPHA = COARSE_L1_ALPHA = AE_LOSS_ALPHA = 1.2, GAN_LOSS_ALPHA =
0.001, WGAN_GP_LAMBDA = 10, GLOBAL_WGAN_LOSS_ALPHA = 1. The spatially discounted L1 uses gamma = 0.99 (the
paper; the released ``inpaint.yml`` sets SPATIAL_DISCOUNTING_GAMMA: 0.9, kept as ``RELEASED_GAMMA``).

Example:
    >>> net = GntIptGenerator(cnum=4)
    >>> coarse, refined = net(torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32))
    >>> coarse.shape, refined.shape
    (torch.Size([1, 3, 32, 32]), torch.Size([1, 3, 32, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.core.errors import BenchError
from bench.models.gntipt.attention import contextual_attention, resize_nearest, same_pad

FLAVOURS = ("tf", "mmagic")
SIZE_MULTIPLE = 8  # two stride-2 convolutions, then contextual attention at half of that size
PAPER_GAMMA = 0.99  # spatial discounting, the paper (Sec. 4.2)
RELEASED_GAMMA = 0.9  # SPATIAL_DISCOUNTING_GAMMA in the released inpaint.yml
LOCAL_SIZE, GLOBAL_SIZE = 128, 256  # released HEIGHT/WIDTH of the local patch, IMG_SHAPES


@dataclass(frozen=True)
class LossWeights:
    """The released loss weights (``inpaint.yml``)."""

    l1: float = 1.2  # L1_LOSS_ALPHA: discounted L1 in the holes
    coarse_l1: float = 1.2  # COARSE_L1_ALPHA: the coarse output's share of both L1 terms
    ae: float = 1.2  # AE_LOSS_ALPHA: L1 on the known pixels
    gan: float = 0.001  # GAN_LOSS_ALPHA
    gp_lambda: float = 10.0  # WGAN_GP_LAMBDA
    global_wgan: float = 1.0  # GLOBAL_WGAN_LOSS_ALPHA
    gamma: float = PAPER_GAMMA

    def generator(self, l1: Tensor, ae: Tensor, g_global: Tensor, g_local: Tensor) -> Tensor:
        """Released g_loss: gan * (global_wgan * global + local) + l1 * l1_loss + ae * ae_loss."""
        return self.gan * (self.global_wgan * g_global + g_local) + self.l1 * l1 + self.ae * ae

    def critic(self, d_global: Tensor, d_local: Tensor, gp_global: Tensor, gp_local: Tensor) -> Tensor:
        """Released d_loss: global + local WGAN losses + lambda * (both gradient penalties)."""
        return d_global + d_local + self.gp_lambda * (gp_global + gp_local)


def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise BenchError(f"GntIpt flavour must be one of {', '.join(FLAVOURS)}, got {flavour!r}")


class _Conv(nn.Module):
    """Padding (per flavour) + convolution + activation ("elu", "relu", "lrelu" or None)."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        k: int,
        stride: int = 1,
        dilation: int = 1,
        act: str | None = "elu",
        flavour: str = "tf",
    ) -> None:
        super().__init__()
        self.k, self.stride, self.dilation, self.act, self.flavour = k, stride, dilation, act, flavour
        self.conv = nn.Conv2d(c_in, c_out, k, stride, padding=0, dilation=dilation)

    def forward(self, x: Tensor) -> Tensor:
        if self.flavour == "tf":
            top, bottom = same_pad(x.shape[-2], self.k, self.stride, self.dilation)
            left, right = same_pad(x.shape[-1], self.k, self.stride, self.dilation)
            x = F.pad(x, (left, right, top, bottom))
        else:
            p = self.dilation * (self.k - 1) // 2
            x = F.pad(x, (p, p, p, p), mode="reflect")
        x = self.conv(x)
        if self.act == "elu":
            return F.elu(x)
        if self.act == "relu":
            return F.relu(x)
        if self.act == "lrelu":
            return F.leaky_relu(x, 0.2)
        return x


# (name, in, out, kernel, stride, dilation, activation) in units of cnum: in/out are multipliers of c,
# with 0.5 for c/2; "in" = -5 means the 5 input channels (image, ones, mask); out = -3 means 3 channels.
_ENCODER_COARSE = [
    ("conv1", -5, 1, 5, 1, 1),
    ("conv2_downsample", 1, 2, 3, 2, 1),
    ("conv3", 2, 2, 3, 1, 1),
    ("conv4_downsample", 2, 4, 3, 2, 1),
    ("conv5", 4, 4, 3, 1, 1),
    ("conv6", 4, 4, 3, 1, 1),
    ("conv7_atrous", 4, 4, 3, 1, 2),
    ("conv8_atrous", 4, 4, 3, 1, 4),
    ("conv9_atrous", 4, 4, 3, 1, 8),
    ("conv10_atrous", 4, 4, 3, 1, 16),
]
_X_BRANCH = [
    ("xconv1", -5, 1, 5, 1, 1),
    ("xconv2_downsample", 1, 1, 3, 2, 1),
    ("xconv3", 1, 2, 3, 1, 1),
    ("xconv4_downsample", 2, 2, 3, 2, 1),
    ("xconv5", 2, 4, 3, 1, 1),
    ("xconv6", 4, 4, 3, 1, 1),
    ("xconv7_atrous", 4, 4, 3, 1, 2),
    ("xconv8_atrous", 4, 4, 3, 1, 4),
    ("xconv9_atrous", 4, 4, 3, 1, 8),
    ("xconv10_atrous", 4, 4, 3, 1, 16),
]
_PM_ENCODER = [
    ("pmconv1", -5, 1, 5, 1, 1),
    ("pmconv2_downsample", 1, 1, 3, 2, 1),
    ("pmconv3", 1, 2, 3, 1, 1),
    ("pmconv4_downsample", 2, 4, 3, 2, 1),
    ("pmconv5", 4, 4, 3, 1, 1),
    ("pmconv6", 4, 4, 3, 1, 1),
]
_PM_AFTER = [("pmconv9", 4, 4, 3, 1, 1), ("pmconv10", 4, 4, 3, 1, 1)]


def _decoder(prefix: str, c_in: int) -> list[tuple[str, float, float, int, int, int]]:
    # The released gen_deconv: x2 nearest upsampling, then a 3x3 convolution named "<name>_upsample".
    return [
        (f"{prefix}11", c_in, 4, 3, 1, 1),
        (f"{prefix}12", 4, 4, 3, 1, 1),
        (f"{prefix}13_upsample", 4, 2, 3, 1, 1),
        (f"{prefix}14", 2, 2, 3, 1, 1),
        (f"{prefix}15_upsample", 2, 1, 3, 1, 1),
        (f"{prefix}16", 1, 0.5, 3, 1, 1),
        (f"{prefix}17", 0.5, -3, 3, 1, 1),
    ]


def _channels(mult: float, cnum: int) -> int:
    return 5 if mult == -5 else 3 if mult == -3 else max(1, int(mult * cnum))


class _Stack(nn.Module):
    """Named convolutions run in order; ``_upsample`` layers are preceded by a x2 nearest resize."""

    def __init__(self, spec: list, cnum: int, flavour: str, relu_last: bool = False) -> None:
        super().__init__()
        self.names = [s[0] for s in spec]
        self.flavour = flavour
        for i, (name, c_in, c_out, k, stride, dil) in enumerate(spec):
            act: str | None = "elu"
            if c_out == -3:
                act = None
            elif relu_last and i == len(spec) - 1:
                act = "relu"
            self.add_module(
                name, _Conv(_channels(c_in, cnum), _channels(c_out, cnum), k, stride, dil, act, flavour)
            )

    def forward(self, x: Tensor) -> Tensor:
        for name in self.names:
            if name.endswith("_upsample"):
                x = _upsample(x, self.flavour)
            x = getattr(self, name)(x)
        return x


def _upsample(x: Tensor, flavour: str) -> Tensor:
    return resize_nearest(x, (2 * x.shape[-2], 2 * x.shape[-1]), "tf" if flavour == "tf" else "floor")


class GntIptCoarse(nn.Module):
    """The coarse network: (B,5,H,W) released input -> (B,3,H,W) in [-1, 1]."""

    def __init__(self, cnum: int = 32, flavour: str = "tf") -> None:
        super().__init__()
        self.net = _Stack(_ENCODER_COARSE + _decoder("conv", 4), cnum, flavour)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).clamp(-1.0, 1.0)


class GntIptRefine(nn.Module):
    """The refinement network: dilated branch + contextual-attention branch, concatenated and decoded."""

    def __init__(self, cnum: int = 32, flavour: str = "tf") -> None:
        super().__init__()
        self.flavour = flavour
        self.xbranch = _Stack(_X_BRANCH, cnum, flavour)
        # Released: ReLU on pmconv6 (non-negative features for matching); mmagic keeps ELU.
        self.pmencoder = _Stack(_PM_ENCODER, cnum, flavour, relu_last=flavour == "tf")
        self.pmafter = _Stack(_PM_AFTER, cnum, flavour)
        self.decoder = _Stack(_decoder("allconv", 8), cnum, flavour)

    def forward(self, x: Tensor, hole: Tensor) -> tuple[Tensor, Tensor]:
        """x: (B,5,H,W) released input; hole: (B,1,H,W), 1 = hole. Returns (out in [-1,1], attention)."""
        hallu = self.xbranch(x)
        pm = self.pmencoder(x)
        resize = "tf" if self.flavour == "tf" else "floor"
        # Released resize_mask_like: the mask at the features' size (1/4), nearest.
        valid_s = 1.0 - resize_nearest(hole, pm.shape[-2:], resize)
        if self.flavour == "tf":
            pm, att = contextual_attention(pm, pm, valid_s, 3, 1, rate=2)
        else:
            pm, att = contextual_attention(
                pm, pm, valid_s, 3, 1, rate=2, resize="floor", masking="exclude", normalise="overlap"
            )
        pm = self.pmafter(pm)
        out = self.decoder(torch.cat([hallu, pm], dim=1))
        return out.clamp(-1.0, 1.0), att


class GntIptGenerator(nn.Module):
    """Coarse + refinement networks. ``forward(image, mask)`` -> (coarse, refined), both (B,3,H,W) in [0,1].

    image: (B,3,H,W) in [0,1]; mask: (B,1,H,W), 1 = valid, 0 = hole. The outputs are the raw predictions
    (known pixels not pasted back; ``complete`` does that). ``last_attention`` keeps the contextual
    attention weights of the last call, (B, (H/8)*(W/8), H/8, W/8).
    """

    def __init__(self, cnum: int = 32, flavour: str = "tf") -> None:
        super().__init__()
        _check_flavour(flavour)
        if cnum < 2:
            raise BenchError(f"GntIpt cnum must be at least 2, got {cnum}")
        self.cnum, self.flavour = cnum, flavour
        self.coarse = GntIptCoarse(cnum, flavour)
        self.refine = GntIptRefine(cnum, flavour)
        self.last_attention: Tensor | None = None

    def net_forward(self, x: Tensor, hole: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Released convention: x in [-1,1] with holes 0, hole (B,1,H,W) 1 = hole -> (x1, x2, attention)."""
        ones = torch.ones_like(hole)
        x1 = self.coarse(torch.cat([x, ones, hole], dim=1))
        # Stage 2 input: the coarse result pasted into the holes (gradients flow through, as released).
        xnow = x1 * hole + x * (1.0 - hole)
        x2, att = self.refine(torch.cat([xnow, ones, hole], dim=1), hole)
        return x1, x2, att

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        check_pair(image, mask)
        hole = 1.0 - mask.to(image.dtype)
        x1, x2, att = self.net_forward(to_net_range(image) * (1.0 - hole), hole)
        self.last_attention = att.detach()
        return from_net_range(x1), from_net_range(x2)

    def complete(self, image: Tensor, mask: Tensor) -> Tensor:
        """The refined prediction in the holes, the input elsewhere; (B,3,H,W) in [0,1]."""
        _, refined = self(image, mask)
        m = mask.to(image.dtype)
        return image * m + refined * (1.0 - m)


def to_net_range(image: Tensor) -> Tensor:
    """[0,1] -> [-1,1] (the released image / 127.5 - 1)."""
    return image * 2.0 - 1.0


def from_net_range(x: Tensor) -> Tensor:
    return (x + 1.0) * 0.5


def check_pair(image: Tensor, mask: Tensor) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise BenchError(f"GntIpt expects images of shape (B,3,H,W), got {tuple(image.shape)}")
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != image.shape[0]:
        raise BenchError(f"GntIpt expects masks of shape (B,1,H,W), got {tuple(mask.shape)}")
    if mask.shape[-2:] != image.shape[-2:]:
        raise BenchError(
            f"mask size {tuple(mask.shape[-2:])} differs from image size {tuple(image.shape[-2:])}"
        )
    h, w = image.shape[-2:]
    if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
        raise BenchError(f"GntIpt needs H and W divisible by {SIZE_MULTIPLE}, got {h}x{w}")


class GntIptCritic(nn.Module):
    """WGAN critic: 5x5 stride-2 convolutions + LeakyReLU(0.2), flattened into one linear output."""

    def __init__(self, size: int, widths: tuple[int, ...], in_channels: int = 3, flavour: str = "tf") -> None:
        super().__init__()
        _check_flavour(flavour)
        if size < 2 ** len(widths):
            raise BenchError(f"critic input size must be at least {2 ** len(widths)}, got {size}")
        self.size = size
        convs, c, side = [], in_channels, size
        for width in widths:
            convs.append(_Conv(c, width, 5, 2, 1, "lrelu", flavour))
            c, side = width, -(-side // 2)
        self.convs = nn.Sequential(*convs)
        self.fc = nn.Linear(c * side * side, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or tuple(x.shape[-2:]) != (self.size, self.size):
            raise BenchError(f"critic expects (B,C,{self.size},{self.size}) inputs, got {tuple(x.shape)}")
        return self.fc(self.convs(x).flatten(1))


# The released critics' base width (build_wgan_local/global_discriminator, cnum=64), set apart from the
# generator's cnum (32): a model trained with narrower critics says so (training_recipe).
CRITIC_CNUM = 64
RELEASE_LR = 1e-4  # the released trainer's Adam learning rate (betas 0.5, 0.9)
RELEASE_CRITIC_STEPS = 5  # the released trainer's critic updates per generator step


def training_recipe(config: dict[str, Any]) -> str:
    """How a GntIpt checkpoint of this project was trained, against the release, from its config.

    >>> training_recipe({"lr": 2e-4, "critic_width": 64, "gntipt_lr": 1e-4, "critic_steps": 5})
    'Adam lr 0.0001 (release 0.0001), critics 64-512 (release 64-512), 5 critic steps per step (release 5)'
    """
    lr = config.get("gntipt_lr") or config.get("lr")
    c = int(config.get("critic_width") or config.get("width") or CRITIC_CNUM)  # before critic_width: cnum
    steps = config.get("critic_steps", 1)
    rel = f"{CRITIC_CNUM}-{8 * CRITIC_CNUM}"
    return (f"Adam lr {lr:g} (release {RELEASE_LR:g}), critics {c}-{8 * c} (release {rel}), {steps} critic "
            f"steps per step (release {RELEASE_CRITIC_STEPS})")  # fmt: skip


def local_critic(size: int = LOCAL_SIZE, cnum: int = 64) -> GntIptCritic:
    """Released local critic: widths c, 2c, 4c, 8c."""
    return GntIptCritic(size, (cnum, 2 * cnum, 4 * cnum, 8 * cnum))


def global_critic(size: int = GLOBAL_SIZE, cnum: int = 64) -> GntIptCritic:
    """Released global critic: widths c, 2c, 4c, 4c."""
    return GntIptCritic(size, (cnum, 2 * cnum, 4 * cnum, 4 * cnum))


def wgan_losses(real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
    """Released gan_wgan_loss: (g_loss, d_loss) = (-mean(fake), mean(fake) - mean(real))."""
    return -fake.mean(), fake.mean() - real.mean()


def gradient_penalty(
    critic: nn.Module,
    real: Tensor,
    fake: Tensor,
    hole: Tensor | None = None,
    alpha: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """WGAN-GP as released: mean over samples of (||grad D(x_hat) * sqrt(hole)|| - 1)^2.

    x_hat = real + alpha * (fake - real), alpha ~ U(0,1) per sample (or given, shape (B,)); ``hole``
    (B,1,H,W), 1 = hole, restricts the gradient norm to the holes as the released code does (None: all
    pixels). Returns a scalar that can be backpropagated into the critic.
    """
    if real.shape != fake.shape:
        raise BenchError(
            f"gradient penalty needs real and fake of one shape, got {tuple(real.shape)}, {tuple(fake.shape)}"
        )
    b = real.shape[0]
    if alpha is None:
        alpha = torch.rand(b, generator=generator, dtype=real.dtype, device="cpu").to(real.device)
    a = alpha.to(real).view(b, *([1] * (real.dim() - 1)))
    x_hat = (real.detach() + a * (fake.detach() - real.detach())).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    sq = grad.pow(2)
    if hole is not None:
        sq = sq * hole.to(sq)
    slopes = sq.flatten(1).sum(dim=1).sqrt()
    return (slopes - 1.0).pow(2).mean()


def spatial_discount(mask: Tensor, gamma: float = PAPER_GAMMA) -> Tensor:
    """Spatially discounted L1 weights (B,1,H,W): gamma ** (d - 1) in the holes, 0 on valid pixels.

    d is the chessboard distance from a hole pixel to the nearest valid pixel, so the hole's edge gets 1
    and each pixel further in gets another factor gamma. For a rectangular hole this is the released
    ``spatial_discounting_mask`` (gamma ** min(i, H - i, j, W - j) inside the box), made symmetric (the
    released value on the last row/column is gamma, not 1); for irregular holes the same distance is
    taken per hole pixel. Pixels outside the image are not valid. A sample without valid pixels gets 1 in
    every hole pixel (nothing to discount from). mask: (B,1,H,W), 1 = valid.
    """
    valid = mask > 0.5
    hole = ~valid
    dist = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    reached = valid.clone()
    step = 0
    # Grow the valid region one pixel (8-neighbourhood) per step; a hole pixel reached at step d is at
    # chessboard distance d.
    while True:
        step += 1
        grown = F.max_pool2d(reached.float(), 3, stride=1, padding=1) > 0
        new = grown & ~reached
        if not bool(new.any()):
            break
        dist[new] = float(step)
        reached = grown
    weight = torch.where(hole, torch.tensor(gamma, dtype=torch.float32) ** (dist - 1.0), torch.zeros(()))
    weight = torch.where(hole & ~reached, torch.ones(()), weight)
    return weight.to(mask.dtype if mask.is_floating_point() else torch.float32)


def reconstruction_losses(
    gt: Tensor, mask: Tensor, coarse: Tensor, refined: Tensor, weights: LossWeights = LossWeights()
) -> tuple[Tensor, Tensor]:
    """Released l1_loss and ae_loss, images in [-1,1], mask 1 = valid.

    l1_loss: coarse_l1 * L(coarse) + L(refined), L = discounted |gt - x| averaged over the hole pixels (the
    released averages over the local box, which is mostly hole). ae_loss: the same two terms with |gt - x|
    on the valid pixels, divided by the valid fraction as released.
    """
    m = mask.to(gt.dtype)
    disc = spatial_discount(m, weights.gamma)
    n_hole = (1.0 - m).sum().clamp(min=1.0) * gt.shape[1]

    def l1(x: Tensor) -> Tensor:
        return ((gt - x).abs() * disc).sum() / n_hole

    def ae(x: Tensor) -> Tensor:
        return ((gt - x).abs() * m).mean()

    valid_frac = m.mean().clamp(min=1e-8)
    return (
        weights.coarse_l1 * l1(coarse) + l1(refined),
        (weights.coarse_l1 * ae(coarse) + ae(refined)) / valid_frac,
    )
