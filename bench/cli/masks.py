import click

from bench.cli._stub import not_built


@click.group()
def masks() -> None:
    """Irregular hole masks binned by hole ratio, groups N and B."""


for _name in ("generate", "import", "stats"):

    def _cmd(_name=_name) -> None:
        not_built(f"masks {_name}")

    masks.command(_name, context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
                  help=f"masks {_name} (not built yet)")(_cmd)
