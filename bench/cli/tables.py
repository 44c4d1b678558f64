"""`bench tables`: rebuild an evaluation folder's exports from its stored records."""

from __future__ import annotations

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
def tables(directory, formats, reference, paired, no_figures, ci, two_column, columns, metrics, text_height):
    """Rebuild the tables of an evaluation folder from its stored records."""
    from bench.tables import build_tables, default_reference_path, parse_columns, parse_formats, parse_list

    if reference is not None and not Path(reference).is_file():
        raise BenchError(f"--reference {reference} does not exist")
    latex = dict(ci=ci, star=two_column, columns=parse_columns(columns), metrics=parse_list(metrics),
                 text_height=text_height)  # fmt: skip
    result = build_tables(
        directory, formats=parse_formats(formats), paired=pair_arg(paired),
        reference=reference or default_reference_path(), latex=latex,
    )  # fmt: skip
    if not no_figures:
        from bench.plots import write_figures

        result.files += write_figures(result)
    from bench.report import write_report

    result.files.append(write_report(result))
    click.echo(result.text)
    click.echo(f"Wrote: {', '.join(p.name for p in result.files)} in {directory}")
