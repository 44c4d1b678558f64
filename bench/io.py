"""Atomic file writes: every result file is written to a temporary name in its folder, then renamed.

Files get the permissions the user's umask gives a new file (mkstemp alone would make them 0600). A
write whose content equals the file already there is skipped (`unchanged_ok`), so a complete job can be
rerun on a read-only folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import cv2
import numpy as np

from bench.errors import BenchError

# Files read as images or masks, by suffix (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# The largest image side read or made, px; a header announcing more is refused before decoding (a 1 MB
# PNG can announce 30000x30000 px: 2.7 GB decoded). The environment variable raises or lowers it.
MAX_SIDE = 16384
MAX_SIDE_ENV = "PCONV_BENCH_MAX_SIDE"


def max_side() -> int:
    """MAX_SIDE, or the value of $PCONV_BENCH_MAX_SIDE (a positive integer)."""
    text = os.environ.get(MAX_SIDE_ENV, "").strip()
    if not text:
        return MAX_SIDE
    if not text.isdigit() or int(text) < 1:
        raise BenchError(f"{MAX_SIDE_ENV}={text!r} is not a positive integer")
    return int(text)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once at import: os.umask can only be read by setting it.
FILE_MODE = 0o666 & ~_read_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; on success (fsync and) rename it over `path`.

    `fsync=False` is for many small files whose writer syncs once before the file that lists them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # a full disk says which file could not be written
        raise


def same_content(path: str | os.PathLike, data: bytes) -> bool:
    """True when `path` is a file holding exactly `data`."""
    try:
        p = Path(path)
        return p.stat().st_size == len(data) and p.read_bytes() == data
    except OSError:
        return False


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> bool:
    """Write `data` atomically; skipped (returns False) when the file already holds exactly `data`."""
    if same_content(path, data):
        return False
    with atomic_open(path, "wb", fsync=fsync) as f:
        f.write(data)
    return True


def write_text(path: str | os.PathLike, text: str) -> bool:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_csv(path: str | os.PathLike, df: Any, **kwargs: Any) -> None:
    """Write a pandas DataFrame as CSV atomically (index off unless asked)."""
    kwargs.setdefault("index", False)
    write_text(path, df.to_csv(**kwargs))


def encode_png(image: np.ndarray) -> bytes:
    """uint8 (H,W) grey or (H,W,3) RGB -> PNG bytes (deterministic: same array, same bytes)."""
    img = np.ascontiguousarray(image)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def write_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write a uint8 grey or RGB image as PNG, atomically."""
    write_bytes(path, encode_png(image))


def read_png_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit image file as uint8 (H,W,3) RGB; raises ValueError naming the file if unreadable."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask PNG as uint8 (H,W), 255 valid / 0 hole, as stored; raises ValueError naming the file."""
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if m is None:
        raise ValueError(f"{path}: not a readable mask image")
    return m
