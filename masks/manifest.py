"""Mask sets on disk: generate, import, read the manifest, summarise.

A mask set is a folder of uint8 PNGs (255 valid, 0 hole) plus `manifest.csv` with one row per mask:
file (relative to the folder), hole_ratio, bin ('0.3-0.4', empty outside every bin), group ('N'/'B'),
kind, seed (empty for imported masks), size, and for imported masks the source file.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from bench.core.errors import BenchError
from bench.core.files import (
    IMAGE_SUFFIXES,
    decode_file,
    encode_png,
    max_side,
    read_csv,
    read_mask,
    shown,
    write_bytes,
    write_csv,
    write_json,
    write_png,
)
from bench.core.folders import MANIFEST, check_claim, claim, inside
from bench.core.procs import die_with_parent
from bench.core.progress import progress_bar
from masks._worker import generate_chunk, mask_path, mask_seed  # noqa: F401 (mask_seed: public here)
from masks.conventions import (
    BIN_NAMES,
    BINS,
    GROUPS,
    HOLE,
    VALID,
    Bin,
    Group,
    bin_by_name,
    bin_of,
    flip_polarity,
    group_of,
    hole_ratio,
    margin_for,
)
from masks.generate import GENERATOR_VERSION, Kind, check_feasible

PARAMS = "generate.json"  # the parameters a generated set was made with (skip-if-complete)
PREVIEW = "preview.png"
HISTOGRAM = "hole_ratios.png"
COLUMNS = ("file", "hole_ratio", "bin", "group", "kind", "seed", "size")
POLARITIES = ("auto", "hole-white", "hole-black")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class GenerateConfig:
    """Defaults of `bench masks generate` (the paper's test set: 1,000 masks per bin and group at 512 px)."""

    size: int = 512
    per_bin: int = 1000
    kind: str = "mixed"
    seed: int = 0
    workers: int = 1


DEFAULTS = GenerateConfig()


# ---------------------------------------------------------------------------------------------- generate


def _params(size, per_bin, bins, groups, kind, seed, margin) -> dict:
    return {
        "version": _FORMAT_VERSION,
        "generator": GENERATOR_VERSION,
        "size": int(size),
        "per_bin": int(per_bin),
        "bins": [b.name for b in bins],
        "groups": [Group(g).value for g in groups],
        "kind": Kind(kind).value,
        "seed": int(seed),
        "margin": margin_for(size, margin),
    }


def _is_complete(out: Path, params: dict) -> bool:
    try:
        stored = json.loads((out / PARAMS).read_text())
        df = read_manifest(out)
    except (OSError, ValueError, BenchError):
        return False
    return stored == params and all((out / f).is_file() for f in df["file"])


def validate_generate(
    size: int, per_bin: int, bins: Sequence[Bin], groups: Iterable, margin: int | None
) -> None:
    """Raise BenchError (one line) for parameters that cannot produce a mask set."""
    if int(per_bin) < 1:
        raise BenchError(f"--per-bin must be at least 1, got {per_bin}")
    if not bins:
        raise BenchError("no bins asked for")
    try:
        check_feasible(int(size), tuple(bins), tuple(groups), margin)
    except ValueError as e:
        raise BenchError(str(e)) from None


def generate_set(
    out: Path | str,
    size: int = DEFAULTS.size,
    per_bin: int = DEFAULTS.per_bin,
    bins: Sequence[Bin | str] = BINS,
    groups: Sequence[Group | str] = GROUPS,
    kind: Kind | str = DEFAULTS.kind,
    seed: int = DEFAULTS.seed,
    workers: int = DEFAULTS.workers,
    margin: int | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Write `per_bin` masks for every bin and group under `out`, plus manifest.csv and preview.png.

    Byte-identical for the same parameters whatever `workers` is. A rerun with the same parameters on a
    complete set does nothing and returns the stored manifest. `out` must be a new or empty folder or a
    mask set; it is locked while masks are written.
    """
    out = Path(out)
    bins = tuple(bin_by_name(b) if isinstance(b, str) else b for b in bins)
    groups = tuple(Group(g) for g in groups)
    kind = Kind(kind)
    if int(workers) < 1:
        raise BenchError(f"--workers must be at least 1, got {workers}")
    validate_generate(size, per_bin, bins, groups, margin)
    params = _params(size, per_bin, bins, groups, kind, seed, margin)
    check_claim(out, "masks")
    with claim(out, "masks"):
        if _is_complete(out, params):
            df = read_manifest(out)
            df.attrs["skipped"] = True  # nothing was written
            return df
        # An older set here is no longer complete: drop its markers first, so an interrupted run never
        # leaves a manifest that describes a mix of old and new files.
        for marker in (PARAMS, MANIFEST):
            (out / marker).unlink(missing_ok=True)
        rows = _generate_rows(out, size, per_bin, bins, groups, kind, seed, margin, workers, progress)
        if hasattr(os, "sync"):
            os.sync()  # the masks reach the disk before the manifest that lists them
        df = pd.DataFrame(
            {
                "file": [mask_path(BINS[b], GROUPS[g], i) for b, g, i, _ in rows],
                "hole_ratio": [r for *_, r in rows],
                "bin": [BINS[b].name for b, *_ in rows],
                "group": [GROUPS[g].value for _, g, *_ in rows],
                "kind": kind.value,
                "seed": seed,
                "size": size,
            }
        )
        write_csv(out / MANIFEST, df, float_format="%.6f")
        write_preview(out, df)
        write_json(out / PARAMS, params)
        return read_manifest(out)


def _generate_rows(out, size, per_bin, bins, groups, kind, seed, margin, workers, progress) -> list[tuple]:
    """Make and write every mask, in chunks (one process or a pool); (bin, group, index, ratio) rows."""
    chunk = max(1, min(64, math.ceil(per_bin / max(4 * workers, 1))))
    tasks = [
        (str(out), size, BINS.index(b), GROUPS.index(g), s, min(s + chunk, per_bin), kind.value, seed, margin)
        for b in bins
        for g in groups
        for s in range(0, per_bin, chunk)
    ]
    rows: list[tuple[int, int, int, float]] = []
    bar = progress_bar(total=per_bin * len(bins) * len(groups), unit="mask", desc="masks",
               disable=None if progress else True)  # fmt: skip
    try:
        if workers <= 1:
            for t in tasks:
                r = generate_chunk(t)
                rows.extend(r)
                bar.update(len(r))
        else:
            # fork: workers start at once with the parent's imports (spawn would re-import the whole
            # CLI, torch included, in every worker); they only run numpy/OpenCV code, which is
            # fork-safe here. Workers die with this process whatever kills it (die_with_parent); on
            # Ctrl-C the pending chunks are cancelled and the pool is shut down first.
            method = "fork" if "fork" in get_all_start_methods() else "spawn"
            pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=get_context(method), initializer=die_with_parent,
                initargs=(os.getpid(),),
            )  # fmt: skip
            try:
                for r in pool.map(generate_chunk, tasks):
                    rows.extend(r)
                    bar.update(len(r))
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    return sorted(rows)


# ---------------------------------------------------------------------------------------------- manifest


def read_manifest(mask_dir: Path | str) -> pd.DataFrame:
    """The manifest of a mask set as a DataFrame (columns COLUMNS, plus `source` for imported sets).

    Raises BenchError naming the problem when the folder or the manifest is missing or corrupt.
    """
    mask_dir = Path(mask_dir)
    if not mask_dir.is_dir():
        raise BenchError(f"mask folder {mask_dir} does not exist")
    path = mask_dir / MANIFEST
    if not path.is_file():
        raise BenchError(
            f"{path} is missing: make a mask set with `bench masks generate` or `bench masks import`"
        )
    try:
        df = read_csv(
            path,
            dtype={"file": str, "bin": str, "group": str, "kind": str, "source": str},
            keep_default_na=False,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise BenchError(f"{path} is not a readable manifest: {str(e).splitlines()[0]}") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise BenchError(f"{path} is corrupt: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise BenchError(f"{path} lists no masks")
    try:
        df["hole_ratio"] = pd.to_numeric(df["hole_ratio"], errors="raise").astype(float)
        df["size"] = pd.to_numeric(df["size"], errors="raise").astype(int)
    except (ValueError, TypeError):
        raise BenchError(f"{path} is corrupt: hole_ratio/size are not numbers") from None
    df["seed"] = pd.to_numeric(df["seed"].replace("", np.nan), errors="coerce").astype("Int64")
    bad_group = sorted(set(df["group"]) - {g.value for g in GROUPS})
    if bad_group:
        raise BenchError(f"{path} is corrupt: unknown group value(s) {bad_group}; expected N or B")
    bad_bin = sorted(set(df["bin"]) - set(BIN_NAMES) - {""})
    if bad_bin:
        raise BenchError(f"{path} is corrupt: unknown bin value(s) {bad_bin}")
    if df["file"].eq("").any() or df["file"].duplicated().any():
        raise BenchError(f"{path} is corrupt: empty or duplicated file names")
    for f in df["file"]:
        inside(mask_dir, f, f"{path}: mask file")
    return df


def check_mask(mask: np.ndarray, bin_name: str, group: str, margin: int | None = None) -> str | None:
    """What is wrong with a stored mask (uint8 (H,W)) given its manifest bin and group, or None.

    The mask must be binary (0 and 255 only), its measured hole ratio must lie in its bin, and a group-B
    mask must keep every hole pixel at least the margin away from the border.
    """
    if mask.ndim != 2:
        return f"expected a single-channel mask, got shape {mask.shape}"
    values = np.unique(mask)
    if not np.isin(values, (HOLE, VALID)).all():
        odd = [int(v) for v in values if v not in (HOLE, VALID)][:3]
        return f"not binary: it holds values other than {HOLE} and {VALID} (e.g. {odd})"
    ratio = hole_ratio(mask)
    if bin_name:
        b = bin_by_name(bin_name)
        if not b.contains(ratio):
            return f"its hole ratio {ratio:.4f} is outside its bin {b.name} ({b.lo:g},{b.hi:g}]"
    if group == Group.B.value:
        m = margin_for(min(mask.shape), margin)
        if group_of(mask, m) is not Group.B:
            return f"listed in group B, but holes reach within {m} px of the border"
    return None


def select(
    df: pd.DataFrame, bins: Iterable[Bin] | None = None, groups: Iterable | None = None
) -> pd.DataFrame:
    """Rows of a manifest in the given bins and groups (None = all)."""
    keep = pd.Series(True, index=df.index)
    if bins is not None:
        keep &= df["bin"].isin([b.name for b in bins])
    if groups is not None:
        keep &= df["group"].isin([Group(g).value for g in groups])
    return df[keep]


# ---------------------------------------------------------------------------------------------- preview


def _thumb_sheet(cells: list[list[list[np.ndarray]]], row_labels: list[str], col_labels: list[str], t: int):
    """Grid of uint8 thumbnails (rows x column-groups x examples) with labels drawn by OpenCV."""
    pad, left, top = 4, 90, 24
    n_cols = sum(len(c) for c in cells[0]) if cells else 0
    per_group = [len(c) for c in cells[0]] if cells else []
    h = top + len(cells) * (t + pad) + pad
    w = left + n_cols * (t + pad) + pad * (len(per_group) + 1)
    sheet = np.full((h, w), 200, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    x = left
    for gi, k in enumerate(per_group):
        cv2.putText(sheet, col_labels[gi], (x + 2, 17), font, 0.5, 0, 1, cv2.LINE_AA)
        x += k * (t + pad) + pad
    for ri, row in enumerate(cells):
        y = top + ri * (t + pad) + pad
        cv2.putText(sheet, row_labels[ri], (4, y + t // 2 + 5), font, 0.45, 0, 1, cv2.LINE_AA)
        x = left
        for group_cells in row:
            for th in group_cells:
                sheet[y : y + t, x : x + t] = th
                x += t + pad
            x += pad
    return sheet


def write_preview(mask_dir: Path | str, df: pd.DataFrame, per_cell: int = 5, thumb: int = 96) -> Path:
    """preview.png: the first masks of every bin (rows) and group (columns); black = hole."""
    mask_dir = Path(mask_dir)
    row_names = [n for n in BIN_NAMES if (df["bin"] == n).any()]
    if (df["bin"] == "").any():
        row_names.append("")
    groups = [g.value for g in GROUPS if (df["group"] == g.value).any()]
    blank = np.full((thumb, thumb), 230, np.uint8)
    cells = []
    for name in row_names:
        row = []
        for g in groups:
            files = df[(df["bin"] == name) & (df["group"] == g)]["file"].head(per_cell)
            thumbs = []
            for f in files:
                m = read_mask(mask_dir / f)
                thumbs.append(cv2.resize(m, (thumb, thumb), interpolation=cv2.INTER_AREA))
            thumbs += [blank] * (per_cell - len(thumbs))
            row.append(thumbs)
        cells.append(row)
    labels = [n if n else "no bin" for n in row_names]
    sheet = _thumb_sheet(cells, labels, [f"group {g}" for g in groups], thumb)
    path = mask_dir / PREVIEW
    write_png(path, sheet)
    return path


# ---------------------------------------------------------------------------------------------- import


def _list_images(src: Path, exclude: Path | None) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        if exclude is not None and Path(root).resolve() == exclude:
            dirs[:] = []
            continue
        for n in sorted(names):
            p = Path(root) / n
            if p.suffix.lower() in IMAGE_SUFFIXES and n != PREVIEW and n != HISTOGRAM:
                files.append(p)
    return files


@dataclass
class _Read:
    """One source mask, binarised: `white` (H,W) bool, and what was done to get it."""

    path: Path
    white: np.ndarray
    two_valued: bool  # both colours occur (a mask with holes and valid pixels)
    graded: bool  # values between its darkest and brightest (anti-aliased or blurred edges)


@dataclass
class _Scan:
    """What the checking pass of an import keeps of one mask (not its pixels: memory stays constant)."""

    path: Path
    shape: tuple[int, int]
    white_share: float
    two_valued: bool
    graded: bool


def _read_binary(path: Path) -> _Read:
    """Read a mask of any bit depth and binarise it at the midpoint of its own value range.

    So 0/1, 0/255 and 0/65535 masks all work, and anti-aliased edges split at half intensity. A colour
    mask is refused unless its three channels are equal; an RGBA mask whose colour is flat keeps its
    shape in the alpha channel. A one-valued mask is white when its value is above 0. The size in the
    header is bounded before decoding (bench.core.files.max_side).
    """
    try:
        m = decode_file(path, cv2.IMREAD_UNCHANGED)
    except ValueError as e:
        raise BenchError(str(e)) from None
    if m is None:
        raise BenchError(f"{shown(path)}: not a readable image")
    if m.ndim == 3:
        colour = m[..., :3]
        if m.shape[2] == 4 and colour.min() == colour.max():
            m = m[..., 3]
        elif (colour == colour[..., :1]).all():
            m = colour[..., 0]
        else:
            raise BenchError(
                f"{shown(path)}: a colour mask (its channels differ); masks must be grey or have equal "
                "channels"
            )
    lo, hi = m.min(), m.max()
    if lo == hi:
        return _Read(path, np.full(m.shape, hi > 0), False, False)
    mid = (float(lo) + float(hi)) / 2.0
    graded = bool(((m != lo) & (m != hi)).any())
    return _Read(path, m > mid, True, graded)


def _scan(path: Path) -> _Scan:
    r = _read_binary(path)
    return _Scan(path, r.white.shape, float(r.white.mean()), r.two_valued, r.graded)


def detect_polarity(white_fractions: Sequence[float]) -> str:
    """'hole-white' when white is the minority in most masks (holes are the smaller part).

    Otherwise 'hole-black'. `white_fractions`: share of white pixels in each two-valued mask."""
    return "hole-white" if float(np.median(white_fractions)) < 0.5 else "hole-black"


def _check_sizes(scans: list[_Scan], size: int | None) -> int:
    """The side of every imported mask: masks must be square, and of one size unless `size` is given."""
    for r in scans:
        h, w = r.shape
        if h != w:
            raise BenchError(
                f"{shown(r.path)} is {w}x{h}: masks must be square (resizing would change their aspect "
                "ratio); crop them to squares first"
            )
    sides = sorted({r.shape[0] for r in scans})
    if size is None and len(sides) > 1:
        raise BenchError(
            f"masks in the source have {len(sides)} sizes ({', '.join(map(str, sides[:4]))} px); "
            "pass --size to resize them all to one"
        )
    return int(size) if size is not None else sides[0]


def _output_names(files: list[Path], src: Path, out: Path) -> list[str]:
    """The output file of each source mask, checked before anything is decoded or written: a name that
    is not UTF-8 (it could not be listed in manifest.csv), that leaves `out`, or that two sources share
    is a BenchError naming it."""
    rels = []
    for p in files:
        rel = p.relative_to(src).with_suffix(".png").as_posix()
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            raise BenchError(
                f"{shown(p)}: the file name is not valid UTF-8 (it could not be listed in {MANIFEST}); "
                "rename it"
            ) from None
        inside(out, rel, "mask file")
        rels.append(rel)
    dup = pd.Series(rels)[pd.Series(rels).duplicated()]
    if not dup.empty:
        raise BenchError(f"{src}: several images map to the same output file, e.g. {dup.iloc[0]}")
    return rels


def _auto_polarity(scans: list[_Scan]) -> str:
    white = [r.white_share for r in scans if r.two_valued]
    if not white:
        warnings.warn(
            "mask polarity: no mask has two colours, so holes are taken to be black (this project's "
            "convention); pass --polarity to force it",
            stacklevel=3,
        )
        return "hole-black"
    polarity = detect_polarity(white)
    med = float(np.median(white))
    doubt = " (ambiguous: about half of each mask is white)" if 0.4 <= med <= 0.6 else ""
    warnings.warn(
        f"mask polarity auto-detected as {polarity}: holes taken to be "
        f"{'white' if polarity == 'hole-white' else 'black'}, the minority colour "
        f"(median white share {med:.2f}){doubt}; pass --polarity to force it",
        stacklevel=3,
    )
    return polarity


def _check_import_args(src: Path, out: Path, size: int | None, polarity: str) -> None:
    if polarity not in POLARITIES:
        raise BenchError(f"--polarity must be one of {', '.join(POLARITIES)}, got {polarity!r}")
    if not src.is_dir():
        raise BenchError(f"mask folder {shown(src)} does not exist")
    if out.resolve() == src.resolve():
        raise BenchError("--out must be a folder other than SRC (the source masks are left untouched)")
    if size is not None and int(size) < 16:
        raise BenchError(f"--size {size} is too small: masks need at least 16 px")
    if size is not None and int(size) > max_side():
        raise BenchError(f"--size {size} is larger than the maximum image side {max_side()} px")


@dataclass
class NvidiaLabels:
    """NVIDIA's conventional labels of its test set beside the measurement (docs/nvidia-masks.md)."""

    report: pd.DataFrame  # per label block (bin, group): count, measured ratios, mismatches (label_report)
    half_order: str  # the groups' order in each block of 2,000, e.g. "NB"; "" when the masks did not tell


@dataclass
class ImportedSet:
    """What `import_set` wrote: the manifest, the polarity used, NVIDIA's labels (nvidia-test layout)."""

    manifest: pd.DataFrame
    polarity: str  # hole-white or hole-black (what "auto" resolved to)
    nvidia: NvidiaLabels | None = None

    @property
    def outside(self) -> pd.DataFrame:
        """The masks in no bin (all-valid, all-hole, too large): kept, with an empty bin."""
        return self.manifest[self.manifest["bin"] == ""]


def import_set(
    src: Path | str,
    out: Path | str,
    size: int | None = None,
    polarity: str = "auto",
    margin: int | None = None,
    progress: bool = True,
    layout: str = "auto",
) -> ImportedSet:
    """Convert an existing mask set into this project's convention; returns the manifest, the polarity
    used and, for NVIDIA's test set, its labels.

    `layout`: "measured" (bin and group measured per mask), "nvidia-test" (NVIDIA's 12,000-file test set:
    measured too, since NVIDIA does not publish its order, with the conventional labels beside the
    measurement and a report per label block, see docs/nvidia-masks.md; holes white unless --polarity
    says otherwise), or "auto" (nvidia-test when `src` holds exactly files 0..11999, else measured).

    Reads every image under `src` (recursively), binarises each at the midpoint of its value range
    (`_read_binary`), converts polarity (auto-detected with a warning, or forced), resizes square masks
    with nearest neighbour to `size` x `size` if given, measures hole ratio and group, and writes PNGs +
    manifest.csv + preview.png under `out`. Names, sizes and contents are all checked (a first pass that
    keeps no pixels) before anything is written; the second pass decodes, converts and writes one mask
    at a time, so memory does not grow with the number of masks. Masks outside every bin (all-valid,
    all-hole, too large) are kept and listed with an empty bin.
    """
    src, out = Path(src), Path(out)
    _check_import_args(src, out, size, polarity)
    check_claim(out, "masks")
    files = _list_images(src, out.resolve() if out.exists() else None)
    if not files:
        raise BenchError(f"{shown(src)} holds no mask images ({', '.join(IMAGE_SUFFIXES)})")
    layout = _resolve_layout(layout, files)
    if layout == "nvidia-test" and polarity == "auto":
        polarity = "hole-white"  # NVIDIA's test masks have white holes (docs/nvidia-masks.md)
    rels = _output_names(files, src, out)
    with progress_bar(files, unit="mask", desc="check", disable=None if progress else True) as bar:
        scans = [_scan(p) for p in bar]
    side = _check_sizes(scans, size)
    if polarity == "auto":
        polarity = _auto_polarity(scans)
    graded = sum(r.graded for r in scans)
    if graded:
        warnings.warn(
            f"{graded} of {len(scans)} masks have graded (anti-aliased) edges: thresholded at the midpoint "
            "of each file's value range",
            stacklevel=2,
        )
    with claim(out, "masks"):
        (out / MANIFEST).unlink(missing_ok=True)  # rewritten last: a partial import never looks complete
        with progress_bar(scans, unit="mask", desc="write", disable=None if progress else True) as bar:
            rows = [
                _import_one(sc, rel, src, out, side, polarity, margin)
                for sc, rel in zip(bar, rels, strict=True)
            ]
        df, nvidia = pd.DataFrame(rows), None
        if layout == "nvidia-test":
            df, nvidia = _nvidia_labels(df, files)
        if hasattr(os, "sync"):
            os.sync()  # the masks reach the disk before the manifest that lists them
        write_preview(out, df)
        write_csv(out / MANIFEST, df, float_format="%.6f")
    return ImportedSet(read_manifest(out), polarity, nvidia)


LAYOUTS = ("auto", "nvidia-test", "measured")


def _resolve_layout(layout: str, files: list[Path]) -> str:
    from masks.nvidia import is_nvidia_test_layout

    if layout not in LAYOUTS:
        raise BenchError(f"--layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    nvidia = is_nvidia_test_layout([f.name for f in files])
    if layout == "nvidia-test" and not nvidia:
        raise BenchError(
            f"--layout nvidia-test needs exactly the 12,000 files 0..11999 (.png) of NVIDIA's test set; "
            f"the source holds {len(files)} image files"
        )
    return "nvidia-test" if layout == "auto" and nvidia else ("measured" if layout == "auto" else layout)


def _nvidia_labels(df: pd.DataFrame, files: list[Path]) -> tuple[pd.DataFrame, NvidiaLabels]:
    """Add NVIDIA's conventional labels (nvidia_bin, nvidia_group) beside the measured bin and group; with
    a report per label block of how far they agree (`bench masks import` prints it)."""
    from masks.nvidia import infer_half_order, label_report, nvidia_test_index, nvidia_test_label

    idx = [nvidia_test_index(f.name) for f in files]
    measured = [Group(g) for g in df["group"]]
    order = infer_half_order(idx, measured)
    labels = [nvidia_test_label(i, order) if order else nvidia_test_label(i) for i in idx]
    df = df.assign(nvidia_bin=[b.name for b, _ in labels], nvidia_group=[g.value for _, g in labels])
    report = label_report(labels, df["hole_ratio"].tolist(), measured)
    return df, NvidiaLabels(report, "".join(g.value for g in order) if order else "")


def _import_one(
    scan: _Scan, rel: str, src: Path, out: Path, side: int, polarity: str, margin: int | None
) -> dict:
    r = _read_binary(scan.path)  # again: the checking pass kept no pixels
    if r.white.shape != scan.shape:
        raise BenchError(f"{shown(scan.path)} changed while it was being imported; import again")
    mask = np.where(r.white, VALID, HOLE).astype(np.uint8)  # as read: white = 255
    if polarity == "hole-white":
        mask = flip_polarity(mask)  # the one helper for the opposite convention
    if mask.shape != (side, side):
        mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_NEAREST)
    # No fsync per mask (thousands of small files); import_set syncs once before the manifest.
    write_bytes(inside(out, rel, "mask file"), encode_png(mask), fsync=False)
    ratio = hole_ratio(mask)
    b = bin_of(ratio)
    return {
        "file": rel,
        "hole_ratio": ratio,
        "bin": b.name if b is not None else "",
        "group": group_of(mask, margin_for(side, margin)).value,
        "kind": "imported",
        "seed": "",
        "size": side,
        "source": r.path.relative_to(src).as_posix(),
    }


# ---------------------------------------------------------------------------------------------- stats


def stats_table(df: pd.DataFrame) -> pd.DataFrame:
    """Count and hole-ratio statistics per bin and group; masks outside every bin get the bin 'none'."""
    d = df.assign(bin=df["bin"].replace("", "none"))
    order = [*BIN_NAMES, "none"]
    t = (
        d.groupby(["bin", "group"])["hole_ratio"]
        .agg(count="count", mean="mean", std="std", min="min", max="max")
        .reset_index()
    )
    t["std"] = t["std"].fillna(0.0)
    t["bin"] = pd.Categorical(t["bin"], categories=order, ordered=True)
    t["group"] = pd.Categorical(t["group"], categories=[g.value for g in GROUPS], ordered=True)
    return t.sort_values(["bin", "group"]).reset_index(drop=True).astype({"bin": str, "group": str})


def plot_histogram(df: pd.DataFrame, path: Path | str) -> Path:
    """Histogram PNG of hole ratios per group, bin edges marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    edges = np.linspace(0, max(0.65, float(df["hole_ratio"].max()) + 0.01), 66)
    for g in GROUPS:
        r = df.loc[df["group"] == g.value, "hole_ratio"]
        if len(r):
            ax.hist(r, bins=edges, alpha=0.6, label=f"group {g.value} ({len(r)})")
    for e in (BINS[0].lo, *(b.hi for b in BINS)):
        ax.axvline(e, color="k", lw=0.6, ls="--")
    ax.set_xlabel("hole ratio (hole pixels / all pixels)")
    ax.set_ylabel("masks")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    path = Path(path)
    write_bytes(path, buf.getvalue())
    return path
