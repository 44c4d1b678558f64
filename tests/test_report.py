"""bench.reporting.report: the self-contained HTML page. Its numeric cells must equal summary.csv, read back
both from the markup (stdlib parser) and, where Chromium is installed, from the DOM a real browser built."""

from __future__ import annotations

import io
import math
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_latex import META, NOTES, realistic_summary

from bench.reporting.report import report_html

CHROMIUM = Path("/usr/bin/chromium")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20"/></svg>'


class Cells(HTMLParser):
    """Collects the data- cells of the results table and every src/href, <script> and <link>."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str, str], dict[str, str]] = {}
        self.urls: list[str] = []
        self.tags: list[str] = []
        self._cell: tuple[str, str, str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href") and v is not None]
        if tag == "td" and "data-metric" in a:
            self._cell = (a["data-method"], a["data-metric"], a["data-bin"], a["data-group"])
            assert self._cell not in self.cells, f"duplicate cell {self._cell}"
            self.cells[self._cell] = a
            self._text = []

    def handle_data(self, data):
        if self._cell is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.cells[self._cell]["text"] = "".join(self._text)
            self._cell = None


def parse(page: str) -> Cells:
    p = Cells()
    p.feed(page)
    p.close()
    return p


def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (32, 1))).save(buf, format="PNG")
    return buf.getvalue()


def summary_csv(tmp: Path) -> pd.DataFrame:
    """A realistic summary written as summary.csv and read back (what a user compares against)."""
    s = realistic_summary()
    s.loc[(s.method == "gl") & (s.bin == "0.5-0.6") & (s.group == "B") & (s.metric == "psnr"), "mean"] = (
        np.nan
    )
    s.to_csv(tmp / "summary.csv", index=False)
    return pd.read_csv(tmp / "summary.csv")


def page_of(s: pd.DataFrame) -> str:
    return report_html(
        s,
        META,
        NOTES,
        figures={"curves": png_bytes(), "vector <sketch>": SVG},
        environment={"device": "cpu", "packages": {"torch": "2.14.1"}, "commands": ["bench x"]},
        command="bench reproduce --profile quick --results results/quick",
        title="Table 1 & friends",
    )


def check_cells(cells: dict, s: pd.DataFrame) -> None:
    """Every summary row is one cell with the same mean (exactly) and CI; nothing else is a cell."""
    assert len(cells) == len(s)
    for r in s.itertuples(index=False):
        a = cells[(r.method, r.metric, r.bin, r.group)]
        if math.isnan(r.mean):
            assert a["data-value"] == "" and "–" in a["text"]
        else:
            assert float(a["data-value"]) == r.mean
        for key, v in (("data-ci-low", r.ci_low), ("data-ci-high", r.ci_high)):
            assert (a[key] == "") if math.isnan(v) else (float(a[key]) == v)
        assert int(a["data-n"]) == r.n


def test_cells_equal_summary_csv(tmp_path):
    s = summary_csv(tmp_path)
    p = parse(page_of(s))
    check_cells(p.cells, s)
    # Shown text: the mean rounded as the metric asks, then the half-width where there is a CI.
    a = p.cells[("pconv", "ssim", "0.2-0.3", "N")]
    r = s[(s.method == "pconv") & (s.metric == "ssim") & (s.bin == "0.2-0.3") & (s.group == "N")].iloc[0]
    assert a["text"] == f"{r['mean']:.3f}±{(r.ci_high - r.ci_low) / 2:.3f}"
    assert p.cells[("pconv", "is", "0.2-0.3", "N")]["text"].count("±") == 0


def test_best_cells_are_marked():
    s = realistic_summary()
    p = parse(page_of(s))
    col = s[(s.metric == "l1_percent") & (s.bin == "0.1-0.2") & (s.group == "B")]
    best = col.loc[col["mean"].round(2) == col["mean"].round(2).min(), "method"]
    here = [
        (m, a) for (m, metric, b, g), a in p.cells.items() if (metric, b, g) == ("l1_percent", "0.1-0.2", "B")
    ]
    marked = [m for m, a in here if "best" in a["class"].split()]
    assert sorted(marked) == sorted(best)


def test_self_contained_and_escaped():
    s = realistic_summary()
    page = page_of(s.assign(method=s["method"].replace("gl", "<gl & co>")))
    p = parse(page)
    assert p.urls and all(
        u.startswith(("data:image/png;base64,", "data:image/svg+xml;base64,")) for u in p.urls
    )
    assert not [u for u in p.urls if u.startswith(("http:", "https:", "//"))]
    assert "script" not in p.tags and "link" not in p.tags and "iframe" not in p.tags
    assert "<gl & co>" not in page and "&lt;gl &amp; co&gt;" in page
    assert ("<gl & co>", "psnr", "0.1-0.2", "N") in p.cells  # attributes unescape to the name
    assert "<title>Table 1 &amp; friends</title>" in page
    with pytest.raises(ValueError, match="neither"):
        report_html(s, META, [], figures={"x": b"GIF89a"})


# ---- rendered by a real browser -------------------------------------------------------------------
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    # No network, no first-run work, a throw-away profile: the page must render from itself alone.
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp / 'profile'}", *args]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, timeout=120)


@needs_chromium
def test_browser_dom_equals_summary_csv_and_screenshot(tmp_path):
    s = summary_csv(tmp_path)
    page = tmp_path / "report.html"
    page.write_text(page_of(s), encoding="utf-8")
    run = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    dom = run.stdout.decode("utf-8")
    assert "</table>" in dom
    check_cells(parse(dom).cells, s)

    shot = tmp_path / "shot.png"
    run = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", page.as_uri())
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1400, 2000)
        assert len(im.convert("L").getcolors(256) or []) > 10  # text and figures, not a blank page
