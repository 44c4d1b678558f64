"""`bench tables`: parse into a TablesConfig, call bench.reporting.rebuild.make_tables, print."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli.params import json_option, pair_arg, wide_option


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
@wide_option()
@json_option()
def tables(
    directory, formats, reference, paired, no_figures, ci, two_column, columns, metrics, text_height, partial,
    wide, as_json,
):  # fmt: skip
    """Rebuild the tables of an evaluation folder from its stored records."""
    from bench.cli.params import parse_columns, parse_formats, parse_list
    from bench.reporting.rebuild import TablesConfig, make_tables

    cols, names = parse_columns(columns), parse_list(metrics)
    cfg = TablesConfig(
        out=directory, formats=parse_formats(formats), reference=reference, paired=pair_arg(paired),
        figures=not no_figures, ci=ci, two_column=two_column, columns=tuple(cols) if cols else None,
        metrics=tuple(names) if names else None, text_height=text_height, partial=partial, wide=wide,
    )  # fmt: skip
    from bench.reporting.summary_json import shown_warnings

    with shown_warnings() as shown:  # for --json's messages
        result = make_tables(cfg)
    if as_json:
        from bench.reporting.summary_json import document, dumps, warning_lines

        for line in warning_lines(result.warnings):  # the table's own warnings (shown ones are there)
            click.echo(line, err=True)
        messages = warning_lines(result.warnings, shown)
        click.echo(dumps(document("tables", directory, result.summary, result.files, result.n_pairs,
                                  messages=messages)))  # fmt: skip
        return
    click.echo(result.text)
    click.echo(f"Wrote: {', '.join(p.name for p in result.files)} in {directory}")
