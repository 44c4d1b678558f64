"""Per-pair evaluation records on disk: appended as computed, resumable, keyed by what the inputs contain.

Layout under an evaluation folder `out/`::

    out/.pconv-bench.json              marker: this folder is an evaluation (bench.core.folders)
    out/run.json                       run config (format_version, data, masks, seed, selection, IS
                                       network, methods, status "running" | "complete"); see
                                       `upgrade_run` for older versions
    out/pairs.csv                      pair_id, image, mask, bin, group, inputs: the pairs of the last run
    out/inputs-cache.json              digests of the input files (bench.core.digests), a cache only
    out/records/<name>-<key>/          one folder per method name and record key
        method.json                    name, label, fingerprint, options, meta, IS network
        records.jsonl                  one JSON object per finished pair, appended and fsynced per batch
        records.<part>.jsonl           the same, written by one part of a sharded or torchrun evaluation
                                       (<part> = shard-IofN); every records*.jsonl is read, merged
        probs-<first>-<k>.npz          per-pair network outputs for the cell metrics (bench.metrics.registry
                                       NETWORK_OUTPUTS): "probs" (n, K) class probabilities and "pool"
                                       (n, D) pool features of the composited outputs, float32
        samples/<hash>.png             composited outputs of a few pairs, for the qualitative grid
    out/records/ground-truth-<key>/    the same for the ground-truth images ("real_pool" only), when a
                                       metric compares with them (FID, KID)
    out/records/stale/<...>/           folders of an older fingerprint of the same method, kept aside

A record line::

    {"pair_id": 3, "image": "images/a.png", "mask": "0.1-0.2/N/00001.png", "bin": "0.1-0.2",
     "group": "N", "inputs": "<image digest>:<mask digest>", "metrics": {"psnr": 27.1, ...},
     "probs_file": "probs-0000000-0.npz", "probs_row": 0, "net_outputs": ["pool", "probs"]}

`net_outputs` lists the arrays of `probs_file` (a line without it, written before the pool features
were stored, has "probs" only; lines carry no version of their own, so this is read line by line).

A pair counts as done for a method when records name its image, its mask and the same `inputs`
digests, and hold every metric asked for: an image or mask changed in place makes exactly its pairs
stale, and a metric added later is computed alone and appended in a line of its own. The lines of a
pair are merged in file order (a later value of a metric wins). A line that does not parse or has a
non-numeric metric is ignored (and counted): its pair is computed again. A line that lacks a network
output asked for now makes the pair's outputs computed again, all of them, into a new file. The record
key hashes the
method fingerprint with the IS network's name, so a changed checkpoint, option or IS network starts a
fresh folder; other folders of that method name are moved to `records/stale/` (kept, never read again).

Each record line names the probs file and row holding its class probabilities, and the probs file is
written (atomically) before the line is appended, so a line is only ever followed by complete data. A
kill can leave a torn last line: it is cut off before the next append.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.errors import BenchError
from bench.core.files import atomic_open, make_dirs, open_append, read_csv, write_bytes, write_json

RUN_FILE = "run.json"
PAIRS_FILE = "pairs.csv"
RECORDS_DIR = "records"
STALE_DIR = "stale"
METHOD_FILE = "method.json"
RECORDS_FILE = "records.jsonl"
SAMPLES_DIR = "samples"
PAIR_COLUMNS: tuple[str, ...] = ("pair_id", "image", "mask", "bin", "group", "inputs")
_PROBS_NAME = re.compile(r"probs-\d{7}-\d+\.npz")


def pair_key(rec: dict[str, Any]) -> tuple[str, str, str]:
    """A pair is its image, its mask (relative paths) and the digests of their contents."""
    return (str(rec["image"]), str(rec["mask"]), str(rec.get("inputs", "")))


def record_key(fingerprint: str, is_network: str) -> str:
    """12 hex digits naming a method's record folder: checkpoint/options fingerprint + IS network."""
    h = hashlib.sha256(f"{fingerprint}\n{is_network}".encode()).hexdigest()
    return h[:12]


def safe_name(name: str) -> str:
    """A method name usable in a folder name."""
    return re.sub(r"[^A-Za-z0-9_.+@-]+", "_", name) or "method"


def sample_name(image: str, mask: str, inputs: str = "") -> str:
    """File name of a stored sample picture of one pair (its contents included: a changed input, a new
    picture)."""
    return hashlib.sha1(f"{image}|{mask}|{inputs}".encode()).hexdigest()[:16] + ".png"


# run.json's `format_version`. 2: the key itself (every key below was written already). A run.json
# without it is version 1, which may lack `pairing` (cross, the only pairing before --pairing) and name
# the IS network `is` instead of `is_network`.
RUN_FORMAT_VERSION = 2


def run_format_version(run: dict[str, Any]) -> int:
    """The `format_version` of a run.json (1 when it has none); a BenchError when it is not a positive
    integer.

    >>> run_format_version({}), run_format_version({"format_version": 2})
    (1, 2)
    """
    v = run.get("format_version", 1)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise BenchError(f"{RUN_FILE}: format_version {v!r} is not a positive integer")
    return v


def upgrade_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run.json read as the current format: what an older version left out filled in (a new dict); a
    newer version than this pconv-bench knows is a BenchError.

    >>> upgrade_run({"is": {"name": "x"}})["pairing"]
    'cross'
    """
    v = run_format_version(run)
    if v > RUN_FORMAT_VERSION:
        raise BenchError(
            f"{RUN_FILE} has format_version {v}; this pconv-bench reads up to {RUN_FORMAT_VERSION}: "
            "update pconv-bench"
        )
    run = dict(run)
    if v == 1:
        run.setdefault("pairing", "cross")
        if "is_network" not in run and "is" in run:
            run["is_network"] = run["is"]
    return run


def read_run(out: Path) -> dict[str, Any]:
    """run.json of an evaluation folder, upgraded to the current format (`upgrade_run`); a BenchError
    when there is none or it is corrupt."""
    run = Path(out) / RUN_FILE
    if not run.is_file():
        raise BenchError(f"{out} holds no evaluation ({RUN_FILE} is missing); run `bench evaluate` first")
    try:
        data = json.loads(run.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{run} is corrupt") from None
    if not isinstance(data, dict) or not isinstance(data.get("methods"), list):
        raise BenchError(f"{run} is corrupt (no list of methods)")
    return upgrade_run(data)


def read_pairs(out: Path) -> pd.DataFrame:
    path = Path(out) / PAIRS_FILE
    try:
        df = read_csv(path, dtype={c: str for c in PAIR_COLUMNS[1:]}, keep_default_na=False)
    except (OSError, ValueError) as e:
        raise BenchError(f"{path} is missing or unreadable ({str(e).splitlines()[0]})") from None
    missing = [c for c in PAIR_COLUMNS if c not in df.columns]
    if missing:
        raise BenchError(f"{path} lacks column(s) {', '.join(missing)}; run `bench evaluate` again")
    return df


def _valid_record(rec: Any) -> bool:
    if not isinstance(rec, dict):
        return False
    if not all(isinstance(rec.get(k), str) for k in ("image", "mask", "bin", "group", "inputs")):
        return False
    mets = rec.get("metrics")
    if not isinstance(mets, dict):
        return False
    for v in mets.values():
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or math.isnan(v)):
            return False
    outs = rec.get("net_outputs", [])
    if not isinstance(outs, list) or not all(isinstance(o, str) for o in outs):
        return False
    pf = rec.get("probs_file")
    return pf is None or (isinstance(pf, str) and bool(_PROBS_NAME.fullmatch(pf)))


def net_outputs(rec: dict[str, Any]) -> frozenset[str]:
    """The network outputs a record's probs file holds ("probs" alone in a line without `net_outputs`)."""
    if not rec.get("probs_file"):
        return frozenset()
    return frozenset(rec.get("net_outputs", ["probs"]))


def read_jsonl(paths: Path | Iterable[Path]) -> tuple[list[dict[str, Any]], int]:
    """(valid records, latest line per pair, in file order of their last line; number of bad lines).

    Several files (the parts of a sharded run) are read in the given order, as if one. The piece after a
    file's last newline is a torn line from a kill and is not counted as bad."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    bad = 0
    for path in [paths] if isinstance(paths, Path) else paths:
        if not path.exists():
            continue
        for line in path.read_bytes().split(b"\n")[:-1]:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad += 1
                continue
            if not _valid_record(rec):
                bad += 1
                continue
            old = latest.pop(pair_key(rec), None)
            latest[pair_key(rec)] = rec if old is None else _merge(old, rec)
    return list(latest.values()), bad


def _merge(old: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A later line adds metrics (or network outputs) to the pair's earlier ones."""
    merged = {**old, **rec, "metrics": {**old["metrics"], **rec["metrics"]}}
    if not rec.get("probs_file"):
        for k in ("probs_file", "probs_row", "net_outputs"):
            merged[k] = old.get(k)
        if merged["net_outputs"] is None:
            del merged["net_outputs"]
    return merged


@dataclass
class MethodRecords:
    """The record folder of one method name at one record key."""

    root: Path
    name: str
    key: str
    info: dict[str, Any] = field(default_factory=dict)
    part: str = ""  # this writer's part of a sharded run ("shard-0of2"); "" for a run in one process

    @property
    def path(self) -> Path:
        return self.root / RECORDS_DIR / f"{safe_name(self.name)}-{self.key}"

    @property
    def records_path(self) -> Path:
        """The file this writer appends to."""
        return self.path / (RECORDS_FILE if not self.part else f"records.{self.part}.jsonl")

    def record_files(self) -> list[Path]:
        """Every part's records file, records.jsonl first."""
        return sorted(self.path.glob("records*.jsonl"), key=lambda p: (p.name != RECORDS_FILE, p.name))

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES_DIR

    # ---- reading -------------------------------------------------------------------------------
    def read(self) -> list[dict[str, Any]]:
        """Valid records of every part, the latest line of each pair."""
        return read_jsonl(self.record_files())[0]

    def bad_lines(self) -> int:
        return read_jsonl(self.record_files())[1]

    def done_pairs(self) -> set[tuple[str, str, str]]:
        """(image, mask, inputs) of every pair with a record."""
        return {pair_key(r) for r in self.read()}

    def state(self) -> dict[tuple[str, str, str], tuple[frozenset[str], frozenset[str]]]:
        """pair key -> (metrics recorded, network outputs recorded)."""
        return {pair_key(r): (_recorded(r["metrics"]), net_outputs(r)) for r in self.read()}

    def load_outputs(
        self, records: list[dict[str, Any]], names: Iterable[str]
    ) -> dict[str, dict[tuple[str, str, str], np.ndarray]]:
        """output name -> pair key -> its row, from the file and row each record names.

        A record whose file is missing or unreadable gets none (the caller sees an incomplete cell)."""
        names = list(names)
        out: dict[str, dict[tuple[str, str, str], np.ndarray]] = {n: {} for n in names}
        by_file: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            if net_outputs(r) & set(names):
                by_file.setdefault(r["probs_file"], []).append(r)
        for fname, recs in by_file.items():
            try:
                with np.load(self.path / fname) as z:
                    arrays = {n: z[n] for n in names if n in z.files}
            except (OSError, ValueError):
                continue
            for n, arr in arrays.items():
                for r in recs:
                    row = r.get("probs_row")
                    if n in net_outputs(r) and isinstance(row, int) and 0 <= row < len(arr):
                        out[n][pair_key(r)] = arr[row]
        return out

    # ---- writing -------------------------------------------------------------------------------
    def open(self) -> None:
        """Create the folder and method.json; drop a torn last line and corrupt lines from records.jsonl."""
        make_dirs(self.path)  # never through a symbolic link (bench.core.files)
        if not (self.path / METHOD_FILE).exists():
            write_json(self.path / METHOD_FILE, {**self.info, "name": self.name, "key": self.key})
        _compact(self.records_path)

    def write_outputs(self, first_pair: int, arrays: dict[str, np.ndarray]) -> str:
        """Write network outputs (name -> (n, D)) atomically under a fresh name; returns the file name."""
        k = 0
        while (self.path / f"probs-{first_pair:07d}-{k}.npz").exists():
            k += 1
        name = f"probs-{first_pair:07d}-{k}.npz"
        with atomic_open(self.path / name, "wb") as f:
            np.savez(f, **{n: np.asarray(a, dtype=np.float32) for n, a in sorted(arrays.items())})
        return name

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records as JSON lines, flushed and fsynced (one call per batch)."""
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        with open_append(self.records_path) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


# Metrics whose null value in a record means "compute again": PSNR was stored as null (+inf) for an exact
# pair before it was capped (bench.metrics.registry.PSNR_MAX); such a pair gets its capped value appended.
_NULL_IS_MISSING: frozenset[str] = frozenset({"psnr"})


def _recorded(metrics: dict[str, Any]) -> frozenset[str]:
    return frozenset(k for k, v in metrics.items() if v is not None or k not in _NULL_IS_MISSING)


def _compact(path: Path) -> None:
    """Rewrite records.jsonl without a torn tail or corrupt lines (atomically); untouched when clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    lines = data.split(b"\n")
    keep = []
    for line in lines[:-1]:
        try:
            ok = _valid_record(json.loads(line))
        except (json.JSONDecodeError, UnicodeDecodeError):
            ok = False
        if ok:
            keep.append(line + b"\n")
    new = b"".join(keep)
    if new != data:
        write_bytes(path, new)


def list_method_dirs(root: Path) -> list[Path]:
    """Current (not stale) record folders under `root/records`."""
    base = Path(root) / RECORDS_DIR
    if not base.is_dir():
        return []
    return sorted(
        p for p in base.iterdir() if p.is_dir() and p.name != STALE_DIR and (p / METHOD_FILE).exists()
    )


def read_method_info(folder: Path) -> dict[str, Any]:
    try:
        info = json.loads((Path(folder) / METHOD_FILE).read_text())
    except (OSError, ValueError):
        raise BenchError(f"{Path(folder) / METHOD_FILE} is missing or corrupt") from None
    return info if isinstance(info, dict) else {}


def retire_stale(root: Path, name: str, keep: set[str]) -> list[Path]:
    """Move folders of method `name` whose key is not in `keep` to records/stale/; returns the new paths."""
    moved = []
    for folder in list_method_dirs(root):
        info = read_method_info(folder)
        if info.get("name") == name and info.get("key") not in keep:
            dest_base = Path(root) / RECORDS_DIR / STALE_DIR
            make_dirs(dest_base)
            dest = dest_base / folder.name
            k = 1
            while dest.exists():
                dest = dest_base / f"{folder.name}.{k}"
                k += 1
            shutil.move(str(folder), str(dest))
            moved.append(dest)
    return moved


@dataclass
class LoadedRecords:
    """All records of the selected methods as one tidy frame, plus their network outputs."""

    frame: pd.DataFrame  # columns: method, pair_id, image, mask, bin, group, inputs, *metrics
    outputs: dict[str, dict[str, dict[int, np.ndarray]]]  # method label -> output name -> pair_id -> (D,)
    methods: list[dict[str, Any]]  # method.json contents, in the requested order
    bad_lines: dict[str, int] = field(default_factory=dict)  # method label -> corrupt lines ignored


def load_records(
    root: Path,
    methods: list[dict[str, Any]],
    pairs: pd.DataFrame,
    metrics: Iterable[str],
    outputs: Iterable[str] = ("probs",),
) -> LoadedRecords:
    """Read the record folders of `methods` (dicts with label, name, key) for the pairs of `pairs`.

    Only records whose (image, mask, inputs) is a pair of `pairs` are kept, and their pair_id comes from
    `pairs`. `metrics`: the metric columns of the frame (absent values are NaN); `outputs`: the network
    outputs to load.
    """
    metrics, outputs = list(metrics), list(outputs)
    pair_ids = {(str(r.image), str(r.mask), str(r.inputs)): int(r.pair_id) for r in pairs.itertuples()}
    rows = []
    loaded: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    bad: dict[str, int] = {}
    for info in methods:
        label = info["label"]
        mr = MethodRecords(Path(root), info["name"], info["key"], info)
        recs, bad[label] = read_jsonl(mr.record_files())
        recs = [r for r in recs if pair_key(r) in pair_ids]
        for r in recs:
            mets = r["metrics"]
            row = {"method": label, "pair_id": pair_ids[pair_key(r)], "image": r["image"], "mask": r["mask"],
                   "bin": r["bin"], "group": r["group"], "inputs": r["inputs"]}  # fmt: skip
            row.update({m: mets.get(m) for m in metrics})
            rows.append(row)
        if outputs:
            by_name = mr.load_outputs(recs, outputs)
            loaded[label] = {n: {pair_ids[k]: v for k, v in d.items()} for n, d in by_name.items()}
    cols = ["method", *PAIR_COLUMNS, *metrics]
    frame = pd.DataFrame(rows, columns=cols)
    if len(frame):
        frame["pair_id"] = frame["pair_id"].astype(int)
        for m in metrics:
            frame[m] = frame[m].astype(float)
    return LoadedRecords(frame=frame, outputs=loaded, methods=list(methods), bad_lines=bad)
