"""Reading images, bounded and bytes-safe: any photo decoded the same way by every decoder (EXIF orientation,
16-bit, alpha over white, palette and grey-scale detection), with notes of what was changed; `load_image`
for prepared crops."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from bench.core.files import (
    ImageTooLarge,
    decode_file,
    header_size,
    orient,
    shown,
)

GREY_NOTE = "grey-scale kept as RGB"


class UnusableImage(ValueError):
    """A file that cannot be used as a colour photo; the message names the file and says why."""


@dataclass
class Decoded:
    """A decoded photo. `rgb` (H,W,3) uint8 may be reduced by an integer factor `reduce` (JPEG DCT
    scaling): rgb pixel (y, x) covers source pixels [y*reduce, (y+1)*reduce)."""

    rgb: np.ndarray
    width: int  # of the source file, in pixels
    height: int
    reduce: int = 1
    notes: list[str] = field(default_factory=list)


def _png_bit_depth(path: Path, data: bytes | None = None) -> int | None:
    if data is None:
        with open(path, "rb") as f:
            head = f.read(26)
    else:
        head = data[:26]
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def decode_photo(
    path: Path,
    min_short: int | None = None,
    max_reduce: int | None = None,
    keep_grey: bool = False,
    data: bytes | None = None,
) -> Decoded:
    """Decode an image file as 8-bit RGB, strictly. Raises UnusableImage naming the file.

    With `min_short` (and/or `max_reduce`), a JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg DCT
    scaling: fast and deterministic) as long as its short side stays >= min_short and the factor
    <= max_reduce.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        header_size(path, data)  # bounded before anything is decoded
    except ImageTooLarge as e:
        raise UnusableImage(str(e)) from None
    except ValueError:
        pass  # Pillow says what is wrong, below
    try:
        im = Image.open(path if data is None else io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnusableImage(f"{shown(path)}: not an image file (or an unsupported format)") from None
    except Image.DecompressionBombError as e:
        raise UnusableImage(f"{shown(path)}: too many pixels to decode safely ({e})") from None
    except OSError as e:
        raise UnusableImage(f"{shown(path)}: cannot be read ({e})") from None
    with im:
        width, height = im.size
        notes: list[str] = []
        if (min_short or max_reduce) and im.format == "JPEG" and im.mode in ("RGB", "YCbCr", "CMYK"):
            for r in (8, 4, 2):
                if min(width, height) // r >= (min_short or 1) and r <= (max_reduce or 8):
                    # Pillow picks the scale from floor(full / requested): ask for floor(size / r).
                    im.draft(im.mode, (width // r, height // r))
                    break
        try:
            im.load()
        except (OSError, SyntaxError, ValueError) as e:
            raise UnusableImage(f"{shown(path)}: truncated or corrupt image ({e})") from None
        reduce = max(1, round(width / im.size[0]))
        if im.size != (-(-width // reduce), -(-height // reduce)):
            raise UnusableImage(f"{shown(path)}: unexpected JPEG reduced size {im.size}")  # pragma: no cover
        # Applied to the pixels at the end (bench.core.files.orient, as Pillow's exif_transpose and OpenCV
        # do), so every decoder here gives the same picture and size.
        orientation = int(im.getexif().get(0x0112, 1))
        mode = im.mode
        depth = _png_bit_depth(path, data) if im.format == "PNG" else None
        if depth == 16:
            arr, orientation = _decode_16bit(path, keep_grey, notes, data), 1  # oriented by bench.core.files
        elif mode in ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F", "P") and (
            mode != "P" or _palette_is_grey(im)
        ):
            if not keep_grey:
                raise UnusableImage(
                    f"{shown(path)}: grey-scale (mode {mode}); colour inpainting needs an RGB photo"
                )
            arr = np.asarray(im.convert("RGB"))
            notes.append(GREY_NOTE)
        elif mode == "RGB":
            arr = np.asarray(im)
        elif mode in ("RGBA", "RGBa") or (mode == "P" and "transparency" in im.info):
            arr = np.asarray(im.convert("RGBA"))
        else:  # P without transparency, CMYK, YCbCr, LAB, HSV
            arr = np.asarray(im.convert("RGB"))
            notes.append(f"mode {mode} converted to RGB")
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise UnusableImage(f"{shown(path)}: unexpected pixel layout {arr.shape}")  # pragma: no cover
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    arr = _flatten_alpha(orient(arr, orientation), notes)
    return Decoded(np.ascontiguousarray(arr[..., :3]), width, height, reduce, notes)


def _decode_16bit(path: Path, keep_grey: bool, notes: list[str], data: bytes | None = None) -> np.ndarray:
    """A 16-bit PNG as 8-bit RGB(A): Pillow silently truncates 16-bit RGB(A) PNGs; OpenCV reads all 16
    bits."""
    raw = decode_file(path, cv2.IMREAD_UNCHANGED, data)
    if raw is None:
        raise UnusableImage(f"{shown(path)}: 16-bit PNG that OpenCV cannot read")
    if (raw.ndim == 2 or raw.shape[2] == 2) and not keep_grey:
        raise UnusableImage(f"{shown(path)}: grey-scale (16-bit); colour inpainting needs an RGB photo")
    if raw.ndim == 2 or raw.shape[2] == 2:
        raw = np.repeat((raw if raw.ndim == 2 else raw[..., 0])[..., None], 3, axis=2)
        notes.append(GREY_NOTE)
    arr = np.round(raw.astype(np.float64) / 257.0).astype(np.uint8)
    arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA if arr.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    notes.append("16-bit converted to 8-bit")
    return arr


def _flatten_alpha(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    if arr.shape[2] == 4:
        alpha = arr[..., 3:].astype(np.float32) / 255.0
        if alpha.min() < 1.0:
            # Transparent pixels become white: what a viewer shows on a white page.
            rgb = arr[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
            arr = np.round(rgb).astype(np.uint8)
            notes.append("RGBA composited over white")
        else:
            arr = arr[..., :3]
            notes.append("opaque alpha channel dropped")
    return arr


def _palette_is_grey(im) -> bool:
    rgb = np.asarray(im.convert("RGB"))
    return is_grey(rgb)


def is_grey(rgb: np.ndarray) -> bool:
    """True when the three channels are (almost) equal everywhere: a grey-scale picture stored as RGB."""
    small = rgb[:: max(1, rgb.shape[0] // 256), :: max(1, rgb.shape[1] // 256)].astype(np.int16)
    spread = small.max(axis=2) - small.min(axis=2)  # (h,w): 0 for a grey pixel
    return float(np.percentile(spread, 99)) <= 3.0


def resize_square(crop: np.ndarray, size: int) -> np.ndarray:
    """Square uint8 crop -> (size,size,3): INTER_AREA to shrink (the paper's resize), cubic to grow."""
    if crop.shape[0] == size and crop.shape[1] == size:
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if crop.shape[0] >= size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)


def centre_box(d: Decoded) -> tuple[int, int, int]:
    """(x0, y0, side) of the centred square in decoded pixels, inside the whole-source-pixel region."""
    w, h = d.width // d.reduce, d.height // d.reduce
    side = min(w, h)
    return (w - side) // 2, (h - side) // 2, side


def load_image(path: Path, size: int | None = None, data: bytes | None = None) -> np.ndarray:
    """An image file as uint8 (H,W,3) RGB. With `size`: the centred square, resized to (size,size,3)
    with INTER_AREA. Grey-scale files are expanded to RGB here (only `prepare` rejects them).
    Raises ValueError naming the file when it cannot be read. `data`: the file's bytes, already read
    (a caller that hashed them decodes exactly what it hashed)."""
    path = Path(path)
    try:
        d = decode_photo(path, min_short=size, data=data)
    except UnusableImage as e:
        if "grey-scale" not in str(e):
            raise
        raw = decode_file(path, cv2.IMREAD_COLOR, data)
        if raw is None:
            raise ValueError(f"{shown(path)}: not a readable image") from None
        d = Decoded(cv2.cvtColor(raw, cv2.COLOR_BGR2RGB), raw.shape[1], raw.shape[0])
    if size is None:
        return d.rgb
    x0, y0, side = centre_box(d)
    crop = d.rgb[y0 : y0 + side, x0 : x0 + side]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA)
