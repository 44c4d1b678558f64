"""`bench masks generate|import|stats`: thin wrappers over masks.manifest."""

from __future__ import annotations

import warnings
from pathlib import Path

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import (
    border_option,
    groups_from_flag,
    out_option,
    ratio_option,
    seed_option,
    size_type,
    workers_option,
)
from bench.core.files import shown
from masks.generate import KINDS
from masks.manifest import (
    DEFAULTS,
    HISTOGRAM,
    LAYOUTS,
    MANIFEST,
    POLARITIES,
    PREVIEW,
    generate_set,
    import_set,
    plot_histogram,
    read_manifest,
    stats_table,
)


@click.group()
def masks() -> None:
    """Irregular hole masks binned by hole ratio, groups N and B."""


@masks.command()
@out_option("Folder for the PNGs, manifest.csv and preview.png.", required=True)
@click.option(
    "--size", type=size_type(8), default=DEFAULTS.size, show_default=True, help="Mask side in pixels."
)
@click.option(
    "--per-bin", type=int, default=DEFAULTS.per_bin, show_default=True, help="Masks per bin and group."
)
@ratio_option()
@border_option()
@click.option(
    "--kind", type=click.Choice(KINDS), default=DEFAULTS.kind, show_default=True, help="Mask family."
)
@seed_option("Seed of the masks (with bin, group and index).", DEFAULTS.seed)
@workers_option("Processes; the masks are the same whatever this is.", DEFAULTS.workers)
def generate(out, size, per_bin, ratio, border, kind, seed, workers) -> None:
    """Generate per-bin, per-group irregular masks (all six bins and both groups by default)."""
    set_interrupt_hint(
        f"masks written so far are kept in {out}; the set is marked complete only at the end; rerun the "
        "same command to finish"
    )
    df = generate_set(
        out,
        size=size,
        per_bin=per_bin,
        bins=ratio,
        groups=groups_from_flag(border),
        kind=kind,
        seed=seed,
        workers=workers,
    )
    done = " (already complete, nothing written)" if df.attrs.get("skipped") else ""
    click.echo(f"{len(df)} masks in {out} ({MANIFEST}, {PREVIEW}){done}")


@masks.command("import")
@click.argument("src", type=click.Path(file_okay=False, path_type=Path))
@out_option("Folder for the converted PNGs, manifest.csv and preview.png.", required=True)
@click.option("--size", type=size_type(16), default=None, help="Resize to SIZE x SIZE (nearest neighbour).")
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="auto",
    show_default=True,
    help="nvidia-test: NVIDIA's 12,000 numbered test masks (labels reported beside the measurement); "
    "measured; auto: nvidia-test when SRC holds exactly files 0..11999.",
)
@click.option(
    "--polarity",
    type=click.Choice(POLARITIES),
    default="auto",
    show_default=True,
    help="Which colour marks the holes in SRC; auto guesses (holes are the minority).",
)
def import_(src, out, size, polarity, layout) -> None:
    """Import an existing mask set (e.g. NVIDIA's irregular masks, LaMa masks with white holes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = import_set(src, out, size=size, polarity=polarity, layout=layout)
    for w in caught:
        click.echo(f"Warning: {w.message}", err=True)
    if res.nvidia is not None:
        half = res.nvidia.half_order or "N then B (the default: the measurements did not tell)"
        click.echo(
            "NVIDIA's test set: NVIDIA does not publish which file is in which bin and group, so bins and "
            "groups are measured; the conventional labels (six blocks of 2,000 in ratio order, halves "
            f"{half}) are in the nvidia_bin/nvidia_group columns (docs/nvidia-masks.md). Per label block:"
        )
        click.echo(res.nvidia.report.to_markdown(index=False, floatfmt=".4f"))
    outside = res.outside
    click.echo(
        f"{len(res.manifest)} masks imported into {out} (polarity {res.polarity}); {len(outside)} outside "
        "every bin"
    )
    for f, r in zip(outside["file"].head(20), outside["hole_ratio"].head(20), strict=True):
        click.echo(f"  outside every bin: {shown(f)} (hole ratio {r:.4f})")
    if len(outside) > 20:
        click.echo(f"  ... and {len(outside) - 20} more (bin is empty in {MANIFEST})")


@masks.command()
@click.argument("mask_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Histogram PNG [default: MASK_DIR/{HISTOGRAM}].",
)
def stats(mask_dir, plot) -> None:
    """Counts and hole-ratio statistics per bin and group, and a histogram PNG."""
    df = read_manifest(mask_dir)
    table = stats_table(df)
    click.echo(table.to_markdown(index=False, floatfmt=".4f"))
    path = plot_histogram(df, plot or mask_dir / HISTOGRAM)
    click.echo(f"histogram: {path}")
