"""Per-pair evaluation records on disk: appended as they are computed, resumable, invalidated by fingerprint.

Layout under an evaluation folder `out/`::

    out/run.json                       run config (data, masks, seed, selection, IS network, methods)
    out/pairs.csv                      the (image, mask, bin, group) pairs of the last run, in order
    out/records/<name>-<key>/          one folder per method name and record key
        method.json                    name, label, fingerprint, options, meta, IS network
        records.jsonl                  one JSON object per finished pair, appended and flushed per batch
        probs-<first>-<k>.npz          (n, K) float32 class probabilities of the composited outputs
        samples/<hash>.png             composited outputs of a few pairs, for the qualitative grid
    out/records/stale/<...>/           folders of an older fingerprint of the same method, kept aside

The record key hashes the method fingerprint (checkpoint + options, from the inpainter) together with the
name of the IS network, so a changed checkpoint, option or IS network starts a fresh folder; the other
folders of that method name that the run does not use are moved to `records/stale/` (kept, never read
again). The label shown in the tables (the name, or name@fingerprint when one name runs with two
settings) is not part of the folder name.

Each record line names the probs file and row holding its class probabilities, and the probs file is
written (atomically) before the line is appended, so a line is only ever followed by complete data. A
kill can leave a torn last line: it is ignored on reading and cut off before the next append; its pair is
simply computed again. Samples are named by a hash of (image, mask).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.io import atomic_open, write_json

RECORDS_DIR = "records"
STALE_DIR = "stale"
METHOD_FILE = "method.json"
RECORDS_FILE = "records.jsonl"
SAMPLES_DIR = "samples"

# Per-pair metric columns, in export order (keys of bench.metrics.all_metrics).
PAIR_METRICS: tuple[str, ...] = ("l1_percent", "psnr", "ssim", "hole_l1_percent")
# Columns every record carries besides the metrics.
RECORD_KEYS: tuple[str, ...] = ("pair_id", "image", "mask", "bin", "group")


def pair_key(rec: dict[str, Any]) -> tuple[str, str]:
    """A pair is identified by its image and mask (relative paths); bin and group follow from the mask."""
    return (str(rec["image"]), str(rec["mask"]))


def record_key(fingerprint: str, is_network: str) -> str:
    """12 hex digits naming a method's record folder: checkpoint/options fingerprint + IS network."""
    h = hashlib.sha256(f"{fingerprint}\n{is_network}".encode()).hexdigest()
    return h[:12]


def safe_name(name: str) -> str:
    """A method name usable in a folder name."""
    return re.sub(r"[^A-Za-z0-9_.+@-]+", "_", name) or "method"


@dataclass
class MethodRecords:
    """The record folder of one method name at one record key."""

    root: Path
    name: str
    key: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.root / RECORDS_DIR / f"{safe_name(self.name)}-{self.key}"

    @property
    def records_path(self) -> Path:
        return self.path / RECORDS_FILE

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES_DIR

    # ---- reading -------------------------------------------------------------------------------
    def read(self) -> list[dict[str, Any]]:
        """Complete record lines, in file order; a torn or unparsable line is skipped.

        A pair (image, mask) recorded twice keeps its first record.
        """
        return _read_jsonl(self.records_path)

    def done_pairs(self) -> set[tuple[str, str]]:
        """(image, mask) of every finished pair."""
        return {pair_key(r) for r in self.read()}

    def load_probs(self, records: list[dict[str, Any]]) -> dict[tuple[str, str], np.ndarray]:
        """(image, mask) -> (K,) class-probability vector, from the probs file and row each record names."""
        out: dict[tuple[str, str], np.ndarray] = {}
        by_file: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            if r.get("probs_file"):
                by_file.setdefault(r["probs_file"], []).append(r)
        for name, recs in by_file.items():
            with np.load(self.path / name) as z:
                probs = z["probs"]
            for r in recs:
                out[pair_key(r)] = probs[int(r["probs_row"])]
        return out

    # ---- writing -------------------------------------------------------------------------------
    def open(self) -> None:
        """Create the folder and method.json; cut a torn last line off records.jsonl."""
        self.path.mkdir(parents=True, exist_ok=True)
        if not (self.path / METHOD_FILE).exists():
            write_json(self.path / METHOD_FILE, {**self.info, "name": self.name, "key": self.key})
        _truncate_torn_tail(self.records_path)

    def write_probs(self, first_pair: int, probs: np.ndarray) -> str:
        """Write (n, K) probabilities atomically under a fresh name; returns the file name."""
        k = 0
        while (self.path / f"probs-{first_pair:07d}-{k}.npz").exists():
            k += 1
        name = f"probs-{first_pair:07d}-{k}.npz"
        with atomic_open(self.path / name, "wb") as f:
            np.savez(f, probs=np.asarray(probs, dtype=np.float32))
        return name

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records as JSON lines, flushed and fsynced (one call per batch)."""
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        with open(self.records_path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    data = path.read_bytes()
    lines = data.split(b"\n")
    # The piece after the last newline is empty, or a torn line from a kill: never read it.
    for line in lines[:-1]:
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if not isinstance(rec, dict) or "image" not in rec or "mask" not in rec:
            continue
        key = pair_key(rec)
        if key in seen:
            continue
        seen.add(key)
        out.append(rec)
    return out


def _truncate_torn_tail(path: Path) -> None:
    """Cut everything after the last newline (a torn line) so the next append starts a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


def list_method_dirs(root: Path) -> list[Path]:
    """Current (not stale) record folders under `root/records`."""
    base = Path(root) / RECORDS_DIR
    if not base.is_dir():
        return []
    return sorted(
        p for p in base.iterdir() if p.is_dir() and p.name != STALE_DIR and (p / METHOD_FILE).exists()
    )


def read_method_info(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / METHOD_FILE).read_text())


def retire_stale(root: Path, name: str, keep: set[str]) -> list[Path]:
    """Move folders of method `name` whose key is not in `keep` to records/stale/; returns the new paths."""
    moved = []
    for folder in list_method_dirs(root):
        info = read_method_info(folder)
        if info.get("name") == name and info.get("key") not in keep:
            dest_base = Path(root) / RECORDS_DIR / STALE_DIR
            dest_base.mkdir(parents=True, exist_ok=True)
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
    """All records of the selected methods as one tidy frame, plus class probabilities per method."""

    frame: pd.DataFrame  # columns: method, pair_id, image, mask, bin, group, *PAIR_METRICS
    probs: dict[str, dict[int, np.ndarray]]  # method label -> pair_id -> (K,)
    methods: list[dict[str, Any]]  # method.json contents, in the requested order


def load_records(
    root: Path,
    methods: list[dict[str, Any]] | None = None,
    pairs: pd.DataFrame | None = None,
    with_probs: bool = True,
) -> LoadedRecords:
    """Read the record folders of `methods` (dicts with label, name, key; all current folders when None).

    With `pairs` (columns pair_id, image, mask), only records of those pairs are kept and their pair_id
    comes from `pairs`; otherwise the pair_id stored in each record is used.
    """
    if methods is None:
        methods = [read_method_info(f) for f in list_method_dirs(root)]
        methods = [{**m, "label": m.get("label") or m["name"]} for m in methods]
    pair_ids = None
    if pairs is not None:
        pair_ids = {(str(r.image), str(r.mask)): int(r.pair_id) for r in pairs.itertuples(index=False)}
    rows = []
    probs: dict[str, dict[int, np.ndarray]] = {}
    for info in methods:
        label = info["label"]
        mr = MethodRecords(Path(root), info["name"], info["key"], info)
        recs = mr.read()
        if pair_ids is not None:
            recs = [r for r in recs if pair_key(r) in pair_ids]
        ids = {
            pair_key(r): (pair_ids[pair_key(r)] if pair_ids is not None else int(r["pair_id"])) for r in recs
        }
        for r in recs:
            row = {"method": label, **{k: r.get(k) for k in (*RECORD_KEYS, *PAIR_METRICS)}}
            row["pair_id"] = ids[pair_key(r)]
            rows.append(row)
        if with_probs:
            probs[label] = {ids[k]: v for k, v in mr.load_probs(recs).items()}
    cols = ["method", *RECORD_KEYS, *PAIR_METRICS]
    frame = pd.DataFrame(rows, columns=cols)
    if len(frame):
        frame["pair_id"] = frame["pair_id"].astype(int)
        for m in PAIR_METRICS:
            frame[m] = frame[m].astype(float)
        frame["bin"] = frame["bin"].astype(str)
        frame["group"] = frame["group"].astype(str)
    return LoadedRecords(frame=frame, probs=probs, methods=list(methods))
