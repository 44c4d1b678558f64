"""`bench reproduce`: the whole protocol end to end, one resumable stage after another.

Stages: data -> masks -> train each trainable model (bench.models.registry) the profile evaluates -> evaluate
(every method) -> tables, plots, grids.
A stage whose outputs are complete is skipped (its marker in OUT/stages/ records the parameters it ran
with and its wall time), so a rerun after an interruption continues where it stopped; a removed output
makes its stage run again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from bench.core.files import jsonable, write_bytes, write_json
from bench.training.config import ReproduceConfig, TrainConfig

# --------------------------------------------------------------------------------------------------
# Stage bookkeeping
# --------------------------------------------------------------------------------------------------


class Stages:
    """Markers in OUT/stages/NAME.json: the parameters a stage ran with and how long it took."""

    def __init__(self, out: Path, log: Callable[[str], None] = print):
        self.dir = out / "stages"
        self.log = log
        self.timings: dict[str, float] = {}

    def run(self, name: str, params: dict[str, Any], outputs_ok: Callable[[], bool], fn: Callable[[], Any]):
        marker = self.dir / f"{name}.json"
        params = jsonable(params)
        if marker.is_file() and outputs_ok():
            done = json.loads(marker.read_text())
            if done.get("params") == params:
                self.log(f"[{name}] complete, skipped ({done['wall_s']:.0f} s when it ran)")
                self.timings[name] = done["wall_s"]
                return None
        self.log(f"[{name}] running")
        # From here until it ends, the stage's outputs are those of this run, finished or not.
        marker.unlink(missing_ok=True)
        write_json(self.dir / f"{name}.started.json", {"params": params})
        t0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        write_json(marker, {"params": params, "wall_s": round(wall, 2)})
        self.timings[name] = round(wall, 2)
        self.log(f"[{name}] done in {wall:.0f} s")
        return result

    def resumable(self, name: str, params: dict[str, Any]) -> bool:
        """Whether what stage `name` left behind was made with `params`: its last run (finished or
        stopped) started with them. Call it before `run`, which records a new start."""
        try:
            started = json.loads((self.dir / f"{name}.started.json").read_text())
        except (OSError, ValueError):
            return False
        return isinstance(started, dict) and started.get("params") == jsonable(params)


# --------------------------------------------------------------------------------------------------
# Environment record
# --------------------------------------------------------------------------------------------------

_PACKAGES = (
    "torch",
    "torchvision",
    "torchmetrics",
    "torch-fidelity",
    "numpy",
    "scipy",
    "scikit-image",
    "scikit-learn",
    "pandas",
    "opencv-python-headless",
    "numba",
    "click",
    "matplotlib",
    "pconv-bench",
)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(commands: list[str], device: str, timings: dict[str, float], extra: dict[str, Any]) -> dict:
    import torch

    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "packages": versions,
        "commands": commands,
        "wall_time_s": {**timings, "total": round(sum(timings.values()), 2)},
        **extra,
    }


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------

# What `bench reproduce` copies from its work folder into the results folder (small, reviewable files).
_EXPORTS = (
    "table.md",
    "table.csv",
    "table.tex",
    "summary.csv",
    "paired.csv",
    "reference.csv",
    "run.json",
    "curves.png",
    "curves.pdf",
    "grid.png",
    "grid.pdf",
)


@dataclass
class ReproduceResult:
    out: Path
    results: Path
    text: str  # the paper-layout table (and paired test) for the terminal
    files: list[Path]
    timings: dict[str, float]
    summary: Any = None  # summary.csv's DataFrame (bench.reporting.tables.Tables.summary)
    n_pairs: int = 0
    computed: int = 0  # (method, pair) evaluations run now
    reused: int = 0  # (method, pair) evaluations found in the records


# The code that decides what `bench train` makes, besides its settings and data: bench.training.loop and
# every module it imports (tests/test_reliability_runs.py checks this against the import graph), less
# those that only word errors (bench.core.errors), lock folders (bench.core.folders), watch processes
# (bench.core.procs), load plugins (bench.core.plugins) or read settings whose values the stage records
# itself (bench.training.config). The registrations of the builtin models (bench.core.plugins imports them
# by name) are listed too.
TRAINING_CODE: tuple[str, ...] = (
    "bench.core.device", "bench.core.distributed", "bench.core.files", "bench.core.weights",
    "bench.data.decode", "bench.data.photos", "bench.data.prepare", "bench.metrics.features",
    "bench.models.adversarial", "bench.models.checkpoint", "bench.models.registry",
    "bench.models.gl.network", "bench.models.gl.recipe",
    "bench.models.gntipt.attention", "bench.models.gntipt.network", "bench.models.gntipt.recipe",
    "bench.models.unet.loss", "bench.models.unet.network", "bench.models.unet.pconv",
    "bench.models.unet.recipe",
    "bench.training.loop",
    "masks._worker", "masks.augment", "masks.conventions", "masks.generate", "masks.manifest",
    "masks.nvidia", "masks.sampler",
)  # fmt: skip


def module_source(name: str) -> bytes:
    """The source file of module `name`, as bytes."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise BenchError(f"the source of {name} is not found; reinstall pconv-bench")
    return Path(spec.origin).read_bytes()


def code_version(modules: tuple[str, ...] = TRAINING_CODE) -> dict[str, str]:
    """pconv-bench's version and a digest of the source of `modules`: a stage keyed by it runs again
    when the code that computes its output changes, even in a clone whose version number did not."""
    h = hashlib.sha256()
    for name in sorted(modules):
        src = module_source(name)
        h.update(f"{name}\0{len(src)}\0".encode())
        h.update(src)
    try:
        version = metadata.version("pconv-bench")
    except metadata.PackageNotFoundError:
        version = "not installed"
    return {"package": version, "source_sha256": h.hexdigest()[:16]}


def folder_digest(folder: Path, cache: Any) -> str:
    """A digest of the names and contents of every file under `folder` (an image or mask set), less
    pconv-bench's markers, locks, caches and temporary files. `cache`: a bench.core.digests.DigestCache."""
    from bench.core.digests import CACHE_FILE

    folder = Path(folder)
    files = sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith((".pconv-bench", ".")) and p.name != CACHE_FILE
    )  # fmt: skip
    h = hashlib.sha256()
    for p, digest in zip(files, cache.digests(files, workers=os.cpu_count() or 1), strict=True):
        h.update(f"{p.relative_to(folder).as_posix()}\0{digest}\n".encode())
    return h.hexdigest()[:16]


def _features_used(cfg: TrainConfig) -> str:
    """Which feature network the training's loss will read, and the digest of its weights."""
    from bench.core.digests import file_digest
    from bench.metrics.features import efficientnet_lite0_weights, find_vgg16_weights
    from bench.models.registry import get_model

    if not get_model(cfg.model).uses_features or cfg.features == "none":
        return "none"  # a model with a loss of its own trains without one (bench.training.loop)
    vgg = find_vgg16_weights(cfg.feature_weights) if cfg.features in ("auto", "vgg16") else None
    if vgg is not None:
        return f"vgg16:{file_digest(vgg)}"
    if cfg.features == "vgg16" and not cfg.allow_download:
        return "vgg16:missing"  # bench train refuses it with its own message
    return f"{cfg.features}:efficientnet-lite0:{file_digest(efficientnet_lite0_weights())}"


def train_fingerprint(cfg: TrainConfig, data: Path, masks: Path | None, cache: Any) -> dict[str, Any]:
    """What a training stage's model depends on: its settings, its images and masks (contents), the
    feature network its loss reads, and the training code (`code_version`)."""
    return {
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("device", "workers")},
        "data": folder_digest(data, cache),
        "masks": folder_digest(masks, cache) if masks is not None else None,
        "features": _features_used(cfg),
        "code": code_version(),
    }


def _train_config(
    train: TrainConfig, model: str, device: str, widths: dict[str, int], own: dict[str, Any] | None = None
) -> TrainConfig:
    """The training settings of `model`: the profile's, its width, then its own settings (`model_train`).
    The precision is resolved here, so the stage's fingerprint names the one this machine trains in."""
    from bench.core.device import resolve_device, resolve_precision
    from bench.models.registry import get_model
    from bench.training.config import apply_overrides

    conv = get_model(model).conv
    cfg = replace(train, model=model, conv=conv, width=widths.get(model, train.width), device=device)
    cfg = apply_overrides(cfg, own or {}, f"model_train[{model}]")
    return replace(cfg, precision=resolve_precision(cfg.precision, resolve_device(device))).validate()


def _train_done(path: Path, total_steps: int) -> bool:
    if not path.is_file():
        return False
    from bench.models.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(path)["step"]) >= total_steps
    except BenchError:
        return False


def check_prerequisites(rep: ReproduceConfig, train: TrainConfig) -> None:
    """Fail before any work when the run needs something absent (VGG-16 weights for `paper`)."""
    from bench.models.registry import get_model, model_names

    learned = any(get_model(m).uses_features for m in model_names() if m in rep.methods)
    if learned and train.features == "vgg16":
        from bench.metrics.features import VGG16_HELP, find_vgg16_weights

        if find_vgg16_weights(train.feature_weights) is None:
            raise BenchError(f"profile {rep.profile!r} trains with VGG-16 features. {VGG16_HELP}")


def reproduce(
    profile: ReproduceConfig,
    train: TrainConfig,
    out: Path,
    results: Path | None = None,
    data: Path | None = None,
    device: str = "auto",
    command: str = "",
    log: Callable[[str], None] = print,
) -> ReproduceResult:
    """Run every stage of the protocol in `out` (settings from bench.training.config.resolve_reproduce); copy
    tables, figures and the environment record into `results` (default OUT/results). Complete stages
    are skipped. `data` (or profile.data) overrides the builtin image set."""
    from bench.core.folders import check_claim, claim

    out = Path(out)
    results = Path(results) if results is not None else out / "results"
    if data is not None:
        profile = replace(profile, data=str(data))
    check_prerequisites(profile, train)
    _check_inputs(profile)
    check_claim(out, "reproduce")
    check_claim(results, "results", "--results")
    with claim(out, "reproduce"):
        stages = Stages(out, log)
        inputs = _prepare_inputs(profile, out, stages, log, results)
        checkpoints, feature_nets = _train_models(profile, train, out, inputs, device, stages)
        evaluated = _evaluate(profile, out, inputs, checkpoints, device, command, stages, log)
        n_pairs = evaluated.n_pairs
        # The paper's confirmed Table 1 cells beside ours (reference.csv and the printed comparison).
        from bench.reporting.reference import default_reference_path
        from bench.reporting.tables import build_tables

        tables = build_tables(out / "eval", reference=default_reference_path())
        with claim(results, "results", option="--results"):
            files = _publish(tables, results)
            env = environment(
                commands=[command] if command else [],
                device=str(_device_name(device)),
                timings=stages.timings,
                extra={
                    "profile": asdict(profile),
                    "train": jsonable(train.to_dict()),
                    "feature_networks": feature_nets,
                    "is_network": _is_network_of(out / "eval"),
                    "pairs": n_pairs,
                    "image_set": inputs.summary,
                },
            )
            write_json(results / "environment.json", env)
            files.append(results / "environment.json")
            from bench.reporting.report import write_report

            files.append(write_report(tables, env, dest=results / "report.html"))
    return ReproduceResult(out=out, results=results, text=tables.text, files=files, timings=stages.timings,
                           summary=tables.summary, n_pairs=n_pairs, computed=evaluated.computed,
                           reused=evaluated.reused)  # fmt: skip


@dataclass
class _Inputs:
    train_data: Path  # a prepared image set (its train split is used)
    test_data: Path  # a prepared image set (its test split is used)
    masks: Path  # the test masks
    summary: dict[str, Any]  # photos per split and where the images came from (for environment.json)


def _check_inputs(p: ReproduceConfig) -> None:
    for name in ("data", "test_data", "masks", "train_masks"):
        value = getattr(p, name)
        if value is not None and not Path(value).is_dir():
            raise BenchError(f"--{name.replace('_', '-')} {value}: no such folder")
    if p.is_weights is not None and not Path(p.is_weights).is_file():
        raise BenchError(f"--is-weights {p.is_weights}: no such file")


def _is_image_set(folder: Path) -> bool:
    return (folder / "manifest.csv").is_file() and (folder / "dataset.json").is_file()


def _image_set(stages: Stages, name: str, folder: Path, source: str, split: str, profile, log) -> Path:
    """A prepared image set as a stage: `source` used as it is when it is one, else prepared into folder."""
    from bench.data.prepare import prepare_dataset

    if source != "builtin" and _is_image_set(Path(source)):
        return Path(source)
    stages.run(
        name,
        {"size": profile.size, "source": source, "seed": profile.seed, "split": split},
        lambda: (folder / "manifest.csv").is_file(),
        lambda: log(
            prepare_dataset(folder, profile.size, source=source, seed=profile.seed, split=split).summary()
        ),
    )
    return folder


def _prepare_inputs(profile, out: Path, stages: Stages, log, results: Path) -> _Inputs:
    """Stages `data` (and `test-data`) and `masks`: image sets and test masks, made or given."""
    from masks.manifest import generate_set

    source = str(Path(profile.data).resolve()) if profile.data is not None else "builtin"
    train_split = "train" if profile.test_data is not None else "auto"
    train_data = _image_set(stages, "data", out / "data", source, train_split, profile, log)
    test_data = train_data
    if profile.test_data is not None:
        test_src = str(Path(profile.test_data).resolve())
        test_data = _image_set(stages, "test-data", out / "test-data", test_src, "test", profile, log)
    masks = Path(profile.masks) if profile.masks is not None else out / "masks"
    if profile.masks is None:
        stages.run(
            "masks",
            {"size": profile.size, "per_bin": profile.per_bin, "seed": profile.seed},
            lambda: (masks / "manifest.csv").is_file(),
            lambda: generate_set(
                masks, size=profile.size, per_bin=profile.per_bin, seed=profile.seed, workers=profile.workers
            ),
        )
    summary = _image_set_summary(train_data, test_data, source)
    _warn_if_other_data(summary, results, log)
    return _Inputs(train_data, test_data, masks, summary)


def _image_set_summary(train_data: Path, test_data: Path, source: str) -> dict[str, Any]:
    def photos(folder: Path, split: str) -> int:
        try:
            info = json.loads((folder / "dataset.json").read_text())
            return int(info["report"]["photos"].get(split, 0))
        except (OSError, ValueError, KeyError, AttributeError):
            return 0

    return {
        "source": source,
        "photos": {"train": photos(train_data, "train"), "test": photos(test_data, "test")},
    }


def _warn_if_other_data(summary: dict[str, Any], results: Path, log) -> None:
    """One line when this run's image set differs from the one that wrote the results folder before."""
    try:
        old = json.loads((results / "environment.json").read_text()).get("image_set")
    except (OSError, ValueError):
        return
    if isinstance(old, dict) and old != summary:
        log(
            f"note: this run's image set ({summary['source']}, photos {summary['photos']}) differs from the "
            f"one that produced {results} ({old.get('source')}, photos {old.get('photos')}): the numbers "
            "will differ"
        )


def _train_models(profile, train_cfg: TrainConfig, out: Path, inputs: _Inputs, device: str, stages: Stages):
    """Stages `train-METHOD`; returns (checkpoint per method, feature network per method)."""
    from bench.core.digests import CACHE_FILE, DigestCache
    from bench.models.checkpoint import load_checkpoint
    from bench.models.registry import model_names

    checkpoints: dict[str, Path] = {}
    feature_nets: dict[str, str] = {}
    cache = DigestCache(out / "stages" / CACHE_FILE)
    masks = Path(profile.train_masks) if profile.train_masks is not None else None
    for method in model_names():  # the methods bench reproduce trains
        if method not in profile.methods or "weights" in profile.method_options.get(method, {}):
            continue  # not evaluated, or evaluated from released weights
        cfg = _train_config(train_cfg, method, device, profile.model_widths, profile.model_train.get(method))
        params = train_fingerprint(cfg, inputs.train_data, masks, cache)
        cache.save()
        checkpoints[method] = _train_stage(out, method, cfg, params, inputs.train_data, masks, stages)
        ckpt = load_checkpoint(checkpoints[method])
        feature_nets[method] = str(ckpt.get("features_name") or ckpt.get("features"))
    return checkpoints, feature_nets


def _train_stage(out: Path, method: str, cfg: TrainConfig, params: dict, data: Path, masks, stages: Stages):
    """Stage `train-METHOD`: skipped when its model is complete and was made with `params`; resumed when
    it was stopped while running with them; else trained afresh, an older run moved aside first."""
    from bench.core.folders import inside
    from bench.training.loop import train

    name, run_dir = f"train-{method}", out / "train" / method
    last = run_dir / "last.pt"
    resume = stages.resumable(name, params)

    def run() -> Any:
        if run_dir.exists() and not resume:
            inside(out, f"train/{method}", "training folder")  # not a link leading out of OUT
            k = 1
            while (aside := run_dir.with_name(f"{method}.stale-{k}")).exists():
                k += 1
            run_dir.rename(aside)
            stages.log(
                f"[{name}] {run_dir} was trained by other code, settings or data: moved to {aside.name}"
            )
        return train(cfg, run_dir, data=data, masks=masks, resume=resume and last.is_file())

    stages.run(name, params, lambda: _train_done(last, cfg.total_steps), run)
    return last


def _evaluate(profile, out, inputs: _Inputs, checkpoints, device, command, stages: Stages, log) -> Any:
    """Stage `evaluate`: every method of the profile; records resume pair by pair. Returns the pairs."""
    from bench.evaluation.runner import EvalConfig, evaluate

    methods: list[tuple[str, dict[str, Any]]] = []
    for name in profile.methods:
        options = dict(profile.method_options.get(name, {}))
        if name in checkpoints:
            options["checkpoint"] = str(checkpoints[name])
        methods.append((name, options))
    paired = profile.paired if all(m in profile.methods for m in profile.paired) else None
    t0 = time.perf_counter()
    result = evaluate(EvalConfig(
        data=inputs.test_data, masks=inputs.masks, methods=tuple(methods), out=out / "eval",
        limit=profile.eval_limit, device=device, workers=profile.workers, seed=profile.seed, paired=paired,
        command=command, pairing=profile.pairing,
        is_weights=Path(profile.is_weights) if profile.is_weights else None,
    ))  # fmt: skip
    wall = time.perf_counter() - t0
    marker = out / "stages" / "evaluate.json"
    if result.computed == 0 and marker.is_file():
        before = json.loads(marker.read_text())["wall_s"]
        log(f"[evaluate] complete, records reused ({before:.0f} s when it ran)")
        stages.timings["evaluate"] = before
    else:
        write_json(marker, {"params": {"methods": jsonable(methods)}, "wall_s": round(wall, 2)})
        stages.timings["evaluate"] = round(wall, 2)
    return result


def _device_name(device: str) -> str:
    from bench.core.device import resolve_device

    return str(resolve_device(device))


def _is_network_of(eval_dir: Path) -> Any:
    from bench.runs.records import upgrade_run

    try:
        run = upgrade_run(json.loads((eval_dir / "run.json").read_text()))
    except (OSError, ValueError, BenchError):
        return None
    return run.get("is_network")


def _publish(result: Any, results: Path) -> list[Path]:
    """Copy the exports and figures of an evaluation into `results` (atomically, file by file)."""
    copied = []
    sources = {Path(f) for f in result.files} | {result.out / name for name in _EXPORTS}
    for src in sorted(sources):
        if src.is_file():
            dst = results / src.name
            write_bytes(dst, src.read_bytes())
            copied.append(dst)
    return copied
