"""Progress of a long loop: a tqdm bar on a terminal, plain periodic lines elsewhere (a log file, a job).

tqdm with `disable=None` shows nothing when stderr is not a terminal, so a job's log would hold a start
and a done line around an hour of work. `progress_bar` takes tqdm's arguments and, on a non-terminal, prints
one line every `PCONV_BENCH_PROGRESS_EVERY` seconds (default 30; 0 or "off": none) with done/total, the
rate and the time left, and a closing line when it printed any (a loop shorter than the period stays
silent, as with tqdm):

    evaluate: 120/960 pair (12%), 3.20 pair/s, ETA 4m22s

>>> import io
>>> t = iter(range(0, 1000, 40))
>>> out = io.StringIO()
>>> bar = progress_bar(total=10, desc="demo", unit="step", file=out, every=60, clock=lambda: next(t))
>>> for _ in range(10):
...     bar.update(1)
>>> bar.close()
>>> print(out.getvalue(), end="")
demo: 2/10 step (20%), 0.0250 step/s, ETA 5m20s
demo: 4/10 step (40%), 0.0250 step/s, ETA 4m00s
demo: 6/10 step (60%), 0.0250 step/s, ETA 2m40s
demo: 8/10 step (80%), 0.0250 step/s, ETA 1m20s
demo: 10/10 step (100%), 0.0250 step/s, ETA 0s
demo: done 10/10 step in 7m20s, 0.0227 step/s
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from bench.core.errors import BenchError

EVERY_ENV = "PCONV_BENCH_PROGRESS_EVERY"
DEFAULT_EVERY_S = 30.0


def every_from_env(environ: dict[str, str] | None = None) -> float:
    """Seconds between plain progress lines, from PCONV_BENCH_PROGRESS_EVERY (0 or 'off': no lines)."""
    text = (os.environ if environ is None else environ).get(EVERY_ENV, "").strip()
    if not text:
        return DEFAULT_EVERY_S
    if text.lower() in ("off", "none", "no"):
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BenchError(f"{EVERY_ENV}={text} is not a number of seconds >= 0 (or 'off')")
    return value


def duration(seconds: float) -> str:
    """'4m22s', '1h02m', '7s' (rounded to whole seconds)."""
    s = round(max(0.0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _rate(value: float) -> str:
    """Three significant figures: 3.20, 0.0250, 412."""
    return f"{value:.3g}" if value >= 100 else f"{value:#.3g}"


class PlainProgress:
    """tqdm's update/close/set_postfix/iteration, printed as a plain line at most every `every` seconds."""

    def __init__(self, iterable: Iterable | None = None, total: float | None = None, desc: str = "",
                 unit: str = "it", initial: float = 0, file: TextIO | None = None, every: float = 30.0,
                 clock: Callable[[], float] = time.monotonic, **_ignored: Any) -> None:  # fmt: skip
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        self.n = self.start_n = initial
        self.file, self.every, self.clock = file, every, clock
        self.t0 = self.last = clock()
        self.printed = False
        self.closed = False
        self.postfix = ""

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set_postfix(self, **kw: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def _say(self, text: str) -> None:
        print(f"{self.desc}: {text}" if self.desc else text, file=self.file or sys.stderr, flush=True)
        self.printed = True

    def line(self, now: float) -> str:
        """'120/960 pair (12%), 3.20 pair/s, ETA 4m22s' at time `now`."""
        done = self.n - self.start_n
        rate = done / (now - self.t0) if now > self.t0 else math.nan
        parts = [f"{self.n:g}/{self.total:g} {self.unit}" if self.total else f"{self.n:g} {self.unit}"]
        if self.total:
            parts[0] += f" ({100 * self.n / self.total:.0f}%)"
        if rate > 0:
            parts.append(f"{_rate(rate)} {self.unit}/s")
            if self.total:
                parts.append(f"ETA {duration((self.total - self.n) / rate)}")
        if self.postfix:
            parts.append(self.postfix)
        return ", ".join(parts)

    def update(self, n: float = 1) -> None:
        self.n += n
        if self.every <= 0:
            return
        now = self.clock()
        if now - self.last >= self.every:
            self.last = now
            self._say(self.line(now))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.printed:  # a loop that printed progress says that it ended; a short one stays silent
            now = self.clock()
            done = self.n - self.start_n
            rate = f", {_rate(done / (now - self.t0))} {self.unit}/s" if now > self.t0 and done else ""
            total = f"/{self.total:g}" if self.total else ""
            self._say(f"done {self.n:g}{total} {self.unit} in {duration(now - self.t0)}{rate}")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable: Iterable | None = None, *, disable: bool | None = None, file: TextIO | None = None,
                 every: float | None = None, clock: Callable[[], float] = time.monotonic,
                 **kw: Any) -> Any:  # fmt: skip
    """tqdm(iterable, **kw) on a terminal; PlainProgress elsewhere. `disable`: True shows nothing, None
    (the default) picks by whether `file` (default stderr) is a terminal, False forces the tqdm bar.
    `every` overrides PCONV_BENCH_PROGRESS_EVERY."""
    from tqdm import tqdm

    stream = file if file is not None else sys.stderr
    if disable or disable is False or _is_terminal(stream):
        return tqdm(iterable, disable=bool(disable), file=file, **kw)
    every = every_from_env() if every is None else every
    return PlainProgress(iterable, file=file, every=every, clock=clock, **kw)
