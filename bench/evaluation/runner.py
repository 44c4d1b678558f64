"""`bench evaluate`: the paper's protocol on any set of methods, resumable, exported as Table 1.

The loop, in plain steps:

1. `prepare` (bench.evaluation.protocol): validate everything and decide everything, writing nothing:
   test images, the mask set (every path inside its folder, every selected mask present, binary, in its
   bin and group), sizes, methods, the IS network, the pairs (bench.runs.pairing) and the content digest
   of every input file.
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
import os
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch

from bench.core.digests import bytes_digest
from bench.core.distributed import Dist, agree, from_env, setup, teardown, total
from bench.core.errors import BenchError
from bench.core.files import jsonable, read_mask, write_bytes, write_csv, write_json, write_png
from bench.core.folders import LEGACY_SIGNS, LOCK, MARKER, FolderLock, claim, sublock
from bench.core.progress import progress_bar
from bench.evaluation.protocol import (
    EvalConfig,
    Prepared,
    as_bins,
    as_groups,
    check_same_run,
    method_features,
    prepare,
    run_config,
)
from bench.reporting import tables as T
from bench.runs.records import (
    PAIRS_FILE,
    RUN_FILE,
    RUN_FORMAT_VERSION,
    MethodRecords,
    pair_key,
    record_key,
    retire_stale,
    sample_name,
)
from bench.runs.shards import Part, missing_shards, parse_shard, remove_marker, write_marker
from masks.conventions import is_valid

# Tracebacks of methods that raised, in the run folder (the error line names it).


# Tracebacks of methods that raised, in the run folder (the error line names it).
METHOD_LOG = "method-errors.log"


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


def _write_run(
    p: Prepared, entries: list[dict[str, Any]], status: str, truth: dict | None, shards: int = 0
) -> dict[str, Any]:
    cfg = p.cfg
    n_images = int(p.pairs["image"].nunique())
    run = dict(
        format_version=RUN_FORMAT_VERSION, **run_config(p), bins=[b.name for b in cfg.bins],
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
    check_same_run(out, run_config(p))  # again under the lock
    methods = [*p.methods, *([("ground truth", p.ground_truth)] if p.ground_truth is not None else [])]
    keep: dict[str, set[str]] = {}
    for _, inp in methods:
        keep.setdefault(inp.name, set()).add(record_key(inp.fingerprint, p.is_info["name"]))
    recs, entries = [], []
    for label, inp in methods:
        key = record_key(inp.fingerprint, p.is_info["name"])
        info = dict(
            label=label, name=inp.name, options=jsonable(inp.options), fingerprint=inp.fingerprint,
            key=key, meta=jsonable(getattr(inp, "meta", {}) or {}), features=method_features(inp),
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
    from bench.data.decode import load_image

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
