"""`bench reproduce`: parse, call bench.reproduce.reproduce, print the table and the exports."""

from __future__ import annotations

from pathlib import Path

import click

from bench import reproduce as R
from bench.cli.params import command_line, workers_option


@click.command("reproduce")
@click.option(
    "--profile",
    type=click.Choice(list(R.PROFILES)),
    default="quick",
    show_default=True,
    help="smoke (seconds, tests), quick (2 CPU cores, minutes), paper (512 px, GPUs).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Work folder: data, masks, checkpoints, records. Default runs/PROFILE.",
)
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=None,
    help="Where tables, figures and environment.json are copied. Default OUT/results.",
)
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="A folder of your own images (Places365, CelebA-HQ, ...) instead of the builtin set.",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--size", type=int, default=None, help="Override the profile's image size.")
@click.option("--per-bin", type=int, default=None, help="Override the test masks per bin and group.")
@click.option("--limit", type=int, default=None, help="Use at most N test images.")
@click.option("--steps", type=int, default=None, help="Override the training steps (both models).")
@click.option("--batch-size", type=int, default=None, help="Override the training batch size.")
@click.option(
    "--feature-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="VGG-16 ImageNet weights for the perceptual/style losses.",
)
@workers_option("Parallel workers for masks, baselines and data loading.", None)
def reproduce_cmd(
    profile, out, results, data, device, size, per_bin, limit, steps, batch_size, feature_weights, workers
) -> None:
    """Run the whole protocol: data, masks, train PConv and Conv, evaluate every method, tables."""
    prof = R.with_overrides(
        R.get_profile(profile), size=size, per_bin=per_bin, eval_limit=limit, workers=workers
    )
    train_over = {
        "steps": steps,
        "batch_size": batch_size,
        "feature_weights": feature_weights,
        "workers": workers,
    }
    train_over = {k: v for k, v in train_over.items() if v is not None}
    out = out or Path("runs") / profile
    command = command_line(click.get_current_context())
    res = R.reproduce(
        prof,
        out,
        results=results,
        data=data,
        device=device,
        train_overrides=train_over,
        command=command,
        log=click.echo,
    )
    click.echo("")
    click.echo(res.text)
    click.echo("")
    click.echo(f"exports in {res.results}:")
    for f in res.files:
        click.echo(f"  {f}")


reproduce = reproduce_cmd
