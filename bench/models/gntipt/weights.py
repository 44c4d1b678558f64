"""Released GntIpt (DeepFill v1) generator weights in two PyTorch formats, mapped tensor by tensor.

* ``load_tf_port``: the PyTorch port daa233/generative-inpainting-pytorch, whose README links a conversion
  of the authors' TensorFlow v1 model (``torch_model.p``, converted by hand from the TF variables, with
  the port's module names) and whose own checkpoints (``gen_*.pt``) use the same names. Keys
  ``coarse_generator.<layer>.conv.{weight,bias}`` and ``fine_generator.<layer>.conv.{weight,bias}``, with
  the released layer names except that the upsampling layers drop ``_upsample`` (``conv13``, ``conv15``,
  ``allconv13``, ``allconv15``) and the refinement's dilated branch drops the ``x`` (``conv1`` ...
  ``conv10_atrous``). A ``netG.`` prefix (the port's trainer state) is accepted. The weights were trained
  in TensorFlow, so the network is built with ``flavour="tf"`` unless told otherwise.
* ``load_mmagic``: mmagic's DeepFill v1 checkpoint (a checkpoint with ``state_dict`` or a bare state
  dict): ``generator.stage1.{encoder.enc1-6, dilation_neck.dilation_convs.0-3, decoder.dec1-7}`` and
  ``generator.stage2.{encoder_conv.enc1-6, dilation_neck.dilation_convs.0-3, encoder_attention.enc1-6,
  contextual_attention_neck.conv1-2, decoder.dec1-7}``, each ``.conv.{weight,bias}``. The attention's
  constant identity kernel (``...contextual_attention.fuse_kernel``) is accepted and not needed;
  ``disc.*`` tensors (the critics) are skipped. Built with ``flavour="mmagic"``.

``cnum`` is read off the first convolution. Every other tensor must be present with the expected shape;
a missing or unexpected tensor is refused with a BenchError naming it. Files are read with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from bench.core.errors import BenchError
from bench.core.weights import refuse_mismatch
from bench.models.gntipt.network import GntIptGenerator

_MM_FUSE = "generator.stage2.contextual_attention_neck.contextual_attention.fuse_kernel"


def layer_paths(net: GntIptGenerator) -> dict[str, str]:
    """Released layer name (``conv1``, ``xconv1``, ...) with a stage prefix -> our module path."""
    out = {f"coarse/{n}": f"coarse.net.{n}" for n in net.coarse.net.names}
    for part in ("xbranch", "pmencoder", "pmafter", "decoder"):
        for n in getattr(net.refine, part).names:
            out[f"refine/{n}"] = f"refine.{part}.{n}"
    return out


def tf_port_names(net: GntIptGenerator) -> dict[str, str]:
    """daa233 port key prefix (without ``netG.``) -> our module path, for every convolution."""
    out = {}
    for tf_name, path in layer_paths(net).items():
        stage, name = tf_name.split("/")
        name = name.removesuffix("_upsample")
        if stage == "coarse":
            out[f"coarse_generator.{name}"] = path
        else:
            out[f"fine_generator.{name.removeprefix('x')}"] = path
    return out


def mmagic_names(net: GntIptGenerator) -> dict[str, str]:
    """mmagic key prefix -> our module path, for every convolution."""
    out = {}
    for tf_name, path in layer_paths(net).items():
        stage, name = tf_name.split("/")
        # The layer's position among the released names gives mmagic's index.
        if stage == "coarse":
            names = net.coarse.net.names
            i = names.index(name)
            if i < 6:
                out[f"generator.stage1.encoder.enc{i + 1}"] = path
            elif i < 10:
                out[f"generator.stage1.dilation_neck.dilation_convs.{i - 6}"] = path
            else:
                out[f"generator.stage1.decoder.dec{i - 9}"] = path
            continue
        part = path.split(".")[1]
        i = getattr(net.refine, part).names.index(name)
        if part == "xbranch":
            key = (
                f"generator.stage2.encoder_conv.enc{i + 1}"
                if i < 6
                else f"generator.stage2.dilation_neck.dilation_convs.{i - 6}"
            )
        elif part == "pmencoder":
            key = f"generator.stage2.encoder_attention.enc{i + 1}"
        elif part == "pmafter":
            key = f"generator.stage2.contextual_attention_neck.conv{i + 1}"
        else:
            key = f"generator.stage2.decoder.dec{i + 1}"
        out[key] = path
    return out


def _read_state(path: Path) -> dict[str, Tensor]:
    from bench.core.weights import load_state_dict

    return load_state_dict(path, "weights file")


def _cnum(state: dict[str, Tensor], first: str, path: Path) -> int:
    w = state.get(first)
    if w is None or w.dim() != 4:
        raise BenchError(f"{path}: missing tensors: {first}")
    return int(w.shape[0])


def _fill(
    net: GntIptGenerator,
    state: dict[str, Tensor],
    names: dict[str, str],
    path: Path,
    optional: set[str],
    skip: tuple[str, ...],
) -> GntIptGenerator:
    params = dict(net.named_parameters())
    expected = {
        f"{key}.conv.{kind}": params[f"{mod}.conv.{kind}"]
        for key, mod in names.items()
        for kind in ("weight", "bias")
    }
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected and k not in optional and not k.startswith(skip)]
    refuse_mismatch(path, "GntIpt generator", missing, unexpected)
    for key, param in expected.items():
        value = state[key]
        if tuple(value.shape) != tuple(param.shape):
            raise BenchError(
                f"{path}: tensor {key} has shape {tuple(value.shape)}, expected {tuple(param.shape)}"
            )
        with torch.no_grad():
            param.copy_(value.to(torch.float32))
    return net.eval()


def load_tf_port(path: str | Path, flavour: str = "tf") -> GntIptGenerator:
    """The daa233 port's generator state (its conversion of the authors' TF model), in eval mode."""
    path = Path(path)
    state = _read_state(path)
    if state and all(k.startswith("netG.") for k in state):
        state = {k.removeprefix("netG."): v for k, v in state.items()}
    net = GntIptGenerator(_cnum(state, "coarse_generator.conv1.conv.weight", path), flavour)
    return _fill(net, state, tf_port_names(net), path, set(), ())


def load_mmagic(path: str | Path, flavour: str = "mmagic") -> GntIptGenerator:
    """mmagic's DeepFill v1 generator from a checkpoint or bare state dict, in eval mode."""
    path = Path(path)
    state = _read_state(path)
    fuse = state.get(_MM_FUSE)
    if fuse is not None and (fuse.dim() != 4 or fuse.shape[:2] != (1, 1)):
        raise BenchError(f"{path}: tensor {_MM_FUSE} has shape {tuple(fuse.shape)}, expected (1, 1, k, k)")
    net = GntIptGenerator(_cnum(state, "generator.stage1.encoder.enc1.conv.weight", path), flavour)
    return _fill(net, state, mmagic_names(net), path, {_MM_FUSE}, ("disc.",))
