"""Image sets: the builtin set of real photos, user folders, and a manifest with a split by source photo.

`bench data prepare` writes, under one output folder::

    images/NNNNN_<photo>_KK.png   SxS RGB crops (PNG, 8-bit); NNNNN numbers the source photos, KK the
                                  crops of a builtin photo (user images have one crop and no _KK).
                                  The split is in the manifest, not in the folder names.
    dataset.json               the parameters, an input fingerprint and the counts (for instant reruns)
    manifest.csv               one row per crop, written last: file (relative to the folder), source,
                               collection, split, x0,y0,x1,y1 (crop box in source-photo pixels),
                               src_width, src_height, size, seed, notes

Two ways to make crops:

* ``builtin``: natural colour photos that ship inside installed packages (scikit-image, scikit-learn,
  matplotlib) and, when installed, the Debian wallpaper packages `mate-backgrounds` and
  `lomiri-wallpapers-16.04`. Every candidate file is classified in code (`BUILTIN_PHOTOS`, `EXCLUDED`) with
  a reason, so the set is the same on every machine that has the same packages. A photo is viewed at a
  scale where its short side is ``short_side_factor * S`` pixels (never upscaled past its native size, but
  small photos are upscaled to S), and up to ``crops_per_photo`` seeded random SxS crops are taken, about
  as many as fit side by side. With seed 0 the 33 photos give 306 train + 80 test crops at S=128,
  265 + 66 at S=256 and 217 + 61 at S=512 (26 train and 7 test photos).
* a user folder (flat, or Places365 / ImageNet / CelebA-HQ layouts; searched recursively): one crop per
  image, the centred square resized to S (INTER_AREA), as the paper does.

The split is by source photo: every crop of a test photo is in test. Each photo draws a key from
``default_rng([seed, crc32(photo id)])``; the ``round(test_fraction * n)`` photos with the smallest keys
are test. The same seed gives byte-identical crops and manifest.

Bad user files are skipped with a message naming the file and counted: unreadable or non-image files,
truncated files, grey-scale images (useless for colour inpainting), images smaller than S. RGBA images
are composited over white and 16-bit images are reduced to 8 bits, each with a note. When nothing usable
remains, `BenchError` (exit 2) is raised and nothing is written.

>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "set"
>>> report = prepare_dataset(out, size=32, crops_per_photo=1, progress=False)
>>> files = list_images(out, split="train")
>>> from bench.data.decode import load_image
>>> load_image(files[0]).shape
(32, 32, 3)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from bench.core.errors import BenchError
from bench.core.files import (
    IMAGE_SUFFIXES,
    csv_text,
    encode_png,
    header_size,
    max_side,
    read_csv,
    shown,
    write_bytes,
    write_json,
)
from bench.core.folders import MANIFEST, check_claim, claim, inside
from bench.data.decode import (
    GREY_NOTE,
    Decoded,
    UnusableImage,
    centre_box,
    decode_photo,
    is_grey,
    resize_square,
)
from bench.data.photos import Photo, builtin_photos, builtin_shortfall

INFO = "dataset.json"
SPLITS = ("train", "test")
MANIFEST_COLUMNS = (
    "file",
    "source",
    "collection",
    "split",
    "x0",
    "y0",
    "x1",
    "y1",
    "src_width",
    "src_height",
    "size",
    "seed",
    "notes",
)
# Bump when the crops a given set of parameters produces change, so old folders are rebuilt.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepareConfig:
    """Defaults of `bench data prepare` (the CLI reads them from here)."""

    size: int = 256
    source: str = "builtin"
    seed: int = 0
    test_fraction: float = 0.2
    crops_per_photo: int = 12  # builtin only; user folders give one crop per image
    short_side_factor: float = 3.0  # builtin only: photos are viewed with a short side of this many S


DEFAULTS = PrepareConfig()


# ------------------------------------------------------------------------------------------------
# Crops.
# ------------------------------------------------------------------------------------------------


@dataclass
class Crop:
    image: np.ndarray  # (S,S,3) uint8
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels (x1, y1 exclusive)


def builtin_crops(photo: Path, size: int, count: int, short_side_factor: float, rng: np.random.Generator):
    """Seeded random SxS crops of one photo viewed with a short side of min(native, factor*S) px (>= S).

    Returns (crops, decoded). The number of crops is min(count, about how many fit side by side)."""
    probe = _width_height(photo)
    native_short = min(probe)
    view_short = max(size, min(native_short, round(short_side_factor * size)))
    side_src = max(1, round(size * native_short / view_short))  # crop side in source pixels
    # Decode at the largest JPEG reduction r that keeps the crop side >= S decoded pixels
    # (side_src / r >= S, so floor(side_src / r) >= S too).
    d = decode_photo(photo, max_reduce=side_src // size) if side_src >= 2 * size else decode_photo(photo)
    side = max(1, side_src // d.reduce)  # crop side in decoded pixels
    w, h = d.width // d.reduce, d.height // d.reduce
    side = min(side, w, h)
    fit = (w * h) / (side * side)
    n = max(1, min(count, int(round(fit))))
    crops = []
    for _ in range(n):
        x0 = int(rng.integers(0, w - side + 1))
        y0 = int(rng.integers(0, h - side + 1))
        img = resize_square(d.rgb[y0 : y0 + side, x0 : x0 + side], size)
        r = d.reduce
        crops.append(Crop(img, (x0 * r, y0 * r, (x0 + side) * r, (y0 + side) * r)))
    return crops, d


def centre_crop(photo: Path, size: int, keep_grey: bool = False) -> tuple[Crop, Decoded]:
    """The paper's crop of a user image: the centred square resized to SxS. Raises UnusableImage."""
    d = decode_photo(photo, min_short=size, keep_grey=keep_grey)
    if min(d.width, d.height) < size:
        raise UnusableImage(f"{shown(photo)}: {d.width}x{d.height} is smaller than {size}x{size}")
    x0, y0, side = centre_box(d)
    img = cv2.resize(
        np.ascontiguousarray(d.rgb[y0 : y0 + side, x0 : x0 + side]),
        (size, size),
        interpolation=cv2.INTER_AREA,
    )
    r = d.reduce
    return Crop(img, (x0 * r, y0 * r, (x0 + side) * r, (y0 + side) * r)), d


def _width_height(path: Path) -> tuple[int, int]:
    """(width, height) as decoded (EXIF orientation applied), from the header."""
    try:
        return header_size(path)
    except ValueError as e:
        raise UnusableImage(str(e)) from None


# ------------------------------------------------------------------------------------------------
# Split.
# ------------------------------------------------------------------------------------------------


def split_photos(sources: list[str], seed: int, test_fraction: float) -> dict[str, str]:
    """source id -> 'train' | 'test'. round(test_fraction * n) photos go to test (at least one of each
    split when there are two or more photos and 0 < test_fraction < 1). Each photo's key depends only on
    (seed, its id), so adding or removing other photos does not reshuffle it."""
    if not 0.0 <= test_fraction <= 1.0:
        raise BenchError(f"--test-fraction must be within [0, 1], got {test_fraction}")
    n = len(sources)
    n_test = int(round(test_fraction * n))
    if n >= 2 and 0.0 < test_fraction < 1.0:
        n_test = min(max(n_test, 1), n - 1)
    keys = {s: np.random.default_rng([seed, _stable_id(s)]).random() for s in sources}
    order = sorted(sources, key=lambda s: (keys[s], s))
    test = set(order[:n_test])
    return {s: ("test" if s in test else "train") for s in sources}


def _stable_id(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


# ------------------------------------------------------------------------------------------------
# prepare_dataset
# ------------------------------------------------------------------------------------------------


@dataclass
class PrepareReport:
    """What `prepare_dataset` did. Counts are of source photos and of crops, per split."""

    out: Path
    size: int
    source: str
    seed: int
    photos: dict[str, int]  # split -> number of source photos
    crops: dict[str, int]  # split -> number of crops
    skipped: list[str] = field(default_factory=list)  # one message per unusable file
    notes: list[str] = field(default_factory=list)  # conversions made (RGBA, 16-bit, ...)
    ignored: int = 0  # files without an image extension
    reused: bool = False  # True when an existing folder with the same parameters was kept
    shortfall: str = ""  # one line when the builtin set is reduced on this machine

    def summary(self) -> str:
        lines = [
            f"{'reused' if self.reused else 'wrote'} {self.out} ({self.size}x{self.size} crops, "
            f"source {self.source}, seed {self.seed})",
        ]
        for split in SPLITS:
            lines.append(
                f"  {split:5s}: {self.photos.get(split, 0):4d} photos, {self.crops.get(split, 0):5d} crops"
            )
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} unusable file(s)")
        if self.ignored:
            lines.append(f"  ignored {self.ignored} file(s) without an image extension")
        grey = sum(n.endswith(GREY_NOTE) for n in self.notes)
        if grey:
            lines.append(f"  kept {grey} grey-scale image(s) as RGB (--skip-grey leaves them out)")
        if self.shortfall:
            lines.append(self.shortfall)
        return "\n".join(lines)

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        return d


def _user_files(root: Path, exclude: Path | None) -> tuple[list[Path], int]:
    """Image files under `root` (recursive, sorted, hidden files and `exclude` skipped), and the number
    of other files."""
    files, other = [], 0
    seen: set[Path] = set()  # real folders visited: symlinked folders are followed, loops are not
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        d = Path(dirpath)
        real = d.resolve()
        if real in seen or (exclude is not None and real == exclude):
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_SUFFIXES):
                files.append(d / name)
            else:
                other += 1
    return sorted(files, key=lambda p: p.relative_to(root).as_posix()), other


def _fingerprint(entries: list[tuple[str, Path]]) -> str:
    h = hashlib.sha256()
    for name, path in entries:
        st = path.stat()
        h.update(f"{name}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _slug(text: str) -> str:
    text = re.sub(r"\.[A-Za-z0-9]+$", "", text)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60] or "image"


def _params(
    size: int, source: str, seed: int, test_fraction: float, crops: int, factor: float, fp: str,
    split: str = "auto", keep_grey: bool = True,
) -> dict:  # fmt: skip
    params = {
        "format": FORMAT_VERSION,
        "size": size,
        "source": source,
        "seed": seed,
        "test_fraction": test_fraction,
        "crops_per_photo": crops if source == "builtin" else 1,
        "short_side_factor": factor if source == "builtin" else None,
        "inputs": fp,
    }
    if split != "auto":
        params["split"] = split if split in ("train", "test") else f"file:{_file_digest(Path(split))}"
    if source != "builtin" and not keep_grey:
        params["skip_grey"] = True
    return params


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


SPLIT_MODES = ("auto", "train", "test")


def read_split_list(path: Path) -> dict[str, str]:
    """An official split list: one image per line, its path relative to the source folder first, then
    optionally its split (train, test, or val, read as test). Without a split column the listed images
    are the test split. Blank lines and lines starting with # are skipped."""
    out: dict[str, str] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError(f"--split {path}: not a readable split list ({e})") from None
    for line in lines:
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        split = (
            parts[1].lower() if len(parts) > 1 and parts[1].lower() in ("train", "test", "val") else "test"
        )
        out[parts[0].lstrip("/")] = "test" if split == "val" else split
    if not out:
        raise BenchError(f"--split {path}: the list names no image")
    return out


def _split_rows(rows: list[dict], seed: int, test_fraction: float, split: str) -> None:
    """Set each row's split: by photo (auto), all train or all test, or from an official list (FILE)."""
    if split in ("train", "test"):
        for r in rows:
            r["split"] = split
        return
    if split == "auto":
        by_photo = split_photos(sorted({r["source"] for r in rows}), seed, test_fraction)
        for r in rows:
            r["split"] = by_photo[r["source"]]
        return
    listed = read_split_list(Path(split))
    for r in rows:
        r["split"] = listed.get(r["source"], "train")  # images the list does not name are for training


def _existing(out: Path, params: dict) -> dict | None:
    """The stored info of `out` when it was prepared with `params` and is complete, else None."""
    try:
        info = json.loads((out / INFO).read_text())
        manifest = (out / MANIFEST).read_bytes()
    except (OSError, ValueError):
        return None
    if info.get("params") != params or info.get("manifest_sha256") != hashlib.sha256(manifest).hexdigest():
        return None
    df = read_csv(io.BytesIO(manifest))
    if not all((out / f).is_file() for f in df["file"]):
        return None
    return info


def _validate_prepare(
    size: int, crops_per_photo: int, short_side_factor: float, test_fraction: float, seed: int = 0
) -> None:
    if size < 8:
        raise BenchError(f"--size must be at least 8, got {size}")
    if size > max_side():
        raise BenchError(f"--size {size} is larger than the maximum image side {max_side()} px")
    if seed < 0:
        raise BenchError(f"--seed must be a non-negative integer, not {seed}")
    if crops_per_photo < 1:
        raise BenchError(f"--crops-per-photo must be at least 1, got {crops_per_photo}")
    if not short_side_factor >= 1.0:
        raise BenchError(f"short_side_factor must be >= 1, got {short_side_factor}")
    if not 0.0 <= test_fraction <= 1.0:
        raise BenchError(f"--test-fraction must be within [0, 1], got {test_fraction}")


def _find_photos(source: str, out: Path, say: Callable[[str], None]) -> tuple[list[Photo], str, int]:
    """(photos, source label, files ignored) of `source`: "builtin" or a folder searched recursively."""
    if source == "builtin":
        photos = builtin_photos(say)
        if not photos:
            raise BenchError("no builtin photos found (scikit-image, scikit-learn, matplotlib, wallpapers)")
        return photos, "builtin", 0
    root = Path(source).expanduser()
    if not root.exists():
        raise BenchError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise BenchError(f"{root} is not a folder")
    files, ignored = _user_files(root, out.resolve())
    named = [f for f in files if _utf8(f.relative_to(root).as_posix())]
    for f in sorted(set(files) - set(named)):
        say(f"skipped: {shown(f)}: the file name is not valid UTF-8 (it could not be listed in {MANIFEST})")
    if not named:
        raise BenchError(
            f"image folder {shown(root)} holds no usable image files ({', '.join(IMAGE_SUFFIXES)})"
        )
    photos = [Photo(f.relative_to(root).as_posix(), f, "user") for f in named]
    return photos, str(root.resolve()), ignored + len(files) - len(named)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def prepare_dataset(
    out: Path,
    size: int = DEFAULTS.size,
    source: str = DEFAULTS.source,
    seed: int = DEFAULTS.seed,
    test_fraction: float = DEFAULTS.test_fraction,
    crops_per_photo: int = DEFAULTS.crops_per_photo,
    short_side_factor: float = DEFAULTS.short_side_factor,
    log: Callable[[str], None] | None = None,
    progress: bool = True,
    wait: bool = False,
    split: str = "auto",
    keep_grey: bool = True,
) -> PrepareReport:
    """Build (or reuse) an image set of SxS crops with a train/test split by source photo in `out`.

    `source` is "builtin" or a folder. Messages (absent sources, skipped files, conversions) go to
    `log` as they happen and are kept in the report. Raises BenchError on bad input, having written
    nothing when nothing usable was found. `out` must be new, empty or an image set; it is locked while
    it is written (`wait`: wait for another process that holds it instead of refusing). `split`: "auto"
    (seeded, by source photo), "train" or "test" (the whole folder), or the path of an official split
    list (`read_split_list`). `keep_grey`: grey-scale images of a user folder are kept as RGB (counted in
    the summary); False skips them, as the builtin set does.
    """
    say = log or (lambda _msg: None)
    out = Path(out)
    _validate_prepare(size, crops_per_photo, short_side_factor, test_fraction, seed)
    if split not in SPLIT_MODES and not Path(split).is_file():
        raise BenchError(f"--split must be auto, train, test or a split-list file; {split!r} is none of them")
    check_claim(out, "data", busy_ok=wait)
    photos, source_label, ignored = _find_photos(source, out, say)
    fp = _fingerprint([(p.source, p.path) for p in photos])
    shortfall = builtin_shortfall(photos) if source == "builtin" else ""
    params = _params(size, source_label, seed, test_fraction, crops_per_photo, short_side_factor, fp, split,
                     keep_grey)  # fmt: skip
    with claim(out, "data", wait=wait):
        info = _existing(out, params)
        if info is not None:
            rep = info["report"]
            return PrepareReport(out=out, size=size, source=source_label, seed=seed, photos=rep["photos"],
                                 crops=rep["crops"], skipped=rep["skipped"], notes=rep["notes"],
                                 ignored=rep["ignored"], reused=True, shortfall=shortfall)  # fmt: skip
        # The old manifest goes first: a folder is never described by a stale manifest, and the new one
        # is written last. Only crop files the old manifest listed inside images/ are ever deleted.
        old_files = _own_crop_files(out)
        (out / MANIFEST).unlink(missing_ok=True)
        rows, skipped, notes = _write_crops(out, photos, size, seed, crops_per_photo, short_side_factor,
                                            say, progress, keep_grey)  # fmt: skip
        if not rows:
            raise BenchError(
                f"no usable images in {source_label}: {len(skipped)} file(s) skipped"
                + (f" (first: {skipped[0]})" if skipped else "")
            )
        _split_rows(rows, seed, test_fraction, split)
        df = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
        for stale in sorted(old_files - set(df["file"])):
            (out / stale).unlink(missing_ok=True)
        report = PrepareReport(
            out=out, size=size, source=source_label, seed=seed,
            photos={s: int(df.loc[df["split"] == s, "source"].nunique()) for s in SPLITS},
            crops={s: int((df["split"] == s).sum()) for s in SPLITS},
            skipped=skipped, notes=notes, ignored=ignored, shortfall=shortfall,
        )  # fmt: skip
        _write_manifest(out, df, params, report)
    return report


def _write_crops(out, photos, size, seed, crops_per_photo, factor, say, progress, keep_grey=True):
    """Decode, crop and write every photo; (manifest rows without split, skipped messages, notes).

    Crop files do not depend on the split (it needs the set of usable photos): the split lives in the
    manifest only."""
    skipped: list[str] = []
    notes: list[str] = []
    rows: list[dict] = []
    for index, photo in enumerate(_bar(photos, "cropping", progress)):
        try:
            crops, decoded = _make_crops(photo, size, seed, crops_per_photo, factor, keep_grey)
        except UnusableImage as e:
            skipped.append(str(e))
            say(f"skipped: {e}")
            continue
        for note in decoded.notes:
            notes.append(f"{shown(photo.path)}: {note}")
            say(f"note: {shown(photo.path)}: {note}")
        for k, crop in enumerate(crops):
            name = f"images/{index:05d}_{_slug(photo.source)}"
            name += f"_{k:02d}.png" if photo.collection != "user" else ".png"
            write_bytes(out / name, encode_png(crop.image))
            x0, y0, x1, y1 = crop.box
            rows.append(dict(file=name, source=photo.source, collection=photo.collection, split="",
                             x0=x0, y0=y0, x1=x1, y1=y1, src_width=decoded.width, src_height=decoded.height,
                             size=size, seed=seed, notes="; ".join(decoded.notes)))  # fmt: skip
    return rows, skipped, notes


def _write_manifest(out: Path, df: pd.DataFrame, params: dict, report: PrepareReport) -> None:
    manifest = csv_text(df, lineterminator="\n").encode()
    keys = ("photos", "crops", "skipped", "notes", "ignored")
    rep = {k: v for k, v in report.to_json().items() if k in keys}
    digest = hashlib.sha256(manifest).hexdigest()
    write_json(out / INFO, {"params": params, "manifest_sha256": digest, "report": rep})
    write_bytes(out / MANIFEST, manifest)  # last: its presence means the folder is complete


def _make_crops(photo: Photo, size: int, seed: int, count: int, factor: float, keep_grey: bool = False):
    """(crops, decoded photo). Grey photos: kept as RGB for user folders with `keep_grey`, else refused
    (the builtin set keeps its reviewed list of colour photos)."""
    keep = keep_grey and photo.collection == "user"
    if photo.collection == "user":
        crop, decoded = centre_crop(photo.path, size, keep_grey=keep)
        crops = [crop]
    else:
        rng = np.random.default_rng([seed, _stable_id(photo.source)])
        crops, decoded = builtin_crops(photo.path, size, count, factor, rng)
    if is_grey(decoded.rgb):
        if not keep:
            raise UnusableImage(
                f"{shown(photo.path)}: grey-scale content (R=G=B); colour inpainting needs an RGB photo"
            )
        if GREY_NOTE not in decoded.notes:
            decoded.notes.append(GREY_NOTE)
    return crops, decoded


_CROP_FILE = re.compile(r"images/[^/\\]+\.png")


def _own_crop_files(out: Path) -> set[str]:
    """Crop files listed by the folder's own manifest that this command may delete: images/NAME.png
    inside the folder, nothing else (an edited manifest cannot point a deletion anywhere else)."""
    try:
        listed = set(read_csv(out / MANIFEST)["file"].astype(str))
    except (OSError, ValueError, KeyError):
        return set()
    own = set()
    for f in listed:
        if _CROP_FILE.fullmatch(f):
            with contextlib.suppress(BenchError):
                inside(out, f, "crop file")
                own.add(f)
    return own


def _bar(items: list, desc: str, enabled: bool) -> Iterator:
    if not enabled or len(items) < 2:
        return iter(items)
    from bench.core.progress import progress_bar

    return iter(progress_bar(items, desc=desc, unit="photo", leave=False, disable=None))


# ------------------------------------------------------------------------------------------------
# Using a prepared folder.
# ------------------------------------------------------------------------------------------------


def list_images(data_dir: Path, split: str | None = None) -> list[Path]:
    """The image files of a folder, sorted. With a manifest.csv: the files of `split` (all when None).
    Without: every image file under data_dir (recursively), or under data_dir/split when split is given
    and that subfolder exists. Raises BenchError when there are none."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchError(f"image folder {data_dir} does not exist")
    if split is not None and split not in SPLITS:
        raise BenchError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    manifest = data_dir / MANIFEST
    if manifest.is_file():
        try:
            df = read_csv(manifest)
        except (OSError, ValueError) as e:
            raise BenchError(f"{manifest}: unreadable manifest ({e})") from None
        if "file" not in df.columns or "split" not in df.columns:
            raise BenchError(f"{manifest}: needs columns 'file' and 'split'")
        if split is not None:
            df = df[df["split"] == split]
        files = sorted(inside(data_dir, f, f"{manifest}: image file") for f in df["file"].astype(str))
        where = f"split {split!r} of {manifest}" if split else str(manifest)
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise BenchError(
                f"{manifest} lists {len(missing)} missing file(s), e.g. {missing[0]}; "
                "run `bench data prepare` again"
            )
    else:
        root = data_dir / split if split is not None and (data_dir / split).is_dir() else data_dir
        files, _ = _user_files(root, None)
        where = str(root)
    if not files:
        raise BenchError(f"no images in {where}")
    bad = [f for f in files if not _utf8(str(f))]
    if bad:
        raise BenchError(
            f"{shown(bad[0])}: the file name is not valid UTF-8 ({len(bad)} such file(s) in {shown(where)}); "
            "rename them (names are written to CSV and JSON files)"
        )
    return files


def cache_root() -> Path:
    """$PCONV_BENCH_CACHE, else ~/.cache/pconv-bench."""
    env = os.environ.get("PCONV_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pconv-bench"


def builtin_dataset(size: int, seed: int = 0, log: Callable[[str], None] | None = None) -> Path:
    """The builtin set at `size` px, prepared once into the cache (instant afterwards); returns its folder."""
    folder = cache_root() / "data" / f"builtin-{size}px-seed{seed}"
    # Several processes (torchrun ranks, parallel tests) may ask at once: one builds, the others wait
    # for its lock and then find the finished folder.
    prepare_dataset(folder, size=size, source="builtin", seed=seed, log=log, progress=False, wait=True)
    return folder
