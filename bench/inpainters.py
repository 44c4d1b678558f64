"""Compatibility: plugins written for the flat layout import `Inpainter` and `register` from here; the
interface lives in bench.methods (see docs/architecture.md)."""

from bench.methods.inpainters import Inpainter, PerImageInpainter, as_inpainter, get_inpainter, register

__all__ = ["Inpainter", "PerImageInpainter", "as_inpainter", "get_inpainter", "register"]
