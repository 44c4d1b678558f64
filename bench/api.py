"""The notebook API: `evaluate(methods, data=..., masks=...) -> Result`, on the runner's protocol
(bench.evaluation.runner).

    from bench.api import evaluate

    result = evaluate(["telea", lambda images, masks: images], data="data/set", masks="masks/set",
                      ratio="0.3-0.4", border=True)
    print(result.table())
    result.summary.query("metric == 'psnr'")

A method is a registered name or `--method` spec ('telea', 'pconv=runs/x/last.pt'), an `Inpainter`, a
function `(images, masks) -> images` or an `nn.Module` whose forward takes the paper's (image, mask) and
returns an image or an (image, mask) tuple (bench.methods.inpainters.as_inpainter). Tensors follow
docs/conventions.md: images float32 (B,3,H,W) in [0,1], masks (B,1,H,W) with 1 = valid, 0 = hole; the
hole pixels a method is given hold 0.5. A dict {label: method} names the methods. Functions and modules
are plugins: their fingerprint holds a digest of their code and weights, so a change recomputes.

`out=None` evaluates in a temporary folder, removed afterwards (no figures); `Result.out` is then None.
docs/python.md has a runnable example.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.errors import BenchError
from bench.evaluation.protocol import EvalConfig, as_bins
from bench.evaluation.runner import evaluate as run_evaluation
from masks.conventions import BINS, GROUPS, Group

__all__ = ["Result", "evaluate"]

# EvalConfig fields set by evaluate's own arguments, not by **options.
_OWN = {"data": "data=", "masks": "masks=", "methods": "methods", "out": "out=", "bins": "ratio=",
        "groups": "border="}  # fmt: skip


@dataclass(repr=False)
class Result:
    """What `evaluate` gives back: the tidy `summary` (one row per method, bin, group and metric, with
    its 95 % interval and n, as summary.csv), the `paired` comparison (or None), the paper-layout
    table `table()` as `bench evaluate` prints it, and `out`, the evaluation folder (None when it was
    temporary)."""

    summary: pd.DataFrame
    paired: pd.DataFrame | None
    text: str
    out: Path | None
    n_pairs: int = 0
    computed: int = 0  # (method, pair) evaluations run now
    reused: int = 0  # (method, pair) evaluations found in the records of `out`
    messages: list[str] = field(default_factory=list)  # what the run replaced or reused, one line each

    def table(self) -> str:
        """The table in the paper's layout (metric x method rows, bin x group columns), as printed by
        `bench evaluate` (within 100 columns unless evaluated with wide=True)."""
        return self.text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        methods = list(dict.fromkeys(self.summary["method"])) if "method" in self.summary else []
        where = f"out={str(self.out)!r}" if self.out is not None else "temporary"
        return f"Result({self.n_pairs} pairs, methods {methods}, {where})"


def _bins(ratio: Any) -> tuple[Any, ...]:
    if ratio is None:
        return BINS
    if not isinstance(ratio, str) and not (
        isinstance(ratio, Sequence) and all(isinstance(r, str) for r in ratio)
    ):
        raise BenchError(f"ratio={ratio!r}: expected 'LO-HI' such as '0.3-0.4', a list of them, or None")
    bins = as_bins(ratio)
    if not bins:
        raise BenchError("ratio=[]: no bin selected; give None for all bins")
    return bins


def _groups(border: Any) -> tuple[Group, ...]:
    """True: group B; False: group N; None: both; 'B' / 'N' as well."""
    if border is None:
        return GROUPS
    if isinstance(border, bool):
        return (Group.B,) if border else (Group.N,)
    if isinstance(border, str) and border in ("B", "N"):
        return (Group(border),)
    raise BenchError(f"border={border!r}: expected True (group B), False (group N) or None (both)")


def _methods(methods: Any, opts: dict[str, Any]) -> tuple[Any, ...]:
    """The methods as EvalConfig takes them; a dict's keys name its functions and modules and label its
    other methods."""
    from bench.evaluation.protocol import DEFAULTS, build_methods
    from bench.evaluation.runner import auto_workers
    from bench.methods.inpainters import as_inpainter

    if isinstance(methods, dict):
        out = []
        for label, m in methods.items():
            if isinstance(m, str | tuple):  # a spec, built as bench evaluate builds it
                workers = opts.get("workers") or auto_workers()
                batch_size = opts.get("batch_size", DEFAULTS.batch_size)
                ((_, inp),) = build_methods([m], opts.get("device", DEFAULTS.device), workers, batch_size)
            else:
                inp = as_inpainter(m, name=str(label))
            inp.label = str(label)
            out.append(inp)
        return tuple(out)
    if isinstance(methods, list | tuple) and not (
        len(methods) == 2 and isinstance(methods[0], str) and isinstance(methods[1], dict)
    ):
        return tuple(methods)
    return (methods,)


def _config(
    methods: Any, data: Any, masks: Any, ratio: Any, border: Any, out: Path, options: dict
) -> EvalConfig:
    fields = {f.name for f in dataclasses.fields(EvalConfig)}
    unknown = sorted(set(options) - fields)
    if unknown:
        known = ", ".join(sorted(fields - set(_OWN)))
        raise BenchError(f"unknown option(s) {', '.join(unknown)}; evaluate takes: {known}")
    own = sorted(set(options) & set(_OWN))
    if own:
        raise BenchError(f"option {own[0]}: give it as evaluate's {_OWN[own[0]]}")
    opts = dict(options)
    for name in ("metrics", "formats"):  # "psnr,ssim" as the CLI takes it
        if isinstance(opts.get(name), str):
            opts[name] = tuple(t.strip() for t in opts[name].split(",") if t.strip())
        elif opts.get(name) is not None:
            opts[name] = tuple(opts[name])
    if isinstance(opts.get("paired"), str):
        opts["paired"] = tuple(t.strip() for t in opts["paired"].split(","))
    if data is None or masks is None:
        raise BenchError("evaluate needs data= (a folder of images) and masks= (a mask set)")
    return EvalConfig(data=Path(data), masks=Path(masks), methods=_methods(methods, opts), out=out,
                      bins=_bins(ratio), groups=_groups(border), **opts)  # fmt: skip


def evaluate(
    methods: Any,
    *,
    data: str | Path,
    masks: str | Path,
    ratio: str | Sequence[str] | None = None,
    border: bool | None = None,
    out: str | Path | None = None,
    **options: Any,
) -> Result:
    """Evaluate `methods` on the paper's protocol (bench.evaluation.runner) and return a Result.

    `methods`: one method or a list (or a dict {label: method}) of registered names or specs ('telea',
    'pconv=runs/x/last.pt'), Inpainters, functions (images, masks) -> images and nn.Modules taking
    (image, mask). `data`: a `bench data prepare` folder (its test split) or any folder of images of one
    size; `masks`: a mask set (`bench masks generate/import`). `ratio`: '0.3-0.4', a list of them, or None
    for all bins; `border`: True for group B, False for N, None for both. `out`: the evaluation folder
    (records, tables, figures; a rerun reuses its records), or None for a temporary one removed
    afterwards, without figures. `options`: EvalConfig's other fields (limit, seed, device, metrics,
    pairing, batch_size, compute_is, n_boot, paired, wide, progress, ...); an unknown one, a bad ratio or
    anything `bench evaluate` refuses is a BenchError.
    """
    if out is not None:
        result = run_evaluation(_config(methods, data, masks, ratio, border, Path(out), options))
        return _result(result, Path(out))
    if options.get("figures"):
        raise BenchError("figures=True needs a folder to write them in: pass out=FOLDER")
    options = {**options, "figures": False}
    with tempfile.TemporaryDirectory(prefix="pconv-bench-") as tmp:
        result = run_evaluation(_config(methods, data, masks, ratio, border, Path(tmp) / "eval", options))
        return _result(result, None)


def _result(r: Any, out: Path | None) -> Result:
    return Result(summary=r.summary, paired=r.paired, text=r.text, out=out, n_pairs=r.n_pairs,
                  computed=r.computed, reused=r.reused, messages=list(r.messages))  # fmt: skip
