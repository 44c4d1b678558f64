"""`make_tables`: rebuild an evaluation folder's tables, figures and report from its stored records.

The library function behind `bench tables` (which only parses its options into a `TablesConfig`, calls
this and prints): every option is checked against the run before the folder is locked and anything in it
rewritten; then the tables (bench.reporting.tables.build_tables), the figures (bench.reporting.plots) and
report.html (bench.reporting.report) are written under a shared hold of the folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError
from bench.core.folders import FolderLock, sublock
from bench.reporting import tables as T
from bench.reporting.reference import default_reference_path, read_reference
from bench.reporting.tables import FORMATS, Tables, table_context
from bench.runs.records import read_run

CI_STYLES = ("pm", "none", "separate")


@dataclass(frozen=True)
class TablesConfig:
    """What to rebuild in the evaluation folder `out`, and how (the defaults of `bench tables`)."""

    out: Path
    formats: tuple[str, ...] = FORMATS
    reference: Path | None = None  # a reference CSV; None: the paper's confirmed cells
    paired: tuple[str, str] | None = None  # paired test A,B per cell; None: the one of the run
    figures: bool = True  # the curves and the qualitative grid
    ci: str = "pm"  # table.tex: ± under each mean, none, or a separate table of half-widths
    two_column: bool = False  # table.tex as a table* for two-column papers
    columns: tuple[tuple[str, str], ...] | None = None  # table.tex columns (bin, group); None: all
    metrics: tuple[str, ...] | None = None  # table.tex metrics; None: all the run computed
    text_height: float | None = (
        None  # the document's \textheight in pt; None: bench.reporting.latex's default
    )
    partial: bool = False  # write the tables of an unfinished evaluation, marked partial
    wide: bool = False  # the terminal table in the paper layout (else within 100 columns)


def make_tables(cfg: TablesConfig) -> Tables:
    """Rebuild the tables, figures and report of `cfg.out`; returns what was built (its `files` are the
    files written). A bad option or a folder that holds no evaluation is a BenchError, raised before
    anything is written."""
    latex = _latex_options(cfg)
    reference = _check_reference(cfg.reference) or default_reference_path()
    # A shared hold of the folder: `bench evaluate` (which holds it alone) cannot run beside this, shards
    # can; the "tables" part serialises the writers of the exports (other `bench tables`, the last shard).
    held = FolderLock(cfg.out, shared=True).acquire(what=f"evaluation folder {cfg.out}")
    with held, sublock(cfg.out, "tables", wait=True):
        result = T.build_tables(cfg.out, formats=cfg.formats, paired=cfg.paired, reference=reference,
                                latex=latex, partial=cfg.partial, wide=cfg.wide)  # fmt: skip
        return add_figures_and_report(result, cfg.figures)


def add_figures_and_report(tables: Tables, figures: bool = True) -> Tables:
    """Write the figures (unless `figures` is False) and report.html of what `build_tables` made of a
    folder; their files are appended to `tables.files`."""
    if figures:
        from bench.reporting.plots import write_figures

        tables.files += write_figures(tables)
    from bench.reporting.report import write_report

    tables.files.append(write_report(tables))
    return tables


def _latex_options(cfg: TablesConfig) -> dict[str, Any]:
    """table.tex's options, each checked (columns and metrics against what the run computed; this also
    refuses a folder that holds no evaluation)."""
    if cfg.text_height is not None and math.isnan(cfg.text_height):
        raise BenchError("--text-height nan is not a height in pt")
    if cfg.ci not in CI_STYLES:
        raise BenchError(f"--ci must be one of {', '.join(CI_STYLES)}, got {cfg.ci!r}")
    run = read_run(cfg.out)
    have = list(table_context(run).metrics)
    unknown = [m for m in cfg.metrics or () if m not in have]
    if unknown:
        raise BenchError(
            f"--metrics: no metric {', '.join(unknown)} in this run; its metrics: {', '.join(have)}"
        )
    cells = [f"{b}:{g}" for b in run.get("bins", []) for g in run.get("groups", [])]
    absent = [f"{b}:{g}" for b, g in cfg.columns or () if f"{b}:{g}" not in cells]
    if absent:
        raise BenchError(
            f"--columns: no column {', '.join(absent)} in this run; its columns: {', '.join(cells)}"
        )
    columns = list(cfg.columns) if cfg.columns is not None else None
    metrics = list(cfg.metrics) if cfg.metrics is not None else None
    return dict(ci=cfg.ci, star=cfg.two_column, text_height=cfg.text_height, columns=columns, metrics=metrics)


def _check_reference(reference: Path | None) -> Path | None:
    if reference is None:
        return None
    if not Path(reference).is_file():
        raise BenchError(f"--reference {reference} does not exist")
    try:
        read_reference(reference)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BenchError(f"--reference {reference}: {text.removeprefix(f'{reference}: ')}") from None
    return reference
