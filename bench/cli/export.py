"""`bench export`: parse into an ExportConfig, call bench.evaluation.export_inputs.export, print."""

from __future__ import annotations

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import (
    border_option,
    command_line,
    groups_from_flag,
    out_option,
    pairing_option,
    ratio_option,
    seed_option,
    selection_options,
    workers_option,
)
from bench.evaluation.export_inputs import LAYOUTS, ExportConfig
from bench.runs.pairing import LIMIT_HELP

_D = ExportConfig()


@click.command()
@selection_options
@out_option("Export folder: pairs.csv, the inputs (holes zeroed) and the masks.", required=True)
@ratio_option()
@border_option()
@click.option("--limit", type=click.IntRange(min=1), default=None, help=LIMIT_HELP)
@seed_option("Seed of the image-mask pairing (as for bench evaluate).", _D.seed)
@pairing_option(_D.pairing)
@click.option("--resize-masks", is_flag=True, help="Resize masks of another size (nearest neighbour).")
@click.option(
    "--layout", type=click.Choice(LAYOUTS), default=_D.layout, show_default=True,
    help="bench: inputs/ID.png + masks/ID.png (255 valid); lama: ID.png + ID_mask.png (hole 255).",
)  # fmt: skip
@workers_option("Threads for reading and writing pairs.", _D.workers)
def export(ratio, border, **opts) -> None:
    """Write the protocol's inputs (the pairs `bench evaluate` scores with the same options) for any
    program; score its outputs with `bench evaluate --method outputs:dir=FOLDER`."""
    from bench.evaluation.export_inputs import export as run

    cfg = ExportConfig(bins=ratio, groups=groups_from_flag(border),
                       command=command_line(click.get_current_context()), **opts)  # fmt: skip
    set_interrupt_hint(f"files written so far are kept in {cfg.out}; rerun the same command to finish")
    res = run(cfg)
    h, w = res.hw
    lama = res.layout == "lama"
    names = "<id>.png + <id>_mask.png (hole 255)" if lama else "inputs/<id>.png + masks/<id>.png"
    click.echo(
        f"{res.n_pairs} pairs ({w}x{h} px, layout {res.layout}: {names}) in {res.out}; "
        f"{res.written} file(s) written now. Score a program's outputs with: bench evaluate --data "
        f"{cfg.data} --masks {cfg.masks} [same selection options] --method "
        f"outputs:dir=OUTPUTS,export={res.out} (the export's selection is checked)"
    )
