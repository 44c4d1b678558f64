"""One error type for bad input: a one-line message and exit code 2."""

from __future__ import annotations

import click


class BenchError(click.ClickException):
    """Bad input or an impossible option. Click prints `Error: <message>` and exits with code 2."""

    exit_code = 2
