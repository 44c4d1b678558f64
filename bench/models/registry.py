"""The registry of trainable models: everything `bench train`, checkpoints and `bench reproduce` ask of a
model, in one registration per model. Code outside a registration never branches on a model's name.

A registration (`TrainableModel`) says how to build the generator from a checkpoint's `arch` and from a
TrainConfig, its critics (None: none), its optimisers, its one training step, how a step is run in a
phase (`wrap`), its phase and learning rate as logged, and whether its loss reads the perceptual/style
feature network. The builtin registrations live with their model (bench.models.unet.recipe: PConv and
Conv; bench.models.gl.recipe, bench.models.gntipt.recipe) and are imported by name on first use, then the
plugin modules named in $PCONV_BENCH_PLUGINS (bench.core.plugins), which may call `register_model` too.

>>> "pconv" in model_names() and get_model("gl").critics is not None
True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.core.errors import BenchError
from bench.core.plugins import load_plugins


@dataclass(frozen=True)
class TrainableModel:
    """One trainable model. `cfg` is a bench.training.config.TrainConfig and `run` bench.training.loop's run
    state.

    build(arch) -> nn.Module: the generator a checkpoint's `arch` dict describes (a BenchError or
        TypeError/ValueError/KeyError when it cannot).
    weights(arch, path) -> int: its convolution weights, estimated without building it (bounds check
        of bench.models.checkpoint.check_arch before any tensor is allocated).
    make(cfg, device) -> (nn.Module, arch): the generator of a new run, initialised from cfg.seed.
    optimisers(cfg, model, critics) -> (generator's optimiser, critics' optimiser or None).
    step(run, model, images, masks, step, last_saved) -> (logged terms, output): one training step.
    wrap(run, phase) -> nn.Module: what `step` is given in `phase`
    (bench.training.config.TrainConfig.phase_of). phase(cfg, step) -> int, lr(run, step) -> float: the phase
    and learning rate logged for a step. critics(cfg) -> nn.Module: its discriminators/critics (None: it has
    none). They are checkpointed
        under "discriminator" and their optimiser under "optimizer_d".
    conv: TrainConfig.conv of its runs ("standard" for the Conv baseline). twin: the model that
        `--conv standard` selects in place of this one (None: the option does not apply).
    arch_names_model: whether its arch dict carries "model" (PConv's and Conv's do not: a checkpoint's
        arch without it is a U-Net, told apart by arch["conv"]).
    uses_features: whether its loss reads the feature network (`--features`); else it trains with "none".
    on_start(run): called once the run's state is built or resumed, before the first step, or None.
    check(cfg): extra validation of a config naming it (a BenchError), or None.
    """

    name: str
    build: Callable[..., Any]
    weights: Callable[..., int]
    make: Callable[..., Any]
    optimisers: Callable[..., Any]
    step: Callable[..., Any]
    wrap: Callable[..., Any]
    phase: Callable[..., int]
    lr: Callable[..., float]
    critics: Callable[..., Any] | None = None
    conv: str = "partial"
    twin: str | None = None
    arch_names_model: bool = True
    uses_features: bool = False
    on_start: Callable[..., None] | None = None
    check: Callable[..., None] | None = None
    summary: str = ""  # one line for `bench train --help`


_MODELS: dict[str, TrainableModel] = {}
_ORIGINS: dict[str, str] = {}  # name -> the module that registered it


def register_model(spec: TrainableModel, origin: str | None = None) -> TrainableModel:
    """Add `spec` to the registry. A name belongs to the first module that registers it; registering it
    again from the same module (a reload) replaces the entry."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", spec.name):
        raise ValueError(f"model name {spec.name!r} must be letters, digits, '_' or '-'")
    origin = origin or getattr(spec.make, "__module__", "?")
    previous = _ORIGINS.get(spec.name)
    if previous is not None and previous != origin:
        raise BenchError(
            f"model name {spec.name!r} is taken by {previous}; {origin} must register another name"
        )
    _MODELS[spec.name] = spec
    _ORIGINS[spec.name] = origin
    return spec


def model_names() -> tuple[str, ...]:
    """Every registered trainable model, builtins first, in registration order."""
    load_plugins()
    return tuple(_MODELS)


def get_model(name: str) -> TrainableModel:
    """The registration of `name`; an unknown name is a BenchError listing the known ones."""
    load_plugins()
    if name not in _MODELS:
        raise BenchError(f"model must be one of {', '.join(_MODELS)}, not {name!r}")
    return _MODELS[name]


def model_for_arch(arch: dict[str, Any], path: Any) -> TrainableModel:
    """The registration that built a checkpoint's `arch`: named by arch["model"], or, without that key,
    the model whose arch carries none and whose convolutions are arch["conv"]."""
    load_plugins()
    name = arch.get("model")
    if name is not None:
        if name not in _MODELS or not _MODELS[name].arch_names_model:
            raise BenchError(f"{path}: checkpoint arch names an unknown model {name!r}")
        return _MODELS[name]
    unnamed = [spec for spec in _MODELS.values() if not spec.arch_names_model]
    if not unnamed:
        raise BenchError(f"{path}: checkpoint arch {arch} names no model")
    # An unknown conv: the first such model, whose build refuses it with its own message.
    return next((s for s in unnamed if s.conv == arch.get("conv", "partial")), unnamed[0])
