"""`bench list methods|metrics|profiles`: what --method, --metrics and --profile accept, a line each."""

from __future__ import annotations

import click

KINDS = ("methods", "metrics", "profiles")


def _first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line."""
    para = (doc or "").strip().split("\n\n")[0]
    return " ".join(para.split())


def _builtin(origin: str) -> bool:
    return origin.split(".")[0] in ("bench", "baselines")


def describe_methods() -> list[tuple[str, str]]:
    """(name, description) of every registered method, the user's plugins ($PCONV_BENCH_PLUGINS) included:
    the first paragraph of its class's docstring, and the module of a plugin."""
    from bench.methods import inpainters

    rows = []
    for name in inpainters.available():
        factory = inpainters._FACTORIES[name]
        origin = inpainters._ORIGINS.get(name, "")
        text = _first_paragraph(factory.__doc__) or "(no description)"
        rows.append((name, text if _builtin(origin) else f"{text} [plugin {origin}]"))
    return rows


def describe_metrics() -> list[tuple[str, str]]:
    """(name, description) of every registered metric, from the metadata it was registered with."""
    from bench.metrics.registry import available_metrics
    from bench.reporting.tables import is_distribution_metric

    rows = []
    for name, m in available_metrics().items():
        if is_distribution_metric(m):
            what = "per cell, outputs' features vs the ground truth's"
        elif m.kind == "cell":
            what = "per cell, over all its outputs"
        else:
            what = "per pair (cell mean, bootstrap CI)"
        direction = {True: "higher is better", False: "lower is better"}[bool(m.higher_is_better)]
        parts = [m.label, what, direction]
        if m.network:
            parts.append(f"network {m.network}")
        doc = _first_paragraph(getattr(m.fn, "__doc__", None)) if not _builtin(m.origin) else ""
        if doc:
            parts.append(doc)
        if m.origin and not _builtin(m.origin):
            parts.append(f"plugin {m.origin}")
        rows.append((name, "; ".join(parts)))
    return rows


def describe_profiles() -> list[tuple[str, str]]:
    """(name, description) of every profile of bench.training.config.PROFILES, from its settings."""
    from bench.models.unet.network import layers_for_size
    from bench.training.config import PROFILES, resolve_reproduce

    rows = []
    for name in PROFILES:
        rep, train = resolve_reproduce(name)
        layers = train.layers if train.layers is not None else layers_for_size(train.size)
        images = "all test images" if rep.eval_limit is None else f"{rep.eval_limit} test images"
        rows.append((name, f"{rep.size} px, U-Net {train.width} wide x {layers} layers, "
                           f"{train.steps_phase1:,}+{train.steps_phase2:,} steps, {rep.per_bin} masks per "
                           f"bin and group, {images}"))  # fmt: skip
    return rows


DESCRIBE = {"methods": describe_methods, "metrics": describe_metrics, "profiles": describe_profiles}


def format_rows(rows: list[tuple[str, str]]) -> str:
    """'name  description' lines, names padded to one width."""
    width = max((len(n) for n, _ in rows), default=0)
    return "\n".join(f"{n.ljust(width)}  {d}" for n, d in rows)


@click.command(name="list")
@click.argument("kind", type=click.Choice(KINDS), required=False)
def list_(kind):
    """List the methods, metrics or profiles with a line on each (all three without KIND)."""
    kinds = [kind] if kind else list(KINDS)
    blocks = []
    for k in kinds:
        text = format_rows(DESCRIBE[k]())
        blocks.append(text if kind else f"{k}:\n" + "\n".join("  " + ln for ln in text.splitlines()))
    click.echo("\n\n".join(blocks))
