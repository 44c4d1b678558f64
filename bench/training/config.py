"""Configuration of `bench train` and `bench reproduce`: one chain of defaults for both.

Two dataclasses hold every setting with defaults that run on a CPU: `TrainConfig` (the trainer) and
`ReproduceConfig` (what `bench reproduce` adds: test masks, evaluation, methods). One table of profiles,
`PROFILES`, overrides both. Precedence (nanoGPT style), the same for both commands:

    dataclass defaults < profile < `--config FILE.yaml` < command-line options

A YAML file or option naming a setting both dataclasses have (size, seed, workers) sets it in both;
`steps` sets the total of the two training phases. When the image size is overridden and the depth is
not, the depth follows the size.

>>> cfg = resolve_config("smoke", overrides={"steps": 4})
>>> cfg.steps_phase1, cfg.steps_phase2
(3, 1)
>>> rep, train = resolve_reproduce("quick", overrides={"per_bin": 3})
>>> rep.per_bin, rep.size == train.size == 128
(3, True)
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.device import PRECISIONS
from bench.core.errors import BenchError

CONVS = ("partial", "standard")
MASK_AUGMENTS = ("auto", "nvidia", "flips", "none")
FEATURES = ("auto", "vgg16", "efficientnet-lite0", "none")
INITS = ("he", "torch")  # bench.models.unet.network.InpaintingUNet.init_weights
GL_OPTIMIZERS = ("adam", "adadelta")  # bench.models.gl.network.OPTIMIZERS


@dataclass
class TrainConfig:
    """Every knob of `bench train`. The defaults run on a CPU (the `quick` profile, with the full loss)."""

    profile: str = "quick"
    # Network (bench.models.unet.network.InpaintingUNet): layers None -> from the image size (8 at 512 px).
    size: int = 128
    width: int = 32  # U-Net width; GL's width; GntIpt's cnum (the papers use 64, 64 and 32)
    layers: int | None = None
    model: str = "pconv"  # a registered trainable model (bench.models.registry.model_names)
    conv: str = "partial"  # kept for `--conv standard`, a synonym of `--model conv`
    # Optimisation: Adam at lr for phase 1 (BatchNorm on), finetune_lr for phase 2 (encoder BN frozen).
    # The phase boundary is steps_phase1, fixed here, never by where a run happens to stop.
    batch_size: int = 4  # per process (per GPU under torchrun)
    lr: float = 2e-4
    finetune_lr: float = 5e-5
    steps_phase1: int = 1000
    steps_phase2: int = 200
    seed: int = 0
    # Recipe knobs beyond the paper's (whose values are the defaults): a linear learning-rate warm-up over
    # the first warmup_steps steps; an exponential moving average of the weights (decay ema_decay, 0 = off;
    # the averaged weights are the ones evaluated); init "he" (the paper's) or "torch" (PyTorch's default
    # kaiming-uniform, a = sqrt(5): weights about 2.4x smaller).
    warmup_steps: int = 0
    ema_decay: float = 0.0
    init: str = "he"
    # Loss-term weights that replace the paper's (bench.models.unet.loss.WEIGHTS), e.g. {"tv": 1.0}; None: the
    # paper's.
    loss_weights: dict[str, float] | None = None
    # GntIpt only: WGAN-GP critic updates per generator step, on the step's batch (the released trainer
    # takes 5, on fresh batches; 1 keeps CPU runs affordable). GL alternates 1:1 as in its paper.
    critic_steps: int = 1
    # GntIpt only: the critics' base width (None: the release's 64, whatever the generator's cnum) and
    # Adam's learning rate (None: lr; the release's is 1e-4).
    critic_width: int | None = None
    gntipt_lr: float | None = None
    # GL only: adam (at lr) or adadelta (the paper's optimiser, which has no learning rate).
    gl_optimizer: str = "adam"
    # Loss features (bench.metrics.features.load_feature_net).
    features: str = "auto"
    feature_weights: str | None = None
    allow_download: bool = False
    # Bookkeeping.
    checkpoint_every: int = 100
    keep_every: int = 0  # also keep DIR/steps/step_NNNNNNN.pt every this many steps (0: only last.pt)
    sample_every: int = 200
    log_every: int = 1
    # Hardware.
    device: str = "auto"
    # Autocast precision: auto = bf16 where the device computes it natively (a CUDA GPU with bf16, a CPU
    # with AVX-512 BF16 or AMX), else fp32. The master weights and the optimiser stay in fp32.
    precision: str = "fp32"
    amp: bool = False  # the former name of precision bf16 (kept so old configs and --amp still work)
    channels_last: bool = False  # channels-last memory format, on the CPU and on CUDA
    workers: int = 0  # DataLoader worker processes
    # Masks drawn fresh per sample (masks.sampler.MaskSampler) when no mask folder is given.
    mask_kind: str = "mixed"
    # With --masks DIR: how each drawn mask is varied. nvidia = NVIDIA's pipeline (threshold 0.6, hole
    # dilation 9-49 px at 512 px, translation, rotation, crop; masks.augment); flips = the 8 flips and
    # quarter turns; none. auto = nvidia for an imported or raw mask folder, flips for a generated set.
    mask_augment: str = "auto"
    # nvidia's binarisation: hole where 1 - v/255 >= mask_threshold. NVIDIA's page says "threshold 0.6"
    # without a direction: 0.6 reads it on the hole channel (hole where v <= 102), 0.4 the other way
    # (valid where v/255 > 0.6, so hole where v <= 153); masks.augment.
    mask_threshold: float = 0.6
    mask_bin_weights: dict[str, float] | None = None  # e.g. {"0.3-0.4": 1.0}; None = uniform
    mask_group_weights: dict[str, float] | None = None  # {"N": .., "B": ..}; None = uniform
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, carried into the checkpoint

    @property
    def total_steps(self) -> int:
        return self.steps_phase1 + self.steps_phase2

    def phase_of(self, step: int) -> int:
        """Phase (1 or 2) of the optimisation step with 0-based index `step`."""
        return 1 if step < self.steps_phase1 else 2

    def lr_of(self, step: int) -> float:
        """Learning rate of step `step` (0-based): phase 1's lr after a linear warm-up, then finetune_lr."""
        if self.phase_of(step) == 2:
            return self.finetune_lr
        return self.lr * min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps else self.lr

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "config") -> TrainConfig:
        return apply_overrides(cls(), d, source)

    def validate(self) -> TrainConfig:
        from bench.models.registry import get_model

        spec = get_model(self.model)  # an unknown name: a BenchError listing the registered ones
        if self.conv == "standard" and spec.twin is not None:
            self.model, spec = spec.twin, get_model(spec.twin)  # --conv standard
        self.conv = spec.conv
        if self.conv not in CONVS:
            raise BenchError(f"conv must be one of {', '.join(CONVS)}, not {self.conv!r}")
        if self.mask_augment not in MASK_AUGMENTS:
            raise BenchError(
                f"mask_augment must be one of {', '.join(MASK_AUGMENTS)}, not {self.mask_augment!r}"
            )
        self._validate_loss_weights()
        if self.init not in INITS:
            raise BenchError(f"init must be one of {', '.join(INITS)}, not {self.init!r}")
        if not 0.0 <= self.ema_decay < 1.0 or self.warmup_steps < 0:
            raise BenchError(f"ema_decay must be in [0, 1) and warmup_steps >= 0, not {self.ema_decay} and "
                             f"{self.warmup_steps}")  # fmt: skip
        if self.precision not in PRECISIONS:
            raise BenchError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.amp:  # the former --amp
            self.precision = "bf16"
        if self.features not in FEATURES:
            raise BenchError(f"features must be one of {', '.join(FEATURES)}, not {self.features!r}")
        if not 0.0 < self.mask_threshold <= 1.0:
            raise BenchError(f"mask_threshold must lie in (0, 1], not {self.mask_threshold}")
        if self.gl_optimizer not in GL_OPTIMIZERS:
            raise BenchError(f"gl_optimizer must be one of {', '.join(GL_OPTIMIZERS)}, not "
                             f"{self.gl_optimizer!r}")  # fmt: skip
        bad_lr = self.gntipt_lr is not None and not self.gntipt_lr > 0
        if (self.critic_width is not None and self.critic_width < 1) or bad_lr:
            raise BenchError(f"critic_width must be at least 1 and gntipt_lr positive, not "
                             f"{self.critic_width} and {self.gntipt_lr}")  # fmt: skip
        for name in ("size", "width", "batch_size", "critic_steps", "checkpoint_every", "sample_every",
                     "log_every"):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise BenchError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.steps_phase1 < 0 or self.steps_phase2 < 0 or self.total_steps < 1:
            raise BenchError(
                f"steps must be positive (phase 1: {self.steps_phase1}, phase 2: {self.steps_phase2})"
            )
        if self.workers < 0:
            raise BenchError(f"workers must be >= 0, not {self.workers}")
        if not (self.lr > 0 and self.finetune_lr > 0):
            raise BenchError("learning rates must be positive")
        self._validate_bounds()
        if spec.check is not None:
            spec.check(self)
        return self

    def _validate_loss_weights(self) -> None:
        """Values here; the term names are checked by bench.training.loop against
        bench.models.unet.loss.WEIGHTS."""
        for k, v in (self.loss_weights or {}).items():
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
                raise BenchError(f"loss_weights: {k} must be a number >= 0, not {v!r}")

    def _validate_bounds(self) -> None:
        """Seed, size and depth: checked here, before any folder is claimed or tensor allocated."""
        from bench.core.files import MAX_SIDE_ENV, max_side

        if not 0 <= self.seed < 2**63:
            raise BenchError(f"seed must be between 0 and 2**63 - 1, not {self.seed}")
        if self.size > max_side():
            raise BenchError(
                f"size {self.size} is larger than the maximum image side {max_side()} px (set {MAX_SIDE_ENV} "
                "to raise it)"
            )


# Methods of Table 1 that `bench reproduce` runs besides the learned ones.
BASELINES: tuple[str, ...] = ("patchmatch", "telea", "ns", "biharmonic", "mean")


@dataclass(frozen=True)
class ReproduceConfig:
    """What `bench reproduce` decides besides training; the defaults are the `quick` profile."""

    profile: str = "quick"
    size: int = 128  # image and mask size, px (also the training size)
    per_bin: int = 24  # test masks per bin and group
    eval_limit: int | None = None  # test images used (None: all)
    methods: tuple[str, ...] = ("pconv", "conv", "gl", "gntipt", *BASELINES)
    method_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Network width of each trained model where it differs from the training config's `width` (GL's
    # width, GntIpt's cnum). Every model gets the same number of training steps.
    model_widths: dict[str, int] = field(default_factory=dict)
    # Training settings of one model over the profile's, e.g. {"gntipt": {"steps": 300}} (a profile's
    # "models" entry, less what a config file or option sets): how the CPU profiles give every model the
    # same wall-clock budget.
    model_train: dict[str, dict[str, Any]] = field(default_factory=dict)
    paired: tuple[str, str] = ("pconv", "conv")
    pairing: str = "cross"  # bench.runs.pairing: cross or distinct (one test image per mask)
    seed: int = 0
    workers: int = 2  # processes for masks, threads for baselines and loading (also the training loader)
    # Inputs a paper run brings (None: made by the run): a prepared image set or a folder of images for
    # training (and testing, unless test_data is given), test masks (e.g. NVIDIA's, imported), training
    # masks (e.g. NVIDIA's raw ones: augmented with NVIDIA's pipeline), Inception weights for IS.
    data: str | None = None
    test_data: str | None = None
    masks: str | None = None
    train_masks: str | None = None
    is_weights: str | None = None


# Profiles: override sets on top of the dataclass defaults, for training and for reproduce. The
# defaults are the quick profile, which `make reproduce` runs on 2 CPU cores.
PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # Seconds, for tests and a first look: 64 px, 4 encoder layers, 8 channels, a few steps.
    "smoke": {
        "train": {
            "size": 64, "width": 8, "layers": 4, "batch_size": 2, "steps_phase1": 6, "steps_phase2": 2,
            "checkpoint_every": 4, "sample_every": 4, "features": "efficientnet-lite0", "critic_width": 8,
        },
        "reproduce": {
            "size": 64, "per_bin": 2, "eval_limit": 4,
            "method_options": {"patchmatch": {"patch_size": 5, "min_size": 16}},
        },
    },
    # 128 px, a narrow net (width 32, 6 encoder layers), 2 CPU cores, every trained model given about the
    # same wall-clock budget (about 3 minutes on 2 cores). PConv and Conv share one recipe, chosen by the
    # ablations in the README ("The CPU recipe", benchmarks/recipe_ablation.py): bf16 autocast where the CPU
    # has it, channels-last, batch 8, Adam at 5e-4 after a 100-step warm-up (paper: 2e-4), PyTorch's default
    # initialisation (paper: He's), and L_tv at weight 3 (paper: 0.1) in place of the perceptual and style
    # terms, which would cost 2-3x the U-Net's own step on 2 cores (logged as features "none"). GL and
    # GntIpt keep their own recipes at batch 4 and lr 2e-4, at width 16 and cnum 8 (the papers': 64 and
    # 32), GntIpt's critics at base width 8 (release: 64) with 1 critic step per generator step (release:
    # 5, lr 1e-4), GL with Adam (paper: ADADELTA, slow to start in a short run), each for the number of
    # steps that takes about as long as PConv's 1,200 ("models").
    "quick": {
        "train": {
            "features": "none", "critic_width": 8, "batch_size": 8, "lr": 5e-4, "warmup_steps": 100,
            "init": "torch", "loss_weights": {"tv": 3.0}, "precision": "auto",
            "channels_last": True,
        },
        "reproduce": {"model_widths": {"gl": 16, "gntipt": 8}},
        "models": {"gl": {"batch_size": 4, "lr": 2e-4, "steps": 800},
                   "gntipt": {"batch_size": 4, "lr": 2e-4, "steps": 280}},
    },
    # The quick recipe trained five times longer (the same rows at 128 px, at most 75 minutes on 2 cores):
    # where the learned rows are headed with more compute. A checkpoint is kept every 500 steps for the
    # learning curve (benchmarks/learning_curve.py --run runs/standard).
    "standard": {
        "train": {
            "features": "none", "critic_width": 8, "batch_size": 8, "lr": 5e-4, "warmup_steps": 100,
            "init": "torch", "loss_weights": {"tv": 3.0}, "precision": "auto",
            "channels_last": True, "steps_phase1": 5000, "steps_phase2": 1000, "checkpoint_every": 500,
            "sample_every": 1000, "keep_every": 500,
        },
        "reproduce": {"model_widths": {"gl": 16, "gntipt": 8}},
        "models": {"gl": {"batch_size": 4, "lr": 2e-4, "steps": 4000},
                   "gntipt": {"batch_size": 4, "lr": 2e-4, "steps": 1400}},
    },
    # Liu et al. 2018: 512 px, 8 encoder layers, 64 channels, batch 6, VGG-16 features, 1,000 test
    # masks per bin and group. The paper reports training time, not step counts; 1,000,000 + 100,000
    # steps is our documented choice.
    "paper": {
        "train": {
            "size": 512, "width": 64, "layers": 8, "batch_size": 6, "steps_phase1": 1_000_000,
            "steps_phase2": 100_000, "features": "vgg16", "checkpoint_every": 5000, "sample_every": 5000,
            "log_every": 50, "workers": 8,
            # GL: the paper's ADADELTA; GntIpt: the release's Adam lr 1e-4, 5 critic steps per step and
            # critics of base width 64 (the default).
            "gl_optimizer": "adadelta", "gntipt_lr": 1e-4, "critic_steps": 5,
        },
        "reproduce": {"size": 512, "per_bin": 1000, "workers": 8, "pairing": "distinct",
                      "model_widths": {"gl": 64, "gntipt": 32}},
    },
}  # fmt: skip


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Return a copy of `cfg` with `overrides` applied. `steps` (total) splits at the same proportion."""
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    over = dict(overrides)
    steps = over.pop("steps", None)
    unknown = sorted(set(over) - names)
    if unknown:
        raise BenchError(
            f"{source}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(names))})"
        )
    for name, value in over.items():
        _check_type(name, value, source)
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
        raise BenchError(f"{source}: setting 'steps' must be an integer, got {steps!r}")
    out = dataclasses.replace(cfg, **over)
    if steps is not None:
        out = with_total_steps(out, int(steps))
    return out


# The type each TrainConfig setting must have (None allowed where the default is None).
_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "float | None": (float, int),
    "bool": (bool,),
    "str": (str,),
    "int | None": (int,),
    "str | None": (str,),
    "dict[str, float] | None": (dict,),
    "dict[str, Any]": (dict,),
}


def _check_type(name: str, value: Any, source: str) -> None:
    """A BenchError naming the setting when `value` has the wrong type (YAML `size: abc`, say)."""
    field_type = {f.name: f.type for f in dataclasses.fields(TrainConfig)}[name]
    allowed = _TYPES.get(str(field_type), (object,))
    if value is None and "None" in str(field_type):
        return
    wrong_bool = isinstance(value, bool) and bool not in allowed
    if wrong_bool or not isinstance(value, allowed):
        raise BenchError(f"{source}: setting {name!r} must be {field_type}, got {value!r}")


def with_total_steps(cfg: TrainConfig, steps: int) -> TrainConfig:
    """Scale both phases to `steps` in total, keeping the phase-1 share (rounded; phase 2 gets the rest).

    With a one-phase schedule (phase 2 empty) all steps go to phase 1.
    """
    if steps < 1:
        raise BenchError(f"--steps must be at least 1, not {steps}")
    share = cfg.steps_phase1 / cfg.total_steps if cfg.total_steps else 1.0
    p1 = min(steps, max(1, math.floor(steps * share + 0.5))) if share > 0 else 0
    if share < 1.0 and steps > 1:
        p1 = min(p1, steps - 1)  # keep at least one fine-tuning step when the profile has a phase 2
    return dataclasses.replace(cfg, steps_phase1=p1, steps_phase2=steps - p1)


# A settings file is a few hundred bytes; a bound keeps a huge file from being parsed at all.
MAX_CONFIG_BYTES = 1 << 20


def _no_alias_loader() -> type:
    """yaml.SafeLoader that refuses aliases (`*name`): their expansion can grow a few hundred bytes into
    gigabytes ("billion laughs"), and a settings file has no use for them."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"aliases (*{event.anchor}) are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML settings file; aliases and files over MAX_CONFIG_BYTES are refused."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise BenchError(f"config file {p} does not exist")
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise BenchError(f"config file {p} cannot be read ({e.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise BenchError(f"config file {p} is larger than {MAX_CONFIG_BYTES} bytes; not a settings file")
    try:
        data = yaml.load(raw.decode("utf-8"), Loader=_no_alias_loader()) or {}
    except UnicodeDecodeError as e:
        raise BenchError(f"config file {p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except yaml.MarkedYAMLError as e:
        where = f" at line {e.problem_mark.line + 1}" if e.problem_mark is not None else ""
        raise BenchError(f"config file {p}: not valid YAML ({e.problem}{where})") from e
    except yaml.YAMLError as e:
        raise BenchError(f"config file {p}: not valid YAML ({' '.join(str(e).split())})") from e
    if not isinstance(data, dict):
        raise BenchError(f"config file {p}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _profile(name: str | None) -> dict[str, dict[str, Any]]:
    """A profile's entries: "train", "reproduce" and "models" (per-model training settings)."""
    if name is None:
        return {"train": {}, "reproduce": {}, "models": {}}
    if name not in PROFILES:
        raise BenchError(f"unknown profile {name!r} (use {', '.join(PROFILES)})")
    return {"models": {}, **PROFILES[name]}


def _layers_follow_size(cfg: TrainConfig, base: TrainConfig, over: dict[str, Any]) -> TrainConfig:
    """An overridden size without an overridden depth: the depth follows the size."""
    if "size" in over and "layers" not in over and cfg.size != base.size:
        return dataclasses.replace(cfg, layers=None)
    return cfg


def resolve_config(
    profile: str | None = None,
    config_file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> TrainConfig:
    """TrainConfig: defaults < profile < the profile's settings for the model < YAML file < `overrides`
    (CLI flags; None values are ignored)."""
    prof = _profile(profile)
    cfg = apply_overrides(TrainConfig(), prof["train"], f"profile {profile}")
    if profile is not None:
        cfg = dataclasses.replace(cfg, profile=profile)
    over = dict(load_yaml(config_file)) if config_file is not None else {}
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    model = flags.get("model", over.get("model", cfg.model))
    if isinstance(model, str) and model in prof["models"]:
        cfg = apply_overrides(cfg, prof["models"][model], f"profile {profile} ({model})")
    base = cfg
    cfg = apply_overrides(cfg, over, str(config_file))
    cfg = apply_overrides(cfg, flags, "command line")
    return _layers_follow_size(cfg, base, {**over, **flags}).validate()


def resolve_reproduce(
    profile: str = "quick",
    config_file: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
) -> tuple[ReproduceConfig, TrainConfig]:
    """(ReproduceConfig, TrainConfig) of a reproduce run, through the one chain: defaults < profile <
    YAML < overrides. Each setting goes to the dataclass that has it (both, for size/seed/workers)."""
    prof = _profile(profile)
    rep_names = {f.name for f in dataclasses.fields(ReproduceConfig)}
    train_names = {f.name for f in dataclasses.fields(TrainConfig)} | {"steps"}
    rep = dataclasses.replace(ReproduceConfig(), **prof["reproduce"], profile=profile)
    shared = {k: getattr(rep, k) for k in ("size", "seed")}  # the reproduce profile's size is the training's
    train = resolve_config(profile, overrides=shared)
    base = train
    chain = [(dict(load_yaml(config_file)) if config_file is not None else {}, str(config_file)),
             ({k: v for k, v in (overrides or {}).items() if v is not None}, "command line")]  # fmt: skip
    seen: dict[str, Any] = {}
    for over, source in chain:
        unknown = sorted(set(over) - rep_names - train_names)
        if unknown:
            known = ", ".join(sorted((rep_names | train_names) - {"profile"}))
            raise BenchError(f"{source}: unknown setting(s) {', '.join(unknown)} (known: {known})")
        rep_over = {k: v for k, v in over.items() if k in rep_names and k != "profile"}
        if "methods" in rep_over or "paired" in rep_over:
            rep_over = {k: tuple(v) if k in ("methods", "paired") else v for k, v in rep_over.items()}
        rep = dataclasses.replace(rep, **rep_over)
        train = apply_overrides(train, {k: v for k, v in over.items() if k in train_names}, source)
        seen.update(over)
    # The profile's per-model settings, less those a config file or option set for every model.
    models = {m: {k: v for k, v in d.items() if k not in seen} for m, d in prof["models"].items()}
    if "model_train" not in seen:
        rep = dataclasses.replace(rep, model_train=models)
    return rep, _layers_follow_size(train, base, seen).validate()


# Settings that must agree between a checkpoint and the run that resumes it: they define the model, the
# data stream or the schedule up to the phase boundary. Others (steps_phase2, logging, device) may change.
RESUME_LOCKED = (
    "model",
    "size",
    "width",
    "layers",
    "conv",
    "batch_size",
    "lr",
    "finetune_lr",
    "steps_phase1",
    "seed",
    "warmup_steps",
    "ema_decay",
    "init",
    "loss_weights",
    "precision",
    "critic_steps",
    "critic_width",
    "gntipt_lr",
    "gl_optimizer",
    "features",
    "mask_kind",
    "mask_augment",
    "mask_threshold",
    "mask_bin_weights",
    "mask_group_weights",
)
