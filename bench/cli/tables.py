"""`bench tables`: rebuild an evaluation folder's exports from its stored records."""

from __future__ import annotations

import math
from pathlib import Path

import click

from bench.cli.params import pair_arg
from bench.errors import BenchError


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "formats",
    default="csv,latex,md",
    show_default=True,
    help="Comma-separated subset of csv, latex (or tex), md (or markdown).",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference CSV (method,group,bin,l1_percent,psnr,ssim); default: the paper's confirmed cells.",
)
@click.option("--paired", default=None, help="Paired test A,B per cell (default: the one of the run).")
@click.option("--no-figures", is_flag=True, help="Skip the curves and the qualitative grid.")
@click.option(
    "--ci",
    type=click.Choice(("pm", "none", "separate")),
    default="pm",
    show_default=True,
    help="table.tex: ± under each mean, none (the paper's look), or a separate table of half-widths.",
)
@click.option("--two-column", is_flag=True, help="table.tex as a table* for two-column papers.")
@click.option("--columns", default=None, help="table.tex columns, e.g. 0.1-0.2:N,0.1-0.2:B (default: all).")
@click.option("--metrics", default=None, help="table.tex metrics, e.g. l1_percent,psnr,ssim (default: all).")
@click.option(
    "--text-height",
    type=click.FloatRange(min=50),
    default=None,
    help="Your document's \\textheight in pt, divided by 1.2 (11 pt) or 1.3 (12 pt fonts); table.tex splits "
    "into floats that fit it [default: a4 with 2 cm margins; --two-column: the standard two-column a4].",
)
@click.option(
    "--partial",
    is_flag=True,
    help="Write the tables of an unfinished evaluation (stopped, or records missing), marked partial in "
    "every file; without it such a folder is refused and its exports are kept.",
)
@click.option("--wide", is_flag=True, help="Print the table in the paper layout (wider than 100 columns).")
def tables(
    directory, formats, reference, paired, no_figures, ci, two_column, columns, metrics, text_height, partial,
    wide,
):  # fmt: skip
    """Rebuild the tables of an evaluation folder from its stored records."""
    from bench.folders import FolderLock, sublock
    from bench.tables import build_tables, default_reference_path, parse_formats

    # Every option is checked before the folder is locked and anything in it rewritten.
    if text_height is not None and math.isnan(text_height):
        raise BenchError("--text-height nan is not a height in pt")
    latex = dict(
        ci=ci, star=two_column, text_height=text_height, **_table_choices(directory, columns, metrics)
    )
    fmts, pair = parse_formats(formats), pair_arg(paired)
    reference = _check_reference(reference) or default_reference_path()
    # A shared hold of the folder: `bench evaluate` (which holds it alone) cannot run beside this, shards
    # can; the "tables" part serialises the writers of the exports (other `bench tables`, the last shard).
    held = FolderLock(directory, shared=True).acquire(what=f"evaluation folder {directory}")
    with held, sublock(directory, "tables", wait=True):
        result = build_tables(directory, formats=fmts, paired=pair, reference=reference,
                              latex=latex, partial=partial, wide=wide)  # fmt: skip
        if not no_figures:
            from bench.plots import write_figures

            result.files += write_figures(result)
        from bench.report import write_report

        result.files.append(write_report(result))
    click.echo(result.text)
    click.echo(f"Wrote: {', '.join(p.name for p in result.files)} in {directory}")


def _table_choices(directory: Path, columns: str | None, metrics: str | None) -> dict:
    """--columns and --metrics as table.tex takes them, each checked against what the run computed (this
    also refuses a folder that holds no evaluation)."""
    from bench.records import read_run
    from bench.tables import parse_columns, parse_list, table_context

    run = read_run(directory)
    cols, names = parse_columns(columns), parse_list(metrics)
    have = list(table_context(run).metrics)
    unknown = [m for m in names or () if m not in have]
    if unknown:
        raise BenchError(
            f"--metrics: no metric {', '.join(unknown)} in this run; its metrics: {', '.join(have)}"
        )
    cells = [f"{b}:{g}" for b in run.get("bins", []) for g in run.get("groups", [])]
    absent = [f"{b}:{g}" for b, g in cols or () if f"{b}:{g}" not in cells]
    if absent:
        raise BenchError(
            f"--columns: no column {', '.join(absent)} in this run; its columns: {', '.join(cells)}"
        )
    return dict(columns=cols, metrics=names)


def _check_reference(reference: Path | None) -> Path | None:
    from bench.tables import read_reference

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
