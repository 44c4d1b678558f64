"""The protocol of `bench evaluate`, decided before anything is written: the options (EvalConfig), the test
images, the mask set (every path inside its folder, every selected mask present, binary, in its bin and
group), their sizes, the methods, the metrics' networks, the pairs (bench.runs.pairing) with the content
digest of every input file, and whether the output folder may take this run (`prepare`). `protocol_pairs`
is the part `bench export` shares.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from bench.core.digests import CACHE_FILE, DigestCache
from bench.core.errors import BenchError
from bench.core.files import read_mask
from bench.core.folders import check_claim, inside
from bench.reporting import tables as T
from bench.runs.pairing import describe_selection, make_pairs, sample_pairs, selection_stamp
from bench.runs.records import (
    RUN_FILE,
    read_pairs,
    read_run,
    upgrade_run,
)
from masks.conventions import BINS, GROUPS, Bin, Group

# Tracebacks of methods that raised, in the run folder (the error line names it).


# run.json keys that must match for records in an existing folder to be reused.
_SAME_RUN_KEYS = ("data", "masks", "seed", "resize_masks", "pairing")


@dataclass(frozen=True)
class EvalConfig:
    """Everything `bench evaluate` takes, with its defaults (the CLI reads them from here)."""

    data: Path | None = None  # a `bench data prepare` folder (its test split) or any folder of images
    masks: Path | None = None  # a mask set (manifest.csv)
    # --method specs ('telea', 'pconv=last.pt'), (name, options) tuples, or objects: an Inpainter, an
    # nn.Module or a function (bench.methods.inpainters.as_inpainter)
    methods: tuple[Any, ...] = ()
    out: Path = Path("results/eval")
    bins: tuple[Bin, ...] = BINS  # Bin objects or names: "0.3-0.4" (as_bins)
    groups: tuple[Group, ...] = GROUPS  # Group objects or "N" / "B" (as_groups)
    limit: int | None = None
    device: str = "auto"
    workers: int | None = None  # threads for loading and per-image methods; None: auto_workers()
    seed: int = 0
    pairing: str = "cross"  # bench.runs.pairing.PAIRINGS: cross (every image in every cell) or distinct
    batch_size: int = 8
    resize_masks: bool = False
    is_weights: Path | None = None
    lpips_weights: Path | None = (
        None  # LPIPS's backbone (AlexNet); else $PCONV_BENCH_LPIPS_BACKBONE, hub cache
    )
    allow_download: bool = False
    compute_is: bool = True  # the metrics of the IS network: IS, FID, KID
    metrics: tuple[str, ...] | None = None  # registered metrics to compute; None: all whose network is here
    paired: tuple[str, str] | None = None
    shard: str | None = None  # "I/N": compute only part I of N (bench.runs.shards); None: all of it
    n_boot: int = 1000
    samples_per_bin: int = 2  # pairs per bin kept as pictures for the qualitative grid
    formats: tuple[str, ...] = T.FORMATS
    figures: bool = True
    wide: bool = False  # the terminal table in the paper layout (else within 100 columns)
    progress: bool = True
    command: str = ""
    # Keep every composited output as OUT/outputs/<label>/<pair_id>.png (bench.evaluation.saved_outputs); a
    # pair whose records are reused but whose PNG is missing is computed again for that method.
    save_outputs: bool = False
    # A folder holding the tables of another selection or method set: replaced, and EvalResult.messages
    # says what was (library callers such as `bench reproduce` own their folder); False refuses it
    # (`bench evaluate` without --replace).
    replace_tables: bool = True


DEFAULTS = EvalConfig()


@dataclass
class Prepared:
    """What `prepare` decided: the run is fully determined before anything is written."""

    cfg: EvalConfig
    data: Path
    masks: Path
    pairs: pd.DataFrame  # pair_id, image, mask, bin, group, inputs
    hw: tuple[int, int]  # (H, W) of every image
    methods: list[tuple[str, Any]]  # (label, inpainter)
    networks: dict[str, Any]  # network name (bench.metrics.registry.NETWORKS) -> the loaded network
    is_info: dict[str, Any]
    metrics: list[Any]  # bench.metrics.registry.Metric, in registry order
    outputs: frozenset[str]  # network outputs recorded per pair of a method ("probs", "pool")
    ground_truth: Any  # GroundTruth when a metric compares with the ground-truth images, else None
    notes: list[str]  # why a metric is left out (its network's weights are missing)
    paired: tuple[str, str] | None
    samples: set[tuple[str, str]]
    cache: DigestCache
    device: torch.device
    replaced: str = ""  # what of the folder's last run this one replaces ("": nothing or the same)

    @property
    def is_network(self) -> Any:
        return self.networks.get("is")


class GroundTruth:
    """The 'method' whose output is the ground-truth image: its records hold the network outputs of the
    real images ("real_pool") that FID and KID compare the composited outputs with."""

    name = "ground-truth"
    fingerprint = "ground-truth"
    options: dict[str, Any] = {}

    def __init__(self) -> None:
        self.pool: dict[str, np.ndarray] = {}  # image digest -> its "real_pool", computed once per process

    def inpaint(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:  # noqa: ARG002
        return images


def list_test_images(data: Path) -> list[Path]:
    """The test split of a `bench data prepare` folder, or every image under any other folder (sorted)."""
    from bench.data.prepare import list_images

    return [Path(p) for p in list_images(Path(data), "test")]


def _height_width(path: Path) -> tuple[int, int]:
    """(H, W) from the file header (no decoding), EXIF orientation applied as the decoders apply it, and
    bounded by the maximum image side."""
    from bench.core.files import header_size

    try:
        w, h = header_size(path)
    except ValueError as e:
        raise BenchError(str(e)) from None
    return h, w


def allow_missing(methods: Sequence[str]) -> tuple[str, ...]:
    """`--allow-missing`: `allow_missing=true` added to every `outputs:` method (whose pairs without an
    output file are then skipped, not refused); other methods as given.

    >>> allow_missing(["telea", " outputs:dir=o"])
    ('telea', ' outputs:dir=o,allow_missing=true')
    """
    return tuple(m + ",allow_missing=true" if m.strip().startswith("outputs:") else m for m in methods)


def _is_spec(method: Any) -> bool:
    """A method given by name: 'telea', 'pconv=last.pt' or ('patchmatch', {'seed': 1})."""
    if isinstance(method, str):
        return True
    return (
        isinstance(method, tuple)
        and len(method) == 2
        and isinstance(method[0], str)
        and isinstance(method[1], dict)
    )


def as_bins(bins: Any) -> tuple[Bin, ...]:
    """Bins given as Bin objects or names ('0.3-0.4'; '0.01-0.6' is all six), one or several, in the
    order of BINS; a bad name is a BenchError.

    >>> [b.name for b in as_bins(["0.3-0.4", "0.1-0.2"])]
    ['0.1-0.2', '0.3-0.4']
    """
    from masks.conventions import parse_ratio

    items = [bins] if isinstance(bins, str | Bin) else list(bins)
    out: set[Bin] = set()
    for item in items:
        if isinstance(item, Bin):
            out.add(item)
            continue
        try:
            out.update(parse_ratio(item))
        except ValueError as e:
            raise BenchError(f"bins: {e}") from None
    return tuple(sorted(out))


def as_groups(groups: Any) -> tuple[Group, ...]:
    """Groups given as Group objects or 'N' / 'B'; anything else is a BenchError."""
    items = [groups] if isinstance(groups, str) else list(groups)
    try:
        return tuple(Group(g) for g in items)
    except ValueError:
        raise BenchError(f"groups: expected 'N' and/or 'B', got {groups!r}") from None


def _method_spec(method: str | tuple[str, dict[str, Any]]) -> str:
    if isinstance(method, str):
        return method
    name, opts = method
    if not opts:
        return name
    if set(opts) == {"checkpoint"}:
        return f"{name}={opts['checkpoint']}"
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in opts.items())


def build_methods(
    methods: Sequence[str | tuple[str, dict[str, Any]]], device: str, workers: int, batch_size: int
) -> list[tuple[str, Any]]:
    """Instantiate every method (BenchError on an unknown name or a checkpoint that does not load).

    A method is a spec ('telea', 'pconv=last.pt') or (name, options), or an object: an Inpainter as it
    is, an nn.Module or a function wrapped by bench.methods.inpainters.as_inpainter; an object's code digest
    is taken now, so code or weights changed since an earlier evaluation recompute.
    Returns (label, inpainter): the label is the method name, or name@fingerprint when a name repeats.
    """
    from bench.methods.inpainters import as_inpainter, get_inpainters

    if not methods:
        raise BenchError("no --method given; e.g. --method telea --method pconv=runs/quick/last.pt")
    built = []
    for m in methods:
        if not _is_spec(m):
            inp = as_inpainter(m)
            inp.__dict__.pop("_code_digest", None)  # the digest of its code and weights as they are now
            built.append(inp)
            continue
        spec = _method_spec(m)
        try:
            (inp,) = get_inpainters([spec], device=device, workers=workers, batch_size=batch_size)
        except BenchError:
            raise
        except SystemExit as e:  # a plugin's factory ending the process: not a success
            raise BenchError(f"method {spec!r} called sys.exit({e.code!r}) while being set up") from None
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not load, etc.
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BenchError(f"method {spec!r} could not be loaded: {type(e).__name__}: {first}") from None
        built.append(inp)
    names = [b.name for b in built]
    out, seen = [], set()
    for inp in built:
        label = inp.name if names.count(inp.name) == 1 else f"{inp.name}@{inp.fingerprint[:6]}"
        label = getattr(inp, "label", "") or label  # a method naming its own label (outputs:label=NAME)
        if label in seen:
            raise BenchError(f"method {label!r} is given twice with the same options")
        seen.add(label)
        out.append((label, inp))
    return out


def method_features(inp: Any) -> str:
    feats = (getattr(inp, "meta", None) or {}).get("features")
    if not feats:
        return ""
    if isinstance(feats, dict):
        return str(feats.get("name") or feats.get("network") or json.dumps(feats, sort_keys=True))
    return str(feats)


def _is_info(net: Any) -> dict[str, Any]:
    if net is None:
        return dict(name="none", label="", footnote="", is_standin=False)
    return dict(
        name=str(getattr(net, "name", "")),
        label=str(getattr(net, "label", "IS*")),
        footnote=str(getattr(net, "footnote", "")),
        is_standin=bool(getattr(net, "is_standin", True)),
    )


def _select_masks(masks: Path, bins: Sequence[Bin], groups: Sequence[Group]) -> pd.DataFrame:
    from masks.manifest import read_manifest

    man = read_manifest(masks)
    sel = man[man["bin"].isin([b.name for b in bins]) & man["group"].isin([str(g) for g in groups])]
    missing = [
        f"{b.name} {g}"
        for b in bins
        for g in groups
        if not ((sel["bin"] == b.name) & (sel["group"] == str(g))).any()
    ]
    if missing:
        have = sorted({f"{b} {g}" for b, g in zip(man["bin"], man["group"], strict=True) if b})
        raise BenchError(
            f"mask folder {masks} has no masks for {', '.join(missing)}; it has {', '.join(have) or 'none'}"
            " (choose bins with --ratio/--border or generate them with `bench masks generate`)"
        )
    return sel


def _check_image_sizes(image_paths: Sequence[Path]) -> tuple[int, int]:
    sizes: dict[tuple[int, int], Path] = {}
    for p in image_paths:
        sizes.setdefault(_height_width(p), p)
    if len(sizes) > 1:
        desc = ", ".join(f"{w}x{h} ({p.name})" for (h, w), p in list(sizes.items())[:3])
        raise BenchError(
            f"test images have different sizes: {desc}; crop them to one size with `bench data prepare`"
        )
    (hw,) = sizes
    return hw


def _verify_masks(masks: Path, sel: pd.DataFrame, hw: tuple[int, int], resize: bool, cache: DigestCache):
    """Every selected mask exists, is binary, lies in its bin and group, and fits the images (or
    --resize-masks). Checked once per file content (the cache remembers). Raises BenchError naming it."""
    from masks.manifest import check_mask

    paths = {f: inside(masks, f, "mask file") for f in sel["file"]}
    missing = [f for f, p in paths.items() if not p.is_file()]
    if missing:
        raise BenchError(
            f"{len(missing)} mask file(s) listed in {masks / 'manifest.csv'} are missing, e.g. "
            f"{masks / missing[0]}; regenerate or re-import the mask set"
        )
    for f, b, g in zip(sel["file"], sel["bin"], sel["group"], strict=True):
        check = f"mask:{b}:{g}" + ("" if resize else f":{hw[0]}x{hw[1]}")
        if cache.passed(paths[f], check):
            continue
        try:
            m = read_mask(paths[f])
        except ValueError as e:
            raise BenchError(str(e)) from None
        problem = check_mask(m, b, g)
        if problem is None and not resize and m.shape != hw:
            problem = (
                f"it is {m.shape[1]}x{m.shape[0]} px but the images are {hw[1]}x{hw[0]}; pass "
                "--resize-masks to resize the masks (nearest neighbour) or make masks of the images' size"
            )
        if problem is not None:
            raise BenchError(f"mask {f} in {masks}: {problem}")
        cache.mark_passed(paths[f], check)


def _default_paired(labels: Sequence[str]) -> tuple[str, str] | None:
    """The pair the paired test compares: a trainable model and its twin (bench.models: PConv and Conv)
    when both are evaluated, else the first two methods."""
    from bench.models.registry import get_model, model_names

    if len(labels) < 2:
        return None
    low = {x.lower() for x in labels}
    for name in model_names():
        twin = get_model(name).twin
        if twin and {name, twin} <= low:
            return name, twin
    return labels[0], labels[1]


def _select_metrics(cfg: EvalConfig) -> list[Any]:
    """The registered metrics this run asks for, in registry order (IS, FID, KID only with compute_is)."""
    from bench.metrics.registry import available_metrics

    registry = available_metrics()
    if cfg.metrics is not None:
        unknown = [m for m in cfg.metrics if m not in registry]
        if unknown:
            raise BenchError(f"unknown metric(s) {', '.join(unknown)}; registered: {', '.join(registry)}")
        return [m for n, m in registry.items() if n in cfg.metrics]
    return [m for m in registry.values() if m.network != "is" or cfg.compute_is]


def _load_networks(
    cfg: EvalConfig, metrics: list[Any], device: torch.device, given: dict[str, Any]
) -> tuple[dict[str, Any], list[Any], list[str]]:
    """Load the networks of `metrics` (bench.metrics.registry.NETWORKS; `given` overrides by name). A network
    whose weights are nowhere drops its metrics with the loader's note, or is a BenchError when the metric was
    asked for by name. Returns (networks, metrics kept, notes)."""
    from bench.metrics.registry import NETWORKS, NetworkRequest

    req = NetworkRequest(device, cfg.allow_download, {"is": cfg.is_weights, "lpips": cfg.lpips_weights})
    nets: dict[str, Any] = {}
    notes: list[str] = []
    for name in dict.fromkeys(m.network for m in metrics if m.network is not None):
        net, note = (given[name], "") if given.get(name) is not None else NETWORKS[name](req)
        if net is None:
            asked = [m.name for m in metrics if m.network == name and m.name in (cfg.metrics or ())]
            if asked:
                raise BenchError(f"--metrics {','.join(asked)}: {note}")
            notes.append(note)
        else:
            nets[name] = net
    return nets, [m for m in metrics if m.network is None or m.network in nets], notes


def _check_options(cfg: EvalConfig) -> None:
    if not cfg.bins or not cfg.groups:
        raise BenchError("the selection is empty: give at least one bin and one group")
    if cfg.metrics is not None and not cfg.compute_is:
        from bench.metrics.registry import available_metrics

        registry = available_metrics()
        of_is = [n for n in cfg.metrics if n in registry and registry[n].network == "is"]
        if of_is:
            raise BenchError(f"--no-is and --metrics {','.join(of_is)} contradict each other; give one")
    for name in ("limit", "batch_size", "workers"):
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise BenchError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if cfg.data is None or not Path(cfg.data).is_dir():
        raise BenchError(f"--data {cfg.data} is not a folder")
    if cfg.masks is None:
        raise BenchError("--masks is required")


def prepare(cfg: EvalConfig, is_network: Any = None, busy_ok: bool = False) -> Prepared:
    """Validate the inputs and decide the run (pairs, digests, methods); writes nothing.

    `is_network` overrides the IS network (tests pass a cheap one). `busy_ok`: a folder in use is not
    refused here (a shard, or a torchrun rank other than 0, shares it).
    """
    from bench.core.device import resolve_device

    _check_options(cfg)
    data, masks = Path(cfg.data), Path(cfg.masks)
    check_claim(cfg.out, "eval", busy_ok=busy_ok)
    device = resolve_device(cfg.device)
    methods = build_methods(cfg.methods, cfg.device, cfg.workers, cfg.batch_size)
    cache = DigestCache(Path(cfg.out) / CACHE_FILE)
    pairs, hw = protocol_pairs(cfg, cache)
    for _, inp in methods:
        if hasattr(inp, "check_size"):  # e.g. a U-Net's depth fixes what its image sides must divide by
            inp.check_size(hw)
    # The pairs' digests first: a method bound to them (outputs:) compares its folder's stamp with them.
    bind_methods(methods, pairs, data, masks, hw, cache)
    networks, metrics, notes = _load_networks(cfg, _select_metrics(cfg), device, {"is": is_network})
    outputs = frozenset(n for m in metrics if m.kind == "cell" for n in m.needs if n != "real_pool")
    needs_real = any("real_pool" in m.needs for m in metrics)
    labels = [label for label, _ in methods]
    if cfg.save_outputs:
        from bench.evaluation.saved_outputs import output_folders

        output_folders(labels)  # two labels sharing a folder are refused before anything is written
    paired = T.resolve_paired(cfg.paired, labels) if cfg.paired is not None else _default_paired(labels)
    check_same_run(Path(cfg.out), _run_config_of(cfg))
    replaced = check_replace(Path(cfg.out), pairs, labels, cfg.replace_tables)
    samples = set(zip(*[sample_pairs(pairs, cfg.samples_per_bin)[c] for c in ("image", "mask")], strict=True))
    return Prepared(cfg, data, masks, pairs, hw, methods, networks, _is_info(networks.get("is")), metrics,
                    outputs, GroundTruth() if needs_real else None, notes, paired, samples, cache,
                    device, replaced)  # fmt: skip


def bind_methods(
    methods: Sequence[tuple[str, Any]],
    pairs: pd.DataFrame,
    data: Path,
    masks: Path,
    hw: tuple[int, int],
    cache: DigestCache,
) -> None:
    """Give the methods that read files per pair (e.g. `outputs`) the pairs of this run: they check every
    file they will read (a BenchError naming the offenders) and add the files' digests to their options."""
    for _, inp in methods:
        if hasattr(inp, "bind_pairs"):
            inp.bind_pairs(pairs, data=data, masks=masks, hw=hw, cache=cache)


def protocol_pairs(cfg: EvalConfig, cache: DigestCache) -> tuple[pd.DataFrame, tuple[int, int]]:
    """The pairs `bench evaluate` scores with these options and the images' (H, W), validated as `prepare`
    validates them (options, images, mask set, sizes), with their `inputs` digests; writes nothing and
    needs no method (`bench export` writes these pairs for other programs)."""
    _check_options(cfg)
    data, masks = Path(cfg.data), Path(cfg.masks)
    keys = [p.relative_to(data).as_posix() for p in list_test_images(data)]
    sel = _select_masks(masks, cfg.bins, cfg.groups)
    pairs = _pairs(cfg, keys, sel)
    used = [data / k for k in sorted(set(pairs["image"]))]
    hw = _check_image_sizes(used)
    _verify_masks(masks, sel[sel["file"].isin(set(pairs["mask"]))], hw, cfg.resize_masks, cache)
    image_digest = dict(zip(sorted(set(pairs["image"])), cache.digests(used, cfg.workers), strict=True))
    mask_files = sorted(set(pairs["mask"]))
    mask_digest = dict(zip(mask_files, cache.digests([masks / f for f in mask_files]), strict=True))
    pairs["inputs"] = [
        f"{image_digest[i]}:{mask_digest[m]}" for i, m in zip(pairs["image"], pairs["mask"], strict=True)
    ]
    return pairs, hw


def check_same_run(out: Path, config: dict[str, Any]) -> None:
    run = out / RUN_FILE
    if not run.is_file():
        return
    try:
        old = json.loads(run.read_text())
    except (OSError, json.JSONDecodeError):
        raise BenchError(f"{run} is corrupt; use another --out") from None
    old = upgrade_run(old)
    diff = [k for k in _SAME_RUN_KEYS if old.get(k) != config.get(k)]
    if diff:
        k = diff[0]
        raise BenchError(
            f"{out} holds results of another run ({k}: {old.get(k)!r} there, {config.get(k)!r} now); "
            "use another --out or the same settings"
        )


def _describe_run(stamp: dict[str, Any], labels: Sequence[str]) -> str:
    return f"{describe_selection(stamp)}, methods {', '.join(sorted(labels)) or 'none'}"


def check_replace(out: Path, pairs: pd.DataFrame, labels: Sequence[str], replace_tables: bool) -> str:
    """The folder's last run (run.json, pairs.csv) against this one: "" when there is none or it has the
    same selection (the same pairs, inputs changed in place or not) and method set (a rerun, a resume);
    else a BenchError naming both, or with `replace_tables` the line saying what is replaced."""
    if not (out / RUN_FILE).is_file():
        return ""
    try:
        old_labels = [str(m.get("label", m.get("name"))) for m in read_run(out)["methods"]]
        old = selection_stamp(read_pairs(out), contents=False)
    except (BenchError, KeyError, AttributeError, TypeError, ValueError):
        return ""  # a folder whose last run cannot be read is refused or repaired elsewhere
    new = selection_stamp(pairs, contents=False)
    if old["digest"] == new["digest"] and sorted(old_labels) == sorted(labels):
        return ""
    before, now = _describe_run(old, old_labels), _describe_run(new, labels)
    if not replace_tables:
        raise BenchError(
            f"{out} holds the tables of {before}; this evaluation is {now}: pass --replace to replace them "
            "(records are kept) or use another --out"
        )
    return f"replaced the tables of {before} in {out} by those of {now}"


def _pairs(cfg: EvalConfig, keys: list[str], sel: pd.DataFrame) -> pd.DataFrame:
    from bench.runs.pairing import PAIRINGS, make_distinct_pairs

    if cfg.pairing not in PAIRINGS:
        raise BenchError(f"--pairing must be one of {', '.join(PAIRINGS)}, got {cfg.pairing!r}")
    if cfg.pairing == "cross":
        return make_pairs(keys, sel, cfg.bins, cfg.groups, cfg.seed, cfg.limit)
    from masks.manifest import read_manifest

    whole = read_manifest(Path(cfg.masks))  # drawn for the whole set: a selection = the full run's rows
    try:
        return make_distinct_pairs(keys, whole, cfg.bins, cfg.groups, cfg.seed, cfg.limit)
    except ValueError as e:
        raise BenchError(f"{e} in {cfg.data}; use more test images, --pairing cross, or --limit N (only the "
                         "masks of the first N images)") from None  # fmt: skip


def _run_config_of(cfg: EvalConfig) -> dict[str, Any]:
    return dict(data=str(Path(cfg.data).resolve()), masks=str(Path(cfg.masks).resolve()), seed=int(cfg.seed),
                resize_masks=bool(cfg.resize_masks), pairing=cfg.pairing)  # fmt: skip


def run_config(p: Prepared) -> dict[str, Any]:
    return _run_config_of(p.cfg)
