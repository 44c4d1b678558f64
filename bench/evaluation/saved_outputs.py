"""`bench evaluate --save-outputs`: every composited output kept as a PNG, for other tools.

Layout under an evaluation folder `out/`::

    out/outputs/<label>/<pair_id>.png     the composited output of one pair (pair_id zero-padded to 6
                                          digits, as pairs.csv numbers the pairs and `bench export` names
                                          its files), 8-bit RGB, rounded as the grid's samples are
    out/outputs/<label>/outputs.jsonl     index: one line per PNG written (outputs.<part>.jsonl for a part
                                          of a sharded or torchrun run)

`<label>` is the method's label made safe as a folder name (bench.runs.records.safe_name, as the record
folders name methods). An index line names the file, the pair (pair_id, image, mask, inputs), the
method's record key and the PNG's digest and file identity. A PNG counts as saved for a pair when a line
names that pair and the current record key, and the file is the one the line describes (same identity,
else same digest): a file rewritten for another pair or another fingerprint is never taken for this one,
whatever the order of the index files.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.digests import bytes_digest, file_digest
from bench.core.errors import BenchError
from bench.core.files import encode_png, open_append, write_bytes
from bench.runs.records import pair_key, safe_name

OUTPUTS_DIR = "outputs"
INDEX_FILE = "outputs.jsonl"
_PNG_NAME = re.compile(r"\d{6,}\.png")


def output_name(pair_id: int) -> str:
    """File name of a pair's saved output.

    >>> output_name(42)
    '000042.png'
    """
    return f"{int(pair_id):06d}.png"


def to_uint8(image: Any) -> np.ndarray:
    """A (3, H, W) tensor in [0, 1] as the (H, W, 3) uint8 picture that is saved (clamped, rounded half
    up: the grid's samples and the saved outputs alike)."""
    return (image.clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


def output_folders(labels: Iterable[str]) -> dict[str, str]:
    """label -> its folder name under outputs/; a BenchError when two labels would share a folder."""
    folders: dict[str, str] = {}
    for label in labels:
        folder = safe_name(label)
        other = next((k for k, v in folders.items() if v == folder), None)
        if other is not None:
            raise BenchError(
                f"--save-outputs: methods {other!r} and {label!r} would share the folder "
                f"{OUTPUTS_DIR}/{folder}; give one of them another label (e.g. outputs:label=NAME)"
            )
        folders[label] = folder
    return folders


def _identity(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


@dataclass
class SavedOutputs:
    """The saved outputs of one method (its label) at one record key."""

    root: Path  # the evaluation folder
    label: str
    key: str  # the method's record key (bench.runs.records.record_key)
    part: str = ""  # this writer's part of a sharded or torchrun run; "" for one process

    @property
    def path(self) -> Path:
        return self.root / OUTPUTS_DIR / safe_name(self.label)

    @property
    def index_path(self) -> Path:
        return self.path / (INDEX_FILE if not self.part else f"outputs.{self.part}.jsonl")

    def _index(self) -> dict[str, list[dict[str, Any]]]:
        """file name -> the index lines naming it (every part's index; lines that do not parse are
        ignored)."""
        lines: dict[str, list[dict[str, Any]]] = {}
        for f in sorted(self.path.glob("outputs*.jsonl")) if self.path.is_dir() else []:
            for raw in f.read_bytes().split(b"\n"):
                try:
                    rec = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("file"), str):
                    lines.setdefault(rec["file"], []).append(rec)
        return lines

    def saved(self, pairs: pd.DataFrame) -> set[tuple[str, str, str]]:
        """Pair keys (bench.runs.records.pair_key) of `pairs` whose PNG is saved for this record key."""
        index = self._index()
        out = set()
        for r in pairs[["pair_id", "image", "mask", "inputs"]].to_dict("records"):
            name, key = output_name(r["pair_id"]), pair_key(r)
            cands = [x for x in index.get(name, ()) if x.get("key") == self.key and _key_of(x) == key]
            if not cands:
                continue
            try:
                st = os.stat(self.path / name, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            ident = _identity(st)
            if any(x.get("id") == ident for x in cands) or file_digest(self.path / name) in {
                x.get("digest") for x in cands
            }:
                out.add(key)
        return out

    def write(self, rows: list[tuple[dict[str, Any], np.ndarray]]) -> None:
        """Write the PNGs of `rows` ((pair row, uint8 picture)) atomically, then append their index
        lines (fsynced). A file that already holds the same bytes is not rewritten."""
        lines = []
        for pr, pic in rows:
            data = encode_png(pic)
            path = self.path / output_name(pr["pair_id"])
            write_bytes(path, data)
            ident = _identity(os.stat(path, follow_symlinks=False))
            lines.append(dict(file=path.name, pair_id=int(pr["pair_id"]), image=str(pr["image"]),
                              mask=str(pr["mask"]), inputs=str(pr["inputs"]), key=self.key,
                              digest=bytes_digest(data), id=ident))  # fmt: skip
        if not lines:
            return
        text = "".join(json.dumps(x, sort_keys=True) + "\n" for x in lines)
        with open_append(self.index_path) as f:
            f.write(("\n" if _torn(self.index_path) else "") + text)  # a killed append's piece stays apart
            f.flush()
            os.fsync(f.fileno())

    def prune(self, keep: set[str]) -> list[str]:
        """Remove the PNGs named like saved outputs that are not in `keep` (file names): outputs of pairs
        that are no longer in the run, or that the run has no output for. Returns the removed names."""
        removed = []
        if not self.path.is_dir():
            return removed
        for p in sorted(self.path.iterdir()):
            if _PNG_NAME.fullmatch(p.name) and p.name not in keep and p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p.name)
        return removed


def _torn(path: Path) -> bool:
    """The file ends without a newline (an append cut by a kill)."""
    try:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # missing or empty
        return False


def _key_of(rec: dict[str, Any]) -> tuple[str, str, str] | None:
    try:
        return pair_key(rec)
    except KeyError:
        return None
