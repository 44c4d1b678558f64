"""Aggregation and exports from hand-made records: means, bootstrap CIs, paired test, bold, IS*, reference."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.metrics.registry import is_splits_for
from bench.reporting import reference as R
from bench.reporting import statistics as S
from bench.reporting import tables as T

PAIR = ["l1_percent", "psnr", "ssim", "hole_l1_percent"]  # the builtin per-pair metrics


def _frame(rng: np.random.Generator, methods=("a", "b"), bins=("0.1-0.2", "0.2-0.3"), n=12, shift=None):
    """A records frame with random metrics; method k gets `shift[k]` added to every metric."""
    shift = shift or {}
    rows = []
    pid = 0
    for b in bins:
        for g in ("N", "B"):
            for i in range(n):
                base = rng.normal(size=4)
                for m in methods:
                    d = shift.get(m, 0.0)
                    rows.append(
                        dict(
                            method=m,
                            pair_id=pid,
                            image=f"im{i}",
                            mask=f"{b}{g}{i}",
                            bin=b,
                            group=g,
                            l1_percent=2 + base[0] + d,
                            psnr=25 + base[1] + d,
                            ssim=0.8 + base[2] / 10 + d,
                            hole_l1_percent=10 + base[3] + d,
                        )
                    )
                pid += 1
    return pd.DataFrame(rows)


def test_summary_means_match_a_plain_loop(rng):
    f = _frame(rng)
    s = T.summarize(f, n_boot=200)
    for m in ("a", "b"):
        for b in ("0.1-0.2", "0.2-0.3"):
            for g in ("N", "B"):
                vals = [
                    r["psnr"]
                    for _, r in f.iterrows()
                    if r["method"] == m and r["bin"] == b and r["group"] == g
                ]
                row = s[(s.method == m) & (s.bin == b) & (s.group == g) & (s.metric == "psnr")].iloc[0]
                assert row["n"] == len(vals) == 12
                assert row["mean"] == pytest.approx(sum(vals) / len(vals), rel=1e-12)
    # 2 methods x 2 bins x 2 groups x 4 per-pair metrics, no IS without probs
    assert len(s) == 32 and set(s.metric) == set(PAIR)


def test_bootstrap_ci_contains_mean_is_seeded_and_has_the_right_width():
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.normal(3.0, 2.0, size=200)
        lo, hi = S.bootstrap_ci(v, 1000, 0.95, np.random.default_rng(5))
        assert lo < v.mean() < hi
        # Normal theory: the CI of a mean is about 2 * 1.96 * sd / sqrt(n) wide.
        assert (hi - lo) == pytest.approx(2 * 1.96 * v.std(ddof=1) / math.sqrt(len(v)), rel=0.2)
    v = rng.normal(size=30)
    a = S.bootstrap_ci(v, 500, 0.95, np.random.default_rng(7))
    b = S.bootstrap_ci(v, 500, 0.95, np.random.default_rng(7))
    c = S.bootstrap_ci(v, 500, 0.95, np.random.default_rng(8))
    assert a == b and a != c


def test_summary_ci_is_seeded_per_cell(rng):
    f = _frame(rng)
    s1 = T.summarize(f, n_boot=300, seed=3)
    s2 = T.summarize(f, n_boot=300, seed=3)
    pd.testing.assert_frame_equal(s1, s2)
    # A cell's CI does not depend on which other methods are in the frame.
    s_a = T.summarize(f[f.method == "a"], n_boot=300, seed=3)
    pd.testing.assert_frame_equal(s_a, s1[s1.method == "a"].reset_index(drop=True))
    assert (s1.ci_low <= s1["mean"]).all() and (s1["mean"] <= s1.ci_high).all()


def test_paired_test_identical_methods_and_a_known_shift(rng):
    f = _frame(rng, methods=("a", "b"), n=20)
    f.loc[f.method == "b", PAIR] = f.loc[f.method == "a", PAIR].to_numpy()
    p = S.paired_test(f, "a", "b", T.pair_metrics_of(f), n_boot=200)
    assert len(p) == 2 * 2 * 4
    assert (p.mean_diff == 0).all() and (p.p_value == 1.0).all() and (p.ci_low == 0).all()
    # b = a - (0.5 + distinct small steps): every difference positive, no ties.
    f2 = f.copy()
    step = 0.5 + np.arange(20) / 64  # exactly representable, so the differences are exact too
    for g in ("N", "B"):
        for bn in ("0.1-0.2", "0.2-0.3"):
            sel = (f2.method == "b") & (f2.group == g) & (f2.bin == bn)
            f2.loc[sel, PAIR] = f2.loc[sel, PAIR].to_numpy() - step[:, None]
    p2 = S.paired_test(f2, "a", "b", T.pair_metrics_of(f2), n_boot=200)
    assert np.allclose(p2.mean_diff, step.mean())
    assert (p2.ci_low <= step.mean()).all() and (step.mean() <= p2.ci_high).all()
    # All n=20 signed ranks positive: the exact two-sided Wilcoxon p-value is 2 / 2**20.
    assert np.allclose(p2.p_value, 2 / 2**20, rtol=1e-6)


def _hand_summary(is_rows=True):
    rows = []
    # L1 (lower is better): b best in 0.1-0.2 N, a best in 0.1-0.2 B. PSNR: a best in both.
    cells = {
        ("a", "N"): dict(l1_percent=2.0, psnr=30.0, ssim=0.9),
        ("b", "N"): dict(l1_percent=1.0, psnr=20.0, ssim=0.8),
        ("a", "B"): dict(l1_percent=1.5, psnr=31.0, ssim=0.7),
        ("b", "B"): dict(l1_percent=3.0, psnr=21.0, ssim=0.95),
    }
    for (m, g), vals in cells.items():
        for k, v in vals.items():
            rows.append(
                dict(
                    method=m,
                    bin="0.1-0.2",
                    group=g,
                    metric=k,
                    mean=v,
                    ci_low=v - 0.1,
                    ci_high=v + 0.1,
                    n=10,
                    std=0.1,
                )
            )
        if is_rows:
            rows.append(
                dict(
                    method=m,
                    bin="0.1-0.2",
                    group=g,
                    metric="is",
                    mean=3.0 if m == "a" else 2.0,
                    ci_low=np.nan,
                    ci_high=np.nan,
                    n=10,
                    std=0.1,
                )
            )
    return T._order(pd.DataFrame(rows), ["a", "b"], ["0.1-0.2"], ["N", "B"])


def test_markdown_and_csv_layout_and_formats():
    s = _hand_summary()
    md = T.format_table_md(s, T.TableContext(is_label="IS", is_network="inception-v3"))
    assert "| Metric" in md and "(0.1,0.2] N" in md and "(0.1,0.2] B" in md
    assert "**1.00** ±0.10" in md and "**0.950** ±0.100" in md  # SSIM 3 decimals, bold best
    assert "IS: Inception Score from inception-v3." in md
    csv = T.table_csv(s, T.TableContext(is_label="IS", is_network="inception-v3"))
    df = pd.read_csv(__import__("io").StringIO(csv), comment="#")
    assert list(df.columns) == ["metric", "method", "0.1-0.2 N", "0.1-0.2 B"]
    assert list(df.metric.unique()) == ["L1 (%)", "PSNR", "SSIM", "IS"]
    assert csv.count("30.00") == 1


def test_standin_is_labelled_is_star_everywhere(tmp_path: Path):
    ctx = T.TableContext(
        is_label="IS*",
        is_network="efficientnet-lite0 (stand-in)",
        is_footnote="EfficientNet-Lite0 ImageNet classifier.",
        features={"pconv": "vgg16"},
    )
    files = T.write_exports(tmp_path, _hand_summary(), ctx)
    md = (tmp_path / "table.md").read_text()
    tex = (tmp_path / "table.tex").read_text()
    csv = (tmp_path / "table.csv").read_text()
    summ = pd.read_csv(tmp_path / "summary.csv")
    assert len(files) == 4
    assert "| IS*" in md and "| IS " not in md
    assert "IS$^{*}$ & a" in tex and "\nIS & " not in tex
    assert "IS$^{*}$ (stand-in network efficientnet-lite0 (stand-in)): EfficientNet-Lite0 ImageNet" in tex
    assert "\nIS*,a," in csv and "\nIS," not in csv and "efficientnet-lite0 (stand-in)" in csv
    assert set(summ.loc[summ.metric == "is", "label"]) == {"IS*"}
    assert set(summ.loc[summ.metric == "is", "is_network"]) == {"efficientnet-lite0 (stand-in)"}
    for text in (md, tex, csv):
        assert "efficientnet-lite0" in text and "vgg16" in text  # which networks produced IS and features


def test_is_rows_from_probabilities_match_the_formula(rng):
    f = _frame(rng, methods=("a",), bins=("0.1-0.2",), n=7)
    logits = rng.normal(size=(len(f), 5)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs = {"a": {int(pid): p[i] for i, pid in enumerate(f.pair_id)}}
    s = T.summarize(f, {"a": {"probs": probs["a"]}}, n_boot=50, is_splits=1)
    for g in ("N", "B"):
        pc = np.stack([probs["a"][int(i)] for i in f[f.group == g].pair_id])
        marg = pc.mean(0)
        want = math.exp(np.mean(np.sum(pc * (np.log(pc) - np.log(marg)), axis=1)))
        got = s[(s.metric == "is") & (s.group == g)]["mean"].item()
        assert got == pytest.approx(want, rel=1e-9)


def test_is_split_rule_and_single_image_splits_are_avoided(rng):
    assert [is_splits_for(n) for n in (1, 8, 99, 100, 499, 500, 1000, 5000)] == [1, 1, 1, 2, 9, 10, 10, 10]
    # With the default rule, 8 pairs form one split: IS > 1 for differing predictions (one image per
    # split would give exactly 1).
    f = _frame(rng, methods=("a",), bins=("0.1-0.2",), n=8)
    p = np.eye(5)[np.arange(len(f)) % 5] * 0.9 + 0.02
    s = T.summarize(f, {"a": {"probs": {int(pid): p[i] for i, pid in enumerate(f.pair_id)}}}, n_boot=20)
    assert (s[s.metric == "is"]["mean"] > 2).all()


def test_reference_side_by_side_with_deltas(tmp_path: Path):
    ref = tmp_path / "ref.csv"
    ref.write_text(
        "# a comment line\nmethod,group,bin,l1_percent,psnr,ssim\n"
        "A,N,0.1-0.2,1.5,29.0,\nZ,B,0.1-0.2,1.0,20.0,0.5\n"
    )
    cmp = R.compare_reference(_hand_summary(), R.read_reference(ref))
    a = cmp[cmp.method == "A"].set_index("metric")
    assert a.loc["l1_percent", "measured_as"] == "a"  # matched case-insensitively
    assert a.loc["l1_percent", "delta"] == pytest.approx(2.0 - 1.5)
    assert a.loc["psnr", "delta"] == pytest.approx(30.0 - 29.0)
    assert "ssim" not in a.index  # empty reference cell: no row
    z = cmp[cmp.method == "Z"]
    assert len(z) == 3 and z.measured.isna().all()
    text = T.format_reference_text(cmp)
    assert "+0.50" in text and "+1.00" in text


def test_packaged_reference_is_the_papers_partial_table():
    p = R.default_reference_path()
    assert p.is_file()
    df = R.read_reference()
    assert list(df.columns) == ["method", "group", "bin", "l1_percent", "psnr", "ssim"]
    row = df[(df.method == "PConv") & (df.bin == "0.3-0.4")].iloc[0]
    assert (row.l1_percent, row.psnr, row.ssim) == (2.84, 22.89, 0.689)


def test_table_csv_escapes_formula_labels_but_not_negative_numbers():
    s = _hand_summary(is_rows=False)
    s["method"] = s["method"].map({"a": "=HYPERLINK(1)", "b": "b"})
    s.loc[s["metric"] == "psnr", "mean"] = -5.0
    csv = T.table_csv(s, T.TableContext())
    lines = [ln for ln in csv.splitlines() if not ln.startswith("#")]
    assert not any(ln.startswith("=") or ",=" in ln for ln in lines), csv
    assert "'=HYPERLINK(1)" in csv and "-5.00" in csv and "'-5" not in csv


def test_reference_protocol_line_and_run_protocol(tmp_path: Path):
    ref = tmp_path / "ref.csv"
    ref.write_text("# a note: not a protocol\n# protocol: size=512 masks=nvidia pairing=distinct junk\n"
                   "method,group,bin,psnr\nA,N,0.1-0.2,20\n")  # fmt: skip
    assert R.reference_protocol(ref) == {"size": "512", "masks": "nvidia", "pairing": "distinct"}
    assert R.reference_protocol(R.default_reference_path()) == {"size": "512", "masks": "nvidia",
                                                                 "pairing": "distinct"}  # fmt: skip
    masks = tmp_path / "m"
    masks.mkdir()
    (masks / "manifest.csv").write_text("file,hole_ratio,bin,group,kind,seed,size\n")
    run = {"image_size": [64, 64], "masks": str(masks), "pairing": "cross"}
    assert R.run_protocol(run) == {"size": "64", "masks": "generated", "pairing": "cross"}
    differs = R.protocol_mismatch(ref, run)
    assert "size 64 (reference: 512)" in differs and "masks generated (reference: nvidia)" in differs
    (masks / "manifest.csv").write_text("file,hole_ratio,bin,group,kind,seed,size,source,nvidia_bin\n")
    run.update(image_size=[512, 512], pairing="distinct")
    assert R.protocol_mismatch(ref, run) == ""
    plain = tmp_path / "plain.csv"
    plain.write_text("method,group,bin,psnr\nA,N,0.1-0.2,20\n")
    assert R.protocol_mismatch(plain, {"image_size": [64, 64]}) == ""  # states nothing: always compared
