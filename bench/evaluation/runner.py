"""`bench evaluate`: the paper's protocol on any set of methods, resumable, exported as Table 1.

The loop, in plain steps:

1. `prepare`: validate everything and decide everything, writing nothing: test images, the mask set
   (every path inside its folder, every selected mask present, binary, in its bin and group), sizes,
   methods, the IS network, the pairs (bench.runs.pairing) and the content digest of every input file.
2. `claim` the output folder (bench.core.folders): marked as an evaluation, locked for this process.
3. `open_records`: one record folder per method, run.json and pairs.csv.
4. `compute_chunk` over fixed chunks of `batch_size` pairs in a fixed order; a chunk is recomputed whole
   when any of its pairs is missing for a method, so a resumed run sees exactly the batches of an
   uninterrupted one and ends with identical records and tables.
5. `build_tables` (bench.reporting.tables) from the stored records.

A pair is identified by its image, its mask and the digests of their contents (bench.runs.records), so an
input changed in place is recomputed and nothing else is.
"""

from __future__ import annotations

import contextlib
import json
import os
import traceback
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from bench.core.digests import CACHE_FILE, DigestCache, bytes_digest
from bench.core.distributed import Dist, agree, from_env, setup, teardown, total
from bench.core.errors import BenchError
from bench.core.files import jsonable, read_mask, write_bytes, write_csv, write_json, write_png
from bench.core.folders import LEGACY_SIGNS, LOCK, MARKER, FolderLock, check_claim, claim, inside, sublock
from bench.core.progress import progress_bar
from bench.reporting import tables as T
from bench.runs.pairing import describe_selection, make_pairs, sample_pairs, selection_stamp
from bench.runs.records import (
    PAIRS_FILE,
    RUN_FILE,
    RUN_FORMAT_VERSION,
    MethodRecords,
    pair_key,
    read_pairs,
    read_run,
    record_key,
    retire_stale,
    sample_name,
    upgrade_run,
)
from bench.runs.shards import Part, missing_shards, parse_shard, remove_marker, write_marker
from masks.conventions import BINS, GROUPS, Bin, Group, is_valid

# Tracebacks of methods that raised, in the run folder (the error line names it).
METHOD_LOG = "method-errors.log"
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
class EvalResult:
    out: Path
    summary: pd.DataFrame
    paired: pd.DataFrame | None
    text: str  # terminal rendering of the table (and the paired test)
    files: list[Path] = field(default_factory=list)
    n_pairs: int = 0  # pairs in the selection
    computed: int = 0  # (method, pair) evaluations run now
    reused: int = 0  # (method, pair) evaluations found in the records
    shown: bool = True  # False on torchrun ranks other than 0: rank 0 reports for all
    messages: list[str] = field(default_factory=list)  # what the run replaced or reused, one line each
    outputs: dict[str, Path] = field(default_factory=dict)  # save_outputs: label -> its folder of PNGs
    n_outputs: dict[str, int] = field(default_factory=dict)  # save_outputs: label -> PNGs it holds
    warnings: list[str] = field(
        default_factory=list
    )  # the tables step's (bench.reporting.tables.Tables.warnings)


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


# ---------------------------------------------------------------------------------------------- inputs


def list_test_images(data: Path) -> list[Path]:
    """The test split of a `bench data prepare` folder, or every image under any other folder (sorted)."""
    from bench.data.images import list_images

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


def _features(inp: Any) -> str:
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
    _check_same_run(Path(cfg.out), _run_config_of(cfg))
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


# ---------------------------------------------------------------------------------------------- writing


def _check_same_run(out: Path, config: dict[str, Any]) -> None:
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


def _run_config(p: Prepared) -> dict[str, Any]:
    return _run_config_of(p.cfg)


def _write_run(
    p: Prepared, entries: list[dict[str, Any]], status: str, truth: dict | None, shards: int = 0
) -> dict[str, Any]:
    cfg = p.cfg
    n_images = int(p.pairs["image"].nunique())
    run = dict(
        format_version=RUN_FORMAT_VERSION, **_run_config(p), bins=[b.name for b in cfg.bins],
        groups=[str(g) for g in cfg.groups],
        limit=cfg.limit, n_images=n_images, image_size=list(p.hw), methods=entries, is_network=p.is_info,
        metrics=[m.meta() for m in p.metrics], notes=p.notes, reference=truth,
        paired=list(p.paired) if p.paired else None, n_boot=cfg.n_boot, command=cfg.command,
        samples_per_bin=cfg.samples_per_bin, status=status, **({"shards": shards} if shards else {}),
    )  # fmt: skip
    write_json(cfg.out / RUN_FILE, run)
    return run


def open_records(
    p: Prepared, part: Part | None = None, retire: bool = True
) -> tuple[list[MethodRecords], list[dict[str, Any]]]:
    """Record folders of every method, then of the ground truth when a metric needs it, writing to the
    records file of `part` (all of the run: None). `retire`: move older fingerprints of the same names
    aside (only a process that holds the whole folder may)."""
    out = Path(p.cfg.out)
    _check_same_run(out, _run_config(p))  # again under the lock
    methods = [*p.methods, *([("ground truth", p.ground_truth)] if p.ground_truth is not None else [])]
    keep: dict[str, set[str]] = {}
    for _, inp in methods:
        keep.setdefault(inp.name, set()).add(record_key(inp.fingerprint, p.is_info["name"]))
    recs, entries = [], []
    for label, inp in methods:
        key = record_key(inp.fingerprint, p.is_info["name"])
        info = dict(
            label=label, name=inp.name, options=jsonable(inp.options), fingerprint=inp.fingerprint,
            key=key, meta=jsonable(getattr(inp, "meta", {}) or {}), features=_features(inp),
            is_network=p.is_info["name"], origin=getattr(inp, "origin", ""),
        )  # fmt: skip
        entries.append(info)
        if retire:
            retire_stale(out, inp.name, keep[inp.name])
        mr = MethodRecords(out, inp.name, key, info, part.name if part else "")
        mr.open()
        recs.append(mr)
    return recs, entries


def _to_tensor_images(arrs: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float() / 255.0  # (B,3,H,W) in [0,1]
    return x.contiguous()


def _to_tensor_masks(arrs: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(is_valid(np.stack(arrs)).astype(np.float32))[:, None]  # (B,1,H,W), 1 = valid


def _read_as(path: Path, digest: str, decode: Any) -> np.ndarray:
    """`decode(path, data=...)` of the file's bytes, read once and checked against the digest that keys
    the pair's records (taken when the run started): the pixels scored are always those of the bytes
    hashed. A file changed meanwhile (by a writer that does not take the folder's lock) is a BenchError,
    so records of other pixels are never stored under its digest."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BenchError(
            f"{path} cannot be read ({e.strerror or e}); did it change during the run?"
        ) from None
    if bytes_digest(data) != digest:
        raise BenchError(
            f"{path} changed during the evaluation (its content is not the one the run started with); "
            "rerun the same command once it is final (finished pairs are kept)"
        )
    try:
        return decode(path, data=data)
    except ValueError as e:
        raise BenchError(str(e)) from None


def _load_chunk(p: Prepared, chunk: pd.DataFrame, pool: Any) -> tuple[torch.Tensor, torch.Tensor]:
    from bench.data.images import load_image

    hw = p.hw

    def one(row: tuple[str, str, str]) -> tuple[np.ndarray, np.ndarray]:
        image, mask, inputs = row
        image_digest, mask_digest = inputs.split(":")
        img = _read_as(p.data / image, image_digest, load_image)
        if img.shape[:2] != hw:
            raise BenchError(f"{p.data / image} is {img.shape[1]}x{img.shape[0]}, expected {hw[1]}x{hw[0]}")
        m = _read_as(p.masks / mask, mask_digest, read_mask)
        if m.shape != hw:
            m = cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)  # --resize-masks (checked)
        return img, m

    rows = list(zip(chunk["image"], chunk["mask"], chunk["inputs"], strict=True))
    loaded = list(pool.map(one, rows)) if pool is not None else [one(r) for r in rows]
    return _to_tensor_images([a for a, _ in loaded]), _to_tensor_masks([b for _, b in loaded])


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def compute_chunk(
    p: Prepared,
    inp: Any,
    mr: MethodRecords,
    chunk: pd.DataFrame,
    rows: list[int],
    names: list[str],
    imgs,
    msks,
    saver: Any = None,
) -> None:
    """Run one method on one chunk, compute what `names` asks for of its pairs `rows` (positions in the
    chunk) and append their records (network outputs, sample pictures and, with a `saver`
    (bench.evaluation.saved_outputs.SavedOutputs), the composited outputs first). `names` holds metric names
    and network outputs (bench.metrics.registry.NETWORK_OUTPUTS); when any output is asked for, all of this
    method's outputs are computed again, into one new file."""
    from bench.evaluation.saved_outputs import to_uint8
    from bench.metrics.registry import METRICS, composite, pair_metric_values

    per_pair = hasattr(inp, "outputs_for")  # a method reading files per pair (outputs); may lack some pairs
    if per_pair:
        skipped = getattr(inp, "skipped_pairs", set())
        rows = [j for j in rows if int(chunk["pair_id"].iloc[j]) not in skipped]
        if not rows:
            return
    truth = inp is p.ground_truth
    with torch.no_grad():
        output = _run_method(p, inp, chunk, imgs, msks, per_pair)
        comp = composite(output.to(imgs.device), imgs, msks)  # I_comp, (B,3,H,W)
        mets = pair_metric_values(comp, imgs, msks, [n for n in names if n in METRICS], p.networks)
        if not set(names) - set(METRICS):
            arrays = {}
        elif truth:
            arrays = {
                "real_pool": _real_pool(p, [chunk["inputs"].iloc[j].split(":")[0] for j in rows], comp[rows])
            }
        else:
            arrays = _network_outputs(p, comp[rows])
    pfile = mr.write_outputs(int(chunk["pair_id"].iloc[rows[0]]), arrays) if arrays else None
    if saver is not None and not truth:  # before the records: a recorded pair has its PNG
        saver.write([(chunk.iloc[j], to_uint8(comp[j])) for j in rows])
    lines = []
    for r_i, j in enumerate(rows):
        pr = chunk.iloc[j]
        if (pr["image"], pr["mask"]) in p.samples and not truth:
            write_png(mr.samples_path / sample_name(pr["image"], pr["mask"], pr["inputs"]), to_uint8(comp[j]))
        line = dict(
            pair_id=int(pr["pair_id"]),
            image=pr["image"],
            mask=pr["mask"],
            bin=pr["bin"],
            group=pr["group"],
            inputs=pr["inputs"],
            metrics={m: _num(v[j]) for m, v in mets.items()},
        )
        if pfile:
            line.update(probs_file=pfile, probs_row=r_i, net_outputs=sorted(arrays))
        lines.append(line)  # fmt: skip
    mr.append(lines)


def _pairs_text(chunk: pd.DataFrame, index: int | None) -> str:
    """'pair 3 (images/a.png, 0.1-0.2/N/00001.png)', or the chunk's pair range when `index` is None."""
    if index is None:
        ids = [int(i) for i in chunk["pair_id"]]
        return f"pair {ids[0]}" if len(ids) == 1 else f"pairs {ids[0]}-{ids[-1]}"
    row = chunk.iloc[index]
    return f"pair {int(row['pair_id'])} ({row['image']}, {row['mask']})"


def _log_failure(p: Prepared, name: str, where: str, e: BaseException) -> Path:
    """Append the method's traceback to METHOD_LOG in the run folder; returns its path."""
    path = p.cfg.out / METHOD_LOG
    text = f"method {name!r} failed on {where}:\n" + "".join(traceback.format_exception(e)) + "\n"
    with contextlib.suppress(OSError):
        old = path.read_bytes() if path.is_file() else b""
        write_bytes(path, old + text.encode("utf-8", "backslashreplace"))
    return path


def _run_method(p: Prepared, inp: Any, chunk: pd.DataFrame, imgs, msks, per_pair: bool) -> torch.Tensor:
    """The method's output on a chunk, checked (bench.methods.inpainters.check_output). The method gets its
    own copy of the inputs: one that changes them in place cannot change the ground truth the metrics use,
    nor the inputs of the methods after it. Whatever goes wrong is a one-line BenchError naming the
    method and the pair; an exception's traceback goes to METHOD_LOG."""
    from bench.methods.inpainters import MethodOutputError, check_output

    name = getattr(inp, "name", type(inp).__name__)
    args = (imgs.clone(), msks.clone())
    try:
        output = inp.outputs_for(chunk, *args) if per_pair else inp.inpaint(*args)
        return check_output(output, imgs)
    except MethodOutputError as e:
        raise BenchError(f"method {name!r} {e.reason} on {_pairs_text(chunk, e.index)}") from None
    except BenchError:
        raise
    except SystemExit as e:
        raise BenchError(
            f"method {name!r} called sys.exit({e.code!r}) on {_pairs_text(chunk, None)}; a method must "
            "return its output or raise"
        ) from None
    except Exception as e:  # noqa: BLE001 - a method's bug, reported in one line, traceback in the log
        log = _log_failure(p, name, _pairs_text(chunk, None), e)
        first = (str(e).splitlines() or [""])[0][:200]
        raise BenchError(
            f"method {name!r} failed on {_pairs_text(chunk, None)}: {type(e).__name__}: {first} "
            f"(traceback in {log})"
        ) from None


def _network_outputs(p: Prepared, comp: torch.Tensor) -> dict[str, np.ndarray]:
    """The IS network's outputs this run records of a method's composited outputs: "probs" and/or "pool"."""
    out = p.is_network.outputs(comp.to(p.device))
    return {n: out[n].detach().cpu().float().numpy() for n in sorted(p.outputs)}


def _real_pool(p: Prepared, digests: list[str], images: torch.Tensor) -> np.ndarray:
    """The ground truth's "real_pool" rows: each distinct image (by content digest) goes through the
    network once per process, alone, so under cross pairing (an image in every cell) it is not run
    once per pair, and its value never depends on which chunk, shard or rank met it first."""
    memo = p.ground_truth.pool
    for digest, x in zip(digests, images, strict=True):
        if digest not in memo:
            memo[digest] = (
                p.is_network.outputs(x[None].to(p.device))["pool"][0].detach().cpu().float().numpy()
            )
    return np.stack([memo[d] for d in digests])


def _missing(
    p: Prepared, state: dict, key: tuple[str, str, str], truth: bool = False, saved: set | None = None
) -> set[str]:
    """Metrics and network outputs a method (or the ground truth) still lacks for one pair. With `saved`
    (the pairs whose output PNG is saved, bench.evaluation.saved_outputs) a pair without its PNG lacks
    everything: it is computed whole, so its PNG and its records come from one computation."""
    have, outputs = state.get(key, (frozenset(), frozenset()))
    if truth:
        return {"real_pool"} - outputs
    pair = {m.name for m in p.metrics if m.kind == "pair"}
    if saved is not None and key not in saved:
        return pair | p.outputs
    return (pair - have) | (p.outputs - outputs)


def _savers(p: Prepared, recs: list[MethodRecords]) -> list[Any]:
    """The SavedOutputs of every method, None for the ground truth (all None without save_outputs)."""
    from bench.evaluation.saved_outputs import SavedOutputs

    if not p.cfg.save_outputs:
        return [None] * len(recs)
    labels = [label for label, _ in p.methods] + [None] * (len(recs) - len(p.methods))
    return [
        None if lb is None else SavedOutputs(p.cfg.out, lb, mr.key, mr.part)
        for lb, mr in zip(labels, recs, strict=True)
    ]


def _saved(p: Prepared, savers: list[Any]) -> list[set | None]:
    """Per method, the pair keys whose output PNG is saved (None: no PNG is kept for it)."""
    return [None if s is None else s.saved(p.pairs) for s in savers]


def _todo(p: Prepared, recs: list[MethodRecords]) -> int:
    """(method, pair) evaluations still missing."""
    refs = [False] * len(p.methods) + [True] * (p.ground_truth is not None)
    keys = [pair_key(r) for r in p.pairs[["image", "mask", "inputs"]].to_dict("records")]
    states = [mr.state() for mr in recs]
    return sum(bool(_missing(p, st, k, ref)) for st, ref in zip(states, refs, strict=True) for k in keys)


def plugin_reuse(p: Prepared, recs: list[MethodRecords], part: Part | None = None) -> list[str]:
    """One line per plugin method (bench.methods.inpainters.is_builtin) whose stored records this run reuses,
    naming the code digest they were computed with: a plugin's reused numbers are never silent."""
    from bench.methods.inpainters import is_builtin

    size = p.cfg.batch_size
    keys = [pair_key(r) for r in p.pairs[["image", "mask", "inputs"]].to_dict("records")]
    mine = [k for s in _chunks(p, part) for k in keys[s : s + size]]
    lines = []
    for (label, inp), mr in zip(p.methods, recs, strict=False):
        if is_builtin(inp) or not hasattr(inp, "code_digest"):
            continue
        state = mr.state()
        n = sum(not _missing(p, state, k) for k in mine)
        if n:
            lines.append(
                f"reused {n} record(s) of plugin {label!r} ({inp.origin}) computed by code digest "
                f"{inp.code_digest}: the same code and weights as now (a change recomputes)"
            )
    return lines


def unsaved_reuse(p: Prepared, recs: list[MethodRecords], part: Part | None = None) -> list[str]:
    """With save_outputs: one line per method with pairs that are recorded but whose output PNG is
    missing (a run without --save-outputs, or files removed): those pairs are computed again."""
    if not p.cfg.save_outputs:
        return []
    size = p.cfg.batch_size
    keys = [pair_key(r) for r in p.pairs[["image", "mask", "inputs"]].to_dict("records")]
    mine = [k for s in _chunks(p, part) for k in keys[s : s + size]]
    lines = []
    for (label, _), mr, sv in zip(p.methods, recs, _saved(p, _savers(p, recs)), strict=False):
        state = mr.state()
        n = sum(not _missing(p, state, k) and k not in sv for k in mine)
        if n:
            lines.append(
                f"{n} pair(s) of {label!r} are recorded but have no saved output in {p.cfg.out}/outputs: "
                "computed again to save them (their records replaced by that computation)"
            )
    return lines


def _chunks(p: Prepared, part: Part | None) -> list[int]:
    """Start rows of the chunks of `part` (all chunks: None)."""
    starts = range(0, len(p.pairs), p.cfg.batch_size)
    return [s for c, s in enumerate(starts) if part is None or part.owns(c)]


def _compute_all(p: Prepared, recs: list[MethodRecords], part: Part | None = None) -> tuple[int, int]:
    """Every missing (method, pair) of the chunks of `part`, chunk by chunk; returns (computed, reused)
    pair counts of those chunks."""
    cfg, pairs, size = p.cfg, p.pairs, p.cfg.batch_size
    starts = _chunks(p, part)
    states = [mr.state() for mr in recs]
    methods = [inp for _, inp in p.methods] + ([p.ground_truth] if p.ground_truth is not None else [])
    refs = [inp is p.ground_truth for inp in methods]
    keys = [pair_key(r) for r in pairs[["image", "mask", "inputs"]].to_dict("records")]
    mine = [k for s in starts for k in keys[s : s + size]]
    savers = _savers(p, recs)
    saved = _saved(p, savers)
    lack = [
        sum(bool(_missing(p, st, k, ref, sv)) for k in mine)
        for st, ref, sv in zip(states, refs, saved, strict=True)
    ]
    todo = sum(lack)  # the bar counts the ground truth's pairs too; the result counts the methods'
    done_now = sum(lack[: len(p.methods)])
    reused = len(mine) * len(p.methods) - done_now
    bar = progress_bar(total=todo, unit="pair", desc="evaluate" + (f" {part.label}" if part else ""),
               disable=None if cfg.progress and todo else True, dynamic_ncols=True)  # fmt: skip
    pool = ThreadPoolExecutor(max_workers=cfg.workers) if cfg.workers > 1 else None
    try:
        for start in starts:
            chunk = pairs.iloc[start : start + size]
            ck = keys[start : start + size]
            lacking = [
                [_missing(p, st, k, ref, sv) for k in ck]
                for st, ref, sv in zip(states, refs, saved, strict=True)
            ]
            need = [i for i, lack in enumerate(lacking) if any(lack)]
            if not need:
                continue
            imgs, msks = _load_chunk(p, chunk, pool)
            for i in need:
                rows = [j for j, lack in enumerate(lacking[i]) if lack]
                names = sorted(set().union(*(lacking[i][j] for j in rows)))
                compute_chunk(p, methods[i], recs[i], chunk, rows, names, imgs, msks, savers[i])
                bar.update(len(rows))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    return done_now, reused


def evaluate(cfg: EvalConfig, is_network: Any = None) -> EvalResult:
    """Run `cfg.methods` on every (image, mask) pair of the selection, record per pair, export the tables.

    Everything is validated (methods load, masks are present and correct for every selected cell, sizes
    match, the IS network loads) before anything is written. `is_network` overrides the IS network.
    Under torchrun the ranks share the chunks (`_evaluate_ranks`); with `cfg.shard` this process computes
    one shard (`_evaluate_shard`).
    """
    cfg = replace(cfg, out=Path(cfg.out), bins=as_bins(cfg.bins), groups=as_groups(cfg.groups),
                  workers=auto_workers() if cfg.workers is None else cfg.workers)  # fmt: skip
    if cfg.shard is not None:
        if from_env().enabled:
            raise BenchError("--shard is for separate jobs; under torchrun the ranks share the work already")
        return _evaluate_shard(cfg, is_network, parse_shard(cfg.shard))
    if from_env().enabled:
        return _evaluate_ranks(cfg, is_network)
    with reading_inputs(cfg):
        p = prepare(cfg, is_network)
        with claim(cfg.out, "eval"):
            recs, entries, truth = _start(p)
            messages = [p.replaced] if p.replaced else []
            messages += plugin_reuse(p, recs) + unsaved_reuse(p, recs)
            computed, reused = _compute_all(p, recs)
            result = _finish(p, entries, truth, computed, reused)
            result.messages[:0] = messages
            return result


@contextlib.contextmanager
def reading_inputs(cfg: EvalConfig) -> Iterator[None]:
    """Shared locks on the input folders (--data, --masks) while an evaluation reads them. Their writers
    (`bench data prepare`, `bench masks generate/import`) hold the exclusive lock of their folder, so a
    writer is refused while an evaluation runs, and an evaluation while a writer runs. A folder that
    pconv-bench did not write (no marker, no lock file) is not locked: none of its writers can write
    there, and nothing is created in a user's own folder."""
    with contextlib.ExitStack() as held:
        for folder, option in ((cfg.data, "--data"), (cfg.masks, "--masks")):
            if folder is not None and _ours(Path(folder)):
                lock = FolderLock(Path(folder), shared=True).acquire(what=f"{option} {folder}")
                held.callback(lock.release)
        yield


def _ours(folder: Path) -> bool:
    """The folder was written by pconv-bench (a marker, a lock file, or the files of a folder written
    before markers existed: `LEGACY_SIGNS`)."""
    if not folder.is_dir():
        return False
    legacy = [s for kind in ("data", "masks") for s in LEGACY_SIGNS[kind]]
    return any((folder / name).exists() for name in (MARKER, LOCK, *legacy))


def auto_workers() -> int:
    """One thread per core, shared by the processes torchrun started on this machine. Per-image methods
    seed each image by its content, so their outputs do not depend on this number."""
    return max(1, (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def _start(p: Prepared, part: Part | None = None, shards: int = 0) -> tuple[list, list, dict | None]:
    """Open the record folders of `part` (older fingerprints moved aside unless this is a shard), write
    pairs.csv and run.json; returns (records, method entries, ground-truth entry)."""
    recs, entries = open_records(p, part, retire=not shards)
    truth = entries.pop() if p.ground_truth is not None else None
    write_csv(p.cfg.out / PAIRS_FILE, p.pairs)
    status = "sharded" if shards else "running" if _todo(p, recs) else "complete"
    _write_run(p, entries, status, truth, shards)
    p.cache.save()
    return recs, entries, truth


def _finish(p: Prepared, entries: list, truth: dict | None, computed: int, reused: int) -> EvalResult:
    """Mark the run complete and build its tables, figures and report."""
    _write_run(p, entries, "complete", truth)
    return _result(p, computed, reused)


def _result(p: Prepared, computed: int, reused: int) -> EvalResult:
    cfg = p.cfg
    from bench.reporting.rebuild import add_figures_and_report

    t = T.build_tables(cfg.out, formats=cfg.formats, paired=p.paired, n_boot=cfg.n_boot, wide=cfg.wide)
    add_figures_and_report(t, cfg.figures)
    result = EvalResult(out=cfg.out, summary=t.summary, paired=t.paired, text=t.text, files=t.files,
                        n_pairs=len(p.pairs), computed=computed, reused=reused,
                        warnings=t.warnings)  # fmt: skip
    if cfg.save_outputs:
        _settle_outputs(p, result)
    return result


def _settle_outputs(p: Prepared, result: EvalResult) -> None:
    """Once every part is done: each method's folder of saved outputs holds exactly the PNGs of this
    run's pairs (those of pairs no longer selected, or of another fingerprint, are removed)."""
    from bench.evaluation.saved_outputs import SavedOutputs, output_name

    for label, inp in p.methods:
        key = record_key(inp.fingerprint, p.is_info["name"])
        so = SavedOutputs(p.cfg.out, label, key)
        saved = so.saved(p.pairs)
        keep = {output_name(r["pair_id"]) for r in p.pairs.to_dict("records") if pair_key(r) in saved}
        removed = so.prune(keep)
        result.outputs[label], result.n_outputs[label] = so.path, len(keep)
        if removed:
            result.messages.append(
                f"removed {len(removed)} saved output(s) of {label!r} that are not this run's outputs"
            )
    n = sum(result.n_outputs.values())
    result.messages.append(f"saved outputs: {n} PNG(s) in {p.cfg.out / 'outputs'}/<method>/<pair_id>.png")


def _evaluate_shard(cfg: EvalConfig, is_network: Any, part: Part) -> EvalResult:
    """Shard `part` of the run: its chunks only, under a shared lock of the folder and a lock of its own;
    a done marker at the end. The shard that finds every other shard done builds the tables."""
    out = cfg.out
    with contextlib.ExitStack() as held:
        held.enter_context(reading_inputs(cfg))
        p = prepare(cfg, is_network, busy_ok=True)
        held.enter_context(claim(out, "eval", shared=True))
        held.enter_context(sublock(out, part.name, f"--shard {part.label} of {out}"))
        remove_marker(out, part)
        recs, entries, truth = _start(p, part, shards=part.count)
        messages = plugin_reuse(p, recs, part) + unsaved_reuse(p, recs, part)
        computed, reused = _compute_all(p, recs, part)
        run = _write_run(p, entries, "sharded", truth, part.count)
        write_marker(out, part, run)
        missing = missing_shards(out, run)
        if missing:
            text = (f"shard {part.label} is done; shard(s) {', '.join(missing)} are not: when they are, the "
                    f"last one builds the tables (or run `bench tables {out}`)")  # fmt: skip
            return EvalResult(out=out, summary=pd.DataFrame(), paired=None, text=text, n_pairs=len(p.pairs),
                              computed=computed, reused=reused, messages=messages)  # fmt: skip
        with sublock(out, "tables", wait=True):
            result = _result(p, computed, reused)
            result.messages[:0] = messages
            return result


def _together(d: Dist, step: Any) -> Any:
    """Run `step()` on every rank; if it fails on any rank, every rank stops (the failing one with its
    own error), so none waits forever at the next collective."""
    value, err = None, None
    try:
        value = step()
    except Exception as e:  # noqa: BLE001 - re-raised below, after the other ranks know
        err = e
    if not agree(d, err is None):
        if err is not None:
            raise err
        raise BenchError("stopped because another torchrun rank failed (its error is printed above)")
    return value


def _evaluate_ranks(cfg: EvalConfig, is_network: Any) -> EvalResult:
    """torchrun: every rank prepares; rank 0 holds the folder, opens the records and writes run.json;
    the ranks compute the chunks c with c mod world = rank into their own records files; rank 0 builds
    the tables once all are done."""
    from bench.core.device import resolve_device

    d, device = setup(resolve_device(cfg.device))
    try:
        if device.type == "cuda":
            cfg = replace(cfg, device=str(device))  # each rank on its own GPU
        part = Part(d.rank, d.world, "rank")
        with contextlib.ExitStack() as held:
            _together(d, lambda: held.enter_context(reading_inputs(cfg)))
            p = _together(d, lambda: prepare(cfg, is_network, busy_ok=not d.main))

            def start_main() -> Any:
                if d.main:
                    held.enter_context(claim(cfg.out, "eval"))
                    return _start(p, part)
                return None

            started = _together(d, start_main)
            # The other ranks open their records once rank 0 has moved stale folders aside and written
            # method.json (rank 0 only waits at this barrier).
            opened = _together(d, lambda: None if d.main else (*open_records(p, part, retire=False), None))
            recs, entries, truth = started if d.main else opened
            counts = _together(d, lambda: _compute_all(p, recs, part))
            computed, reused = total(d, list(counts))
            if not d.main:
                return EvalResult(out=cfg.out, summary=pd.DataFrame(), paired=None, text="", shown=False)
            return _finish(p, entries, truth, computed, reused)
    finally:
        teardown(d)
