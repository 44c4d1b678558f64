"""The modules that register methods, metrics and trainable models, imported by name on first use of any
registry: the builtins first (their names are taken first), then the user's modules named in
$PCONV_BENCH_PLUGINS (comma-separated). This is the only place where bench names baselines/: the
comparison methods are loaded as a user's plugin is, so no module of bench imports them."""

from __future__ import annotations

import importlib
import os
import traceback

from bench.core.errors import BenchError

# The builtin registrations: trainable models (each model's recipe module), then the
# comparison methods. Imported lazily so that `import bench.methods` stays cheap (numba, cv2 and skimage
# load only when a registry is asked).
BUILTIN_MODULES: tuple[str, ...] = (
    "bench.models.unet.recipe",
    "bench.models.gl.recipe",
    "bench.models.gntipt.recipe",
    "baselines.classical",
    "baselines.patchmatch",
    "baselines.gl_gntipt",
    "baselines.outputs",
)
PLUGINS_ENV = "PCONV_BENCH_PLUGINS"

_loaded = False


def _where(e: BaseException) -> str:
    """' (file:line)' of the frame that raised `e`, for a one-line message."""
    tb = traceback.extract_tb(e.__traceback__)
    return f" ({tb[-1].filename}:{tb[-1].lineno})" if tb else ""


def _import_plugin(mod: str) -> None:
    """Import one plugin module; whatever it raises (SystemExit included) is a BenchError naming it."""
    try:
        importlib.import_module(mod)
    except BenchError:
        raise  # already one line naming the problem (e.g. a name taken by a builtin)
    except ImportError as e:
        raise BenchError(f"${PLUGINS_ENV}: cannot import plugin module {mod!r} ({e})") from None
    except SystemExit as e:
        raise BenchError(
            f"${PLUGINS_ENV}: plugin module {mod!r} called sys.exit({e.code!r}) while being imported"
        ) from None
    except Exception as e:  # noqa: BLE001 - any error in a user's module is reported as that module's
        first = (str(e).splitlines() or [""])[0]
        raise BenchError(
            f"${PLUGINS_ENV}: plugin module {mod!r} failed while being imported: "
            f"{type(e).__name__}: {first}{_where(e)}"
        ) from None


def load_plugins() -> None:
    """Import the builtin registrations, then the user's plugin modules (once; a failure is reported
    again on the next call instead of being skipped)."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # first: a plugin that lists a registry while being imported must not recurse
    try:
        for mod in BUILTIN_MODULES:
            importlib.import_module(mod)
        for mod in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
            _import_plugin(mod)
    except BaseException:
        _loaded = False
        raise
