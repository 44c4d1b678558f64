"""`bench evaluate`: the paper's protocol on any set of methods, resumable, exported as Table 1.

Pairing: each test image is paired with one mask from every selected (bin, group) cell. The mask of
image i in a cell is entry i of a seeded sequence of permutations of that cell's masks (sorted by file), the
generator seeded by (seed, cell name) only. So the pairs depend on the seed, the images and the mask set,
never on the methods, the other selected cells or --limit (which keeps the first N images).

Pairs run in a fixed order (image-major) in fixed chunks of `batch_size`; a chunk is recomputed whole when
any of its pairs is missing, so a resumed run sees exactly the batches of an uninterrupted one and ends
with identical records and tables. See bench/records.py for the files.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from bench import tables as T
from bench.errors import BenchError
from bench.io import read_mask, read_png_rgb, write_csv, write_json, write_png
from bench.records import (
    PAIR_METRICS,
    MethodRecords,
    load_records,
    record_key,
    retire_stale,
)
from masks.conventions import BIN_NAMES, BINS, GROUPS, Bin, Group

RUN_FILE = "run.json"
PAIRS_FILE = "pairs.csv"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
# run.json keys that must match for records in an existing folder to be reused.
_SAME_RUN_KEYS = ("data", "masks", "seed", "resize_masks")


@dataclass
class EvalConfig:
    """Defaults of `bench evaluate` (one place; the CLI reads them from here)."""

    out: Path = Path("results/eval")
    ratio: str = "0.01-0.6"
    limit: int | None = None
    device: str = "auto"
    workers: int = 1
    seed: int = 0
    batch_size: int = 8
    n_boot: int = 1000
    samples_per_bin: int = 2  # pairs per bin kept as pictures for the qualitative grid
    formats: tuple[str, ...] = T.FORMATS


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


# ---------------------------------------------------------------------------------------------- inputs


def list_test_images(data: Path) -> list[Path]:
    """The test split of a `bench data prepare` folder, or every image under any other folder (sorted)."""
    try:
        from bench.data import list_images
    except ImportError:  # bench.data not installed: the same rule, locally
        list_images = _list_images_fallback
    return [Path(p) for p in list_images(Path(data), "test")]


def _list_images_fallback(data: Path, split: str | None = None) -> list[Path]:
    manifest = data / "manifest.csv"
    if manifest.is_file():
        df = pd.read_csv(manifest, dtype=str, keep_default_na=False)
        if "split" in df.columns and "file" in df.columns:
            rows = df[df["split"] == split] if split else df
            return sorted(data / f for f in rows["file"])
    return sorted(p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _load_image(path: Path) -> np.ndarray:
    try:
        from bench.data import load_image
    except ImportError:
        return read_png_rgb(path)
    return load_image(path)


def _image_size(path: Path) -> tuple[int, int]:
    """(H, W) from the file header (no decoding)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input
        raise BenchError(f"{path}: not a readable image ({e})") from None
    return h, w


def make_pairs(
    images: Sequence[str],
    manifest: pd.DataFrame,
    bins: Sequence[Bin] = BINS,
    groups: Sequence[Group] = GROUPS,
    seed: int = 0,
    limit: int | None = None,
) -> pd.DataFrame:
    """Pair every image with one mask of each (bin, group) cell; seeded, see the module docstring.

    `images`: image keys (the full sorted list; `limit` keeps the first N). `manifest`: columns file, bin,
    group. Returns columns pair_id, image, mask, bin, group, in run order (image-major).
    """
    n_all = len(images)
    n = n_all if limit is None else min(limit, n_all)
    rows = []
    per_cell: dict[tuple[str, str], list[str]] = {}
    for b in bins:
        for g in groups:
            files = sorted(manifest.loc[(manifest["bin"] == b.name) & (manifest["group"] == str(g)), "file"])
            if not files:
                continue
            rng = np.random.default_rng([seed, zlib.crc32(f"{b.name}|{g}".encode())])
            reps = -(-max(n, 1) // len(files))  # permutations needed to cover n images
            order = np.concatenate([rng.permutation(len(files)) for _ in range(reps)])[:n]
            per_cell[(b.name, str(g))] = [files[j] for j in order]
    for i in range(n):
        for b in bins:
            for g in groups:
                cell = per_cell.get((b.name, str(g)))
                if cell is None:
                    continue
                rows.append(dict(image=images[i], mask=cell[i], bin=b.name, group=str(g)))
    df = pd.DataFrame(rows, columns=["image", "mask", "bin", "group"])
    df.insert(0, "pair_id", np.arange(len(df), dtype=int))
    return df


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

    Returns (label, inpainter): the label is the method name, or name@fingerprint when a name repeats.
    """
    from bench.inpainters import get_inpainters

    if not methods:
        raise BenchError("no --method given; e.g. --method telea --method pconv=runs/quick/last.pt")
    built = []
    for m in methods:
        spec = _method_spec(m)
        try:
            (inp,) = get_inpainters([spec], device=device, workers=workers, batch_size=batch_size)
        except BenchError:
            raise
        except Exception as e:  # noqa: BLE001 - a checkpoint that does not load, etc.
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise BenchError(f"method {spec!r} could not be loaded: {first}") from None
        built.append(inp)
    names = [b.name for b in built]
    out, seen = [], set()
    for inp in built:
        label = inp.name if names.count(inp.name) == 1 else f"{inp.name}@{inp.fingerprint[:6]}"
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
    return dict(
        name=str(getattr(net, "name", "")),
        label=str(getattr(net, "label", "IS*")),
        footnote=str(getattr(net, "footnote", "")),
        is_standin=bool(getattr(net, "is_standin", True)),
    )


# ---------------------------------------------------------------------------------------------- evaluate


def _validate_masks(masks: Path, bins: Sequence[Bin], groups: Sequence[Group]) -> pd.DataFrame:
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


def _check_sizes(
    image_paths: Sequence[Path], sel: pd.DataFrame, masks: Path, resize: bool
) -> tuple[int, int]:
    sizes = {}
    for p in image_paths:
        sizes.setdefault(_image_size(p), p)
    if len(sizes) > 1:
        desc = ", ".join(f"{w}x{h} ({p.name})" for (h, w), p in list(sizes.items())[:3])
        raise BenchError(
            f"test images have different sizes: {desc}; crop them to one size with `bench data prepare`"
        )
    (hw,) = sizes
    mask_sizes = sorted({int(s) for s in sel["size"]})
    # The manifest's size is the side of a square mask; check one real file too (imported sets).
    first = read_mask(masks / sel["file"].iloc[0]).shape
    if not resize and (any((s, s) != hw for s in mask_sizes) or tuple(first) != hw):
        raise BenchError(
            f"masks are {first[1]}x{first[0]} px but the images are {hw[1]}x{hw[0]}; "
            "pass --resize-masks to resize the masks (nearest neighbour) or make masks of the images' size"
        )
    return hw


def _check_run(out: Path, config: dict[str, Any]) -> None:
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a folder")
    run = out / RUN_FILE
    if not run.is_file():
        return
    try:
        old = json.loads(run.read_text())
    except (OSError, json.JSONDecodeError):
        raise BenchError(f"{run} is corrupt; use another --out") from None
    diff = [k for k in _SAME_RUN_KEYS if old.get(k) != config.get(k)]
    if diff:
        k = diff[0]
        raise BenchError(
            f"{out} holds results of another run ({k}: {old.get(k)!r} there, {config.get(k)!r} now); "
            "use another --out or the same settings"
        )


def _sample_name(image: str, mask: str) -> str:
    return hashlib.sha1(f"{image}|{mask}".encode()).hexdigest()[:16] + ".png"


def sample_pairs(pairs: pd.DataFrame, per_bin: int) -> pd.DataFrame:
    """The pairs kept as pictures: the first `per_bin` images of each bin, in its first selected group."""
    if per_bin <= 0 or pairs.empty:
        return pairs.iloc[:0]
    first_group = pairs["group"].iloc[0]
    sel = pairs[pairs["group"] == first_group]
    sel = sel.groupby("bin", sort=False).head(per_bin)
    order = {b: i for i, b in enumerate(BIN_NAMES)}
    return sel.assign(_b=sel["bin"].map(order)).sort_values(["_b", "pair_id"]).drop(columns="_b")


def _to_tensor_images(arrs: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float() / 255.0  # (B,3,H,W) in [0,1]
    return x.contiguous()


def _to_tensor_masks(arrs: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy((np.stack(arrs) >= 128).astype(np.float32))[:, None]  # (B,1,H,W), 1 = valid


def evaluate(
    data: Path,
    masks: Path,
    methods: Sequence[str | tuple[str, dict[str, Any]]],
    out: Path = DEFAULTS.out,
    bins: Sequence[Bin] = BINS,
    groups: Sequence[Group] = GROUPS,
    limit: int | None = DEFAULTS.limit,
    device: str = DEFAULTS.device,
    workers: int = DEFAULTS.workers,
    seed: int = DEFAULTS.seed,
    resize_masks: bool = False,
    batch_size: int = DEFAULTS.batch_size,
    is_weights: Path | None = None,
    allow_download: bool = False,
    paired: tuple[str, str] | None = None,
    n_boot: int = DEFAULTS.n_boot,
    samples_per_bin: int = DEFAULTS.samples_per_bin,
    formats: Sequence[str] = DEFAULTS.formats,
    figures: bool = True,
    progress: bool = True,
    command: str = "",
    is_network: Any = None,
    compute_is: bool = True,
) -> EvalResult:
    """Run `methods` on every (image, mask) pair of the selection, record per pair, export the tables.

    `methods`: `--method` specs ('telea', 'pconv=last.pt') or (name, options) tuples. Everything is
    validated (methods load, masks exist for every selected cell, sizes match, the IS network loads)
    before anything is written. `is_network` overrides the IS network (tests pass a cheap one);
    `compute_is=False` skips the Inception Score (its network dominates CPU time).
    """
    from bench.device import resolve_device
    from bench.metrics import all_metrics, composite

    data, masks, out = Path(data), Path(masks), Path(out)
    bins, groups = tuple(bins), tuple(Group(g) for g in groups)
    # ---- validate everything before writing anything
    if not bins or not groups:
        raise BenchError("the selection is empty: give at least one bin and one group")
    if limit is not None and limit < 1:
        raise BenchError(f"--limit must be at least 1, got {limit}")
    if batch_size < 1:
        raise BenchError(f"batch size must be at least 1, got {batch_size}")
    if not data.is_dir():
        raise BenchError(f"--data {data} is not a folder")
    image_paths = list_test_images(data)
    if not image_paths:
        raise BenchError(f"--data {data} holds no test images")
    image_keys = [p.relative_to(data).as_posix() for p in image_paths]
    n_use = len(image_paths) if limit is None else min(limit, len(image_paths))
    sel = _validate_masks(masks, bins, groups)
    hw = _check_sizes(image_paths[:n_use], sel, masks, resize_masks)
    torch_device = resolve_device(device)
    built = build_methods(methods, device, workers, batch_size)
    if not compute_is:
        is_network = None
    elif is_network is None:
        from bench.inception import load_is_network

        try:
            is_network = load_is_network(
                weights=is_weights, allow_download=allow_download, device=torch_device
            )
        except BenchError:
            raise
        except Exception as e:  # noqa: BLE001
            raise BenchError(f"the Inception Score network could not be loaded: {e}") from None
    is_info = (
        _is_info(is_network) if compute_is else dict(name="none", label="", footnote="", is_standin=False)
    )
    labels = [label for label, _ in built]
    if paired is not None:
        paired = _resolve_paired(paired, labels)
    elif len(labels) >= 2:
        low = [x.lower() for x in labels]
        paired = ("pconv", "conv") if {"pconv", "conv"} <= set(low) else (labels[0], labels[1])
    config = dict(
        data=str(data.resolve()),
        masks=str(masks.resolve()),
        seed=int(seed),
        resize_masks=bool(resize_masks),
    )
    _check_run(out, config)
    pairs = make_pairs(image_keys, sel, bins, groups, seed, limit)
    samples = set(zip(*[sample_pairs(pairs, samples_per_bin)[c] for c in ("image", "mask")], strict=True))

    # ---- from here on, files are written
    method_entries, recs = [], []
    keep: dict[str, set[str]] = {}
    for _, inp in built:
        keep.setdefault(inp.name, set()).add(record_key(inp.fingerprint, is_info["name"]))
    for label, inp in built:
        key = record_key(inp.fingerprint, is_info["name"])
        info = dict(
            label=label, name=inp.name, options=_jsonable(inp.options), fingerprint=inp.fingerprint,
            key=key, meta=_jsonable(getattr(inp, "meta", {}) or {}), features=_features(inp),
            is_network=is_info["name"],
        )  # fmt: skip
        method_entries.append(info)
        retire_stale(out, inp.name, keep[inp.name])
        mr = MethodRecords(out, inp.name, key, info)
        mr.open()
        recs.append(mr)
    run = dict(
        config,
        bins=[b.name for b in bins],
        groups=[str(g) for g in groups],
        limit=limit,
        n_images=n_use,
        image_size=list(hw),
        methods=method_entries,
        is_network=is_info,
        paired=list(paired) if paired else None,
        n_boot=n_boot,
        command=command,
        samples_per_bin=samples_per_bin,
    )
    write_json(out / RUN_FILE, run)
    write_csv(out / PAIRS_FILE, pairs)

    done = [mr.done_pairs() for mr in recs]
    keys = list(zip(pairs["image"], pairs["mask"], strict=True))
    todo = sum(k not in d for d in done for k in keys)
    reused = len(keys) * len(recs) - todo
    bar = tqdm(
        total=todo, unit="pair", desc="evaluate", disable=not progress or todo == 0, dynamic_ncols=True
    )
    pool = ThreadPoolExecutor(max_workers=max(1, workers)) if workers > 1 else None
    try:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs.iloc[start : start + batch_size]
            ck = keys[start : start + batch_size]
            need = [i for i, d in enumerate(done) if any(k not in d for k in ck)]
            if not need:
                continue
            imgs, msks = _load_chunk(chunk, data, masks, hw, resize_masks, pool)
            for i in need:
                label, inp = built[i]
                mr = recs[i]
                with torch.no_grad():
                    output = inp.inpaint(imgs, msks)
                    comp = composite(output.to(imgs.device), imgs, msks)  # I_comp, (B,3,H,W)
                    mets = {
                        k: v.detach().cpu().double().numpy() for k, v in all_metrics(comp, imgs, msks).items()
                    }
                    probs = None
                    if is_network is not None:
                        probs = (
                            is_network.probs(comp.to(torch_device)).detach().cpu().float().numpy()
                        )  # (B,K)
                rows = [j for j, k in enumerate(ck) if k not in done[i]]
                pfile = None
                if probs is not None:
                    pfile = mr.write_probs(int(chunk["pair_id"].iloc[rows[0]]), probs[rows])
                lines = []
                for r_i, j in enumerate(rows):
                    p = chunk.iloc[j]
                    if (p["image"], p["mask"]) in samples:
                        pic = (comp[j].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(
                            np.uint8
                        )
                        write_png(mr.samples_path / _sample_name(p["image"], p["mask"]), pic)
                    lines.append(
                        dict(
                            pair_id=int(p["pair_id"]),
                            image=p["image"],
                            mask=p["mask"],
                            bin=p["bin"],
                            group=p["group"],
                            probs_file=pfile,
                            probs_row=r_i,
                            **{m: _num(mets[m][j]) for m in PAIR_METRICS},
                        )  # fmt: skip
                    )
                mr.append(lines)
                done[i].update(ck[j] for j in rows)
                bar.update(len(rows))
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
    result = build_tables(out, formats=formats, paired=paired, figures=figures, n_boot=n_boot)
    result.n_pairs, result.computed, result.reused = len(pairs), todo, reused
    return result


def _num(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _load_chunk(
    chunk: pd.DataFrame, data: Path, masks: Path, hw: tuple[int, int], resize: bool, pool: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    def one(row: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
        image, mask = row
        img = _load_image(data / image)
        if img.shape[:2] != hw:
            raise BenchError(f"{data / image} is {img.shape[1]}x{img.shape[0]}, expected {hw[1]}x{hw[0]}")
        m = read_mask(masks / mask)
        if m.shape != hw:
            if not resize:
                raise BenchError(
                    f"mask {masks / mask} is {m.shape[1]}x{m.shape[0]} but the images are {hw[1]}x{hw[0]}; "
                    "pass --resize-masks"
                )
            m = cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST)
        return img, m

    rows = list(zip(chunk["image"], chunk["mask"], strict=True))
    loaded = list(pool.map(one, rows)) if pool is not None else [one(r) for r in rows]
    return _to_tensor_images([a for a, _ in loaded]), _to_tensor_masks([b for _, b in loaded])


def _resolve_paired(paired: Sequence[str], labels: Sequence[str]) -> tuple[str, str]:
    if len(paired) != 2:
        raise BenchError(f"--paired takes two methods A,B; got {','.join(paired)}")
    low = {x.lower(): x for x in labels}
    out = []
    for p in paired:
        if p.strip().lower() not in low:
            raise BenchError(f"--paired: no method {p!r}; methods here: {', '.join(labels)}")
        out.append(low[p.strip().lower()])
    if out[0] == out[1]:
        raise BenchError("--paired needs two different methods")
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------- tables


def read_run(out: Path) -> dict[str, Any]:
    run = Path(out) / RUN_FILE
    if not run.is_file():
        raise BenchError(f"{out} holds no evaluation ({RUN_FILE} is missing); run `bench evaluate` first")
    try:
        return json.loads(run.read_text())
    except json.JSONDecodeError:
        raise BenchError(f"{run} is corrupt") from None


def table_context(run: dict[str, Any], n_boot: int | None = None) -> T.TableContext:
    isn = run.get("is_network") or {}
    if isn.get("name") in (None, "", "none"):
        isn = {}
    label = isn.get("label") or "IS*"
    if isn.get("is_standin", True) and label == "IS":
        label = "IS*"  # a stand-in is never labelled IS
    feats = {m["label"]: m["features"] for m in run.get("methods", []) if m.get("features")}
    return T.TableContext(
        is_label=label,
        is_network=isn.get("name", ""),
        is_footnote=isn.get("footnote", ""),
        features=feats,
        n_boot=int(n_boot if n_boot is not None else run.get("n_boot", DEFAULTS.n_boot)),
        seed=int(run.get("seed", 0)),
        command=run.get("command", ""),
    )


def build_tables(
    out: Path,
    formats: Sequence[str] = T.FORMATS,
    paired: Sequence[str] | None = None,
    reference: Path | None = None,
    figures: bool = True,
    n_boot: int | None = None,
) -> EvalResult:
    """Rebuild summary, paired test, tables (and figures) of `out` from its stored records."""
    out = Path(out)
    run = read_run(out)
    bad = [f for f in formats if f not in T.FORMATS]
    if bad:
        raise BenchError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(T.FORMATS)}")
    pairs = pd.read_csv(out / PAIRS_FILE, dtype={"image": str, "mask": str, "bin": str, "group": str})
    labels = [m["label"] for m in run["methods"]]
    if paired is not None:
        paired = _resolve_paired(paired, labels)
    elif run.get("paired"):
        paired = tuple(run["paired"])
    ref_df = None
    if reference is not None:
        try:
            ref_df = T.read_reference(reference)
        except (OSError, ValueError, pd.errors.ParserError) as e:
            raise BenchError(f"reference {reference}: {str(e).splitlines()[0]}") from None
    ctx = table_context(run, n_boot)
    loaded = load_records(out, run["methods"], pairs=pairs)
    summary = T.summarize(
        loaded.frame, loaded.probs, methods=labels, bins=run["bins"], groups=run["groups"],
        n_boot=ctx.n_boot, seed=ctx.seed,
    )  # fmt: skip
    pt = None
    if paired:
        pt = T.paired_test(loaded.frame, paired[0], paired[1], n_boot=ctx.n_boot, seed=ctx.seed)
    files = T.write_exports(out, summary, ctx, pt, formats)
    text = T.format_table_text(summary, ctx)
    if pt is not None and len(pt):
        text += "\n" + T.format_paired_text(pt)
    if ref_df is not None:
        cmp = T.compare_reference(summary, ref_df)
        from bench.io import write_csv as _w

        _w(out / "reference.csv", cmp, float_format="%.6g")
        files.append(out / "reference.csv")
        if cmp["measured"].notna().any():
            text += "\n" + T.format_reference_text(cmp, str(reference))
        else:
            methods = ", ".join(dict.fromkeys(cmp["method"].astype(str))) or "none"
            text += f"\nReference {reference}: none of its methods ({methods}) was measured here.\n"
    if figures and len(summary):
        from bench import plots

        files.append(plots.plot_curves(summary, out / "curves.png", ctx))
        grid = plots.qualitative_grid(out, run, pairs)
        if grid is not None:
            files.append(grid)
    partial = _incomplete(loaded.frame, pairs, labels)
    if partial:
        text += "\n" + partial
    return EvalResult(out=out, summary=summary, paired=pt, text=text, files=files, n_pairs=len(pairs))


def _incomplete(frame: pd.DataFrame, pairs: pd.DataFrame, labels: Sequence[str]) -> str:
    counts = frame.groupby("method").size() if len(frame) else pd.Series(dtype=int)
    missing = [f"{m} ({int(counts.get(m, 0))}/{len(pairs)})" for m in labels if counts.get(m, 0) < len(pairs)]
    if not missing:
        return ""
    return f"Incomplete: {', '.join(missing)} pairs recorded; rerun `bench evaluate` with the same options."
