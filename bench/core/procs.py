"""Worker processes that never outlive their command.

`die_with_parent` runs first in every worker process we start (mask generation pools, data-loader
workers): on Linux the kernel then kills the worker when its parent dies, whatever signal killed the
parent (SIGKILL included), and Ctrl-C is left to the parent, which shuts its pool down and prints one
line instead of one traceback per worker.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent exits; ignore SIGINT (the parent handles it).

    `parent_pid`: the parent's PID as the parent saw it; if the parent is already gone (a race between
    the fork and this call), exit at once.
    """
    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
