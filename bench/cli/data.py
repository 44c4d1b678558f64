import click

from bench.cli._stub import not_built


@click.group()
def data() -> None:
    """Image sets: build the default one or index a folder."""


@data.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def prepare() -> None:
    """Build the default image set (not built yet)."""
    not_built("data prepare")
