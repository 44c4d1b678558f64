"""One self-contained HTML page of an evaluation: paper-layout table with CIs, figures, notes, environment.

Everything is inline (CSS in a <style> element, figures as data: URIs), so the page opens offline, can be
mailed or attached to a CI run, and needs no JavaScript. Every numeric cell carries its source in
attributes, so tools and tests can read the numbers back without parsing the display text:

    <td data-method="pconv" data-metric="psnr" data-bin="0.1-0.2" data-group="N"
        data-value="28.6012..." data-ci-low="..." data-ci-high="..." data-n="80">

data-value is repr() of the summary's mean (round-trips to the same float); CI attributes are empty
when the metric has none (IS).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bench.reporting.latex import bin_header, cell_grid, metric_meta, table_columns, table_metrics

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d1d1f; margin: 2rem auto; max-width: 1320px; padding: 0 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .6rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.muted { color: #666; }
pre { background: #f5f5f7; padding: .6rem .8rem; border-radius: 4px; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; }
.scroll { overflow-x: auto; }
table.results { border-collapse: collapse; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.results th, table.results td { padding: .18rem .45rem; }
table.results thead th { border-bottom: 1px solid #999; font-weight: 600; text-align: center; }
table.results thead tr:first-child th { border-top: 2px solid #333; }
table.results tbody { border-top: 1px solid #999; }
table.results tbody:last-of-type { border-bottom: 2px solid #333; }
table.results th.metric, table.results th.method { text-align: left; }
table.results tbody th.method { font-weight: 400; }
table.results tbody th.metric { vertical-align: top; }
table.results td.num { text-align: right; }
table.results td.best .mean { font-weight: 700; }
table.results td .pm { display: block; font-size: .75em; color: #666; }
table.results td.nan { color: #999; text-align: center; }
table.results th.bin { border-left: 1px solid #ddd; }
table.results td.first, table.results th.first { border-left: 1px solid #ddd; }
table.results tbody tr:hover { background: #f3f6fb; }
.dir { color: #888; font-weight: 400; font-size: .85em; }
figure { margin: 1rem 0 2rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
ol.notes li { margin: .2rem 0; }
table.env { border-collapse: collapse; font-size: .9rem; }
table.env th, table.env td { text-align: left; padding: .15rem .6rem; border-bottom: 1px solid #eee;
                             vertical-align: top; }
table.env th { font-weight: 600; color: #444; white-space: nowrap; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _attr(value: float) -> str:
    """A float for a data- attribute: repr (round-trips), '' when missing."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return ""
    return repr(f) if math.isfinite(f) else ""


def _shown(value: float, decimals: int) -> str:
    if not math.isfinite(value):
        return "–"
    text = f"{value:.{decimals}f}"
    return "−" + text[1:] if text.startswith("-") else text  # a real minus sign


def _results_table(summary: pd.DataFrame, metrics_meta: Mapping[str, Any]) -> str:
    """The paper layout: rows metric blocks x methods (one <tbody> a metric), columns bins x groups."""
    cols = table_columns(summary)
    names = table_metrics(summary, metrics_meta)
    methods = list(dict.fromkeys(summary["method"]))
    rows = {(r.method, r.bin, r.group, r.metric): r for r in summary.itertuples(index=False)}

    runs: list[tuple[str, int]] = []  # consecutive columns of one bin share a header cell
    for b, _ in cols:
        runs = runs[:-1] + [(b, runs[-1][1] + 1)] if runs and runs[-1][0] == b else runs + [(b, 1)]
    firsts = set()
    i = 0
    for _, k in runs:
        firsts.add(i)
        i += k
    out = ['<div class="scroll"><table class="results">', "<thead>"]
    out.append(
        '<tr><th class="metric" rowspan="2">Metric</th><th class="method" rowspan="2">Method</th>'
        + "".join(
            f'<th class="bin" colspan="{k}" data-bin="{_e(b)}">{_e(bin_header(b))}</th>' for b, k in runs
        )
        + "</tr>"
    )
    out.append(
        "<tr>"
        + "".join(
            f'<th class="group{" first" if j in firsts else ""}" data-bin="{_e(b)}" data-group="{_e(g)}">'
            f"{_e(g)}</th>"
            for j, (b, g) in enumerate(cols)
        )
        + "</tr>"
    )
    out.append("</thead>")
    for metric in names:
        meta = metric_meta(metric, metrics_meta)
        grid = cell_grid(summary, meta, metric, methods, cols)
        arrow = {True: "↑", False: "↓", None: ""}[meta.higher_is_better]
        direction = {True: "higher is better", False: "lower is better", None: ""}[meta.higher_is_better]
        out.append(f'<tbody data-metric="{_e(metric)}">')
        for i, method in enumerate(methods):
            tr = ["<tr>"]
            if i == 0:
                tr.append(
                    f'<th class="metric" rowspan="{len(methods)}" scope="rowgroup" title="{_e(direction)}">'
                    f'{_e(meta.label)} <span class="dir">{arrow}</span></th>'
                )
            tr.append(f'<th class="method" scope="row">{_e(method)}</th>')
            for j, (b, g) in enumerate(cols):
                first = " first" if j in firsts else ""
                c = grid.get((method, b, g))
                if c is None:
                    tr.append(f'<td class="nan{first}">–</td>')
                    continue
                r = rows[(method, b, g, metric)]
                half = (
                    f'<span class="pm">±{_shown(c.half, meta.decimals)}</span>'
                    if math.isfinite(c.half)
                    else ""
                )
                ci = (
                    f"CI [{_shown(float(r.ci_low), meta.decimals + 1)}, "
                    f"{_shown(float(r.ci_high), meta.decimals + 1)}], "
                    if half
                    else ""
                )
                n = getattr(r, "n", "")
                tr.append(
                    f'<td class="num{" best" if c.best else ""}{first}" data-method="{_e(method)}" '
                    f'data-metric="{_e(metric)}" data-bin="{_e(b)}" data-group="{_e(g)}" '
                    f'data-value="{_attr(r.mean)}" data-ci-low="{_attr(r.ci_low)}" '
                    f'data-ci-high="{_attr(r.ci_high)}" data-n="{_e(n)}" title="{_e(ci)}n = {_e(n)}">'
                    f'<span class="mean">{_shown(c.mean, meta.decimals)}</span>{half}</td>'
                )
            tr.append("</tr>")
            out.append("".join(tr))
        out.append("</tbody>")
    out.append("</table></div>")
    return "\n".join(out)


def _mime(data: bytes) -> str:
    """PNG or SVG from the bytes themselves (names may lack a suffix); anything else is an error."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "image/svg+xml"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    raise ValueError("figure is neither PNG, SVG nor JPEG")


def _figures(figures: Mapping[str, bytes]) -> str:
    out = []
    for name, data in figures.items():
        # An SVG as <img> (not inline <svg>): its scripts and external references never run or load.
        uri = f"data:{_mime(data)};base64,{base64.b64encode(data).decode('ascii')}"
        out.append(
            f'<figure id="fig-{_e(name)}"><img src="{uri}" alt="{_e(name)}">'
            f"<figcaption>{_e(name)}</figcaption></figure>"
        )
    return "\n".join(out)


def _flatten(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """{'a': {'b': 1}} -> [('a.b', '1')]; lists and other values as compact JSON, strings as they are."""
    out = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out += _flatten(v, key + ".")
        else:
            out.append((key, v if isinstance(v, str) else json.dumps(v, default=str)))
    return out


def report_html(
    summary: pd.DataFrame,
    metrics_meta: Mapping[str, Any],
    notes: Sequence[str],
    *,
    figures: Mapping[str, bytes] | None = None,
    environment: Mapping[str, Any] | None = None,
    command: str = "",
    title: str = "pconv-bench report",
) -> str:
    """The whole report as one HTML document (a str; write it as UTF-8).

    `summary`: tidy frame (method, bin, group, metric, mean, ci_low, ci_high, n, ...); `metrics_meta`:
    name -> object or dict with label, decimals, higher_is_better; `notes`: plain-text footnotes;
    `figures`: caption -> PNG/SVG/JPEG bytes, in display order; `environment`: e.g. environment.json.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{summary["method"].nunique()} methods, {len(table_columns(summary))} columns '
        "(hole-ratio bin × group N/B). Best value per column and metric in "
        "bold (compared as shown); ± is the half-width of the confidence interval (hover a cell for the "
        "interval and n).</p>",
    ]
    if command:
        parts += ['<h2 id="command">Command</h2>', f"<pre><code>{_e(command)}</code></pre>"]
    parts += ['<h2 id="results">Results</h2>', _results_table(summary, metrics_meta)]
    if notes:
        parts += ['<h2 id="notes">Notes</h2>', '<ol class="notes">']
        parts += [f"<li>{_e(n)}</li>" for n in notes]
        parts.append("</ol>")
    if figures:
        parts += ['<h2 id="figures">Figures</h2>', _figures(figures)]
    if environment:
        parts += ['<h2 id="environment">Environment</h2>', '<table class="env">']
        parts += [f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in _flatten(environment)]
        parts.append("</table>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


_FIGURES = (("Metrics against the hole ratio, group N left, B right (learned models solid, classical "
             "dashed, 95 % CI bands)", "curves.png"),
            ("Masked input, each method, ground truth; a row per bin and group", "grid.png"))  # fmt: skip


def report_title(run: Mapping[str, Any], environment: Mapping[str, Any] | None = None, date: str = "") -> str:
    """'pconv-bench · quick profile · data builtin (80 images, 128×128) · 2026-12-06': the profile (else
    the command that evaluated), the data and the date of a run, from run.json and reproduce's
    environment.json (when there is one).

    >>> report_title({"command": "bench evaluate --data x/photos", "data": "/home/x/photos", "n_images": 8,
    ...               "image_size": [64, 64]}, None, "2026-01-02")
    'pconv-bench · bench evaluate · data x/photos (8 images, 64×64) · 2026-01-02'
    """
    import shlex
    from pathlib import PurePath

    env = environment or {}
    parts = ["pconv-bench"]
    profile = (env.get("profile") or {}).get("profile") if isinstance(env.get("profile"), Mapping) else None
    try:
        words = shlex.split(str(run.get("command") or ""))
    except ValueError:
        words = str(run.get("command") or "").split()
    if profile:
        parts.append(f"{profile} profile")
    elif "--profile" in words[:-1]:
        parts.append(f"{words[words.index('--profile') + 1]} profile")
    elif len(words) >= 2:
        parts.append(" ".join(words[:2]))
    image_set = env.get("image_set") if isinstance(env.get("image_set"), Mapping) else {}
    folder = PurePath(str(run.get("data") or ""))  # its last two parts: ".../quick/data" -> "quick/data"
    source = image_set.get("source") or "/".join(folder.parts[-2:])
    size = run.get("image_size")
    about = [f"{run['n_images']} images" if run.get("n_images") else "",
             f"{size[0]}×{size[1]}" if isinstance(size, list | tuple) and len(size) == 2 else ""]  # fmt: skip
    about = [a for a in about if a]
    if source or about:
        parts.append(" ".join(["data", str(source)] if source else ["data"])
                     + (f" ({', '.join(about)})" if about else ""))  # fmt: skip
    if date:
        parts.append(date)
    return " · ".join(parts)


def _run_date(out: Any) -> str:
    """The UTC date run.json was last written (the evaluation's date), '' when there is none."""
    import datetime

    from bench.runs.records import RUN_FILE

    try:
        t = (out / RUN_FILE).stat().st_mtime
    except OSError:
        return ""
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d")


def write_report(tables: Any, environment: Mapping[str, Any] | None = None, dest: Any = None) -> Any:
    """report.html of an evaluation folder, from what bench.reporting.tables.build_tables made of it and the
    figures beside it (embedded); written to `dest` (default: the folder). Returns the path."""
    from pathlib import Path

    from bench.core.files import write_text
    from bench.reporting.tables import latex_metrics, metric_order

    out = Path(tables.out)
    figures = {cap: (out / f).read_bytes() for cap, f in _FIGURES if (out / f).is_file()}
    names = metric_order(list(dict.fromkeys(tables.summary["metric"])), tables.ctx.metrics)
    html = report_html(tables.summary, latex_metrics(tables.ctx, names), tables.ctx.notes(), figures=figures,
                       environment=environment, command=tables.ctx.command,
                       title=report_title(tables.run, environment, _run_date(out)))  # fmt: skip
    path = Path(dest) if dest is not None else out / "report.html"
    write_text(path, html)
    return path
