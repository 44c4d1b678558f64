"""`bench train`: parse, resolve the config (defaults < profile < YAML < flags), train (bench.training)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import (
    config_option,
    device_option,
    feature_weights_option,
    out_option,
    profile_option,
    seed_option,
    workers_option,
)
from bench.models.registry import get_model, model_names
from bench.training.config import CONVS, FEATURES, MASK_AUGMENTS


@click.command()
@out_option("Run folder: last.pt, log.csv, samples/.", required=True)
@profile_option()
@config_option()
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Total steps; the phase-1/phase-2 split keeps the profile's proportion.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per step per process.")
@click.option("--size", type=click.IntRange(min=8), default=None, help="Training crop size in px.")
@click.option("--lr", type=float, default=None, help="Phase-1 learning rate (phase 2 uses finetune_lr).")
@click.option(
    "--model",
    type=click.Choice(model_names()),
    default=None,
    help=", ".join(f"{m} ({get_model(m).summary})" if get_model(m).summary else m for m in model_names())
    + ".",
)
@click.option(
    "--conv",
    type=click.Choice(CONVS),
    default=None,
    help="partial = PConv; standard = the Conv baseline (holes filled with 0.5).",
)
@device_option(None)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A `bench data prepare` folder (its train split); default: the builtin image set.",
)
@click.option(
    "--masks",
    "masks_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="A mask folder (`bench masks generate`); default: fresh masks per sample.",
)
@click.option(
    "--mask-augment",
    type=click.Choice(MASK_AUGMENTS),
    default=None,
    help="With --masks: nvidia (threshold 0.6, dilation 9-49 px at 512 px, shift, rotation, crop), flips, "
    "none; auto (default): nvidia for an imported or raw folder, flips for a generated set.",
)
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt (same settings).")
@click.option(
    "--checkpoint-every", type=click.IntRange(min=1), default=None, help="Write OUT/last.pt every N steps."
)
@seed_option("Seed of the initialisation and the data stream.", None)
@click.option(
    "--features",
    type=click.Choice(FEATURES),
    default=None,
    help="Perceptual/style feature network (auto: VGG-16 if its weights are found, else stand-in).",
)
@feature_weights_option()
@click.option("--allow-download", is_flag=True, default=None, help="Allow downloading VGG-16 weights.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default=None,
    help="Autocast precision (auto: bf16 where the CPU or GPU computes it natively, else fp32).",
)
@click.option("--amp", is_flag=True, default=None, help="Same as --precision bf16 (the former name).")
@click.option(
    "--channels-last/--no-channels-last", default=None, help="channels_last memory format (CPU and CUDA)."
)
@workers_option("Data-loader worker processes (0: load in the training process).", None, min_value=0)
def train(out, profile, config_file, masks_dir, data, resume, **flags) -> None:
    """Train an inpainting model (--model, PConv by default); resumable; torchrun for many GPUs."""
    from bench.training.config import resolve_config
    from bench.training.loop import train as run_training

    set_interrupt_hint(f"the last checkpoint {Path(out) / 'last.pt'} is kept; rerun with --resume")
    cfg = resolve_config(profile, config_file, flags)
    last = run_training(cfg, out, data=data, masks=masks_dir, resume=resume)
    click.echo(str(last))
