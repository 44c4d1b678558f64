"""The paper's cells beside a run (`bench tables --reference FILE`): reading a reference file, its protocol
(size, mask source, pairing) against the run's, and the comparison table. A run of another protocol gets no
comparison, only a note (docs/formats.md, "Reference cells")."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from masks.conventions import bin_by_name


def default_reference_path() -> Path:
    """The packaged copy of the paper's confirmed Table 1 cells."""
    return Path(str(resources.files("bench").joinpath("reference/paper_table1_partial.csv")))


def read_reference(path: Path | None = None) -> pd.DataFrame:
    """A reference CSV ('#' comment lines; columns method, group, bin and metric columns)."""
    path = Path(path) if path is not None else default_reference_path()
    df = pd.read_csv(path, comment="#", dtype={"method": str, "group": str, "bin": str})
    missing = {"method", "group", "bin"} - set(df.columns)
    if missing:
        raise ValueError(f"{path}: reference CSV lacks column(s) {', '.join(sorted(missing))}")
    df["bin"] = df["bin"].str.strip()
    for b in df["bin"]:
        bin_by_name(b)  # raises ValueError naming the bad bin
    for col in [c for c in df.columns if c not in ("method", "group", "bin")]:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = df[col][values.isna() & df[col].notna()]
        if len(bad):
            raise ValueError(f"{path}: column {col}: {bad.iloc[0]!r} is not a number")
        df[col] = values
    return df


# The protocol a reference file states in a comment line, e.g. "# protocol: size=512 masks=nvidia
# pairing=distinct". Its cells are set beside a run only when the run's protocol matches on every key it
# states: numbers from another image size, mask source or pairing are not comparable.
PROTOCOL_KEYS = ("size", "masks", "pairing")


def reference_protocol(path: Path) -> dict[str, str]:
    """The `# protocol: key=value ...` line of a reference CSV ({} when it states none)."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("#"):
                break
            head, _, rest = line[1:].partition(":")
            if head.strip() == "protocol":
                pairs = [w.split("=", 1) for w in rest.split() if "=" in w]
                return {k: v for k, v in pairs if k in PROTOCOL_KEYS}
    return {}


def run_protocol(run: dict[str, Any]) -> dict[str, str]:
    """The same keys for an evaluation: image size (px, 'HxW' when not square), mask source (nvidia:
    NVIDIA's set imported, imported: another imported set, generated: this project's generator), pairing."""
    h, w = (list(run.get("image_size") or []) + [None, None])[:2]
    out = {"pairing": str(run.get("pairing", "cross"))}
    if h is not None:
        out["size"] = str(h) if h == w else f"{h}x{w}"
    try:
        cols = pd.read_csv(Path(run["masks"]) / "manifest.csv", nrows=0).columns
    except (KeyError, OSError, ValueError, pd.errors.ParserError):
        return out
    out["masks"] = "nvidia" if "nvidia_bin" in cols else "imported" if "source" in cols else "generated"
    return out


def protocol_mismatch(reference: Path, run: dict[str, Any]) -> str:
    """'' when the run follows every protocol key the reference states, else what differs."""
    want, have = reference_protocol(reference), run_protocol(run)
    return ", ".join(f"{k} {have.get(k, '?')} (reference: {v})" for k, v in want.items() if have.get(k) != v)


def compare_reference(summary: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
    """Reference and measured side by side: one row per reference cell and metric, delta = measured - ref.

    Methods match case-insensitively (PConv <-> pconv); a cell not measured has measured = NaN.
    """
    look = {
        (str(r.method).lower(), r.bin, r.group, r.metric): r.mean for r in summary.itertuples(index=False)
    }
    names = {str(m).lower(): m for m in summary["method"]}
    rows = []
    for r in reference.itertuples(index=False):
        for metric in [m for m in reference.columns if m in set(summary["metric"]) and m != "is"]:
            ref = getattr(r, metric, np.nan)
            if ref is None or not np.isfinite(float(ref)):
                continue
            key = (str(r.method).lower(), r.bin, str(r.group), metric)
            meas = look.get(key, np.nan)
            rows.append(
                dict(
                    method=r.method,
                    measured_as=names.get(key[0], ""),
                    group=str(r.group),
                    bin=r.bin,
                    metric=metric,
                    reference=float(ref),
                    measured=float(meas),
                    delta=float(meas) - float(ref),
                )
            )
    cols = ["method", "measured_as", "group", "bin", "metric", "reference", "measured", "delta"]
    return pd.DataFrame(rows, columns=cols)
