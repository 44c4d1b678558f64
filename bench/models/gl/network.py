"""GL: Iizuka, Simo-Serra and Ishikawa, "Globally and Locally Consistent Image Completion" (SIGGRAPH 2017).

Completion network (the paper's Table 1, ``width`` = 64): 17 convolutions, BatchNorm + ReLU after all
but the last, a sigmoid on the last (3 channels). Encoder 5x5/64, 3x3/128 stride 2, 3x3/128,
3x3/256 stride 2, two 3x3/256; four 3x3/256 convolutions dilated 2, 4, 8, 16; two 3x3/256; decoder
4x4/128 transposed (x2), 3x3/128, 4x4/64 transposed (x2), 3x3/32, 3x3/3. Channels scale with ``width``
(64, 128, 256 and 32 become width, 2*width, 4*width and width/2).

Input, as in the authors' released Torch7 code: the image minus a mean pixel, zero in the holes (so the
holes hold the mean colour), concatenated with a hole indicator (1 = hole). ``GLCompletionNet`` takes
images and masks in this project's convention and builds that input itself; the mean pixel is a buffer
(the Torch7 loader copies the file's own). mmagic's GL differs only in its normalisation (holes grey,
image in [-1, 1], output clamped to [-1, 1]), covered by ``scale`` and ``out_act="clip"``.

Discriminators (the paper's Table 2): global branch of 6 and local branch of 5 convolutions 5x5 stride 2
(64, 128, 256, 512, 512[, 512]), each followed by BatchNorm + ReLU and a fully connected layer to 1024;
the two 1024-vectors are concatenated and a last fully connected layer gives one logit. The fully
connected input size is computed from the input sizes, so small images (64 px global, 32 px local) work.

Example:
    >>> net = GLCompletionNet(width=8)
    >>> net(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)).shape
    torch.Size([2, 3, 32, 32])
    >>> disc = GLDiscriminator(global_size=64, local_size=32, width=8)
    >>> disc(torch.rand(2, 3, 64, 64), torch.rand(2, 3, 32, 32)).shape
    torch.Size([2, 1])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.core.errors import BenchError
from bench.core.weights import refuse_mismatch, tensor_names
from bench.models.unet.loss import composite
from masks.conventions import flip_polarity

# Mean pixel of natural photos (the ImageNet mean, RGB in [0, 1]): the hole fill of networks trained
# here. The released Torch7 models store their training set's own mean pixel, which the loader uses.
DEFAULT_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
SIZE_MULTIPLE = 4  # two stride-2 convolutions, undone by two x2 transposed convolutions
ALPHA = 0.0004  # the paper's weight of the adversarial loss in phase 3
# Optimisers of `bench train --model gl` (TrainConfig.gl_optimizer). The paper trains with ADADELTA
# (Zeiler 2012), which has no learning rate: torch's Adadelta at lr 1 with its rho 0.9, eps 1e-6.
OPTIMIZERS: tuple[str, ...] = ("adadelta", "adam")
PAPER_OPTIMIZER = "adadelta"


def training_recipe(config: dict[str, Any]) -> str:
    """How a GL checkpoint of this project was trained, against the paper, from its config.

    >>> training_recipe({"lr": 2e-4})
    'Adam lr 0.0002 (paper: ADADELTA)'
    """
    opt = config.get("gl_optimizer") or "adam"  # checkpoints written before gl_optimizer: Adam
    if opt == "adadelta":
        return "ADADELTA (the paper's)"
    return f"Adam lr {config.get('lr', 0):g} (paper: ADADELTA)"


GLOBAL_CONVS, LOCAL_CONVS = 6, 5
PAPER_GLOBAL_SIZE, PAPER_LOCAL_SIZE = 256, 128
OUT_ACTS = ("sigmoid", "clip")
_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


@dataclass(frozen=True)
class LayerSpec:
    """One convolution of the completion network; ``kind`` is "conv" or "deconv" (transposed, x2)."""

    kind: str
    c_in: int
    c_out: int
    kernel: int
    stride: int = 1
    dilation: int = 1

    @property
    def padding(self) -> int:
        # "same" padding for the convolutions; 1 for the 4x4 stride-2 transposed ones (exact x2).
        return 1 if self.kind == "deconv" else self.dilation * (self.kernel - 1) // 2


def generator_spec(width: int = 64) -> list[LayerSpec]:
    """The 17 convolutions of the completion network, first to last."""
    if width < 2:
        raise BenchError(f"GL width must be at least 2, got {width}")
    w1, w2, w4, w_half = width, 2 * width, 4 * width, max(1, width // 2)
    return [
        LayerSpec("conv", 4, w1, 5),
        LayerSpec("conv", w1, w2, 3, stride=2),
        LayerSpec("conv", w2, w2, 3),
        LayerSpec("conv", w2, w4, 3, stride=2),
        LayerSpec("conv", w4, w4, 3),
        LayerSpec("conv", w4, w4, 3),
        *(LayerSpec("conv", w4, w4, 3, dilation=d) for d in (2, 4, 8, 16)),
        LayerSpec("conv", w4, w4, 3),
        LayerSpec("conv", w4, w4, 3),
        LayerSpec("deconv", w4, w2, 4, stride=2),
        LayerSpec("conv", w2, w2, 3),
        LayerSpec("deconv", w2, w1, 4, stride=2),
        LayerSpec("conv", w1, w_half, 3),
        LayerSpec("conv", w_half, 3, 3),
    ]


class _Block(nn.Module):
    """conv (or transposed conv) [+ BatchNorm]; the activation is applied by the owner."""

    def __init__(self, spec: LayerSpec, norm: bool, bias: bool) -> None:
        super().__init__()
        if spec.kind == "deconv":
            self.conv: nn.Module = nn.ConvTranspose2d(
                spec.c_in, spec.c_out, spec.kernel, spec.stride, spec.padding, bias=bias
            )
        else:
            self.conv = nn.Conv2d(
                spec.c_in, spec.c_out, spec.kernel, spec.stride, spec.padding, spec.dilation, bias=bias
            )
        self.bn = nn.BatchNorm2d(spec.c_out) if norm else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        return x if self.bn is None else self.bn(x)


def _check_pair(image: Tensor, mask: Tensor) -> None:
    if image.dim() != 4 or image.shape[1] != 3:
        raise BenchError(f"GL expects images of shape (B,3,H,W), got {tuple(image.shape)}")
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != image.shape[0]:
        raise BenchError(f"GL expects masks of shape (B,1,H,W), got {tuple(mask.shape)}")
    if mask.shape[-2:] != image.shape[-2:]:
        raise BenchError(
            f"mask size {tuple(mask.shape[-2:])} differs from image size {tuple(image.shape[-2:])}"
        )


class GLCompletionNet(nn.Module):
    """The completion network. ``forward(image, mask)`` returns its raw prediction (B,3,H,W) in [0,1].

    image: (B,3,H,W) in [0,1]; mask: (B,1,H,W), 1 = valid, 0 = hole; H and W multiples of 4 (use
    ``complete`` for other sizes). Network input: ((image - mean) / scale) * mask and 1 - mask.
    ``out_act="sigmoid"``: the output is sigmoid(last conv) (paper, Torch7 release);
    ``"clip"``: clamp(last conv, -1, 1) * scale + mean (mmagic). ``conv_bias`` gives the convolutions
    before BatchNorm a bias (Torch7 has them, mmagic not); the last convolution always has one.
    """

    def __init__(
        self,
        width: int = 64,
        mean: Sequence[float] = DEFAULT_MEAN,
        scale: float = 1.0,
        out_act: str = "sigmoid",
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        if out_act not in OUT_ACTS:
            raise BenchError(f"GL out_act must be one of {', '.join(OUT_ACTS)}, got {out_act!r}")
        mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
        if mean_t.numel() != 3:
            raise BenchError(f"GL mean must hold 3 values (RGB), got {mean_t.numel()}")
        self.width, self.scale, self.out_act, self.conv_bias = int(width), float(scale), out_act, conv_bias
        self.specs = generator_spec(self.width)
        last = len(self.specs) - 1
        self.layers = nn.ModuleList(
            _Block(s, norm=i < last, bias=conv_bias or i == last) for i, s in enumerate(self.specs)
        )
        self.register_buffer("mean", mean_t.view(1, 3, 1, 1).clone())

    def arch(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this network."""
        return {
            "width": self.width,
            "mean": [float(v) for v in self.mean.flatten()],
            "scale": self.scale,
            "out_act": self.out_act,
            "conv_bias": self.conv_bias,
        }

    def net_input(self, image: Tensor, mask: Tensor) -> Tensor:
        """(B,4,H,W): the normalised image with zeros (= the mean colour) in the holes, and 1 - mask."""
        mask = mask.to(image.dtype)
        return torch.cat([(image - self.mean) / self.scale * mask, 1.0 - mask], dim=1)

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        _check_pair(image, mask)
        h, w = image.shape[-2:]
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise BenchError(f"GL needs H and W divisible by {SIZE_MULTIPLE}, got {h}x{w}; use complete()")
        x = self.net_input(image, mask)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        if self.out_act == "sigmoid":
            return torch.sigmoid(x)
        return x.clamp(-1.0, 1.0) * self.scale + self.mean

    def complete(self, image: Tensor, mask: Tensor) -> Tensor:
        """Composite: the input where valid, the prediction in the holes. Any H, W (edge-padded to x4)."""
        _check_pair(image, mask)
        h, w = image.shape[-2:]
        ph, pw = (-h) % SIZE_MULTIPLE, (-w) % SIZE_MULTIPLE
        if ph or pw:
            # Replicated borders: the padding is marked valid, so it only extends the known context.
            out = self.forward(
                F.pad(image, (0, pw, 0, ph), mode="replicate"), F.pad(mask, (0, pw, 0, ph), mode="replicate")
            )[..., :h, :w]
        else:
            out = self.forward(image, mask)
        return composite(out, image, mask.to(image.dtype))


# --------------------------------------------------------------------------------------- discriminators


def disc_channels(n_convs: int, width: int = 64) -> list[int]:
    """Output channels of the discriminator convolutions: min(width * 2^i, 8 * width)."""
    return [min(width * 2**i, 8 * width) for i in range(n_convs)]


def disc_feature_size(size: int, n_convs: int) -> int:
    """Side of the last feature map: each 5x5 stride-2 convolution (padding 2) maps s to ceil(s / 2)."""
    for _ in range(n_convs):
        size = (size - 1) // 2 + 1
    return size


class ContextBranch(nn.Module):
    """One context discriminator: ``n_convs`` 5x5 stride-2 convs + BatchNorm + ReLU, then FC + ReLU."""

    def __init__(self, n_convs: int, size: int, width: int = 64, conv_bias: bool = True) -> None:
        super().__init__()
        if size < 1:
            raise BenchError(f"discriminator input size must be positive, got {size}")
        self.size = int(size)
        chans = disc_channels(n_convs, width)
        c_in = 3
        blocks = []
        for c in chans:
            blocks.append(_Block(LayerSpec("conv", c_in, c, 5, stride=2), norm=True, bias=conv_bias))
            c_in = c
        self.convs = nn.ModuleList(blocks)
        side = disc_feature_size(self.size, n_convs)
        # 1024 features at width 64 (the paper's), scaled like the channels otherwise.
        self.fc = nn.Linear(chans[-1] * side * side, 16 * width)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (self.size, self.size):
            raise BenchError(
                f"discriminator branch expects (B,3,{self.size},{self.size}), got {tuple(x.shape)}"
            )
        for block in self.convs:
            x = F.relu(block(x))
        return F.relu(self.fc(x.flatten(1)))


class GLDiscriminator(nn.Module):
    """Global (whole image) and local (crop around the hole) discriminators fused into one logit (B,1)."""

    def __init__(
        self,
        global_size: int = PAPER_GLOBAL_SIZE,
        local_size: int = PAPER_LOCAL_SIZE,
        width: int = 64,
        conv_bias: bool = True,
    ) -> None:
        super().__init__()
        self.global_size, self.local_size, self.width = int(global_size), int(local_size), int(width)
        self.global_branch = ContextBranch(GLOBAL_CONVS, global_size, width, conv_bias)
        self.local_branch = ContextBranch(LOCAL_CONVS, local_size, width, conv_bias)
        self.fc = nn.Linear(2 * 16 * width, 1)

    def forward(self, image: Tensor, patch: Tensor) -> Tensor:
        feats = torch.cat([self.global_branch(image), self.local_branch(patch)], dim=1)
        return self.fc(feats)


# ------------------------------------------------------------------------------------ local crop boxes


def local_crop_boxes(masks: Tensor, crop: int, generator: torch.Generator | np.random.Generator) -> Tensor:
    """Boxes (B,4) int64 as (top, left, bottom, right), bottom/right exclusive, of side ``crop``.

    The paper crops the local discriminator's input around a rectangular hole. For irregular holes we
    centre the box on ONE hole pixel drawn uniformly from the mask's holes with ``generator`` (a torch or
    numpy Generator, so a seed reproduces the boxes), then shift it to lie inside the image; the drawn
    pixel always stays inside the box (at its centre unless shifted). A mask without holes gets the box
    at the image centre. Use the same boxes for the real and the completed image (``crop_patches``).
    GL's and GntIpt's training steps (their recipe modules) both crop with these boxes.
    """
    if masks.dim() != 4 or masks.shape[1] != 1:
        raise BenchError(f"masks must have shape (B,1,H,W), got {tuple(masks.shape)}")
    h, w = masks.shape[-2:]
    crop = int(crop)
    if not 1 <= crop <= min(h, w):
        raise BenchError(f"local crop {crop} does not fit in {h}x{w} images")
    if not isinstance(generator, torch.Generator | np.random.Generator):
        raise BenchError("local_crop_boxes needs a torch.Generator or numpy Generator for reproducible crops")
    holes = masks.detach().cpu()[:, 0] < 0.5  # (B,H,W)
    boxes = torch.empty(masks.shape[0], 4, dtype=torch.int64)
    for b in range(masks.shape[0]):
        idx = holes[b].flatten().nonzero().flatten()
        if idx.numel() == 0:
            cy, cx = h // 2, w // 2
        else:
            if isinstance(generator, torch.Generator):
                k = int(torch.randint(idx.numel(), (1,), generator=generator))
            else:
                k = int(generator.integers(idx.numel()))
            cy, cx = divmod(int(idx[k]), w)
        top = min(max(cy - crop // 2, 0), h - crop)
        left = min(max(cx - crop // 2, 0), w - crop)
        boxes[b] = torch.tensor([top, left, top + crop, left + crop])
    return boxes


def crop_patches(images: Tensor, boxes: Tensor) -> Tensor:
    """(B,C,crop,crop): ``images[b]`` cut to ``boxes[b]`` (as from ``local_crop_boxes``)."""
    if boxes.shape != (images.shape[0], 4):
        raise BenchError(f"boxes must have shape ({images.shape[0]}, 4), got {tuple(boxes.shape)}")
    return torch.stack(
        [images[b, :, int(t) : int(bt), int(lf) : int(r)] for b, (t, lf, bt, r) in enumerate(boxes.tolist())]
    )


# ------------------------------------------------------------------------------- schedule and losses


def gl_reconstruction_loss(output: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """The paper's weighted MSE ||(1 - M) * (C(x) - x)||^2, as a mean over all B*C*H*W elements."""
    return ((1.0 - mask) * (output - target)).pow(2).mean()


def gl_generator_loss(
    output: Tensor, target: Tensor, mask: Tensor, fake_logits: Tensor | None = None, alpha: float = ALPHA
) -> Tensor:
    """Completion-network loss: MSE on the holes, plus ``alpha`` * adversarial when logits are given.

    The adversarial term is the non-saturating -log D(completed) (BCE with label 1) in place of the
    paper's log(1 - D(completed)), whose gradient vanishes while D rejects the completions.
    """
    loss = gl_reconstruction_loss(output, target, mask)
    if fake_logits is not None:
        loss = loss + alpha * F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    return loss


def gl_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-log D(real) - log(1 - D(completed)), each averaged over the batch."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


# ------------------------------------------------------------------------------------ post-processing


def gl_postprocess(
    output: np.ndarray, image: np.ndarray, mask: np.ndarray, radius: float = 1.0
) -> np.ndarray:
    """The paper's optional post-processing: fast marching, then Poisson blending, of the holes.

    output, image: (H,W,3) uint8 or float in [0,1]; mask: (H,W) or (H,W,1), 1/255 = valid, 0 = hole.
    As the released ``inpaint.lua --postproc`` does: the completed image is filled in the holes by
    fast marching (cv2.inpaint, TELEA, radius 1); the network's hole content is then Poisson-blended
    into that (cv2.seamlessClone, NORMAL_CLONE, placed at its own position), so its gradients are kept
    and its boundary matches the surroundings. The released code places the clone at the rounded-down
    centre of the holes' bounding box, which shifts even-sized boxes by a pixel; here it is placed
    exactly. Valid pixels are returned unchanged (the released code keeps the blend's values there).
    Returns the dtype of ``output``.
    """
    import cv2

    out_a, img_a, m = np.asarray(output), np.asarray(image), np.asarray(mask)
    if out_a.shape != img_a.shape or out_a.ndim != 3 or out_a.shape[2] != 3:
        raise BenchError(f"gl_postprocess needs two (H,W,3) images, got {out_a.shape} and {img_a.shape}")
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.shape != out_a.shape[:2]:
        raise BenchError(f"mask shape {m.shape} does not match image shape {out_a.shape[:2]}")
    hole = m < (127.5 if m.dtype == np.uint8 else 0.5)

    def to_u8(a: np.ndarray) -> np.ndarray:
        if a.dtype == np.uint8:
            return a
        return np.clip(np.rint(a.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)

    src, img_u8 = to_u8(out_a), to_u8(img_a)
    src = np.where(hole[..., None], src, img_u8)  # the completed image
    hole_u8 = flip_polarity(np.where(hole, 0, 255).astype(np.uint8))  # OpenCV: 255 = fill here
    result = src
    if hole.any():
        filled = cv2.inpaint(np.ascontiguousarray(src), hole_u8, radius, cv2.INPAINT_TELEA)
        # seamlessClone ignores the outer 1-px frame of the mask; the clone is placed so that the mask's
        # bounding box (width bw) lands at x + bw // 2, i.e. where it came from.
        inner = hole_u8.copy()
        inner[0, :] = inner[-1, :] = 0
        inner[:, 0] = inner[:, -1] = 0
        result = filled
        if inner.any():
            x, y, bw, bh = cv2.boundingRect(inner)
            result = cv2.seamlessClone(
                np.ascontiguousarray(src), filled, hole_u8, (x + bw // 2, y + bh // 2), cv2.NORMAL_CLONE
            )
    # OpenCV works in uint8; the valid pixels come back from the input itself, not from its 8-bit copy.
    if out_a.dtype == np.uint8:
        return np.where(hole[..., None], result, img_u8).astype(np.uint8)
    valid = img_a.astype(np.float32) if img_a.dtype != np.uint8 else img_u8.astype(np.float32) / 255.0
    return np.where(hole[..., None], result.astype(np.float32) / 255.0, valid).astype(np.float32)


# ------------------------------------------------------------------------------------ weight loaders


def _fill(param: Tensor, value: np.ndarray | Tensor, name: str, path: Path) -> None:
    v = torch.as_tensor(np.array(value, dtype=np.float32)) if isinstance(value, np.ndarray) else value
    v = v.detach().to(torch.float32)
    if tuple(v.shape) != tuple(param.shape):
        # Old Torch7 convolutions kept their weights as (out, in*kh*kw); same order, other view.
        if v.numel() == param.numel() and v.dim() == 2 and param.dim() == 4:
            v = v.reshape(param.shape)
        else:
            raise BenchError(
                f"{path}: tensor {name} has shape {tuple(v.shape)}, expected {tuple(param.shape)}"
            )
    with torch.no_grad():
        param.copy_(v)


# Torch7 modules keep activations, gradients and scratch buffers beside their weights; not weights.
_T7_SCRATCH = frozenset(
    {"output", "gradInput", "gradWeight", "gradBias", "finput", "fgradInput", "ones", "columns",
     "save_mean", "save_std", "_input", "_gradOutput", "buffer", "gradWeightBuffer"}
)  # fmt: skip
_T7_CONV = {
    "conv": ("nn.SpatialConvolution", "nn.SpatialDilatedConvolution"),
    "deconv": ("nn.SpatialFullConvolution",),
}
_T7_BN, _T7_RELU, _T7_SIGMOID = "nn.SpatialBatchNormalization", "nn.ReLU", "nn.Sigmoid"


def _t7_typename(obj: Any) -> str | None:
    get = getattr(obj, "torch_typename", None)
    # A module's fields are a table; torchfile turns an empty one into [].
    if not callable(get) or not isinstance(getattr(obj, "_obj", None), dict | list):
        return None
    name = get()
    name = name.decode("utf8", "replace") if isinstance(name, bytes) else str(name)
    # cudnn.* modules hold the same fields as their nn.* counterparts.
    return "nn." + name[len("cudnn.") :] if name.startswith("cudnn.") else name


def _t7_str_keys(table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        return {}
    return {(k.decode("utf8", "replace") if isinstance(k, bytes) else str(k)): v for k, v in table.items()}


def _t7_flatten(obj: Any, name: str, path: Path, out: list[tuple[str, str, dict[str, Any]]]) -> None:
    kind = _t7_typename(obj)
    if kind is None:
        raise BenchError(f"{path}: {name} is not a Torch7 module")
    fields = _t7_str_keys(obj._obj)
    if kind == "nn.Sequential":
        children = fields.get("modules")
        if isinstance(children, dict):  # a table the list heuristic did not turn into a list
            children = [children[k] for k in sorted(children)]
        if not isinstance(children, list):
            raise BenchError(f"{path}: {name} (nn.Sequential) has no module list")
        for i, child in enumerate(children):
            _t7_flatten(child, f"{name}.modules[{i}]", path, out)
    else:
        out.append((name, kind, fields))


def _t7_tensors(fields: dict[str, Any]) -> dict[str, np.ndarray]:
    return {
        k: v for k, v in fields.items() if isinstance(v, np.ndarray) and v.size > 0 and k not in _T7_SCRATCH
    }


def _t7_mean(value: Any, path: Path) -> list[float]:
    if isinstance(value, dict):  # {1: r, 2: g, 3: b} kept as a table
        value = [value[k] for k in sorted(value)]
    try:
        mean = [float(v) for v in np.asarray(value, dtype=np.float64).flatten()]
    except (TypeError, ValueError):
        mean = []
    if len(mean) != 3:
        raise BenchError(f"{path}: 'mean' must hold the 3 channel means, got {value!r:.80}")
    return mean


def load_torch7_gl(path: str | Path) -> GLCompletionNet:
    """The authors' released Torch7 completion network (e.g. ``completionnet_places2.t7``), in eval mode.

    The file holds a table {model = nn.Sequential, mean = the RGB mean pixel}; the Sequential holds, in
    order, 16 x (SpatialConvolution / SpatialDilatedConvolution / SpatialFullConvolution,
    SpatialBatchNormalization, ReLU) and a last SpatialConvolution + Sigmoid. Every tensor is mapped by
    position and shape; a missing or unexpected tensor or module, or another layer geometry, is refused.
    The released ``inpaint.lua`` feeds images in [0,1] (long edge at most 600 px, sides rounded to x4)
    minus the mean, zeroed in the holes, with the hole mask (1 = hole) as the 4th channel: exactly
    ``GLCompletionNet.net_input`` with this mean and scale 1.
    """
    path = Path(path)
    flat, mean = _read_t7(path)
    first = _t7_tensors(flat[0][2]).get("weight") if flat else None
    if first is None or first.ndim < 2:
        raise BenchError(
            f"{path}: the first module has no convolution weight (missing tensors: "
            f"{flat[0][0] if flat else 'model.modules[0]'}.weight)"
        )
    net = GLCompletionNet(width=int(first.shape[0]), mean=mean, scale=1.0, out_act="sigmoid", conv_bias=True)
    missing, unexpected, pending = _t7_match(net, flat, path)
    refuse_mismatch(path, "GL network", missing, unexpected)
    for param, value, name in pending:
        _fill(param, value, name, path)
    return net.eval()


def _read_t7(path: Path) -> tuple[list[tuple[str, str, dict[str, Any]]], np.ndarray]:
    """(flattened modules (name, kind, fields), mean pixel) of a released Torch7 GL file."""
    try:
        import torchfile
    except ImportError:
        raise BenchError(
            "reading Torch7 .t7 files needs the 'torchfile' package (pip install torchfile)"
        ) from None
    if not path.is_file():
        raise BenchError(f"{path}: no such file")
    try:
        top = torchfile.load(str(path), utf8_decode_strings=True)
    except Exception as exc:  # torchfile raises struct, numpy, value and its own errors on bad input
        why = " ".join(str(exc).split())[:120]  # one line
        raise BenchError(f"{path}: not a readable Torch7 file ({type(exc).__name__}: {why})") from None
    fields = _t7_str_keys(top)
    if "model" not in fields or "mean" not in fields:
        raise BenchError(f"{path}: expected a table with 'model' and 'mean' (the released format)")
    extra = [k for k, v in fields.items() if k not in ("model", "mean") and isinstance(v, np.ndarray)]
    if extra:
        raise BenchError(f"{path}: unexpected tensors: {tensor_names(extra)}")
    mean = _t7_mean(fields["mean"], path)
    flat: list[tuple[str, str, dict[str, Any]]] = []
    _t7_flatten(fields["model"], "model", path, flat)

    return flat, mean


def _t7_match(net: GLCompletionNet, flat: list, path: Path) -> tuple[list[str], list[str], list]:
    """Match the flattened Torch7 modules to `net`: (missing names, unexpected names, (param, value,
    name) to copy). A module of another type or geometry is refused at once."""
    # The module sequence the network implies: (conv, BN, ReLU) x 16, conv, Sigmoid.
    expected: list[tuple[tuple[str, ...], LayerSpec, _Block | None, str]] = []
    for i, (spec, block) in enumerate(zip(net.specs, net.layers, strict=True)):
        expected.append((_T7_CONV[spec.kind], spec, block, "conv"))
        if i < len(net.specs) - 1:
            expected.append(((_T7_BN,), spec, block, "bn"))
            expected.append(((_T7_RELU,), spec, None, "act"))
        else:
            expected.append(((_T7_SIGMOID,), spec, None, "act"))

    missing: list[str] = []
    unexpected: list[str] = []
    pending: list[tuple[Tensor, np.ndarray, str]] = []
    for pos, (allowed, spec, block, role) in enumerate(expected):
        if pos >= len(flat):
            if block is not None:
                want = ("weight", "bias") if role == "conv" else _BN_KEYS
                missing += [f"module {pos} ({allowed[0]}).{k}" for k in want]
            continue
        name, kind, mod = flat[pos]
        if kind not in allowed:
            raise BenchError(f"{path}: {name} is {kind}, expected {' or '.join(allowed)}")
        tensors = _t7_tensors(mod)
        if block is None:
            unexpected += [f"{name}.{k}" for k in tensors]
            continue
        if role == "conv":
            _t7_check_geometry(mod, spec, name, path)
            targets = {"weight": block.conv.weight, "bias": block.conv.bias}
        else:
            assert block.bn is not None
            eps = mod.get("eps")
            if isinstance(eps, int | float) and eps > 0:
                block.bn.eps = float(eps)
            if "running_var" not in tensors and "running_std" in tensors:
                # Torch7 before mid-2016 stored 1 / sqrt(var + eps) as running_std.
                std = tensors.pop("running_std").astype(np.float64)
                tensors["running_var"] = (1.0 / np.square(std) - block.bn.eps).astype(np.float32)
            targets = {
                "weight": block.bn.weight,
                "bias": block.bn.bias,
                "running_mean": block.bn.running_mean,
                "running_var": block.bn.running_var,
            }
        missing += [f"{name}.{k}" for k in targets if k not in tensors]
        unexpected += [f"{name}.{k}" for k in tensors if k not in targets]
        pending += [(targets[k], tensors[k], f"{name}.{k}") for k in targets if k in tensors]
    for name, kind, mod in flat[len(expected) :]:
        tensors = _t7_tensors(mod)
        if not tensors:
            raise BenchError(f"{path}: unexpected module {name} ({kind}) after the network's last layer")
        unexpected += [f"{name}.{k}" for k in tensors]
    return missing, unexpected, pending


def _t7_check_geometry(mod: dict[str, Any], spec: LayerSpec, name: str, path: Path) -> None:
    want = {
        "nInputPlane": spec.c_in,
        "nOutputPlane": spec.c_out,
        "kW": spec.kernel,
        "kH": spec.kernel,
        "dW": spec.stride,
        "dH": spec.stride,
        "padW": spec.padding,
        "padH": spec.padding,
        "dilationW": spec.dilation,
        "dilationH": spec.dilation,
        "adjW": 0,
        "adjH": 0,
    }
    for key, value in want.items():
        got = mod.get(key)
        if got is None and key.startswith(("dilation", "adj")):
            continue  # absent on SpatialConvolution / non-transposed layers: dilation 1, no adjustment
        if got != value:
            raise BenchError(f"{path}: {name}.{key} is {got}, the GL network needs {value}")


# mmagic module names of the 17 layers (GLEncoder enc1-6, GLDilationNeck, GLDecoder dec1-7).
_MM_GEN_LAYERS = (
    [f"generator.encoder.enc{i}" for i in range(1, 7)]
    + [f"generator.dilation_neck.dilation_convs.{i}" for i in range(4)]
    + [f"generator.decoder.dec{i}" for i in range(1, 8)]
)


def _bn_counters(expected: dict[str, Tensor]) -> set[str]:
    """BatchNorm ``num_batches_tracked`` keys beside ``expected``: accepted, not needed (no weights)."""
    return {
        k[: -len("running_mean")] + "num_batches_tracked" for k in expected if k.endswith(".running_mean")
    }


def _mmagic_state(path: Path) -> dict[str, Tensor]:
    from bench.core.weights import load_state_dict

    return load_state_dict(path, "weights file")


def _mm_expected_generator(net: GLCompletionNet) -> dict[str, Tensor]:
    """mmagic key -> our parameter/buffer, for every tensor the mmagic GL generator stores."""
    out: dict[str, Tensor] = {}
    last = len(net.layers) - 1
    for i, (prefix, block) in enumerate(zip(_MM_GEN_LAYERS, net.layers, strict=True)):
        out[f"{prefix}.conv.weight"] = block.conv.weight
        if i == last:
            out[f"{prefix}.conv.bias"] = block.conv.bias
        else:
            for k in _BN_KEYS:
                out[f"{prefix}.bn.{k}"] = getattr(block.bn, k)
    return out


def load_mmagic_gl(path: str | Path) -> GLCompletionNet:
    """mmagic's GL generator (``GLEncoderDecoder``) from a checkpoint or bare state dict, in eval mode.

    Keys ``generator.encoder.enc1-6``, ``generator.dilation_neck.dilation_convs.0-3`` and
    ``generator.decoder.dec1-7``, each ``.conv.weight`` and ``.bn.*`` (``.conv.bias`` on dec7 only,
    the others sit before BatchNorm and have none). ``disc.*`` keys (its discriminators) are skipped;
    any other key, or a missing one, is refused. mmagic's convention: image in [-1,1], holes grey
    (0 after normalisation), mask channel 1 = hole, output clamped to [-1,1].
    """
    path = Path(path)
    state = _mmagic_state(path)
    first = state.get(f"{_MM_GEN_LAYERS[0]}.conv.weight")
    if first is None or first.dim() != 4:
        raise BenchError(f"{path}: missing tensors: {_MM_GEN_LAYERS[0]}.conv.weight")
    # mmagic normalises with mean 127.5 and std 127.5: image in [-1, 1], holes 0 (grey).
    net = GLCompletionNet(
        width=int(first.shape[0]), mean=(0.5, 0.5, 0.5), scale=0.5, out_act="clip", conv_bias=False
    )
    expected = _mm_expected_generator(net)
    optional = _bn_counters(expected)
    missing = [k for k in expected if k not in state]
    known = set(expected) | optional
    unexpected = [k for k in state if k not in known and not k.startswith("disc.")]
    refuse_mismatch(path, "GL network", missing, unexpected)
    for key, param in expected.items():
        _fill(param, state[key], key, path)
    return net.eval()


def load_mmagic_gl_discriminator(path: str | Path) -> GLDiscriminator:
    """mmagic's GL discriminators (``GLDiscs``: ``disc.global_disc``, ``disc.local_disc``, ``disc.fc``).

    Their convolutions carry no bias (BatchNorm follows); the input sizes are read off the fully
    connected layers as the largest sizes that fit them (256 and 128 px in mmagic's configs).
    ``generator.*`` keys are skipped.
    """
    path = Path(path)
    state = _mmagic_state(path)
    w0 = state.get("disc.global_disc.conv1.conv.weight")
    fc_g, fc_l = state.get("disc.global_disc.fc.linear.weight"), state.get("disc.local_disc.fc.linear.weight")
    if w0 is None or fc_g is None or fc_l is None:
        names = [
            k
            for k, v in (
                ("disc.global_disc.conv1.conv.weight", w0),
                ("disc.global_disc.fc.linear.weight", fc_g),
                ("disc.local_disc.fc.linear.weight", fc_l),
            )
            if v is None
        ]
        raise BenchError(f"{path}: missing tensors: {tensor_names(names)}")
    width = int(w0.shape[0])
    sizes = []
    for fc, n in ((fc_g, GLOBAL_CONVS), (fc_l, LOCAL_CONVS)):
        side = math.isqrt(int(fc.shape[1]) // disc_channels(n, width)[-1])
        # The largest input with that feature side (ceil(size / 2^n) = side): 256 and 128 for mmagic's.
        sizes.append(side * 2**n)
    disc = GLDiscriminator(global_size=sizes[0], local_size=sizes[1], width=width, conv_bias=False)
    expected: dict[str, Tensor] = {"disc.fc.weight": disc.fc.weight, "disc.fc.bias": disc.fc.bias}
    for mm, branch in (("disc.global_disc", disc.global_branch), ("disc.local_disc", disc.local_branch)):
        for i, block in enumerate(branch.convs, start=1):
            expected[f"{mm}.conv{i}.conv.weight"] = block.conv.weight
            for k in _BN_KEYS:
                expected[f"{mm}.conv{i}.bn.{k}"] = getattr(block.bn, k)
        expected[f"{mm}.fc.linear.weight"] = branch.fc.weight
        expected[f"{mm}.fc.linear.bias"] = branch.fc.bias
    optional = _bn_counters(expected)
    missing = [k for k in expected if k not in state]
    known = set(expected) | optional
    unexpected = [k for k in state if k not in known and not k.startswith("generator.")]
    refuse_mismatch(path, "GL network", missing, unexpected)
    for key, param in expected.items():
        _fill(param, state[key], key, path)
    return disc.eval()
