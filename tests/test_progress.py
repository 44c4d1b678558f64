"""bench.core.progress: plain periodic lines on a non-terminal, timed by a fake clock."""

from __future__ import annotations

import io
import re

import pytest

from bench.core.errors import BenchError
from bench.core.progress import EVERY_ENV, PlainProgress, duration, every_from_env, progress_bar


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _lines(out: io.StringIO) -> list[str]:
    return out.getvalue().splitlines()


def test_one_line_per_period_with_rate_and_eta():
    clock, out = Clock(), io.StringIO()
    bar = progress_bar(total=100, desc="evaluate", unit="pair", file=out, every=30, clock=clock)
    assert isinstance(bar, PlainProgress)  # StringIO is not a terminal
    for _ in range(100):  # 1 pair every 2 s: a line every 15 pairs
        clock.t += 2
        bar.update(1)
    bar.close()
    lines = _lines(out)
    assert len(lines) == 100 * 2 // 30 + 1  # 6 periodic lines and the closing one
    first = lines[0]
    # 15 pairs in 30 s: 0.5 pair/s; 85 left at 0.5/s: 170 s
    assert first == "evaluate: 15/100 pair (15%), 0.500 pair/s, ETA 2m50s"
    assert lines[-1] == "evaluate: done 100/100 pair in 3m20s, 0.500 pair/s"


def test_short_loop_is_silent():
    clock, out = Clock(), io.StringIO()
    with progress_bar(total=5, desc="x", file=out, every=30, clock=clock) as bar:
        for _ in range(5):
            clock.t += 1
            bar.update(1)
    assert out.getvalue() == ""


def test_iterable_yields_all_items_and_reports():
    clock, out = Clock(), io.StringIO()
    items = list(range(7))
    seen = []
    for x in progress_bar(items, desc="check", unit="mask", file=out, every=10, clock=clock):
        clock.t += 6
        seen.append(x)
    assert seen == items
    lines = _lines(out)
    assert lines[-1].startswith("check: done 7/7 mask in 42s")
    # item k is counted when the loop asks for item k+1, at 6(k+1) s; a line when >= 10 s passed since
    # the last one: at 12, 24, 36 s, after 2, 4 and 6 items
    assert [re.match(r"check: (\d+)/7", s).group(1) for s in lines[:-1]] == ["2", "4", "6"]


def test_resumed_rate_counts_only_this_run():
    clock, out = Clock(), io.StringIO()
    bar = progress_bar(total=1000, initial=900, desc="train", unit="step", file=out, every=5, clock=clock)
    clock.t += 10
    bar.update(20)  # 20 steps in 10 s (not 920): 2 step/s, 80 left: 40 s
    bar.set_postfix(loss="0.1234")
    clock.t += 10
    bar.update(20)
    assert _lines(out)[0] == "train: 920/1000 step (92%), 2.00 step/s, ETA 40s"
    assert _lines(out)[1].endswith("loss=0.1234")


def test_disabled_prints_nothing_and_off_means_no_lines():
    clock, out = Clock(), io.StringIO()
    bar = progress_bar(total=3, file=out, disable=True, clock=clock)
    clock.t += 100
    bar.update(3)
    bar.close()
    bar = progress_bar(total=3, file=out, every=0, clock=clock)
    clock.t += 100
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""


def test_terminal_gets_tqdm():
    from tqdm import tqdm

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    bar = progress_bar(total=2, file=Tty())
    assert isinstance(bar, tqdm)
    bar.close()


@pytest.mark.parametrize(("text", "want"), [("", 30.0), ("5", 5.0), ("0.5", 0.5), ("off", 0.0), ("0", 0.0)])
def test_every_from_env(text, want):
    assert every_from_env({EVERY_ENV: text}) == want


@pytest.mark.parametrize("text", ["-1", "soon", "nan", "inf"])
def test_every_from_env_refuses(text):
    with pytest.raises(BenchError, match=EVERY_ENV):
        every_from_env({EVERY_ENV: text})


@pytest.mark.parametrize(
    ("s", "want"), [(0, "0s"), (59.4, "59s"), (60, "1m00s"), (262, "4m22s"), (3720, "1h02m")]
)
def test_duration(s, want):
    assert duration(s) == want
