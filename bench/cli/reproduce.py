import click

from bench.cli._stub import not_built


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def reproduce() -> None:
    """reproduce (not built yet)."""
    not_built("reproduce")
