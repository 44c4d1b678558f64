"""The code's shape: data flows one way through layers, no import cycle, no private names across modules,
no function over 80 lines.

Print the import graph, layer by layer:

    python tests/test_layout.py
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bench", "masks", "baselines")
MAX_FUNCTION_LINES = 80

# Lowest first, one subpackage (or top-level package) per layer. A module may import modules of its own
# layer or lower ones, never a higher one; a module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("bench", "bench.core", "masks.conventions")),
    ("data", ("bench.data",)),
    ("masks", ("masks",)),
    ("metrics", ("bench.metrics",)),
    ("models", ("bench.models",)),
    ("runs", ("bench.runs",)),
    ("methods", ("bench.methods", "bench.inpainters")),
    ("baselines", ("baselines",)),
    ("reporting", ("bench.reporting",)),
    ("evaluation", ("bench.evaluation",)),
    ("training", ("bench.training",)),
    ("api", ("bench.api",)),
    ("pipeline", ("bench.pipeline",)),
    ("cli", ("bench.cli", "bench.__main__")),
]

# Between the three top-level packages, dependencies point one way: masks/ and baselines/ stand on bench's
# library, and bench names baselines only as plugin modules (bench.core.plugins, by string). masks/ may
# use bench's foundation only, so that bench's data, training and evaluation layers can use masks/.
MASKS_MAY_IMPORT = ("bench.core",)


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = f.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


def _imports(path: Path, known: set[str]) -> dict[str, set[str]]:
    """module -> names imported from it (all imports, function-level ones included)."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in known:
                    out.setdefault(a.name, set())
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                out.setdefault(node.module, set()).update(a.name for a in node.names)
            for a in node.names:  # `from bench import tables`
                if f"{node.module}.{a.name}" in known:
                    out.setdefault(f"{node.module}.{a.name}", set())
    return out


def graph() -> dict[str, dict[str, set[str]]]:
    mods = _modules()
    return {m: _imports(p, set(mods)) for m, p in mods.items()}


def _layer(module: str) -> int | None:
    """The layer of the longest prefix naming `module` ("bench" names the package itself only)."""
    best = max(
        ((len(p), i) for i, (_, ps) in enumerate(LAYERS) for p in ps
         if module == p or (p != "bench" and module.startswith(p + "."))),
        default=None,
    )  # fmt: skip
    return None if best is None else best[1]


def _layer_of() -> dict[str, int]:
    return {m: i for m in _modules() if (i := _layer(m)) is not None}


def test_every_module_has_a_layer():
    missing = sorted(set(_modules()) - set(_layer_of()))
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_imports_go_down_the_layers_only():
    layer = _layer_of()
    wrong = [
        f"{m} ({LAYERS[layer[m]][0]}) imports {dep} ({LAYERS[layer[dep]][0]})"
        for m, deps in graph().items()
        for dep in deps
        if m in layer and dep in layer and layer[dep] > layer[m]
    ]
    assert not wrong, "\n".join(wrong)


def test_packages_point_one_way():
    wrong = [
        f"{m} imports {dep}"
        for m, deps in graph().items()
        for dep in deps
        if (m.startswith("bench") and dep.split(".")[0] == "baselines")
        or (m.split(".")[0] == "masks" and dep.split(".")[0] == "bench"
            and not dep.startswith(tuple(p + "." for p in MASKS_MAY_IMPORT)))
    ]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_documented_plugin_imports_keep_working():
    """The README's plugin imports (bench.methods, bench.metrics, bench.models), and bench.inpainters,
    where plugins written for the flat layout import from."""
    import bench.methods.inpainters as inp
    import bench.metrics.registry as reg
    import bench.models.registry as models
    from bench.inpainters import Inpainter as OldInpainter
    from bench.inpainters import register as old_register
    from bench.methods import Inpainter, register
    from bench.metrics import register_metric
    from bench.models import register_model

    assert OldInpainter is Inpainter is inp.Inpainter and old_register is register is inp.register
    assert register_metric is reg.register_metric and register_model is models.register_model


def test_no_import_cycle():
    g = {m: set(d) - {m} for m, d in graph().items()}
    # Drop packages' __init__ edges to their own submodules (a package importing its parts is no cycle).
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for dep in sorted(g.get(m, ())):
            if dep.startswith(m + "."):
                continue
            if state.get(dep) == 1:
                cycle.extend(path[path.index(dep) :] + [dep] if dep in path else [m, dep])
                return True
            if state.get(dep) is None and visit(dep, [*path, dep]):
                return True
        state[m] = 2
        return False

    for m in sorted(g):
        if state.get(m) is None and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def _library_modules() -> list[str]:
    """Every module of the packages except the command line (bench.cli, bench.__main__)."""
    return [m for m in _modules() if LAYERS[_layer_of()[m]][0] != "cli"]


def test_the_library_imports_without_click():
    """The library stands without the command line: importing all of it in a fresh interpreter loads no
    click (directly or through a dependency); only bench.cli imports it."""
    mods = _library_modules()
    code = f"import importlib, sys\nfor m in {mods!r}:\n    importlib.import_module(m)\n"
    code += "print(sorted(k for k in sys.modules if k.split('.')[0] == 'click'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"click imported by the library: {out.stdout}"
    assert "bench.cli" not in mods and "bench.reporting.tables" in mods and "masks.manifest" in mods


def test_no_private_names_across_modules():
    wrong = [
        f"{m} imports {name} from {dep}"
        for m, deps in graph().items()
        for dep, names in deps.items()
        for name in names
        if name.startswith("_") and not dep.startswith(m.split(".")[0] + ".") | (dep == m)
        and not (m.split(".")[0] == dep.split(".")[0] == "masks")
    ]  # fmt: skip
    assert not wrong, "\n".join(wrong)


def test_no_function_is_longer_than_80_lines():
    long = []
    for m, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{m}.{node.name}: {n} lines")
    assert not long, "\n".join(long)


def longest_functions(k: int = 5) -> list[tuple[int, str]]:
    out = []
    for m, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append((node.end_lineno - node.lineno + 1, f"{m}.{node.name}"))
    return sorted(out, reverse=True)[:k]


if __name__ == "__main__":
    g, layer = graph(), _layer_of()
    for i, (name, _) in enumerate(LAYERS):
        print(f"{i:2d} {name}")
        for m in sorted(m for m in g if layer.get(m) == i):
            deps = sorted(d for d in g[m] if d != m and not d.startswith(m + "."))
            print(f"     {m:36s} <- {', '.join(deps) if deps else '-'}")
    print("longest functions:", ", ".join(f"{name} ({n} lines)" for n, name in longest_functions()))
    sys.exit(0)
