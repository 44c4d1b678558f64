import click

from bench.cli._stub import not_built


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def evaluate() -> None:
    """Evaluate methods on the paper's protocol (not built yet)."""
    not_built("evaluate")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def tables() -> None:
    """Re-export stored results as tables (not built yet)."""
    not_built("tables")
