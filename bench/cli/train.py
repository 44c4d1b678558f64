"""`bench train`: parse, resolve the config (defaults < profile < YAML < flags), call bench.train.train."""

from __future__ import annotations

from pathlib import Path

import click

from bench.config import CONVS, FEATURES, PROFILES


@click.command()
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path),
    help="Run folder: last.pt, log.csv, samples/.",
)
@click.option(
    "--profile",
    type=click.Choice(list(PROFILES)),
    default="quick",
    show_default=True,
    help="Override set: smoke (seconds), quick (~5 CPU minutes), paper (512 px, GPUs).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML file of TrainConfig settings, applied after the profile.",
)
@click.option(
    "--steps",
    type=int,
    default=None,
    help="Total steps; the phase-1/phase-2 split keeps the profile's proportion.",
)
@click.option("--batch-size", type=int, default=None, help="Images per step per process.")
@click.option("--size", type=int, default=None, help="Training crop size in px.")
@click.option("--lr", type=float, default=None, help="Phase-1 learning rate (phase 2 uses finetune_lr).")
@click.option(
    "--conv",
    type=click.Choice(CONVS),
    default=None,
    help="partial = PConv; standard = the Conv baseline (holes filled with 0.5).",
)
@click.option("--device", type=str, default=None, help="auto, cpu or cuda.")
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
@click.option("--resume", is_flag=True, help="Continue from OUT/last.pt (same settings).")
@click.option("--checkpoint-every", type=int, default=None, help="Write OUT/last.pt every N steps.")
@click.option("--seed", type=int, default=None)
@click.option(
    "--features",
    type=click.Choice(FEATURES),
    default=None,
    help="Perceptual/style feature network (auto: VGG-16 if its weights are found, else stand-in).",
)
@click.option(
    "--feature-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="Path to torchvision VGG-16 ImageNet weights (vgg16-397923af.pth).",
)
@click.option("--allow-download", is_flag=True, default=None, help="Allow downloading VGG-16 weights.")
@click.option("--amp", is_flag=True, default=None, help="bf16 autocast (CUDA only).")
@click.option("--channels-last", is_flag=True, default=None, help="channels_last memory format (CUDA only).")
@click.option("--workers", type=int, default=None, help="Data-loader worker processes.")
def train(out, profile, config_file, masks_dir, data, resume, **flags) -> None:
    """Train PConv (or the Conv baseline with --conv standard); resumable; torchrun for many GPUs."""
    from bench.config import resolve_config
    from bench.train import train as run_training

    cfg = resolve_config(profile, config_file, flags)
    last = run_training(cfg, out, data=data, masks=masks_dir, resume=resume)
    click.echo(str(last))
