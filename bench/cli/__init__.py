"""`bench`: the command line. Each command parses, calls one library function, prints.

Command modules are imported only when their command runs, so `bench masks ...` does not pay for torch.
Every command ends in one of three ways: its output and exit code 0; one line `Error: ...` and exit
code 2 (bad input, or a bad environment such as a read-only or full disk); or, on Ctrl-C or SIGTERM, one
line saying what was kept and how to resume, and exit code 130 (143 for SIGTERM).
"""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import warnings
from typing import NoReturn

import click

from bench.core.errors import BenchError, environment_error

# command name -> "module:attribute"; the order is the order of `bench --help`.
COMMANDS: dict[str, str] = {
    "data": "bench.cli.data:data",
    "masks": "bench.cli.masks:masks",
    "train": "bench.cli.train:train",
    "evaluate": "bench.cli.evaluate:evaluate",
    "export": "bench.cli.export:export",
    "tables": "bench.cli.tables:tables",
    "reproduce": "bench.cli.reproduce:reproduce",
    "list": "bench.cli.list:list_",
}

RESUME_HINT = "rerun the same command to resume"
EXIT_BAD_INPUT = 2  # bad input or a bad environment (a BenchError, an OSError)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that cleanup (worker pools, locks) runs as for Ctrl-C."""


def _on_sigterm(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated()


# Commands whose single-valued options may not be given twice with different values (bench.cli.params
# refuse_repeated): click would keep the last one silently.
STRICT_COMMANDS: tuple[str, ...] = ("evaluate", "export", "tables", "reproduce")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name, cmd, rest = super().resolve_command(ctx, args)
        if name in STRICT_COMMANDS and cmd is not None:
            from bench.cli.params import refuse_repeated

            refuse_repeated(cmd, rest)
        return name, cmd, rest

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """click's main, with one-line endings for OS errors, Ctrl-C and SIGTERM."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        old = None
        with contextlib.suppress(ValueError):  # not in the main thread (e.g. some test runners)
            old = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            with warnings.catch_warnings():  # restored on return (a caller's own handling included)
                warnings.showwarning = _show_warning
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except BenchError as e:
            _fail(e)
        except click.ClickException as e:  # click's own: a usage error, a bad option value
            e.show()
            sys.exit(e.exit_code)
        except (KeyboardInterrupt, click.exceptions.Abort) as e:
            hint = _interrupt_hint()
            click.echo(f"Interrupted: {hint}", err=True)
            sys.exit(143 if isinstance(e, Terminated) or isinstance(e.__cause__, Terminated) else 130)
        except OSError as e:
            _fail(environment_error(e))
        finally:
            if old is not None:
                with contextlib.suppress(ValueError):
                    signal.signal(signal.SIGTERM, old)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(e: BenchError) -> NoReturn:
    """A library error as the command line ends on it: one line `Error: ...` on stderr, exit code 2."""
    click.echo(f"Error: {e.message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ARG001
    """Warnings as one line on stderr, like the errors ("Warning: ..."), without source lines."""
    click.echo(f"Warning: {message}", err=True)


def set_interrupt_hint(text: str) -> None:
    """What the running command keeps when interrupted, and how to resume (one line)."""
    _HINT[0] = text


_HINT = [f"finished work is kept; {RESUME_HINT}"]


def _interrupt_hint() -> str:
    return _HINT[0]


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pconv-bench")
def main() -> None:
    """pconv-bench: Table 1 of Liu et al. (ECCV 2018), partial-convolution inpainting, for any method."""


__all__ = ["BenchError", "main", "set_interrupt_hint"]
