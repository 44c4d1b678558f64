"""Parts of one evaluation computed by several processes: shards (`--shard I/N`) and torchrun ranks.

The pairs are cut into chunks of `batch_size` in a fixed order (bench.evaluation.runner); chunk c belongs to
part c mod N. Each part appends to its own records file (`records.<part>.jsonl`, bench.runs.records) and every
reader merges all of them, so the records of a run in one process, in N shards or in N ranks are the
same records, and a part's work survives a kill of another.

A shard that has computed all of its chunks writes a done marker, `shards/shard-IofN.json`, naming what
it computed: the record keys of the methods, the metrics and a digest of pairs.csv. `bench tables`
builds the tables of a sharded run only when every shard's marker is there and names the run's current
methods, metrics and pairs (`check_shards`); otherwise it names the missing shards (exit 2) and leaves
the exports as they are.

>>> part = parse_shard("1/3"); (part.name, part.owns(4), part.owns(5))
('shard-1of3', True, False)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from bench.core.files import write_json
from bench.runs.records import PAIRS_FILE

SHARDS_DIR = "shards"


@dataclass(frozen=True)
class Part:
    """Part `index` of `count`: a shard of a job array ("shard") or a torchrun rank ("rank")."""

    index: int
    count: int
    kind: str = "shard"

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.index}of{self.count}"

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, chunk: int) -> bool:
        return chunk % self.count == self.index


def parse_shard(text: str) -> Part:
    """'I/N' (I from 0 to N-1) -> Part; anything else is a BenchError."""
    i, sep, n = str(text).partition("/")
    if not (sep and i.strip().isdigit() and n.strip().isdigit()) or not 0 <= int(i) < int(n):
        raise BenchError(f"--shard {text!r} must be I/N with 0 <= I < N, e.g. 0/4 for the first of four")
    return Part(int(i), int(n))


def marker_path(out: Path, part: Part) -> Path:
    return Path(out) / SHARDS_DIR / f"{part.name}.json"


def _pairs_digest(out: Path) -> str:
    try:
        return hashlib.sha256((Path(out) / PAIRS_FILE).read_bytes()).hexdigest()[:16]
    except OSError:
        return ""


def _done_info(out: Path, run: dict[str, Any]) -> dict[str, Any]:
    """What a shard's marker must name for the run described by run.json and pairs.csv."""
    ref = run.get("reference") or {}
    return dict(
        methods=sorted(m["key"] for m in run.get("methods", [])),
        reference=ref.get("key") if isinstance(ref, dict) else None,
        metrics=sorted(m["name"] for m in run.get("metrics", []) if isinstance(m, dict) and "name" in m),
        pairs=_pairs_digest(out),
    )


def write_marker(out: Path, part: Part, run: dict[str, Any]) -> Path:
    """Mark `part` as done with everything `run` (the run.json this shard wrote) asks for."""
    path = marker_path(out, part)
    write_json(path, dict(part=part.name, **_done_info(out, run)))
    return path


def remove_marker(out: Path, part: Part) -> None:
    marker_path(out, part).unlink(missing_ok=True)


def missing_shards(out: Path, run: dict[str, Any]) -> list[str]:
    """The shards ('I/N') of a sharded run that have not finished what run.json asks for; [] when all
    have, or when the run is not sharded."""
    count = run.get("shards")
    if not isinstance(count, int) or count < 2:
        return []
    want = _done_info(out, run)
    missing = []
    for i in range(count):
        part = Part(i, count)
        try:
            have = json.loads(marker_path(out, part).read_text())
        except (OSError, ValueError):
            have = None
        if not isinstance(have, dict) or any(have.get(k) != v for k, v in want.items()):
            missing.append(part.label)
    return missing


def check_shards(out: Path, run: dict[str, Any]) -> None:
    """BenchError naming the shards still to run, when a sharded run is not complete."""
    missing = missing_shards(out, run)
    if missing:
        n = run["shards"]
        raise BenchError(
            f"{out} is a run in {n} shards and shard(s) {', '.join(missing)} have not finished it (no "
            f"done marker in {Path(out) / SHARDS_DIR} for these methods, metrics and pairs); run `bench "
            f"evaluate ... --shard I/{n}` for each, then `bench tables {out}`; the exports there are left "
            "as they are"
        )
