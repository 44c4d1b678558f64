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

# Lowest first. A module may import modules of its own layer or lower ones, never a higher one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("bench", "bench.errors", "bench.io", "bench.folders", "bench.procs", "bench.device",
                    "bench.distributed",
                    "bench.weights", "bench.inputs", "bench.config", "bench.models", "bench.progress",
                    "masks.conventions")),
    ("data", ("bench.data",)),
    ("masks", ("masks", "masks.generate", "masks._worker", "masks.sampler", "masks.manifest",
               "masks.augment", "masks.nvidia")),
    ("pairing", ("bench.pairing",)),
    ("networks", ("bench.pconv", "bench.unet", "bench.features", "bench.loss", "bench.checkpoint",
                  "bench.inception", "bench.gl", "bench.contextual_attention", "bench.gntipt",
                  "bench.gntipt_weights", "bench.distribution", "bench.lpips")),
    ("inpainters", ("bench.inpainters", "baselines", "baselines.classical", "baselines.patchmatch",
                    "baselines.biharmonic", "baselines.fmm", "baselines.released", "baselines.outputs")),
    ("metrics", ("bench.metrics",)),
    ("records", ("bench.records", "bench.shards", "bench.saved_outputs")),
    ("tables", ("bench.tables", "bench.latex", "bench.report", "bench.summary_json")),
    ("plots", ("bench.plots",)),
    ("evaluate, train", ("bench.evaluate", "bench.train", "bench.adversarial", "bench.unet_train",
                         "bench.export", "bench.rebuild")),
    ("api", ("bench.api",)),
    ("reproduce", ("bench.reproduce",)),
    ("cli", ("bench.cli", "bench.cli.params", "bench.cli.data", "bench.cli.masks", "bench.cli.train",
             "bench.cli.evaluate", "bench.cli.tables", "bench.cli.reproduce", "bench.cli.export",
             "bench.cli.list", "bench.__main__")),
]  # fmt: skip


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


def _layer_of() -> dict[str, int]:
    return {m: i for i, (_, mods) in enumerate(LAYERS) for m in mods}


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
    assert "bench.cli" not in mods and "bench.tables" in mods and "masks.manifest" in mods


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
    for i, (name, mods) in enumerate(LAYERS):
        print(f"{i:2d} {name}")
        for m in mods:
            if m in g:
                deps = sorted(d for d in g[m] if d != m)
                print(f"     {m:32s} <- {', '.join(deps) if deps else '-'}")
    print("longest functions:", ", ".join(f"{name} ({n} lines)" for n, name in longest_functions()))
    sys.exit(0)
