"""The paper's claims checked on the summary.csv of one or more `bench reproduce` results folders.

For each folder (a profile's results), prints in Markdown:

* in how many of the (bin, group) cells PConv's mean beats Conv's and the `--versus` method's (default
  PatchMatch), per metric (L1, PSNR, SSIM, hole L1; lower or higher is better as the metric says);
* the cells above `--above` (default 0.3) hole ratio, the paper's "large holes": PConv's and the other
  method's mean in L1 and PSNR, and the gap (PConv minus the other; in L1 a negative gap is PConv ahead,
  in PSNR a positive one).

    .venv/bin/python benchmarks/profiles.py --results results/quick results/standard
    .venv/bin/python benchmarks/profiles.py --results results/standard --versus biharmonic --above 0.4
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: its folder must not shadow the packages
    _HERE = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
    sys.path.insert(0, str(_HERE.parent))

import pandas as pd  # noqa: E402

METRICS = {"l1_percent": ("L1 (%)", False), "psnr": ("PSNR", True), "ssim": ("SSIM", True),
           "hole_l1_percent": ("Hole L1 (%)", False)}  # fmt: skip
GAP_METRICS = ("l1_percent", "psnr")


def wins(summary: pd.DataFrame, a: str, b: str, metric: str) -> tuple[int, int]:
    """(cells where method a's mean is better than b's, cells where both have a mean)."""
    s = summary[summary["metric"] == metric].pivot_table(
        index=["bin", "group"], columns="method", values="mean"
    )
    if a not in s or b not in s:
        return 0, 0
    both = s[[a, b]].dropna()
    better = both[a] > both[b] if METRICS[metric][1] else both[a] < both[b]
    return int(better.sum()), len(both)


def large_hole_gaps(summary: pd.DataFrame, a: str, b: str, above: float) -> pd.DataFrame:
    """Rows (metric, bin, group, a's mean, b's mean, gap a - b) for the cells whose bin starts at or above
    `above`."""
    s = summary[summary["metric"].isin(GAP_METRICS) & summary["method"].isin([a, b])]
    s = s[[float(str(x).split("-")[0]) >= above - 1e-9 for x in s["bin"]]]
    t = s.pivot_table(index=["metric", "bin", "group"], columns="method", values="mean").reset_index()
    if a not in t or b not in t:
        return pd.DataFrame(columns=["metric", "bin", "group", a, b, "gap"])
    t["gap"] = t[a] - t[b]
    return t[["metric", "bin", "group", a, b, "gap"]]


def report(folder: Path, versus: str, above: float) -> str:
    return report_text(pd.read_csv(folder / "summary.csv"), str(folder), versus, above)


def report_text(summary: pd.DataFrame, title: str, versus: str, above: float) -> str:
    lines = [f"### {title}", "", f"| metric | pconv beats conv | pconv beats {versus} |", "|---|---:|---:|"]
    for m, (label, _) in METRICS.items():
        (w1, n1), (w2, n2) = wins(summary, "pconv", "conv", m), wins(summary, "pconv", versus, m)
        lines.append(f"| {label} | {w1} of {n1} | {w2} of {n2} |")
    gaps = large_hole_gaps(summary, "pconv", versus, above)
    head = f"| metric | bin | group | pconv | {versus} | gap |"
    lines += ["", f"Cells from {above:g} hole ratio up: pconv vs {versus} (gap of the unrounded means)", "",
              head, "|---|---|---|---:|---:|---:|"]  # fmt: skip
    for r in gaps.itertuples(index=False):
        lines.append(
            f"| {METRICS[r.metric][0]} | {r.bin} | {r.group} | {r[3]:.2f} | {r[4]:.2f} | {r.gap:+.2f} |"
        )
    higher = gaps["metric"].map(lambda m: METRICS[m][1]).astype(bool)
    ahead = int(((gaps["gap"] > 0) & higher | (gaps["gap"] < 0) & ~higher).sum())
    lines += [
        "",
        f"pconv ahead of {versus} in {ahead} of {len(gaps)} (metric, cell) pairs from {above:g} up",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", nargs="+", type=Path, required=True, help="results folders (summary.csv)")
    ap.add_argument("--versus", default="patchmatch", help="the method PConv is set against")
    ap.add_argument("--above", type=float, default=0.3, help="large holes: bins starting at this ratio")
    args = ap.parse_args()
    for folder in args.results:
        if not (folder / "summary.csv").is_file():
            sys.exit(f"Error: {folder / 'summary.csv'} does not exist")
        print(report(folder, args.versus, args.above))


if __name__ == "__main__":
    main()
