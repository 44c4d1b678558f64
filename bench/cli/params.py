"""Click parameter types, options and helpers shared by several commands (defined once)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.core.errors import BenchError
from masks.conventions import GROUPS, Bin, Group, bin_by_name, parse_ratio


class RatioParam(click.ParamType):
    """`0.3-0.4` -> (Bin(0.3, 0.4),); `0.01-0.6` -> all six bins."""

    name = "LO-HI"

    def convert(self, value, param, ctx) -> tuple[Bin, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_ratio(value)
        except ValueError as e:
            raise BenchError(f"--ratio: {e}") from None  # one line, exit code 2


RATIO = RatioParam()


class BoundedInt(click.ParamType):
    """An integer within [low, high] (high None: the maximum image side, bench.core.files.max_side()); a value
    outside is a one-line BenchError naming the option, raised while parsing, before any folder is made."""

    name = "INTEGER"

    def __init__(self, low: int, high: int | None, what: str) -> None:
        self.low, self.high, self.what = low, high, what

    def convert(self, value, param, ctx) -> int:
        from bench.core.files import MAX_SIDE_ENV, max_side

        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an integer", param, ctx)
        opt = param.opts[0] if param is not None and param.opts else "value"
        high = max_side() if self.high is None else self.high
        if value < self.low:
            raise BenchError(f"{opt} must be at least {self.low}, not {value} ({self.what})")
        if value > high:
            hint = f"; set {MAX_SIDE_ENV} to raise it" if self.high is None else ""
            raise BenchError(f"{opt} must be at most {high}, not {value} ({self.what}{hint})")
        return value


SEED = BoundedInt(0, 2**63 - 1, "a seed is a non-negative integer")


def size_type(low: int = 8) -> BoundedInt:
    """--size: at least `low` px, at most the maximum image side."""
    return BoundedInt(low, None, "image side in px")


def ratio_option(default: str = "0.01-0.6"):
    return click.option(
        "--ratio",
        type=RATIO,
        default=default,
        show_default=True,
        help="Hole-ratio bins LO-HI: 0.3-0.4 is the bin (0.3,0.4]; 0.01-0.6 all six.",
    )


def border_option():
    """--border = group B, --no-border = group N, neither = both."""
    return click.option(
        "--border/--no-border",
        "border",
        default=None,
        help="Group B (holes >= margin from the border) or N (holes may touch it); default both.",
    )


def groups_from_flag(border: bool | None) -> tuple[Group, ...]:
    if border is None:
        return GROUPS
    return (Group.B,) if border else (Group.N,)


def workers_option(help: str, default: int | None = 1, min_value: int = 1):
    """--workers, range-checked the same way in every command (click prints the range on a bad value)."""
    return click.option(
        "--workers",
        type=click.IntRange(min=min_value),
        default=default,
        show_default=default is not None,
        help=help,
    )


def wide_option():
    help = "Print the table in the paper layout (wider than 100 columns)."
    return click.option("--wide", is_flag=True, help=help)


def json_option(where: str = " instead of the table"):
    help = f"Print one JSON document (the run and summary.csv's rows) on stdout{where}."
    return click.option("--json", "as_json", is_flag=True, help=help)


def pair_arg(text: str | None) -> tuple[str, str] | None:
    """`--paired A,B` -> ("A", "B")."""
    if not text:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise BenchError(f"--paired takes two methods A,B; got {text!r}")
    return parts[0], parts[1]


def _shown(value) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, Bin) for v in value):
        return f"{value[0].lo:g}-{value[-1].hi:g}"
    return str(value)


def command_line(ctx: click.Context) -> str:
    """The command as typed, rebuilt from the parsed options that differ from their defaults (so it is
    the same whether the command came from a shell, a test runner or `python -m bench`)."""
    import shlex

    names, c = [], ctx
    while c.parent is not None:  # the sub-command names, whatever the program was called (python -m bench)
        names.append(c.info_name or "")
        c = c.parent
    parts = ["bench", *reversed(names)]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            parts.append(shlex.quote(_shown(value)))
            continue
        if value is None or not param.opts:
            continue
        given = ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT
        if not given and param.name != "profile":
            continue
        if getattr(param, "is_flag", False):
            if value is True:
                parts.append(param.opts[0])
            elif param.secondary_opts:
                parts.append(param.secondary_opts[0])
            continue
        for v in value if param.multiple else (value,):
            parts += [param.opts[0], shlex.quote(_shown(v))]
    return " ".join(parts)


# ---- options shared by several commands: each defined here once ---------------------------------------

CHAIN = "Settings: dataclass defaults < --profile < --config FILE.yaml < these options."


def out_option(help: str, default=None, required: bool = False):
    return click.option(
        "--out", type=click.Path(path_type=Path), default=default, required=required,
        show_default=default is not None, help=help,
    )  # fmt: skip


def device_option(default: str | None = "auto"):
    return click.option(
        "--device", default=default, show_default=default is not None, help="auto, cpu or cuda."
    )


def seed_option(help: str, default: int | None = 0):
    return click.option("--seed", type=SEED, default=default, show_default=default is not None, help=help)


def profile_option():
    from bench.training.config import PROFILES

    return click.option(
        "--profile",
        type=click.Choice(list(PROFILES)),
        default="quick",
        show_default=True,
        help="smoke (seconds, tests), quick (2 CPU cores, 20 minutes), standard (2 CPU cores, 5x quick's "
        "training), paper (512 px, GPUs). " + CHAIN,
    )


def config_option():
    return click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="YAML file of settings, applied after the profile and before the options.",
    )


def feature_weights_option():
    return click.option(
        "--feature-weights",
        type=click.Path(dir_okay=False),
        default=None,
        help="torchvision VGG-16 ImageNet weights (vgg16-397923af.pth) for the perceptual/style losses.",
    )


def selection_options(f):
    """--data and --masks of the commands that pair test images with masks (evaluate, export)."""
    f = click.option(
        "--masks", type=click.Path(path_type=Path), required=True, help="A mask set (manifest.csv)."
    )(f)
    return click.option(
        "--data",
        type=click.Path(path_type=Path),
        required=True,
        help="A `bench data prepare` folder (its test split) or any folder of images.",
    )(f)


def pairing_option(default: str = "cross"):
    from bench.runs.pairing import PAIRINGS

    return click.option(
        "--pairing",
        type=click.Choice(PAIRINGS),
        default=default,
        show_default=True,
        help="cross: every test image meets one mask of every cell; distinct: one test image per mask.",
    )


def refuse_repeated(command: click.Command, args: list[str]) -> None:
    """A single-valued option given twice with different values (`--border --no-border`, `--ratio A
    --ratio B`) is a BenchError naming both: click would keep the last one without a word. Repeating
    the same value, and repeatable options (`--method`), are fine.

    >>> cmd = click.Command("c", params=[click.Option(["--border/--no-border"], default=None)])
    >>> refuse_repeated(cmd, ["--border", "--border"])
    >>> refuse_repeated(cmd, ["--border", "--no-border"])
    Traceback (most recent call last):
    bench.core.errors.BenchError: --border and --no-border contradict each other; give one of them
    """
    spellings: dict[str, tuple[click.Option, bool]] = {}
    for param in command.params:
        if isinstance(param, click.Option):
            spellings.update({o: (param, True) for o in param.opts})
            spellings.update({o: (param, False) for o in param.secondary_opts})
    given: dict[str, tuple[str, str]] = {}  # param name -> (spelling, value) first seen
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--":
            break
        name, eq, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        if name not in spellings:
            continue
        param, primary = spellings[name]
        if param.is_flag or param.count:
            value = str(primary)
        elif eq:
            value = inline
        else:
            value = args[i] if i < len(args) else ""
            i += 1
        if param.multiple or param.count:
            continue
        first = given.setdefault(param.name, (name, value))
        if first[1] == value:
            continue
        if param.is_flag:
            raise BenchError(f"{first[0]} and {name} contradict each other; give one of them")
        raise BenchError(f"{name} is given twice ({first[1]!r}, then {value!r}); give it once")


# ---- list options of `bench tables` and `bench evaluate`
FORMAT_ALIASES = {"tex": "latex", "markdown": "md"}


def parse_list(text: str | None) -> list[str] | None:
    """'a,b' -> ['a', 'b']; None or '' -> None."""
    items = [t.strip() for t in (text or "").split(",") if t.strip()]
    return items or None


def parse_columns(text: str | None) -> list[tuple[str, str]] | None:
    """'0.1-0.2:N,0.3-0.4:B' -> [('0.1-0.2', 'N'), ('0.3-0.4', 'B')]; a bad item is a BenchError."""
    items = parse_list(text)
    if items is None:
        return None
    out = []
    for item in items:
        b, _, g = item.partition(":")
        try:
            bin_by_name(b)
        except ValueError as e:
            raise BenchError(f"--columns {item!r}: {e}") from None
        if g not in ("N", "B"):
            raise BenchError(f"--columns {item!r}: expected BIN:N or BIN:B, e.g. 0.1-0.2:N")
        out.append((b, g))
    return out


def parse_formats(text: str) -> tuple[str, ...]:
    """'csv,tex,markdown' -> ('csv', 'latex', 'md'); an unknown name is a BenchError."""
    from bench.reporting.tables import FORMATS  # here: `bench masks` and `bench data` load no torch

    fmts = tuple(
        FORMAT_ALIASES.get(f.strip().lower(), f.strip().lower()) for f in text.split(",") if f.strip()
    )
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise BenchError(f"unknown format(s) {', '.join(bad)}; choose from {', '.join(FORMATS)}")
    return fmts
