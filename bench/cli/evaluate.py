"""`bench evaluate`: parse into an EvalConfig, call bench.evaluation.runner.evaluate, print."""

from __future__ import annotations

from pathlib import Path

import click

from bench.cli import set_interrupt_hint
from bench.cli.params import (
    border_option,
    command_line,
    device_option,
    groups_from_flag,
    json_option,
    out_option,
    pair_arg,
    pairing_option,
    parse_list,
    ratio_option,
    seed_option,
    selection_options,
    wide_option,
    workers_option,
)
from bench.evaluation.protocol import DEFAULTS, EvalConfig
from bench.runs.pairing import LIMIT_HELP


@click.command()
@selection_options
@click.option(
    "--method",
    "methods",
    multiple=True,
    required=True,
    help="NAME, NAME=CHECKPOINT or NAME:key=value,...; repeatable.",
)
@ratio_option()
@border_option()
@click.option("--limit", type=click.IntRange(min=1), default=DEFAULTS.limit, help=LIMIT_HELP)
@out_option("Evaluation folder: records, run.json, tables, figures.", DEFAULTS.out)
@device_option(DEFAULTS.device)
@workers_option(
    "Threads for loading pairs and for per-image methods "
    "[default: one per core, shared by torchrun's processes].",
    DEFAULTS.workers,
)
@click.option("--batch-size", type=click.IntRange(min=1), default=DEFAULTS.batch_size, show_default=True)
@seed_option("Seed of the image-mask pairing.", DEFAULTS.seed)
@pairing_option(DEFAULTS.pairing)
@click.option("--resize-masks", is_flag=True, help="Resize masks of another size (nearest neighbour).")
@click.option(
    "--paired", default=None, help="Paired test A,B per cell (default pconv,conv or the first two)."
)
@click.option(
    "--is-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Weights of the Inception network for IS (else env var / cache / labelled stand-in).",
)
@click.option(
    "--lpips-backbone",
    "lpips_weights",
    type=click.Path(path_type=Path),
    default=None,
    help="AlexNet weights for LPIPS (else $PCONV_BENCH_LPIPS_BACKBONE / hub cache; without them no LPIPS).",
)
@click.option("--allow-download", is_flag=True, help="Allow fetching the Inception and LPIPS weights.")
@click.option("--no-is", is_flag=True, help="Skip IS, FID and KID (their network dominates CPU time).")
@click.option("--metrics", default=None, help="Only these registered metrics, e.g. psnr,ssim,fid.")
@click.option("--no-figures", is_flag=True, help="Skip the curves and the qualitative grid.")
@wide_option()
@json_option()
@click.option(
    "--save-outputs",
    is_flag=True,
    help="Keep every composited output as OUT/outputs/METHOD/<pair_id>.png (for torch-fidelity, pyiqa, ...).",
)
@click.option(
    "--shard",
    default=None,
    metavar="I/N",
    help="Compute only shard I of N (0 <= I < N; job arrays, machines sharing a folder); the last shard "
    "to finish builds the tables.",
)
@click.option(
    "--allow-missing", is_flag=True, help="outputs: methods score the pairs that have a file, skip the rest."
)
@click.option(
    "--replace", "replace_tables", is_flag=True,
    help="Replace the tables of a folder that holds another selection or method set (else refused).",
)  # fmt: skip
def evaluate(
    methods, ratio, border, paired, no_is, no_figures, allow_missing, metrics, as_json, **opts
) -> None:
    """Evaluate methods on the paper's protocol: per-pair records, Table 1, figures (resumable)."""
    from bench.evaluation.protocol import allow_missing as with_allow_missing
    from bench.evaluation.runner import evaluate as run

    specs = with_allow_missing(methods) if allow_missing else tuple(methods)
    cfg = EvalConfig(
        methods=specs, bins=ratio, groups=groups_from_flag(border), paired=pair_arg(paired),
        compute_is=not no_is, figures=not no_figures, command=command_line(click.get_current_context()),
        metrics=tuple(parse_list(metrics)) if metrics else None,
        **opts,
    )  # fmt: skip
    set_interrupt_hint(f"finished pairs are kept in {cfg.out}; rerun the same command to resume")
    from bench.reporting.summary_json import shown_warnings

    with shown_warnings() as shown:  # for --json's messages
        result = run(cfg)
    if not result.shown:  # a torchrun rank other than 0: rank 0 reports
        return
    if as_json:
        from bench.reporting.summary_json import document, dumps, warning_lines

        # Also in the document; stderr keeps stdout pure JSON (the shown warnings are there already).
        for line in [*result.messages, *warning_lines(result.warnings)]:
            click.echo(line, err=True)
        click.echo(dumps(document(
            "evaluate", cfg.out, result.summary, result.files, result.n_pairs, result.computed,
            result.reused, [*result.messages, *warning_lines(result.warnings, shown)], cfg.shard,
            result.outputs, result.n_outputs,
        )))  # fmt: skip
        return
    click.echo(result.text)
    for line in result.messages:
        click.echo(line)
    wrote = f" Wrote: {', '.join(p.name for p in result.files)} in {cfg.out}" if result.files else ""
    part = f" (shard {cfg.shard})" if cfg.shard else ""
    click.echo(
        f"{result.n_pairs} pairs x {len(methods)} method(s){part}: {result.computed} computed now, "
        f"{result.reused} reused from records.{wrote}"
    )
