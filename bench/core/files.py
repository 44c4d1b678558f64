"""File writes that stay inside their folder, and image reads that are bounded and bytes-safe.

Every result file is written to a temporary name in its folder, then renamed. Files get the permissions
the user's umask gives a new file. A write whose content equals the file already there is skipped
(`unchanged_ok`), so a complete job can be rerun on a read-only folder.

Writes below a folder that carries a pconv-bench marker (a folder a command owns) go through directory
descriptors opened with O_NOFOLLOW from that folder down: a sub-folder replaced by a symbolic link is
refused (BenchError), never written through. Image reads decode from bytes read by Python (names that
are not UTF-8 work), apply the EXIF orientation like every decoder here, and refuse a header announcing
more than `max_side()` px a side before decoding.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import stat
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import cv2
import numpy as np

from bench.core.errors import BenchError

# Files read as images or masks, by suffix (lower case).
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# The largest image side read or made, px; a header announcing more is refused before decoding (a 1 MB
# PNG can announce 30000x30000 px: 2.7 GB decoded). The environment variable raises or lowers it.
MAX_SIDE = 16384
MAX_SIDE_ENV = "PCONV_BENCH_MAX_SIDE"

# The marker of a folder a command owns (bench.core.folders writes it); writes below it never follow a link.
MARKER = ".pconv-bench.json"
# Temporary files of atomic writes: `.NAME.XXXXXXXX.tmp`, the pattern bench.core.folders cleans up after a
# killed writer (and only that pattern).
_TMP_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"
TEMP_PATTERN = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$", re.DOTALL)


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


def shown(path: str | os.PathLike) -> str:
    """A path for a message: as is when it is text, repr() when its name is not valid UTF-8."""
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return repr(text)
    return text


def owned_root(folder: str | os.PathLike) -> Path | None:
    """The nearest folder at or above `folder` (by name, not resolved) that carries the marker."""
    folder = Path(os.path.abspath(folder))
    for a in (folder, *folder.parents):
        if os.path.isfile(a / MARKER):
            if os.path.islink(a) and any(os.path.isfile(b / MARKER) for b in a.parents):
                raise BenchError(
                    f"{a} is a symbolic link inside a pconv-bench folder; refusing to write there"
                )
            return a
    return None


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def _step_down(fd: int, name: str, where: Path) -> int:
    """Open (creating it if missing) the sub-folder `name` of the folder open as `fd`, never through a
    symbolic link; closes `fd`."""
    try:
        try:
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=fd)
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                raise BenchError(
                    f"{shown(where)} is a symbolic link; pconv-bench writes only inside its own folder"
                ) from None
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(where)) from None
    finally:
        os.close(fd)


def open_dir(folder: str | os.PathLike) -> int:
    """A descriptor of `folder`, created if missing. Below an owned folder every component is opened with
    O_NOFOLLOW, so a component that is a symbolic link is a BenchError; elsewhere it is a plain mkdir."""
    folder = Path(os.path.abspath(folder))
    root = owned_root(folder)
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return os.open(folder, _DIR_FLAGS)
    fd = os.open(root, _DIR_FLAGS)
    for i, part in enumerate(folder.relative_to(root).parts):
        fd = _step_down(fd, part, root.joinpath(*folder.relative_to(root).parts[: i + 1]))
    return fd


def make_dirs(folder: str | os.PathLike) -> None:
    """mkdir -p that never creates a folder through a symbolic link below an owned folder."""
    os.close(open_dir(folder))


def _temp_file(dfd: int, name: str) -> tuple[int, str]:
    for _ in range(100):
        tmp = f".{name}.{''.join(secrets.choice(_TMP_CHARS) for _ in range(8))}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dfd)  # fmt: skip
            return fd, tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)  # pragma: no cover


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path`; on success (fsync and) rename it over `path`.

    `fsync=False` is for many small files whose writer syncs once before the file that lists them. The
    folder is reached through `open_dir` (no symbolic link below an owned folder); a link at `path`
    itself is replaced, not followed.
    """
    path = Path(path)
    try:
        dfd = open_dir(path.parent)
    except OSError as e:
        if e.filename is None:
            e.filename = str(path)
        raise
    tmp = None
    try:
        fd, tmp = _temp_file(dfd, path.name)
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path.name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)
        if isinstance(e, OSError) and (e.filename is None or e.filename == tmp):
            e.filename = str(path)  # a full disk says which file could not be written
        raise
    finally:
        os.close(dfd)


def open_append(path: str | os.PathLike, encoding: str = "utf-8", newline: str | None = None) -> TextIO:
    """Open a text file for appending (created if missing), neither its folder nor the file itself
    reached through a symbolic link below an owned folder."""
    path = Path(path)
    dfd = open_dir(path.parent)
    try:
        fd = os.open(path.name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                     FILE_MODE, dir_fd=dfd)  # fmt: skip
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise BenchError(
                f"{path} is a symbolic link; pconv-bench writes only inside its own folder"
            ) from None
        e.filename = str(path)
        raise
    finally:
        os.close(dfd)
    return os.fdopen(fd, "a", encoding=encoding, newline=newline)


def clean_temp_files(folder: str | os.PathLike) -> int:
    """Remove the temporary files interrupted atomic writes left in `folder` and its sub-folders (not
    following links, not entering another owned folder); returns how many. Call it only under the
    folder's exclusive lock: another writer's temporary file would be removed too."""
    removed = 0
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not os.path.isfile(os.path.join(top, d, MARKER))]
        for name in files:
            if TEMP_PATTERN.match(name):
                p = os.path.join(top, name)
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(p).st_mode):
                        os.unlink(p)
                        removed += 1
    return removed


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


def jsonable(obj: Any) -> Any:
    """`obj` as JSON gives it back (keys sorted, anything else as its str): what a JSON file will hold."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# A cell starting with one of = + - @ is a formula to a spreadsheet that opens the CSV; such cells get a
# leading apostrophe (and so do cells that already start with apostrophes before one of them, which keeps
# the escape reversible). Only text cells: numbers keep their sign.
_FORMULA = re.compile(r"^'*[=+\-@]")


def csv_escape(value: Any) -> Any:
    """'=cmd' -> "'=cmd" (text cells only); see `csv_unescape`."""
    return "'" + value if isinstance(value, str) and _FORMULA.match(value) else value


def csv_unescape(value: Any) -> Any:
    """The inverse of `csv_escape`."""
    return value[1:] if isinstance(value, str) and value[:1] == "'" and _FORMULA.match(value) else value


def _map_text_cells(df: Any, fn: Any) -> Any:
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = df
    for c in df.columns:
        if is_object_dtype(df[c].dtype) or is_string_dtype(df[c].dtype):
            new = df[c].map(fn)
            if not new.equals(df[c]):
                out = out.copy() if out is df else out
                out[c] = new
    return out


def csv_text(df: Any, **kwargs: Any) -> str:
    """A pandas DataFrame as CSV text with formula-like text cells escaped (index off unless asked)."""
    kwargs.setdefault("index", False)
    return _map_text_cells(df, csv_escape).to_csv(**kwargs)


def write_csv(path: str | os.PathLike, df: Any, **kwargs: Any) -> None:
    """Write a pandas DataFrame as CSV atomically, text cells escaped as in `csv_text`."""
    write_text(path, csv_text(df, **kwargs))


def read_csv(source: Any, **kwargs: Any) -> Any:
    """pandas.read_csv of a CSV this project wrote, with `csv_escape` undone."""
    import pandas as pd

    return _map_text_cells(pd.read_csv(source, **kwargs), csv_unescape)


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


# ---- reading images ---------------------------------------------------------------------------------


class ImageTooLarge(ValueError):
    """An image header announces more than max_side() px a side (raised before decoding)."""


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _too_large(path: str | os.PathLike, w: int, h: int) -> ImageTooLarge:
    return ImageTooLarge(
        f"{shown(path)}: {w}x{h} px is larger than the maximum {max_side()} px a side (set {MAX_SIDE_ENV} "
        "to raise it)"
    )


def _header(path: str | os.PathLike, f: BinaryIO, oriented: bool) -> tuple[int, int, int]:
    """(width, height, EXIF orientation) as stored, from the header of the open file `f`; the size
    bounded by max_side(). The orientation is read only when `oriented` (else 1)."""
    from PIL import Image, UnidentifiedImageError

    size = _png_size(f.read(24))
    if size is not None and max(size) > max_side():
        raise _too_large(path, *size)
    if size is not None and not oriented:
        return (*size, 1)
    f.seek(0)
    try:
        with Image.open(f) as im:
            w, h = im.size
            # A PNG's eXIf chunk may follow the pixels: Pillow would decode them to find it.
            has_exif = im.format != "PNG" or "exif" in im.info
            orientation = int(im.getexif().get(0x0112, 1)) if oriented and has_exif else 1
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"{shown(path)}: too many pixels to decode safely ({e})") from None
    except UnidentifiedImageError:
        raise ValueError(f"{shown(path)}: not an image file (or an unsupported format)") from None
    if max(w, h) > max_side():
        raise _too_large(path, w, h)
    return w, h, orientation


def header_size(path: str | os.PathLike, data: bytes | None = None) -> tuple[int, int]:
    """(width, height) of an image file from its header, before any decoding, EXIF orientation applied
    (the size every decoder here returns). Raises ImageTooLarge past max_side(), ValueError when no
    header can be read. `data`: the file's bytes, already read (then `path` only names it)."""
    import io

    try:
        with open(path, "rb") if data is None else io.BytesIO(data) as f:
            w, h, orientation = _header(path, f, oriented=True)
    except OSError as e:
        raise ValueError(f"{shown(path)}: cannot be read ({e.strerror or e})") from None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an (H,W,...) array as Pillow's ImageOps.exif_transpose does."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(int(orientation))
    return array if op is None else np.ascontiguousarray(op(array))


def decode_file(path: str | os.PathLike, flags: int, data: bytes | None = None) -> np.ndarray | None:
    """cv2.imdecode of the file's bytes (never cv2.imread on a name, which may not be UTF-8), the size
    in its header bounded first; None when OpenCV cannot decode it. The EXIF orientation is applied as
    Pillow's exif_transpose does: by OpenCV itself for IMREAD_COLOR and IMREAD_GRAYSCALE, here for
    IMREAD_UNCHANGED (which OpenCV leaves as stored). `data`: the file's bytes, already read (a caller
    that hashed them decodes exactly what it hashed)."""
    import io

    try:
        if data is None:
            with open(path, "rb") as f:
                data = f.read()
    except OSError as e:
        raise ValueError(f"{shown(path)}: cannot be read ({e.strerror or e})") from None
    unchanged = flags == cv2.IMREAD_UNCHANGED
    try:
        orientation = _header(path, io.BytesIO(data), oriented=unchanged)[2]
    except ImageTooLarge:
        raise
    except ValueError:
        orientation = 1  # not a header Pillow knows: OpenCV decides
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    return orient(img, orientation) if img is not None and unchanged else img


def read_png_rgb(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit image file as uint8 (H,W,3) RGB; raises ValueError naming the file if unreadable."""
    img = decode_file(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{shown(path)}: not a readable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike, data: bytes | None = None) -> np.ndarray:
    """Read a mask PNG as uint8 (H,W), 255 valid / 0 hole, as stored; raises ValueError naming the file.
    `data`: its bytes, already read."""
    m = decode_file(path, cv2.IMREAD_GRAYSCALE, data)
    if m is None:
        raise ValueError(f"{shown(path)}: not a readable mask image")
    return m
