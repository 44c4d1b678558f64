"""Classical, non-learned inpainters: `mean` (the floor), `telea`, `ns` (OpenCV's, run by default by the
bit-exact numba port in baselines.fmm) and `biharmonic` (skimage).

All follow bench.methods.inpainters' conventions; hole-polarity conversion for OpenCV / skimage goes through
masks.conventions.flip_polarity only.
"""

from __future__ import annotations

from typing import Any, ClassVar

import cv2
import numpy as np
import torch

from bench.methods.inpainters import Inpainter, PerImageInpainter, register
from masks.conventions import HOLE, HOLE_FILL, VALID, flip_polarity

# cv2.inpaint's neighbourhood radius (px). Measured with benchmarks/baselines.py (6 photos at 512 px,
# one mask per bin, all six bins, group N), mean hole PSNR / seconds per image on a loaded 2-core box:
#   radius     1            3            5            9            15
#   telea  15.72/0.11   16.23/0.24   16.38/0.51   16.52/1.43   16.64/4.00
#   ns     16.19/0.10   16.44/0.23   16.50/0.49   16.56/1.37   16.60/3.56
# Time grows with radius^2 while PSNR gains ~0.15 dB per step; 5 is the knee: within 0.26 dB (telea) and
# 0.10 dB (ns) of radius 15 at an eighth of the time. Pass radius=R to change it.
DEFAULT_RADIUS: int = 5


@register("mean")
class MeanInpainter(Inpainter):
    """Holes take the mean colour of the image's valid pixels (0.5 when there is none): the floor."""

    name = "mean"

    def _fill(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        n = masks.sum(dim=(2, 3))  # (B,1) valid pixel count
        mean = (images * masks).sum(dim=(2, 3)) / n.clamp_min(1)  # (B,3)
        mean = torch.where(n > 0, mean, torch.full_like(mean, HOLE_FILL))
        return mean[:, :, None, None].expand_as(images)


def _to_u8(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """uint8 copy with hole pixels zeroed: cv2.inpaint reads a little of the hole's old content where a
    hole touches the top edge (OpenCV 4/5), so the hole is given defined content first."""
    img = np.where(valid[..., None], image, 0.0)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _cv2_hole_mask(valid: np.ndarray) -> np.ndarray:
    """(H,W) bool valid -> uint8 mask in OpenCV's polarity (hole = 255)."""
    ours = np.where(valid, VALID, HOLE).astype(np.uint8)
    return flip_polarity(ours)


class _CV2Inpainter(PerImageInpainter):
    """cv2.inpaint's fast-marching methods. impl="numba" (default): baselines.fmm, the same uint8 output
    as cv2.inpaint bit for bit (verified against OpenCV 5.1: tests/test_fmm.py, benchmarks/fmm.py), several
    times faster; impl="opencv": cv2.inpaint itself. The outputs being identical, `impl` is a runtime
    option (outside the fingerprint). With another installed OpenCV version the numba code stays the
    default and its output is this method's definition; impl="opencv" then runs that version's cv2.
    """

    flag: ClassVar[int] = cv2.INPAINT_TELEA
    defaults: ClassVar[dict[str, Any]] = {"radius": DEFAULT_RADIUS}
    runtime_defaults: ClassVar[dict[str, Any]] = {**PerImageInpainter.runtime_defaults, "impl": "numba"}
    IMPLS: ClassVar[tuple[str, ...]] = ("numba", "opencv")

    def __init__(self, **options: Any) -> None:
        from bench.core.errors import BenchError

        super().__init__(**options)
        impl = self.runtime["impl"]
        if impl not in self.IMPLS:
            raise BenchError(f"method {self.name!r}: impl={impl!r}; known: {', '.join(self.IMPLS)}")

    def fill_one(self, image: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
        radius = float(self.options["radius"])
        img8, hole8 = _to_u8(image, valid), _cv2_hole_mask(valid)
        if self.runtime["impl"] == "numba":
            from baselines import fmm

            fill = fmm.inpaint_telea if self.flag == cv2.INPAINT_TELEA else fmm.inpaint_ns
            out = fill(img8, hole8, radius)
        else:
            out = cv2.inpaint(img8, hole8, radius, self.flag)
        return out.astype(np.float32) / 255.0


@register("telea")
class TeleaInpainter(_CV2Inpainter):
    """OpenCV's fast-marching method (Telea 2004); impl="numba" (default) or "opencv", same output."""

    name = "telea"
    flag = cv2.INPAINT_TELEA


@register("ns")
class NSInpainter(_CV2Inpainter):
    """OpenCV's Navier-Stokes method (Bertalmio et al. 2001); impl="numba" (default) or "opencv", same
    output."""

    name = "ns"
    flag = cv2.INPAINT_NS


@register("biharmonic")
class BiharmonicInpainter(PerImageInpainter):
    """Biharmonic inpainting, per channel (scikit-image's system, channel_axis=-1).

    solver="fast" (default): baselines.biharmonic.inpaint_biharmonic_fast, the same linear system as
    skimage.restoration.inpaint_biharmonic(split_into_regions=False) solved by a sparse Cholesky, several
    times faster; fills agree with skimage's to ~1e-8 (benchmarks/biharmonic.py). solver="skimage": the
    scikit-image function itself, with `split_into_regions` passed on (the fast solver only has the
    single-system form and rejects split_into_regions=True).
    """

    name = "biharmonic"
    # 2: the fast solver became the default (fills change in the last digits).
    version = "2"
    defaults: ClassVar[dict[str, Any]] = {"split_into_regions": False, "solver": "fast"}
    SOLVERS: ClassVar[tuple[str, ...]] = ("fast", "skimage")

    def __init__(self, **options: Any) -> None:
        from bench.core.errors import BenchError

        super().__init__(**options)
        solver = self.options["solver"]
        if solver not in self.SOLVERS:
            raise BenchError(f"method 'biharmonic': solver={solver!r}; known: {', '.join(self.SOLVERS)}")
        if solver == "fast" and self.options["split_into_regions"]:
            raise BenchError("method 'biharmonic': split_into_regions=true needs solver=skimage")

    def fill_one(self, image: np.ndarray, valid: np.ndarray, seed: int) -> np.ndarray:
        hole = flip_polarity(valid.astype(np.float32)) > 0.5  # skimage: True = to inpaint
        if self.options["solver"] == "fast":
            from baselines.biharmonic import inpaint_biharmonic_fast

            return inpaint_biharmonic_fast(image.astype(np.float64), hole)
        from skimage.restoration import inpaint_biharmonic

        return inpaint_biharmonic(
            image.astype(np.float64),
            hole,
            split_into_regions=bool(self.options["split_into_regions"]),
            channel_axis=-1,
        )
