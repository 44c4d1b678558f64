"""GL and GntIpt as methods, from released weights or a `bench train` checkpoint: `--method gl:weights=FILE`
and `--method gntipt:weights=FILE` (the two Table 1 methods whose authors released weights).

* `gl`: Iizuka et al. 2017's completion network (bench.models.gl.network). FILE is the authors' Torch7 model
  (`completionnet_places2.t7`, read without Lua) or mmagic's GL checkpoint. The released code feeds
  images in [0,1] minus the file's mean pixel with the holes zeroed, plus the hole mask; the network is
  fully convolutional and runs at the evaluation's resolution (sides padded to a multiple of 4), as the
  released `inpaint.lua` does for any image up to 600 px. `postprocess` (default on, as the paper and the
  released code's `--postproc`): fast marching, then Poisson blending of the holes.
* `gntipt`: Yu et al. 2018's coarse-to-fine network with contextual attention (bench.models.gntipt.network).
  FILE is the widely used PyTorch port of the authors' TensorFlow model (keys `coarse_generator.*` /
  `fine_generator.*`, optionally under `netG.`) or mmagic's DeepFill v1 checkpoint (`generator.*`). The
  released models were trained at 256 px; they run at the evaluation's resolution (a multiple of 8),
  where contextual attention searches the whole image, as the released `test.py` does.

Every tensor of the file is mapped by name and shape; a file with missing or unexpected tensors is
refused naming them (exit 2). The method's fingerprint covers the file's sha256.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.errors import BenchError
from bench.methods.inpainters import Inpainter, register


class _Released(Inpainter):
    """A network read from released weights (`weights=FILE`) or trained here (`NAME=CHECKPOINT`, a
    `bench train --model NAME` checkpoint), run in batches on `device`."""

    defaults: ClassVar[dict[str, Any]] = {"weights": "", "checkpoint": ""}
    runtime_defaults: ClassVar[dict[str, Any]] = {"device": "auto", "batch_size": 8}
    paper_name: ClassVar[str] = ""

    def __init__(self, **options: Any) -> None:
        from bench.core.device import resolve_device

        super().__init__(**options)
        given = [k for k in ("weights", "checkpoint") if self.options[k]]
        if len(given) != 1:
            raise BenchError(
                f"method {self.name!r} needs released weights or a checkpoint of this project: "
                f"--method {self.name}:weights=FILE or --method {self.name}=CHECKPOINT"
            )
        path = Path(self.options[given[0]])
        if not path.is_file():
            raise BenchError(f"method {self.name!r}: {given[0]} file {path} does not exist")
        self.options[given[0]] = str(path)
        self.device = resolve_device(self.runtime["device"])
        # Hashed and loaded from the same bytes: the file may be replaced meanwhile, and the hash must name
        # the weights actually used.
        data = path.read_bytes()
        self.options["file_sha256"] = hashlib.sha256(data).hexdigest()
        net = self._load_bytes(path, data) if given[0] == "weights" else self._trained(path, data)
        self.net = net.to(self.device).eval()
        how = (
            f"released weights {path.name}"
            if given[0] == "weights"
            else f"retrained on irregular masks ({path}; {self.recipe})"
        )
        self.meta = {"file": str(path), "label": f"{self.paper_name}: {how}"}
        self.label = self.paper_name  # the row name in tables: the paper's (GL, GntIpt)

    def _trained(self, path: Path, data: bytes) -> torch.nn.Module:
        from bench.models.checkpoint import load_checkpoint_model
        from bench.models.registry import model_for_arch

        model, meta = load_checkpoint_model(path, device="cpu", data=data)
        self.recipe = self._recipe(meta.get("config") or {})  # stated wherever the row is shown
        got = model_for_arch(meta.get("arch") or {}, path).name
        if got != self.name:
            raise BenchError(
                f"method {self.name!r}: {path} is a {got!r} checkpoint; use --method {got}={path}"
            )
        return model

    def _load_bytes(self, path: Path, data: bytes) -> torch.nn.Module:
        """`_load` of the bytes already read and hashed. The loaders (Torch7, mmagic, the TF port) read
        files, so they read a private copy under the file's own name; messages name the real file."""
        with tempfile.TemporaryDirectory(prefix="pconv-bench-weights-") as tmp:
            copy = Path(tmp) / path.name
            copy.write_bytes(data)
            try:
                return self._load(copy)
            except BenchError as e:
                raise BenchError(e.message.replace(str(copy), str(path))) from None

    def _load(self, path: Path) -> torch.nn.Module:
        raise NotImplementedError

    def _recipe(self, config: dict[str, Any]) -> str:
        raise NotImplementedError

    def _run(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return self.net.complete(images, masks)

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        bs = max(1, int(self.runtime["batch_size"]))
        outs = []
        with torch.no_grad():
            for i in range(0, images.shape[0], bs):
                img, m = images[i : i + bs].to(self.device), masks[i : i + bs].to(self.device)
                outs.append(self._run(img, m).float().to(images.device))
        return torch.cat(outs)


@register("gl")
class GLInpainter(_Released):
    """GL (Iizuka et al. 2017) from the authors' Torch7 model or mmagic's checkpoint."""

    name = "gl"
    paper_name = "GL"
    # postprocess: "auto" = on for released weights (as the released code), off for networks trained here.
    defaults: ClassVar[dict[str, Any]] = {"weights": "", "checkpoint": "", "postprocess": "auto"}

    def _load(self, path: Path) -> torch.nn.Module:
        from bench.models.gl.network import load_mmagic_gl, load_torch7_gl

        return load_torch7_gl(path) if path.suffix.lower() == ".t7" else load_mmagic_gl(path)

    def _recipe(self, config: dict[str, Any]) -> str:
        from bench.models.gl.network import training_recipe

        return training_recipe(config)

    def _run(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        out = self.net.complete(images, masks)
        post = str(self.options["postprocess"]).lower()
        if post not in ("auto", "true", "false", "1", "0", "yes", "no", "on", "off"):
            raise BenchError(f"method 'gl': postprocess must be auto, true or false, got {post!r}")
        if post in ("false", "0", "no", "off") or (post == "auto" and not self.options["weights"]):
            return out
        from bench.models.gl.network import gl_postprocess

        done = []
        for o, img, m in zip(out.cpu(), images.cpu(), masks.cpu(), strict=True):
            hwc = lambda t: np.ascontiguousarray(t.permute(1, 2, 0).numpy())  # noqa: E731 - (C,H,W) -> (H,W,C)
            done.append(torch.from_numpy(gl_postprocess(hwc(o), hwc(img), hwc(m)[..., 0])).permute(2, 0, 1))
        return torch.stack(done).to(images.device)


@register("gntipt")
class GntIptInpainter(_Released):
    """GntIpt (Yu et al. 2018, DeepFill v1) from the PyTorch port of the TF model or mmagic's checkpoint."""

    name = "gntipt"
    paper_name = "GntIpt"

    def _load(self, path: Path) -> torch.nn.Module:
        from bench.core.weights import load_state_dict
        from bench.models.gntipt.weights import load_mmagic, load_tf_port

        keys = load_state_dict(path, "weights file")
        mmagic = any(k.startswith("generator.") for k in keys)
        return load_mmagic(path) if mmagic else load_tf_port(path)

    def _recipe(self, config: dict[str, Any]) -> str:
        from bench.models.gntipt.network import training_recipe

        return training_recipe(config)
