"""`bench`: the command line. Each command parses, calls one library function, prints."""

from __future__ import annotations

import click

from bench.cli.data import data
from bench.cli.evaluate import evaluate, tables
from bench.cli.masks import masks
from bench.cli.reproduce import reproduce
from bench.cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pconv-bench")
def main() -> None:
    """pconv-bench: Table 1 of Liu et al. (ECCV 2018), partial-convolution inpainting, for any method."""


for _command in (data, masks, train, evaluate, tables, reproduce):
    main.add_command(_command)
