"""`bench export`: the protocol's inputs for any program, so that any method in any framework can be scored.

It writes exactly the pairs `bench evaluate` scores with the same options (bench.evaluation.protocol's
protocol_pairs: the same validation, the same bench.runs.pairing), as files another program can read:

    pairs.csv                        pair_id, file, image, mask, bin, group, inputs (written last: complete)
    export.json                      the options of the export (a rerun with others is refused) and its
                                     stamp "selection": bins, groups, n_pairs, digest of the pairs
                                     (bench.runs.pairing.selection_stamp); `outputs:` refuses to score a
                                     folder stamped with another selection than the evaluation's
    layout bench:  inputs/<pair_id>.png   the test image, hole pixels set to 0 (RGB)
                   masks/<pair_id>.png    the mask, 255 valid, 0 hole (the project's convention)
    layout lama:   <pair_id>.png          the test image, hole pixels set to 0
                   <pair_id>_mask.png     the mask, hole = 255 (LaMa's bin/predict.py reads this folder)

Pair ids are zero-padded (`000042`) so that file names sort as pair ids; pairs.csv's `file` column names
each pair's file (`000042.png`): its input in either layout, and the output a program writes. No
ground-truth hole pixel is written. The program writes that file (or LaMa's `<stem>_mask.png`) into a
folder of its own, named by the padded stem or by the plain pair id (`42.png`): either is accepted, and
`bench evaluate ... --method outputs:dir=FOLDER` scores it (baselines.outputs). The stamp is found when
that folder is the export folder, lies inside it, or is named with `outputs:dir=FOLDER,export=EXPORT`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.core.digests import CACHE_FILE, DigestCache
from bench.core.errors import BenchError
from bench.core.files import encode_png, read_mask, write_bytes, write_csv, write_json
from bench.core.folders import check_claim, claim
from bench.core.progress import progress_bar
from bench.evaluation.protocol import EvalConfig, protocol_pairs
from bench.evaluation.runner import reading_inputs
from bench.runs.pairing import EXPORT_FILE, pair_stem, selection_stamp
from bench.runs.records import PAIRS_FILE
from masks.conventions import BINS, GROUPS, HOLE, VALID, Bin, Group, flip_polarity, is_valid

LAYOUTS: tuple[str, ...] = ("bench", "lama")


@dataclass(frozen=True)
class ExportConfig:
    """What `bench export` takes; the selection options mean what they mean for `bench evaluate`."""

    data: Path | None = None
    masks: Path | None = None
    out: Path = Path("results/export")
    bins: tuple[Bin, ...] = BINS
    groups: tuple[Group, ...] = GROUPS
    limit: int | None = None
    seed: int = 0
    pairing: str = "cross"
    resize_masks: bool = False
    layout: str = "bench"
    workers: int = 1
    progress: bool = True
    command: str = ""


@dataclass
class ExportResult:
    out: Path
    layout: str
    n_pairs: int
    hw: tuple[int, int]
    written: int = 0  # image and mask files written now (unchanged ones are left as they are)
    files: list[Path] = field(default_factory=list)


def pair_files(layout: str, pair_id: int) -> tuple[str, str]:
    """(input image, mask) of a pair, relative to the export folder."""
    stem = pair_stem(pair_id)
    if layout == "lama":
        return f"{stem}.png", f"{stem}_mask.png"
    return f"inputs/{stem}.png", f"masks/{stem}.png"


def _params(cfg: ExportConfig, n_pairs: int, hw: tuple[int, int]) -> dict[str, Any]:
    return dict(
        format=1, data=str(Path(cfg.data).resolve()), masks=str(Path(cfg.masks).resolve()),
        seed=int(cfg.seed), bins=[b.name for b in cfg.bins], groups=[str(g) for g in cfg.groups],
        limit=cfg.limit, pairing=cfg.pairing, resize_masks=bool(cfg.resize_masks), layout=cfg.layout,
        n_pairs=n_pairs, image_size=list(hw),
    )  # fmt: skip


def _check_same_export(out: Path, params: dict[str, Any]) -> None:
    path = out / EXPORT_FILE
    if not path.is_file():
        return
    import json

    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        raise BenchError(f"{path} is corrupt; use another --out") from None
    diff = [k for k in params if old.get(k) != params[k]]
    if diff:
        k = diff[0]
        raise BenchError(
            f"{out} holds another export ({k}: {old.get(k)!r} there, {params[k]!r} now); use another --out "
            "or the same options"
        )


def export_pair(cfg: ExportConfig, hw: tuple[int, int], pair_id: int, image: str, mask: str) -> int:
    """Write one pair's input (holes zeroed) and mask; returns the number of files written."""
    from bench.data.decode import load_image

    img = load_image(Path(cfg.data) / image)
    m = read_mask(Path(cfg.masks) / mask)
    if m.shape != hw:
        m = cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)  # --resize-masks (checked)
    valid = is_valid(m)
    inp = np.where(valid[..., None], img, 0).astype(np.uint8)  # no ground-truth hole pixel leaves
    ours = np.where(valid, VALID, HOLE).astype(np.uint8)
    stored = flip_polarity(ours) if cfg.layout == "lama" else ours
    f_img, f_mask = pair_files(cfg.layout, pair_id)
    out = Path(cfg.out)
    # No fsync per file (thousands of small ones); os.sync() runs once before pairs.csv lists them.
    a = write_bytes(out / f_img, encode_png(inp), fsync=False)
    b = write_bytes(out / f_mask, encode_png(stored), fsync=False)
    return int(a) + int(b)


def export(cfg: ExportConfig) -> ExportResult:
    """Validate (as `bench evaluate` does), then write the pairs' inputs and masks; BenchError before
    anything is written on bad input."""
    cfg = replace(cfg, out=Path(cfg.out), bins=tuple(cfg.bins), groups=tuple(Group(g) for g in cfg.groups))
    if cfg.layout not in LAYOUTS:
        raise BenchError(f"--layout must be one of {', '.join(LAYOUTS)}, got {cfg.layout!r}")
    if cfg.workers < 1:
        raise BenchError(f"--workers must be at least 1, got {cfg.workers}")
    check_claim(cfg.out, "export")
    ecfg = EvalConfig(data=cfg.data, masks=cfg.masks, out=cfg.out, bins=cfg.bins, groups=cfg.groups,
                      limit=cfg.limit, seed=cfg.seed, pairing=cfg.pairing, resize_masks=cfg.resize_masks,
                      workers=cfg.workers, progress=False)  # fmt: skip
    with reading_inputs(ecfg):  # no writer changes --data or --masks between the digests and the reads
        return _export(cfg, ecfg)


def _export(cfg: ExportConfig, ecfg: EvalConfig) -> ExportResult:
    cache = DigestCache(cfg.out / CACHE_FILE)
    pairs, hw = protocol_pairs(ecfg, cache)
    params = _params(cfg, len(pairs), hw)
    _check_same_export(cfg.out, params)
    rows = list(zip(pairs["pair_id"].astype(int), pairs["image"], pairs["mask"], strict=True))
    with claim(cfg.out, "export"):
        _check_same_export(cfg.out, params)  # again, under the lock
        written = 0
        bar = progress_bar(total=len(rows), unit="pair", desc="export",
                           disable=None if cfg.progress else True, dynamic_ncols=True)  # fmt: skip
        pool = ThreadPoolExecutor(max_workers=cfg.workers) if cfg.workers > 1 else None
        try:
            one = lambda r: export_pair(cfg, hw, *r)  # noqa: E731
            for n in pool.map(one, rows) if pool is not None else map(one, rows):
                written += n
                bar.update(1)
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown()
        os.sync()
        stamp = {**params, "command": cfg.command, "selection": selection_stamp(pairs)}
        write_json(cfg.out / EXPORT_FILE, stamp)
        listed = pairs.copy()  # evaluate's pairs.csv plus the file each pair is read and written as
        listed.insert(1, "file", [f"{pair_stem(i)}.png" for i in pairs["pair_id"]])
        write_csv(cfg.out / PAIRS_FILE, listed)  # last: its presence means the export is complete
        cache.save()
    files = [cfg.out / PAIRS_FILE, cfg.out / EXPORT_FILE]
    return ExportResult(out=cfg.out, layout=cfg.layout, n_pairs=len(pairs), hw=hw, written=written,
                        files=files)  # fmt: skip
