"""`bench data`: build the default image set, or index a folder of images (bench.data.prepare)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import out_option, seed_option, size_type
from bench.data.prepare import DEFAULTS, prepare_dataset


@click.group()
def data() -> None:
    """Image sets: build the default one or index a folder."""


@data.command()
@out_option("Output folder (new, empty, or an image set made here before).", required=True)
@click.option("--size", type=size_type(8), default=DEFAULTS.size, show_default=True, help="Crop side S.")
@click.option(
    "--source",
    default=DEFAULTS.source,
    show_default=True,
    help="'builtin' (photos shipped in installed packages and wallpaper folders) or a folder of images.",
)
@seed_option("Seed of crops and split.", DEFAULTS.seed)
@click.option(
    "--test-fraction",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULTS.test_fraction,
    show_default=True,
    help="Fraction of source photos (not crops) held out for test.",
)
@click.option(
    "--crops-per-photo",
    type=click.IntRange(min=1),
    default=DEFAULTS.crops_per_photo,
    show_default=True,
    help="builtin: at most this many random crops per photo (a user folder gives one per image).",
)
@click.option(
    "--split",
    default="auto",
    show_default=True,
    help="auto (seeded, by source photo, --test-fraction), train or test (the whole folder), or an official "
    "split list FILE (one image path per line, optionally followed by train/test/val; listed = test).",
)
@click.option("--skip-grey", is_flag=True, help="Leave grey-scale images out (default: kept as RGB).")
@click.option("--quiet", is_flag=True, help="Print only the summary.")
def prepare(
    out: Path, size: int, source: str, seed: int, test_fraction: float, crops_per_photo: int, split: str,
    skip_grey: bool, quiet: bool,
) -> None:  # fmt: skip
    """Build SxS PNG crops with manifest.csv and a train/test split by source photo.

    \b
    bench data prepare --out data/builtin-256 --size 256
    bench data prepare --out data/places --size 512 --source ~/places365/val_large --split test
    """
    set_interrupt_hint(
        f"crops written so far are kept in {out}; the set is marked complete only when manifest.csv is "
        "written; rerun the same command to finish"
    )
    log = None if quiet else (lambda msg: click.echo(msg, err=True))
    report = prepare_dataset(
        out,
        size=size,
        source=source,
        seed=seed,
        test_fraction=test_fraction,
        crops_per_photo=crops_per_photo,
        log=log,
        split=split,
        keep_grey=not skip_grey,
    )
    click.echo(report.summary())
