"""`--json` of `bench evaluate` and `bench tables`: one JSON document on stdout instead of the table.

The document (docs/formats.md, "JSON on stdout")::

    {"format": "pconv-bench/summary", "format_version": 1, "command": "evaluate" | "tables",
     "out": "/abs/path", "n_pairs": 16, "computed": 32, "reused": 0, "shard": null,
     "files": ["summary.csv", ...], "messages": [...], "outputs": null | {"mean": {"folder": ..., "n": 16}},
     "summary": [{"method": "mean", "bin": "0.1-0.2", "group": "N", "metric": "psnr", "mean": 21.3,
                  "ci_low": 20.9, "ci_high": 21.8, "n": 4}, ...]}

The summary rows are those of summary.csv, in its order, with its values: the same DataFrame, numbers
rounded as summary.csv writes them (`bench.reporting.tables.CSV_FLOAT_FORMAT`), NaN and infinities as null
(the JSON standard has neither). `messages` ends with the warnings ("Warning: ..."): those of the tables
step's text (`Tables.warnings`) and the Python warnings shown while the command ran (`shown_warnings`).
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

FORMAT = "pconv-bench/summary"
FORMAT_VERSION = 1
SUMMARY_FIELDS = ("method", "bin", "group", "metric", "mean", "ci_low", "ci_high", "n")


def _number(x: Any) -> float | None:
    """A summary.csv number as summary.csv holds it; None for NaN, infinities and missing values.

    >>> _number(23.561234567), _number(float("nan")), _number(float("inf"))
    (23.5612, None, None)
    """
    from bench.reporting.tables import CSV_FLOAT_FORMAT

    if x is None:
        return None
    x = float(x)
    return float(CSV_FLOAT_FORMAT % x) if math.isfinite(x) else None


def _count(x: Any) -> int | None:
    if x is None:
        return None
    x = float(x)
    return int(x) if math.isfinite(x) else None


def summary_rows(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of summary.csv (method, bin, group, metric, mean, ci_low, ci_high, n) as JSON values."""
    if summary is None or not len(summary):
        return []
    rows = []
    for r in summary.to_dict("records"):
        row: dict[str, Any] = {k: str(r[k]) for k in ("method", "bin", "group", "metric")}
        row.update({k: _number(r.get(k)) for k in ("mean", "ci_low", "ci_high")})
        row["n"] = _count(r.get("n"))
        rows.append(row)
    return rows


def document(
    command: str,
    out: Path,
    summary: pd.DataFrame,
    files: Iterable[Path] = (),
    n_pairs: int | None = None,
    computed: int | None = None,
    reused: int | None = None,
    messages: Iterable[str] = (),
    shard: str | None = None,
    outputs: dict[str, Path] | None = None,
    n_outputs: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The JSON document of a command's run (see the module's docstring). `files` are named relative to
    `out` when inside it."""
    out = Path(out)
    root = out.resolve()

    def rel(p: Path) -> str:
        p = Path(p).resolve()
        return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)

    saved = None
    if outputs:
        saved = {k: {"folder": rel(v), "n": int((n_outputs or {}).get(k, 0))} for k, v in outputs.items()}
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "command": command,
        "out": str(root),
        "n_pairs": None if n_pairs is None else int(n_pairs),
        "computed": None if computed is None else int(computed),
        "reused": None if reused is None else int(reused),
        "shard": shard,
        "files": [rel(f) for f in files],
        "messages": [str(m) for m in messages if m],
        "outputs": saved,
        "summary": summary_rows(summary),
    }


def dumps(doc: dict[str, Any]) -> str:
    """The document as JSON text (allow_nan=False: a NaN left in it is a bug, not bare NaN on stdout)."""
    return json.dumps(doc, indent=1, allow_nan=False)


@contextlib.contextmanager
def shown_warnings() -> Iterator[list[str]]:
    """The texts of the Python warnings shown while inside (each still shown as before, on stderr by the
    command line): the command line adds them to the document's messages."""
    shown: list[str] = []
    show = warnings.showwarning

    def keep(message, category, filename, lineno, file=None, line=None) -> None:
        shown.append(str(message))
        show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.showwarning = keep
        yield shown


def warning_lines(*groups: Iterable[str]) -> list[str]:
    """Warnings as the document's messages name them.

    >>> warning_lines(["grid.png: 1 sample pair(s) left out"], [])
    ['Warning: grid.png: 1 sample pair(s) left out']
    """
    return [f"Warning: {w}" for g in groups for w in g]
