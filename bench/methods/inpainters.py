"""The Inpainter interface and the registry of methods.

Every method is an object with `name`, `options`, `fingerprint`, `meta` and
`inpaint(images, masks) -> images` on batches in the project's conventions: images float32 RGB in [0,1],
(B,3,H,W); masks (B,1,H,W) float {0,1} with 1 = valid, 0 = hole. The evaluator knows nothing else.

>>> import torch
>>> m = get_inpainter("mean")
>>> img, msk = torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8)
>>> msk[..., 2:5, 2:5] = 0
>>> out = m.inpaint(img, msk)
>>> bool((out[msk.expand_as(out) > 0] == img[msk.expand_as(img) > 0]).all())
True
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import marshal
import os
import re
import sys
import types
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from bench.core.errors import BenchError
from bench.core.plugins import PLUGINS_ENV, load_plugins  # noqa: F401 (PLUGINS_ENV: public here)
from masks.conventions import HOLE_FILL


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Turn a CLI string (or any value) into the type of the option's default."""
    if default is None or isinstance(value, type(default)) and not isinstance(default, bool):
        return value
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if isinstance(default, float):
            return float(value)
        return type(default)(value)
    except (TypeError, ValueError):
        raise BenchError(f"option {key}={value!r}: expected {type(default).__name__}") from None


class Inpainter:
    """Base class: subclasses set `name`, `version`, `defaults` and implement `_fill`.

    `options` holds everything that changes results (JSON-able); `runtime` holds what does not
    (worker count, device, batch size) and is left out of the fingerprint.
    """

    name: ClassVar[str] = ""
    # Bump when the algorithm changes so stored results with an old fingerprint are not reused.
    version: ClassVar[str] = "1"
    defaults: ClassVar[dict[str, Any]] = {}
    runtime_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        known = {**self.defaults, **self.runtime_defaults}
        unknown = sorted(set(options) - set(known))
        if unknown:
            names = ", ".join(sorted(known)) or "(none)"
            raise BenchError(f"method {self.name!r}: unknown option(s) {', '.join(unknown)}; known: {names}")
        self.options: dict[str, Any] = {
            k: _coerce(k, options.get(k, d), d) for k, d in sorted(self.defaults.items())
        }
        self.runtime: dict[str, Any] = {
            k: _coerce(k, options.get(k, d), d) for k, d in sorted(self.runtime_defaults.items())
        }
        self.meta: dict[str, Any] = {}

    @property
    def origin(self) -> str:
        """Where the method's code comes from: module and class (a plugin's differs from a builtin's). A
        builtin class keeps the module it had when its records were first written (RECORDED_MODULES)."""
        module = type(self).__module__
        if is_builtin(self):
            module = RECORDED_MODULES.get(module, module)
        return f"{module}.{type(self).__qualname__}"

    @property
    def fingerprint(self) -> str:
        """Short stable hash of name + origin + options + algorithm version (12 hex digits); a plugin's
        also holds `code_digest` (its code and weights), a builtin's does not (its `version` says when
        its algorithm changed, and stored records stay valid)."""
        material = dict(name=self.name, origin=self.origin, version=self.version, options=self.options)
        if not is_builtin(self):
            material["code"] = self.code_digest
        blob = json.dumps(material, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def code_digest(self) -> str:
        """16 hex digits over what determines a plugin's outputs besides its options: the source of its
        class and module (and of its plugin base classes), and the state dict of every nn.Module it holds.
        Taken once per instance (bench.methods.inpainters.code_digest)."""
        digest = self.__dict__.get("_code_digest")
        if digest is None:
            digest = self.__dict__["_code_digest"] = code_digest(self)
        return digest

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({self.name}: {opts})"

    def inpaint(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) float in [0,1], (B,1,H,W) {0,1} 1=valid -> (B,3,H,W) with valid pixels kept exactly."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (B,3,H,W), got {tuple(images.shape)}")
        b, _, h, w = images.shape
        if masks.ndim != 4 or tuple(masks.shape) != (b, 1, h, w):
            raise ValueError(f"masks must be (B,1,H,W) = {(b, 1, h, w)}, got {tuple(masks.shape)}")
        images = images.float()
        valid = masks.to(images.device) > 0.5  # (B,1,H,W) bool
        if b == 0:
            return images.clone()
        fill = self._fill(images, valid.float())
        _check_fill(fill, images, valid)
        # A raw fill beyond [0,1] (a network's unbounded output, a solver's overshoot) is clamped: that is
        # part of the method. A non-finite one is refused, never replaced (docs/conventions.md).
        fill = fill.to(images.device, torch.float32).clamp(0.0, 1.0)
        # torch.where keeps valid pixels bit-exact (m*img + (1-m)*fill would turn NaN*0 into NaN).
        return torch.where(valid, images, fill)

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Raw (B,3,H,W) output; only its hole pixels are used. Masks are exactly {0,1}."""
        raise NotImplementedError


# A builtin's origin is hashed into its fingerprint, hence into every record key: a class whose module
# moved keeps the name it had, so that stored records stay valid (frozen: tests/test_guards.py).
RECORDED_MODULES: dict[str, str] = {
    "bench.methods.inpainters": "bench.inpainters",
    "baselines.gl_gntipt": "baselines.released",
}

# Packages whose methods are builtins: their fingerprints hold no code digest (frozen: tests/test_guards.py).
BUILTIN_PACKAGES: tuple[str, ...] = ("bench", "baselines")


def is_builtin(method: Any) -> bool:
    """A method of this package; any other (a $PCONV_BENCH_PLUGINS module, a class defined in a script
    or notebook, a function or nn.Module wrapped by `as_inpainter`) is a plugin."""
    if getattr(method, "wraps_user_code", False):
        return False
    return type(method).__module__.split(".")[0] in BUILTIN_PACKAGES


def _class_source(cls: type) -> bytes:
    """The source of a class's module (its file), else of the class alone, else its functions' code."""
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    if path and Path(path).is_file():
        return Path(path).read_bytes()
    try:
        return inspect.getsource(cls).encode()
    except (OSError, TypeError):  # defined where no source is kept (e.g. exec of a string)
        codes = []
        for name, value in sorted(vars(cls).items()):
            func = getattr(value, "__func__", value)
            code = getattr(func, "__code__", None) or getattr(getattr(value, "fget", None), "__code__", None)
            if code is not None:
                codes.append(name.encode() + marshal.dumps(code))
        return b"\0".join(codes)


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes()


def code_digest(method: Any) -> str:
    """16 hex digits over a plugin's code (every non-builtin class of its MRO: its module's source) and
    the weights of every nn.Module attribute (names, dtypes, shapes and bytes of their state dicts).

    A function (a lambda, a bound method, a functools.partial: what `as_inpainter` wraps) is hashed by
    its code and what it reads (`_function_into`)."""
    h = hashlib.sha256()
    if isinstance(method, types.FunctionType | types.MethodType | functools.partial):
        _function_into(h, method, set())
    else:
        _object_into(h, method)
    return h.hexdigest()[:16]


def _object_into(h: Any, method: Any) -> None:
    """An object's code (its non-builtin classes' sources) and the weights of its nn.Modules into `h`."""
    for cls in type(method).__mro__:
        top = cls.__module__.split(".")[0]
        if top in (*BUILTIN_PACKAGES, "builtins", "torch", "abc", "typing"):
            continue
        h.update(f"class {cls.__module__}.{cls.__qualname__}\n".encode())
        h.update(_class_source(cls))
    held = sorted(vars(method).items()) + ([("self", method)] if isinstance(method, torch.nn.Module) else [])
    for attr, value in held:
        if isinstance(value, torch.nn.Module):
            h.update(f"module {attr}\n".encode())
            for key, t in sorted(value.state_dict().items()):
                h.update(f"{key} {t.dtype} {tuple(t.shape)}\n".encode())
                h.update(_tensor_bytes(t))


def _code_bytes(code: types.CodeType) -> bytes:
    """A code object's instructions, names and constants, nested code included, in an order that does not
    depend on the hash seed (marshal writes a frozenset constant in set order)."""
    parts = [code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            parts.append(_code_bytes(c))
        elif isinstance(c, frozenset):
            parts.append(repr(sorted(map(repr, c))).encode())
        else:
            parts.append(repr(c).encode())
    return b"\0".join(parts)


def _global_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _function_source(fn: types.FunctionType) -> bytes:
    """The source of the file a function was defined in, else its own (a notebook cell), else nothing."""
    path = Path(fn.__code__.co_filename)
    if path.is_file():
        return path.read_bytes()
    try:
        return inspect.getsource(fn).encode()
    except (OSError, TypeError):
        return b""


def _function_into(h: Any, fn: Any, seen: set[int]) -> None:
    """A function's code into `h`: its file's source (else its own) and its code object (two lambdas of
    one file differ), then what it reads besides its arguments: the object of a bound method, the
    arguments of a partial, its defaults, closure cells and the globals it names (`_value_into`)."""
    if id(fn) in seen:
        return
    seen.add(id(fn))
    if isinstance(fn, functools.partial):
        h.update(b"partial\n")
        _value_into(h, fn.func, seen, "")
        for v in (*fn.args, *(v for _, v in sorted(fn.keywords.items()))):
            _value_into(h, v, seen, "")
        return
    if isinstance(fn, types.MethodType):
        h.update(b"bound\n")
        _object_into(h, fn.__self__)
        fn = fn.__func__
    if not isinstance(fn, types.FunctionType):
        h.update(f"callable {getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', '')}\n".encode())
        return
    h.update(f"function {fn.__module__}.{fn.__qualname__}\n".encode())
    h.update(_function_source(fn))
    h.update(_code_bytes(fn.__code__))
    read = [*(fn.__defaults__ or ()), *(v for _, v in sorted((fn.__kwdefaults__ or {}).items()))]
    for cell in fn.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            read.append(cell.cell_contents)
    read += [fn.__globals__[n] for n in sorted(_global_names(fn.__code__)) if n in fn.__globals__]
    for v in read:
        _value_into(h, v, seen, fn.__module__)


def _value_into(h: Any, v: Any, seen: set[int], module: str) -> None:
    """A value a function reads, into `h`, when it can decide the function's output: an nn.Module (its
    code and weights), a tensor or array (its bytes), a number, string or a tuple or list of them, and a
    function, class or object defined in the function's own module (its code). Anything else (a library
    module, an object of a library) leaves no trace."""
    if isinstance(v, torch.nn.Module):
        h.update(f"module {code_digest(v)}\n".encode())
    elif isinstance(v, torch.Tensor):
        h.update(f"tensor {v.dtype} {tuple(v.shape)}\n".encode())
        h.update(_tensor_bytes(v))
    elif isinstance(v, np.ndarray):
        h.update(f"array {v.dtype} {v.shape}\n".encode() + np.ascontiguousarray(v).tobytes())
    elif v is None or isinstance(v, bool | int | float | complex | str | bytes):
        h.update(f"value {v!r}\n".encode())
    elif isinstance(v, tuple | list) and len(v) <= 1000:
        h.update(f"{type(v).__name__} {len(v)}\n".encode())
        for x in v:
            _value_into(h, x, seen, module)
    elif isinstance(v, types.FunctionType | types.MethodType | functools.partial):
        if not module or getattr(v, "__module__", None) == module:
            _function_into(h, v, seen)
    elif isinstance(v, type):
        if v.__module__ == module:
            h.update(_class_source(v))
    elif type(v).__module__ == module and id(v) not in seen:
        seen.add(id(v))
        _object_into(h, v)


class MethodOutputError(ValueError):
    """A method's output that no number may be computed from. `index`: the first offending image of the
    batch (None: the batch as a whole), so the evaluator can name the pair."""

    def __init__(self, reason: str, index: int | None = None) -> None:
        super().__init__(reason if index is None else f"{reason} (image {index} of the batch)")
        self.reason = reason
        self.index = index


# How far a method's output may lie outside [0,1] and still count as rounding (a quarter of a uint8
# step is 1/1020); such values are clamped, anything further is refused (docs/conventions.md).
OUTPUT_TOLERANCE = 1e-3


def _first(bad: torch.Tensor) -> int:
    """Position of the first True of a (B,) bool tensor."""
    return int(torch.nonzero(bad)[0, 0])


def _check_fill(fill: Any, images: torch.Tensor, valid: torch.Tensor) -> None:
    """A `_fill` result: a floating (B,3,H,W) tensor, finite on every hole pixel."""
    if not isinstance(fill, torch.Tensor):
        raise MethodOutputError(f"_fill returned {type(fill).__name__}, not a tensor")
    if tuple(fill.shape) != tuple(images.shape):
        raise MethodOutputError(f"returned shape {tuple(fill.shape)} for a batch of {tuple(images.shape)}")
    if not fill.is_floating_point():
        raise MethodOutputError(f"returned dtype {fill.dtype}; expected floats in [0,1]")
    hole = ~valid.to(fill.device).expand_as(fill)  # (B,3,H,W): only hole pixels of a fill are used
    bad = (hole & ~torch.isfinite(fill)).flatten(1).any(dim=1)
    if bool(bad.any()):
        raise MethodOutputError("returned NaN or infinite values in the hole", _first(bad))


def check_output(output: Any, images: torch.Tensor) -> torch.Tensor:
    """A method's output checked before any number is computed from it: a floating tensor of exactly
    the batch's shape (B,3,H,W), finite, in [0,1] within OUTPUT_TOLERANCE (clamped to [0,1] then).
    Raises MethodOutputError naming the first offending image.

    >>> x = torch.rand(2, 3, 4, 4)
    >>> check_output(x, x) is x
    True
    """
    if not isinstance(output, torch.Tensor):
        raise MethodOutputError(f"returned {type(output).__name__}, not a tensor")
    if tuple(output.shape) != tuple(images.shape):
        raise MethodOutputError(
            f"returned shape {tuple(output.shape)} for a batch of {tuple(images.shape)}; "
            "one (3,H,W) image per input image is needed"
        )
    if not output.is_floating_point():
        raise MethodOutputError(f"returned dtype {output.dtype}; expected floats in [0,1]")
    flat = output.detach().flatten(1)  # (B, 3*H*W)
    bad = ~torch.isfinite(flat).all(dim=1)
    if bool(bad.any()):
        raise MethodOutputError("returned NaN or infinite values", _first(bad))
    lo, hi = flat.amin(dim=1), flat.amax(dim=1)
    bad = (lo < -OUTPUT_TOLERANCE) | (hi > 1.0 + OUTPUT_TOLERANCE)
    if bool(bad.any()):
        i = _first(bad)
        raise MethodOutputError(
            f"returned values in [{float(lo[i]):.4g}, {float(hi[i]):.4g}], outside [0,1] (images are floats "
            "in [0,1], not 0-255)",
            i,
        )
    if bool((lo < 0).any() or (hi > 1).any()):
        return output.clamp(0.0, 1.0)
    return output


def image_seed(seed: int, image: np.ndarray, valid: np.ndarray) -> int:
    """A per-image seed from the method seed and the (image, mask) bytes.

    The same pair gets the same seed whatever the batch it sits in and whatever the worker count. Hole
    pixels are zeroed first: what lies under the hole must not change the result.
    """
    valid = np.ascontiguousarray(valid, dtype=bool)
    known = np.where(valid[..., None], np.asarray(image, dtype=np.float32), np.float32(0))
    h = hashlib.blake2b(digest_size=8)
    h.update(int(seed).to_bytes(8, "little", signed=True))
    h.update(np.ascontiguousarray(known).tobytes())
    h.update(valid.tobytes())
    return int.from_bytes(h.digest(), "little") >> 1  # non-negative, fits int64


class PerImageInpainter(Inpainter):
    """A method that works on one (H,W,3) numpy image at a time, run over a batch with `workers` threads.

    Subclasses implement `fill_one(image, valid, seed) -> (H,W,3)`; it is only called on images that have
    both hole and valid pixels (no hole: returned unchanged; all hole: HOLE_FILL). `seed` is
    `image_seed(options["seed"], image, valid)` for a method with a "seed" option, else 0 (hashing the
    image costs ~4 ms at 512 px, wasted on a deterministic method). Threads give real parallelism because
    the heavy parts (cv2, numba nogil, skimage/numpy) release the GIL.
    """

    runtime_defaults: ClassVar[dict[str, Any]] = {"workers": 1}

    def fill_one(self, image: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
        raise NotImplementedError

    def _one(self, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
        if valid.all():
            return image
        if not valid.any():
            return np.full_like(image, HOLE_FILL)
        seed = image_seed(int(self.options["seed"]), image, valid) if "seed" in self.options else 0
        out = self.fill_one(image, valid, seed)
        return np.asarray(out, dtype=np.float32).reshape(image.shape)

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        imgs = np.ascontiguousarray(images.detach().cpu().numpy().transpose(0, 2, 3, 1), dtype=np.float32)
        valid = masks.detach().cpu().numpy()[:, 0] > 0.5  # (B,H,W) bool
        workers = int(self.runtime.get("workers", 1)) or (os.cpu_count() or 1)
        workers = max(1, min(workers, len(imgs)))
        if workers == 1:
            outs = [self._one(imgs[i], valid[i]) for i in range(len(imgs))]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outs = list(pool.map(self._one, list(imgs), list(valid)))
        out = np.stack(outs).transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(out)).to(images.device)


# ------------------------------------------------------------------ your code as a method (bench.api)


def _display_name(obj: Any) -> str:
    """A method name for a wrapped function or module: its __name__ (a lambda: 'lambda') or class name."""
    target = obj.func if isinstance(obj, functools.partial) else obj
    if isinstance(target, types.FunctionType | types.MethodType):
        name = target.__name__
    else:
        name = type(target).__name__
    return re.sub(r"[^A-Za-z0-9_\-]+", "", name) or "method"


class WrappedInpainter(Inpainter):
    """Your code as a method: `wrapped` (a function or an nn.Module) under `name`. It is a plugin
    (`is_builtin` is False): its fingerprint holds `code_digest(wrapped)`, the digest of its code and
    weights, taken when an evaluation starts, so a change recomputes instead of reusing records."""

    wraps_user_code: ClassVar[bool] = True

    def __init__(self, wrapped: Any, name: str | None = None) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.name = str(name) if name else _display_name(wrapped)  # type: ignore[misc]

    @property
    def origin(self) -> str:
        w = self.wrapped.func if isinstance(self.wrapped, functools.partial) else self.wrapped
        what = w if isinstance(w, types.FunctionType | types.MethodType) else type(w)
        return f"{getattr(what, '__module__', '?')}.{getattr(what, '__qualname__', '?')}"

    @property
    def code_digest(self) -> str:
        digest = self.__dict__.get("_code_digest")
        if digest is None:
            digest = self.__dict__["_code_digest"] = code_digest(self.wrapped)
        return digest


class CallableInpainter(WrappedInpainter):
    """A function `(images, masks) -> images` on batches in the project's conventions: images float32
    (B,3,H,W) in [0,1], masks (B,1,H,W), 1 = valid. It never sees the hole pixels (they hold HOLE_FILL),
    its output is checked as every method's (`check_output`: shape, finite, within [0,1]: a 0-255 image
    is refused, never clamped) and its valid pixels are replaced by the input's."""

    def inpaint(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        images = images.float()
        valid = masks.to(images.device) > 0.5  # (B,1,H,W)
        given = torch.where(valid, images, torch.full_like(images, HOLE_FILL))
        output = check_output(self.wrapped(given, valid.float()), images)
        return torch.where(valid, images, output.to(images.device, torch.float32))


class ModuleInpainter(WrappedInpainter):
    """An nn.Module taking the paper's (image, mask): image (B,3,H,W) in [0,1] with its holes at
    HOLE_FILL, mask (B,1,H,W) with 1 = valid, returning an image or an (image, mask) tuple, like the
    builtin PConv. It runs on the device and dtype of its parameters, in eval mode (its training flag is
    restored afterwards); its raw output is clamped to [0,1] like every network's (`Inpainter.inpaint`)."""

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        module = self.wrapped
        param = next(iter(module.parameters()), None)
        device = param.device if param is not None else images.device
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        x = torch.where(masks > 0.5, images, torch.full_like(images, HOLE_FILL))
        training = module.training
        module.eval()
        try:
            y = module(x.to(device, dtype), masks.to(device, dtype))
        finally:
            module.train(training)
        if isinstance(y, tuple | list) and y:
            y = y[0]
        return y.float().to(images.device) if isinstance(y, torch.Tensor) else y


def as_inpainter(method: Any, name: str | None = None) -> Inpainter:
    """An Inpainter as it is, an nn.Module as a ModuleInpainter, any other callable as a
    CallableInpainter (`name`: the method's name, else the function's or class's); anything else is a
    BenchError."""
    if isinstance(method, Inpainter):
        return method
    if isinstance(method, torch.nn.Module):
        return ModuleInpainter(method, name)
    if callable(method) and not isinstance(method, type):
        return CallableInpainter(method, name)
    raise BenchError(
        f"method {method!r}: expected a method name or spec ('telea', 'pconv=PATH'), an Inpainter, a "
        "function (images, masks) -> images or an nn.Module taking (image, mask)"
    )


# ---------------------------------------------------------------------------------------------- registry

_FACTORIES: dict[str, Callable[..., Inpainter]] = {}
_ORIGINS: dict[str, str] = {}  # name -> module.qualname of the factory that registered it


def register(name: str) -> Callable[[Callable[..., Inpainter]], Callable[..., Inpainter]]:
    """Decorator: `@register("mymethod")` on a class or function `(**options) -> Inpainter`.

    A name belongs to the first code that registers it: a plugin registering a builtin's name (or
    another plugin's) is refused, so a stored result can never be mistaken for another method's.
    """
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"method name {name!r} must be letters, digits, '_' or '-'")

    def deco(factory: Callable[..., Inpainter]) -> Callable[..., Inpainter]:
        origin = f"{factory.__module__}.{factory.__qualname__}"
        previous = _ORIGINS.get(name)
        if previous is not None and previous != origin:
            kind = "a builtin" if previous.split(".")[0] in BUILTIN_PACKAGES else "another plugin"
            raise BenchError(
                f"method name {name!r} is taken by {kind} ({previous}); {origin} must register another name"
            )
        _FACTORIES[name] = factory
        _ORIGINS[name] = origin
        return factory

    return deco


def available() -> list[str]:
    """Names of every registered method, sorted."""
    load_plugins()
    return sorted(_FACTORIES)


def get_inpainter(name: str, **options: Any) -> Inpainter:
    """The method `name` built with `options` (CLI strings are converted to the options' types)."""
    load_plugins()
    if name not in _FACTORIES:
        raise BenchError(f"unknown method {name!r}; known methods: {', '.join(available())}")
    return _FACTORIES[name](**options)


def parse_method_spec(spec: str) -> tuple[str, dict[str, str]]:
    """`--method` syntax -> (name, options).

    `NAME`, `NAME=CHECKPOINT` (-> options["checkpoint"]), or `NAME:key=value,key=value`.

    >>> parse_method_spec("pconv=runs/x/last.pt")
    ('pconv', {'checkpoint': 'runs/x/last.pt'})
    >>> parse_method_spec("patchmatch:patch_size=9,seed=1")
    ('patchmatch', {'patch_size': '9', 'seed': '1'})
    """
    spec = spec.strip()
    m = re.fullmatch(r"([A-Za-z0-9_\-]+):(.*)", spec, flags=re.S)
    if m:
        name, rest = m.group(1), m.group(2)
        options: dict[str, str] = {}
        for item in filter(None, (s.strip() for s in rest.split(","))):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise BenchError(f"--method {spec!r}: expected NAME:key=value,key=value")
            options[key.strip()] = value.strip()
        return name, options
    name, sep, checkpoint = spec.partition("=")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise BenchError(f"--method {spec!r}: expected NAME, NAME=CHECKPOINT or NAME:key=value,...")
    if sep:
        if not checkpoint:
            raise BenchError(f"--method {spec!r}: empty checkpoint path after '='")
        return name, {"checkpoint": checkpoint}
    return name, {}


def get_inpainters(specs: Sequence[str], **common: Any) -> list[Inpainter]:
    """One inpainter per `--method` spec; `common` options (e.g. workers) go to every method taking them."""
    out = []
    for spec in specs:
        name, opts = parse_method_spec(spec)
        load_plugins()
        factory = _FACTORIES.get(name)
        if isinstance(factory, type) and issubclass(factory, Inpainter):
            accepted = {**factory.defaults, **factory.runtime_defaults}
            opts = {**{k: v for k, v in common.items() if k in accepted}, **opts}
        out.append(get_inpainter(name, **opts))
    return out


# ------------------------------------------------------------------------------------ learned: pconv, conv


class CheckpointInpainter(Inpainter):
    """A U-Net trained by `bench train`, loaded from its checkpoint (weights_only)."""

    arch_conv: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {"checkpoint": ""}
    runtime_defaults: ClassVar[dict[str, Any]] = {"device": "auto", "batch_size": 8}

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        path = self.options["checkpoint"]
        if not path:
            raise BenchError(f"method {self.name!r} needs a checkpoint: --method {self.name}=PATH/TO/last.pt")
        p = Path(path)
        if not p.is_file():
            from bench.models.checkpoint import missing_checkpoint

            raise missing_checkpoint(p, f"method {self.name!r}: checkpoint")
        try:
            data = p.read_bytes()
        except OSError as e:
            raise BenchError(
                f"method {self.name!r}: checkpoint {path} cannot be read ({e.strerror})"
            ) from None
        self.options["checkpoint"] = str(p)
        # Hashed and loaded from the same bytes: the file may be replaced meanwhile (`bench train` renames
        # last.pt every few steps), and the hash must name the weights actually used.
        self.options["checkpoint_sha256"] = hashlib.sha256(data).hexdigest()
        from bench.core.device import resolve_device
        from bench.models.checkpoint import load_checkpoint_model

        model, meta = load_checkpoint_model(p, device="cpu", data=data)
        del data
        _refuse_non_finite(model, self.name, path)
        arch = meta.get("arch")
        conv = arch.get("conv") if isinstance(arch, dict) else arch
        if conv != self.arch_conv:
            from bench.models.registry import model_for_arch

            spec = model_for_arch(arch, path)  # the method that reads it: the trained model's own name
            other = spec.name
            what = f"a {spec.name} generator" if spec.arch_names_model else f"{conv!r} convolutions"
            raise BenchError(
                f"method {self.name!r} needs a checkpoint with {self.arch_conv!r} convolutions, but {path} "
                f"holds {what}; use --method {other}={path}"
            )
        self.device = resolve_device(self.runtime["device"])
        self.model = model.to(self.device).eval()
        # features: the label of the network behind the perceptual/style loss (a stand-in is flagged).
        self.meta = {
            "features": meta.get("features"),
            "features_standin": meta.get("features_standin"),
            "arch": arch,
            "step": meta.get("step"),
            "phase": meta.get("phase"),
        }

    def check_size(self, hw: tuple[int, int]) -> None:
        """Refuse images the U-Net cannot take (called by the evaluator before it writes anything): each
        of its `layers` stride-2 steps halves the image, so H and W must be multiples of 2**layers."""
        layers = int(getattr(self.model, "layers", 0) or 0)
        step = 2**layers
        if layers and (hw[0] % step or hw[1] % step):
            raise BenchError(
                f"method {self.name!r}: {self.options['checkpoint']} is a {layers}-layer U-Net, which needs "
                f"images whose sides are multiples of {step} px; these are {hw[1]}x{hw[0]}"
            )

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        bs = max(1, int(self.runtime["batch_size"]))
        outs = []
        with torch.no_grad():
            for i in range(0, images.shape[0], bs):
                img = images[i : i + bs].to(self.device)
                m = masks[i : i + bs].to(self.device)
                # Hole pixels never reach the network: filled with 0.5 (the Conv baseline's 127.5).
                x = torch.where(m > 0.5, img, torch.full_like(img, HOLE_FILL))
                y = self.model(x, m)
                if isinstance(y, tuple | list):
                    y = y[0]
                outs.append(y.float().to(images.device))
        return torch.cat(outs)


def _refuse_non_finite(model: torch.nn.Module, name: str, path: str) -> None:
    """A checkpoint whose weights hold NaN or infinity (a diverged run) is refused before any output:
    its holes would all come out NaN."""
    bad = [k for k, v in model.state_dict().items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise BenchError(
            f"method {name!r}: checkpoint {path} holds NaN or infinite weights ({bad[0]}{more}); "
            "the training run diverged: use an earlier checkpoint"
        )


@register("pconv")
class PConvInpainter(CheckpointInpainter):
    """PConv: the U-Net with partial convolutions (Liu et al. 2018)."""

    name = "pconv"
    arch_conv = "partial"


@register("conv")
class ConvInpainter(CheckpointInpainter):
    """Conv: the same U-Net with ordinary convolutions, holes filled with 0.5."""

    name = "conv"
    arch_conv = "standard"
