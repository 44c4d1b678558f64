"""Methods: the `Inpainter` interface every method implements, the registry of named methods and plugins,
adapters for callables and `nn.Module`s, and the trained U-Nets as methods (inpainters). Comparison
methods live in the top-level `baselines` package. A plugin subclasses `bench.methods.Inpainter` and
registers with `bench.methods.register`."""

from bench.methods.inpainters import (
    Inpainter,
    PerImageInpainter,
    as_inpainter,
    available,
    get_inpainter,
    register,
)

__all__ = ["Inpainter", "PerImageInpainter", "as_inpainter", "available", "get_inpainter", "register"]
