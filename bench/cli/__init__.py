"""`bench`: the command line. Each command parses, calls one library function, prints.

Command modules are imported only when their command runs, so `bench masks ...` does not pay for torch.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute"; the order is the order of `bench --help`.
COMMANDS: dict[str, str] = {
    "data": "bench.cli.data:data",
    "masks": "bench.cli.masks:masks",
    "train": "bench.cli.train:train",
    "evaluate": "bench.cli.evaluate:evaluate",
    "tables": "bench.cli.evaluate:tables",
    "reproduce": "bench.cli.reproduce:reproduce",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pconv-bench")
def main() -> None:
    """pconv-bench: Table 1 of Liu et al. (ECCV 2018), partial-convolution inpainting, for any method."""
