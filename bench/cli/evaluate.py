"""`bench evaluate` and `bench tables`: parse, call one library function, print."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from bench.cli.params import border_option, groups_from_flag, ratio_option
from bench.errors import BenchError
from bench.evaluate import DEFAULTS


def _pair_arg(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise BenchError(f"--paired takes two methods A,B; got {text!r}")
    return parts[0], parts[1]


@click.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    required=True,
    help="A `bench data prepare` folder (its test split) or any folder of images.",
)
@click.option("--masks", type=click.Path(path_type=Path), required=True, help="A mask set (manifest.csv).")
@click.option(
    "--method",
    "methods",
    multiple=True,
    required=True,
    help="NAME, NAME=CHECKPOINT or NAME:key=value,...; repeatable.",
)
@ratio_option(DEFAULTS.ratio)
@border_option()
@click.option("--limit", type=int, default=DEFAULTS.limit, help="Use only the first N test images.")
@click.option("--out", type=click.Path(path_type=Path), default=DEFAULTS.out, show_default=True)
@click.option("--device", default=DEFAULTS.device, show_default=True, help="auto, cpu or cuda.")
@click.option(
    "--workers",
    type=int,
    default=DEFAULTS.workers,
    show_default=True,
    help="Threads for loading pairs and for per-image methods.",
)
@click.option("--batch-size", type=int, default=DEFAULTS.batch_size, show_default=True)
@click.option(
    "--seed", type=int, default=DEFAULTS.seed, show_default=True, help="Seed of the image-mask pairing."
)
@click.option("--resize-masks", is_flag=True, help="Resize masks of another size (nearest neighbour).")
@click.option(
    "--paired", default=None, help="Paired test A,B per cell (default pconv,conv or the first two)."
)
@click.option(
    "--is-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Weights of the Inception network for IS (else env var / cache / labelled stand-in).",
)
@click.option("--allow-download", is_flag=True, help="Allow fetching the Inception weights.")
@click.option("--no-is", is_flag=True, help="Skip the Inception Score (its network dominates CPU time).")
@click.option("--no-figures", is_flag=True, help="Skip the curves and the qualitative grid.")
def evaluate(data, masks, methods, ratio, border, limit, out, device, workers, batch_size, seed, resize_masks,
             paired, is_weights, allow_download, no_is, no_figures) -> None:  # fmt: skip
    """Evaluate methods on the paper's protocol: per-pair records, Table 1, figures (resumable)."""
    from bench.evaluate import evaluate as run

    try:
        result = run(
            data, masks, list(methods), out=out, bins=ratio, groups=groups_from_flag(border), limit=limit,
            device=device, workers=workers, seed=seed, resize_masks=resize_masks, batch_size=batch_size,
            is_weights=is_weights, allow_download=allow_download, paired=_pair_arg(paired),
            figures=not no_figures, command=_command(), compute_is=not no_is,
        )  # fmt: skip
    except KeyboardInterrupt:
        click.echo(
            f"\nInterrupted: finished pairs are kept in {out}; rerun the same command to resume.", err=True
        )
        raise click.Abort() from None
    click.echo(result.text)
    click.echo(
        f"{result.n_pairs} pairs x {len(methods)} method(s): {result.computed} computed now, "
        f"{result.reused} reused from records. Wrote: {', '.join(p.name for p in result.files)} in {out}"
    )


@click.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "formats",
    default="csv,latex,md",
    show_default=True,
    help="Comma-separated subset of csv, latex, md.",
)
@click.option(
    "--reference",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference CSV (method,group,bin,l1_percent,psnr,ssim); default: the paper's confirmed cells.",
)
@click.option("--paired", default=None, help="Paired test A,B per cell (default: the one of the run).")
@click.option("--no-figures", is_flag=True, help="Skip the curves and the qualitative grid.")
def tables(directory, formats, reference, paired, no_figures) -> None:
    """Rebuild the tables of an evaluation folder from its stored records."""
    from bench.evaluate import build_tables
    from bench.tables import default_reference_path

    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    fmts = tuple("latex" if f in ("tex", "latex") else "md" if f in ("md", "markdown") else f for f in fmts)
    if reference is not None and not Path(reference).is_file():
        raise BenchError(f"--reference {reference} does not exist")
    result = build_tables(
        directory, formats=fmts, paired=_pair_arg(paired),
        reference=reference or default_reference_path(), figures=not no_figures,
    )  # fmt: skip
    click.echo(result.text)
    click.echo(f"Wrote: {', '.join(p.name for p in result.files)} in {directory}")


def _command() -> str:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv else []
    return " ".join(shlex.quote(a) for a in argv)
