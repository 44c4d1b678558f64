"""`bench reproduce`: the whole protocol end to end, one resumable stage after another.

Stages: data -> masks -> train PConv -> train Conv -> evaluate (every method) -> tables, plots, grids.
A stage whose outputs are complete is skipped (its marker in OUT/stages/ records the parameters it ran
with and its wall time), so a rerun after an interruption continues where it stopped; a removed output
makes its stage run again.
"""

from __future__ import annotations

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

from bench import io
from bench.config import ReproduceConfig, TrainConfig
from bench.errors import BenchError

# --------------------------------------------------------------------------------------------------
# Stage bookkeeping
# --------------------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str, sort_keys=True))


class Stages:
    """Markers in OUT/stages/NAME.json: the parameters a stage ran with and how long it took."""

    def __init__(self, out: Path, log: Callable[[str], None] = print):
        self.dir = out / "stages"
        self.log = log
        self.timings: dict[str, float] = {}

    def run(self, name: str, params: dict[str, Any], outputs_ok: Callable[[], bool], fn: Callable[[], Any]):
        marker = self.dir / f"{name}.json"
        params = _jsonable(params)
        if marker.is_file() and outputs_ok():
            done = json.loads(marker.read_text())
            if done.get("params") == params:
                self.log(f"[{name}] complete, skipped ({done['wall_s']:.0f} s when it ran)")
                self.timings[name] = done["wall_s"]
                return None
        self.log(f"[{name}] running")
        t0 = time.perf_counter()
        result = fn()
        wall = time.perf_counter() - t0
        io.write_json(marker, {"params": params, "wall_s": round(wall, 2)})
        self.timings[name] = round(wall, 2)
        self.log(f"[{name}] done in {wall:.0f} s")
        return result


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
    "grid.png",
)


@dataclass
class ReproduceResult:
    out: Path
    results: Path
    text: str  # the paper-layout table (and paired test) for the terminal
    files: list[Path]
    timings: dict[str, float]


def _train_config(train: TrainConfig, conv: str, device: str) -> TrainConfig:
    return replace(train, conv=conv, device=device).validate()


def _train_done(path: Path, total_steps: int) -> bool:
    if not path.is_file():
        return False
    from bench.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(path)["step"]) >= total_steps
    except BenchError:
        return False


def check_prerequisites(rep: ReproduceConfig, train: TrainConfig) -> None:
    """Fail before any work when the run needs something absent (VGG-16 weights for `paper`)."""
    learned = any(m in rep.methods for m in ("pconv", "conv"))
    if learned and train.features == "vgg16":
        from bench.features import VGG16_HELP, find_vgg16_weights

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
    """Run every stage of the protocol in `out` (settings from bench.config.resolve_reproduce); copy
    tables, figures and the environment record into `results` (default OUT/results). Complete stages
    are skipped."""
    from bench.folders import check_claim, claim

    out = Path(out)
    results = Path(results) if results is not None else out / "results"
    check_prerequisites(profile, train)
    if data is not None and not Path(data).is_dir():
        raise BenchError(f"--data {data}: no such folder")
    check_claim(out, "reproduce")
    check_claim(results, "results", "--results")
    with claim(out, "reproduce"):
        stages = Stages(out, log)
        data_dir, mask_dir = _prepare_inputs(profile, out, data, stages, log)
        checkpoints, feature_nets = _train_models(profile, train, out, data_dir, device, stages)
        n_pairs = _evaluate(profile, out, data_dir, mask_dir, checkpoints, device, command, stages, log)
        # The paper's confirmed Table 1 cells beside ours (reference.csv and the printed comparison).
        from bench.tables import build_tables, default_reference_path

        tables = build_tables(out / "eval", reference=default_reference_path())
        with claim(results, "results", option="--results"):
            files = _publish(tables, results)
            env = environment(
                commands=[command] if command else [],
                device=str(_device_name(device)),
                timings=stages.timings,
                extra={
                    "profile": asdict(profile),
                    "train": _jsonable(train.to_dict()),
                    "feature_networks": feature_nets,
                    "is_network": _is_network_of(out / "eval"),
                    "pairs": n_pairs,
                },
            )
            io.write_json(results / "environment.json", env)
            files.append(results / "environment.json")
    return ReproduceResult(out=out, results=results, text=tables.text, files=files, timings=stages.timings)


def _prepare_inputs(profile, out: Path, data: Path | None, stages: Stages, log) -> tuple[Path, Path]:
    """Stages `data` and `masks`: the image set and the test masks in OUT/data and OUT/masks."""
    from bench.data import prepare_dataset
    from masks.manifest import generate_set

    data_dir, mask_dir = out / "data", out / "masks"
    source = str(Path(data).resolve()) if data is not None else "builtin"
    stages.run(
        "data",
        {"size": profile.size, "source": source, "seed": profile.seed},
        lambda: (data_dir / "manifest.csv").is_file(),
        lambda: log(prepare_dataset(data_dir, profile.size, source=source, seed=profile.seed).summary()),
    )
    stages.run(
        "masks",
        {"size": profile.size, "per_bin": profile.per_bin, "seed": profile.seed},
        lambda: (mask_dir / "manifest.csv").is_file(),
        lambda: generate_set(
            mask_dir, size=profile.size, per_bin=profile.per_bin, seed=profile.seed, workers=profile.workers
        ),
    )
    return data_dir, mask_dir


def _train_models(profile, train_cfg: TrainConfig, out: Path, data_dir: Path, device: str, stages: Stages):
    """Stages `train-pconv` and `train-conv`; returns (checkpoint per method, feature network per method)."""
    from bench.checkpoint import load_checkpoint
    from bench.train import train

    checkpoints: dict[str, Path] = {}
    feature_nets: dict[str, str] = {}
    for method, conv in (("pconv", "partial"), ("conv", "standard")):
        if method not in profile.methods:
            continue
        cfg = _train_config(train_cfg, conv, device)
        run_dir = out / "train" / method
        last = run_dir / "last.pt"
        stages.run(
            f"train-{method}",
            {k: v for k, v in cfg.to_dict().items() if k not in ("device", "workers")},
            lambda last=last, cfg=cfg: _train_done(last, cfg.total_steps),
            lambda cfg=cfg, run_dir=run_dir, last=last: train(
                cfg, run_dir, data=data_dir, resume=last.is_file()
            ),
        )
        checkpoints[method] = last
        ckpt = load_checkpoint(last)
        feature_nets[method] = str(ckpt.get("features_name") or ckpt.get("features"))
    return checkpoints, feature_nets


def _evaluate(profile, out, data_dir, mask_dir, checkpoints, device, command, stages: Stages, log) -> int:
    """Stage `evaluate`: every method of the profile; records resume pair by pair. Returns the pairs."""
    from bench.evaluate import EvalConfig, evaluate

    methods: list[tuple[str, dict[str, Any]]] = []
    for name in profile.methods:
        options = dict(profile.method_options.get(name, {}))
        if name in checkpoints:
            options["checkpoint"] = str(checkpoints[name])
        methods.append((name, options))
    paired = profile.paired if all(m in profile.methods for m in profile.paired) else None
    t0 = time.perf_counter()
    result = evaluate(EvalConfig(
        data=data_dir, masks=mask_dir, methods=tuple(methods), out=out / "eval", limit=profile.eval_limit,
        device=device, workers=profile.workers, seed=profile.seed, paired=paired, command=command,
    ))  # fmt: skip
    wall = time.perf_counter() - t0
    marker = out / "stages" / "evaluate.json"
    if result.computed == 0 and marker.is_file():
        before = json.loads(marker.read_text())["wall_s"]
        log(f"[evaluate] complete, records reused ({before:.0f} s when it ran)")
        stages.timings["evaluate"] = before
    else:
        io.write_json(marker, {"params": {"methods": _jsonable(methods)}, "wall_s": round(wall, 2)})
        stages.timings["evaluate"] = round(wall, 2)
    return result.n_pairs


def _device_name(device: str) -> str:
    from bench.device import resolve_device

    return str(resolve_device(device))


def _is_network_of(eval_dir: Path) -> Any:
    try:
        run = json.loads((eval_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return run.get("is_network") or run.get("is")


def _publish(result: Any, results: Path) -> list[Path]:
    """Copy the exports and figures of an evaluation into `results` (atomically, file by file)."""
    copied = []
    sources = {Path(f) for f in result.files} | {result.out / name for name in _EXPORTS}
    for src in sorted(sources):
        if src.is_file():
            dst = results / src.name
            io.write_bytes(dst, src.read_bytes())
            copied.append(dst)
    return copied
