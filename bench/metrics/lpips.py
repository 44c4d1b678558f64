"""LPIPS (Zhang et al., CVPR 2018), the learned perceptual distance, per image pair, resolved offline.

The network: the input in [-1, 1] goes through LPIPS's fixed scaling layer, an ImageNet backbone
(torchvision AlexNet or VGG-16, `features` only) gives five ReLU maps, each map is unit-normalised over
channels, the squared difference of the two images' maps is weighted per channel by a calibrated 1x1
convolution, averaged over space, and the five layers are summed. The v0.1 weights of those 1x1 layers
(`lin0`..`lin4`) ship inside the PyPI package `lpips` (0.1.4: `lpips/weights/v0.1/{alex,vgg}.pth`); they
are read from there, the package's code is not used.

Backbone weights, the same order as every network here (bench/core/weights.py): an explicit path > the
environment variable ``PCONV_BENCH_LPIPS_BACKBONE`` > the torch hub cache
(``torch.hub.get_dir()/checkpoints/alexnet-owt-7be5be79.pth`` or ``vgg16-397923af.pth``) > a download into
that cache only with ``allow_download=True``. Without them `find_lpips_weights` returns None and the
caller leaves the LPIPS column out, printing `LPIPS_ABSENT_NOTE`; there is no stand-in backbone, since
LPIPS with other features would be a different metric under the same name.

Images are our convention, float RGB in [0,1] (B,3,H,W); they are mapped to [-1,1] as lpips expects
(its ``normalize=True``). `LPIPS(x, y)` returns one float64 distance per pair, (B,).
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from bench.core.errors import BenchError

LPIPS_ENV = "PCONV_BENCH_LPIPS_BACKBONE"
LPIPS_VERSION = "0.1"  # the calibrated linear layers' version; v0.0 had an input-scaling bug
_URL_ROOT = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class _Backbone:
    file: str  # torchvision's checkpoint name in the hub cache; the part after the last '-' is a hash prefix
    channels: tuple[int, ...]  # channels of the five tapped ReLU maps
    taps: tuple[int, ...]  # indices in torchvision's `features` whose outputs are tapped
    min_size: int  # the smallest H and W for which the last tap is at least 1x1


_BACKBONES = {
    "alex": _Backbone("alexnet-owt-7be5be79.pth", (64, 192, 384, 256, 256), (1, 4, 7, 9, 11), 31),
    "vgg": _Backbone("vgg16-397923af.pth", (64, 128, 256, 512, 512), (3, 8, 15, 22, 29), 16),
}
LPIPS_NETS = tuple(_BACKBONES)

_WHERE = (
    "ImageNet backbone weights (alexnet-owt-7be5be79.pth for net 'alex', vgg16-397923af.pth for 'vgg'): "
    f"pass a path, set ${LPIPS_ENV}, or place the file in torch.hub.get_dir()/checkpoints "
    "(or allow downloading)"
)
# One line for the caller to print when it leaves the LPIPS column out.
LPIPS_ABSENT_NOTE = "LPIPS left out: it needs " + _WHERE
# The error when LPIPS was asked for explicitly and cannot be had.
LPIPS_HELP = "LPIPS needs " + _WHERE

# LPIPS's fixed scaling layer: (x - shift) / scale per RGB channel, for x in [-1, 1].
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_NORM_EPS = 1e-10  # lpips's normalize_tensor: x / (||x||_channels + eps)


@dataclass(frozen=True)
class LPIPSWeights:
    """Where LPIPS's two weight files were found. `source`: "path", "env", "cache" or "download"."""

    net: str
    backbone: Path
    source: str
    linear: Path


def _backbone_spec(net: str) -> _Backbone:
    if net not in _BACKBONES:
        raise BenchError(f"unknown LPIPS network {net!r}; choose from {', '.join(LPIPS_NETS)}")
    return _BACKBONES[net]


def linear_weights_path(net: str = "alex") -> Path:
    """The calibrated v0.1 linear layers inside the installed `lpips` package (found, not imported)."""
    _backbone_spec(net)
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("LPIPS needs the package lpips (pip install lpips==0.1.4) for its linear layers")
    path = Path(next(iter(spec.submodule_search_locations))) / "weights" / f"v{LPIPS_VERSION}" / f"{net}.pth"
    if not path.is_file():
        raise BenchError(f"the installed lpips package has no {path.name} linear layers ({path} is missing)")
    return path


def _download(file_name: str) -> Path:
    """torchvision's checkpoint into the hub cache, checked against the hash prefix in its name."""
    from bench.core.weights import hub_cache

    dst = hub_cache(file_name)
    dst.parent.mkdir(parents=True, exist_ok=True)
    prefix = re.search(r"-([0-9a-f]{8,})\.", file_name)
    torch.hub.download_url_to_file(_URL_ROOT + file_name, str(dst), prefix.group(1) if prefix else None)
    return dst


def find_lpips_weights(
    net: str = "alex", backbone: str | os.PathLike | None = None, allow_download: bool = False
) -> LPIPSWeights | None:
    """Both weight files for `net`, or None when the backbone is nowhere (the caller then leaves LPIPS out
    with `LPIPS_ABSENT_NOTE`). An explicit path or $PCONV_BENCH_LPIPS_BACKBONE naming a missing file is
    a BenchError, as is a missing `lpips` package once the backbone is found."""
    from bench.core.weights import find_weights

    spec = _backbone_spec(net)
    found = find_weights(backbone, LPIPS_ENV, spec.file, f"LPIPS {net} backbone")
    if found is None and allow_download:
        found = (_download(spec.file), "download")  # the user asked for it
    if found is None:
        return None
    return LPIPSWeights(net, found[0], found[1], linear_weights_path(net))


def _alexnet_features() -> nn.Sequential:
    # torchvision's AlexNet `features` up to conv5's ReLU, with its layer indices (0..11), so the file's
    # "features.<i>.*" keys load unchanged. ReLUs are not in-place: their outputs are tapped.
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )  # fmt: skip


def _vgg16_features() -> nn.Sequential:
    # torchvision's VGG-16 `features` up to relu5_3 (indices 0..29; the last pool is not needed).
    layers: list[nn.Module] = []
    c_in = 3
    for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU()]
            c_in = int(v)
    return nn.Sequential(*layers)


def _unit(f: Tensor) -> Tensor:
    """(B,C,h,w) divided by its L2 norm over channels at each pixel, as lpips's normalize_tensor does."""
    return f / (torch.sqrt((f * f).sum(dim=1, keepdim=True)) + _NORM_EPS)


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet ("alex") or VGG-16 ("vgg") backbone; random weights until loaded
    (`load_lpips` builds a loaded one). forward(x, y): images in [0,1] (B,3,H,W) -> distances (B,) float64.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        spec = _backbone_spec(net)
        self.net = net
        self.taps = spec.taps
        self.min_size = spec.min_size
        self.features = _alexnet_features() if net == "alex" else _vgg16_features()
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in spec.channels)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)

    def load_backbone(self, state: dict[str, Tensor], source: str | os.PathLike) -> None:
        """Load torchvision's "features.<i>.*" tensors (other keys, e.g. the classifier, are ignored)."""
        want = {f"features.{k}": v for k, v in self.features.state_dict().items()}
        _check_tensors(state, want, source, f"torchvision {'AlexNet' if self.net == 'alex' else 'VGG-16'}")
        self.features.load_state_dict({k[len("features.") :]: state[k] for k in want})

    def load_linear(self, state: dict[str, Tensor], source: str | os.PathLike) -> None:
        """Load lpips's "lin<k>.model.1.weight" tensors (1, C_k, 1, 1)."""
        want = {f"lin{k}.model.1.weight": lin.weight for k, lin in enumerate(self.lins)}
        _check_tensors(state, want, source, f"lpips v{LPIPS_VERSION} {self.net} linear-layer")
        for k, lin in enumerate(self.lins):
            lin.weight.data.copy_(state[f"lin{k}.model.1.weight"])

    def _maps(self, x: Tensor) -> list[Tensor]:
        """The five tapped ReLU maps (B, C_l, h_l, w_l) of images already scaled for the backbone."""
        out, h = [], x
        for i, layer in enumerate(self.features[: self.taps[-1] + 1]):
            h = layer(h)
            if i in self.taps:
                out.append(h)
        return out

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = (self._prepare(t, name) for t, name in ((x, "x"), (y, "y")))
        if x.shape != y.shape:
            raise BenchError(
                f"LPIPS needs two batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}"
            )
        # Each batch goes through the backbone on its own, as lpips does, so LPIPS(x, x) is exactly 0.
        total = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
        for lin, fx, fy in zip(self.lins, self._maps(x), self._maps(y), strict=True):
            d = (_unit(fx) - _unit(fy)) ** 2  # (B, C_l, h_l, w_l)
            total = total + lin(d).double().mean(dim=(1, 2, 3))  # (B,1,h_l,w_l) -> spatial average (B,)
        return total

    def _prepare(self, t: Tensor, name: str) -> Tensor:
        """[0,1] (B,3,H,W) -> the backbone's input: [-1,1], then LPIPS's per-channel scaling."""
        if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != 3 or not t.is_floating_point():
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise BenchError(f"LPIPS {name} must be float RGB images (B,3,H,W), got {got}")
        if min(t.shape[-2:]) < self.min_size:
            raise BenchError(
                f"LPIPS ({self.net}) needs images of {self.min_size} px or more, got {tuple(t.shape)}"
            )
        if not bool(((t >= 0) & (t <= 1)).all()):
            raise BenchError(f"LPIPS {name} must hold values in [0,1] (NaN and out-of-range values found)")
        t = t.to(self.shift.device, torch.float32)
        return (2 * t - 1 - self.shift) / self.scale


def _check_tensors(state: dict, want: dict[str, Tensor], source, what: str) -> None:
    """Every key of `want` in `state` with the same shape, else a one-line BenchError naming the file."""
    missing = [k for k in want if k not in state]
    if missing:
        raise BenchError(f"{source}: not a {what} state dict (missing {', '.join(missing[:3])})")
    for k, v in want.items():
        if tuple(state[k].shape) != tuple(v.shape):
            shape = tuple(state[k].shape)
            raise BenchError(f"{source}: {k} has shape {shape}, not {tuple(v.shape)} (a {what} state dict?)")


def load_lpips(
    net: str = "alex",
    backbone: str | os.PathLike | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
    *,
    weights: LPIPSWeights | None = None,
) -> LPIPS:
    """The frozen LPIPS network, from `weights` (a `find_lpips_weights` result) or resolved here; a
    BenchError with `LPIPS_ABSENT_NOTE`'s advice when the backbone is nowhere."""
    from bench.core.weights import load_state_dict

    if weights is None:
        weights = find_lpips_weights(net, backbone, allow_download)
        if weights is None:
            raise BenchError(LPIPS_HELP)
    model = LPIPS(weights.net)
    model.load_backbone(load_state_dict(weights.backbone, f"LPIPS {weights.net} backbone"), weights.backbone)
    model.load_linear(load_state_dict(weights.linear, "LPIPS linear layers"), weights.linear)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)


@torch.inference_mode()
def lpips_per_pair(model: LPIPS, x: Tensor, y: Tensor, batch_size: int = 16) -> np.ndarray:
    """LPIPS of each pair (x[i], y[i]) as float64 (B,), in chunks of `batch_size` to bound memory."""
    if batch_size < 1:
        raise BenchError(f"batch size must be at least 1, got {batch_size}")
    if len(x) != len(y):
        raise BenchError(f"LPIPS needs as many images on both sides, got {len(x)} and {len(y)}")
    parts = [model(x[i : i + batch_size], y[i : i + batch_size]).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros(0, dtype=np.float64)
