"""`bench reproduce`: resolve the settings (bench.training.config), call bench.pipeline.reproduce, print."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import (
    command_line,
    config_option,
    device_option,
    feature_weights_option,
    json_option,
    out_option,
    profile_option,
    workers_option,
)
from bench.runs.pairing import LIMIT_HELP, PAIRINGS


@click.command("reproduce")
@profile_option()
@config_option()
@out_option("Work folder: data, masks, checkpoints, records. Default runs/PROFILE.")
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=None,
    help="Where tables, figures and environment.json are copied. Default OUT/results.",
)
@click.option(
    "--data",
    default=None,
    help="Your images instead of the builtin set: a `bench data prepare` folder, or a folder of images "
    "(split by photo, or all for training when --test-data is given).",
)
@click.option(
    "--test-data", default=None, help="A folder of test images (e.g. Places2 val_large), all for test."
)
@click.option("--masks", default=None, help="Test masks: a mask set (e.g. NVIDIA's, via bench masks import).")
@click.option(
    "--train-masks", default=None, help="Training masks (e.g. NVIDIA's raw ones: NVIDIA's augmentation)."
)
@click.option("--is-weights", default=None, help="torch-fidelity's Inception-v3 weights for IS.")
@click.option(
    "--pairing", type=click.Choice(PAIRINGS), default=None, help="cross or distinct (paper: distinct)."
)
@device_option()
@click.option("--size", type=click.IntRange(min=8), default=None, help="Image, mask and training size.")
@click.option("--per-bin", type=click.IntRange(min=1), default=None, help="Test masks per bin and group.")
@click.option("--limit", "eval_limit", type=click.IntRange(min=1), default=None, help=LIMIT_HELP)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps per model.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Training batch size.")
@feature_weights_option()
@workers_option("Parallel workers for masks, baselines and data loading.", None)
@click.option(
    "--method",
    "extra_methods",
    multiple=True,
    help="Another method to evaluate beside the profile's, e.g. outputs:dir=PATH,label=NAME; repeatable.",
)
@json_option("; the stage log goes to stderr")
def reproduce_cmd(profile, config_file, out, results, device, extra_methods, as_json, **options) -> None:
    """Run the whole protocol: data, masks, train the models (PConv, Conv, GL, GntIpt), evaluate every
    method, tables."""
    import dataclasses

    from bench.pipeline.reproduce import reproduce as run
    from bench.training.config import resolve_reproduce

    rep, train = resolve_reproduce(profile, config_file, options)
    if extra_methods:  # specs go through as they are (bench.evaluation.runner parses NAME:key=value,...)
        rep = dataclasses.replace(rep, methods=(*rep.methods, *extra_methods))
    out = out or Path("runs") / profile
    set_interrupt_hint(f"finished stages and records are kept in {out}; rerun the same command to resume")
    command = command_line(click.get_current_context())
    log = (lambda line: click.echo(line, err=True)) if as_json else click.echo
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        # --json: what the stages print (training's tqdm.write lines go to stdout) joins the log on stderr
        res = run(rep, train, out, results=results, device=device, command=command, log=log)
    if as_json:
        from bench.reporting.summary_json import document, dumps

        click.echo(dumps(document("reproduce", res.results, res.summary, res.files, res.n_pairs, res.computed,
                                  res.reused)))  # fmt: skip
        return
    click.echo("")
    click.echo(res.text)
    click.echo("")
    click.echo(f"exports in {res.results}:")
    for f in res.files:
        click.echo(f"  {f}")


reproduce = reproduce_cmd
