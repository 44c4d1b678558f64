"""Figures and the report's title: the grid's sample of pairs, the method colours, the curves' files."""

from __future__ import annotations

import colorsys
import json
import os
from types import SimpleNamespace

import pandas as pd
import pytest
from test_evaluate import dataset  # noqa: F401 (a module-scoped fixture)

from bench.reporting import plots
from bench.reporting.report import report_title, write_report
from bench.reporting.tables import TableContext
from bench.runs.pairing import sample_pairs
from masks.conventions import BIN_NAMES


def cross_pairs(n_images: int, groups=("N", "B"), bins=BIN_NAMES, drop=()) -> pd.DataFrame:
    """Cross pairing made by hand: every image meets one mask of every (bin, group) cell; `drop` removes
    cells."""
    rows = []
    for i in range(n_images):
        for b in bins:
            for g in groups:
                if (b, g) not in drop:
                    rows.append(dict(image=f"img{i:02d}.png", mask=f"{b}/{g}/{i:05d}.png", bin=b, group=g))
    return pd.DataFrame(rows).reset_index(names="pair_id")


@pytest.mark.parametrize("per_bin", [1, 2, 3])
@pytest.mark.parametrize("seed", range(8))
def test_grid_sample_every_bin_both_groups_distinct_photos(per_bin, seed):
    pairs = cross_pairs(20)
    s = sample_pairs(pairs, per_bin, seed=seed)
    assert s.groupby("bin").size().to_dict() == dict.fromkeys(BIN_NAMES, per_bin)
    assert list(dict.fromkeys(s["bin"])) == list(BIN_NAMES)  # bins in order
    assert set(s["group"]) == {"N", "B"}
    assert s["image"].is_unique  # 20 photos for 6 * per_bin rows: never one twice
    assert s["pair_id"].isin(pairs["pair_id"]).all() and s["pair_id"].is_unique
    # as many of each group as the turns allow
    counts = s["group"].value_counts()
    assert abs(counts["N"] - counts["B"]) <= 1
    pd.testing.assert_frame_equal(s, sample_pairs(pairs, per_bin, seed=seed))  # same seed, same pairs


def test_grid_sample_depends_on_seed_only():
    pairs = cross_pairs(20)
    draws = {tuple(sample_pairs(pairs, 2, seed=k)["pair_id"]) for k in range(6)}
    assert len(draws) > 1
    shuffled = pairs.sample(frac=1, random_state=3)  # the row order of the input does not matter
    assert (
        sample_pairs(shuffled, 2, seed=5)["pair_id"].tolist()
        == sample_pairs(pairs, 2, seed=5)["pair_id"].tolist()
    )


def test_grid_sample_few_photos_and_missing_cells():
    # 2 photos, 12 rows: each used 6 times (least used first); a bin without N takes B rows
    pairs = cross_pairs(2, drop={("0.3-0.4", "N")})
    s = sample_pairs(pairs, 2, seed=0)
    assert s["image"].value_counts().tolist() == [6, 6]
    assert s[s["bin"] == "0.3-0.4"]["group"].tolist() == ["B", "B"]
    assert len(s) == 12
    # one group only, and more rows asked than a bin holds
    one = cross_pairs(1, groups=("B",))
    assert sample_pairs(one, 3).groupby("bin").size().to_dict() == dict.fromkeys(BIN_NAMES, 1)
    assert sample_pairs(one, 0).empty and sample_pairs(one.iloc[:0], 2).empty


def _hue(colour: str) -> float:
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


LEARNED = ["pconv", "conv", "gl", "gntipt", "my_plugin", "another-model", "ckpt_v2"]
CLASSICAL = ["patchmatch", "telea", "ns", "biharmonic", "mean", "outputs", "outputs:lama"]


def test_method_families():
    assert {plots.method_family(m) for m in LEARNED} == {"learned"}
    assert {plots.method_family(m) for m in CLASSICAL} == {"classical"}
    assert plots.method_family("GntIpt") == "learned" and plots.method_family("Telea") == "classical"


def test_colours_warm_for_learned_cool_for_classical_and_distinct():
    warm = [plots.method_colour(m) for m in LEARNED]
    cool = [plots.method_colour(m) for m in CLASSICAL]
    assert not set(warm) & set(cool)
    assert all(h <= 60 or h >= 290 for h in map(_hue, warm)), warm  # reds, oranges, browns, magentas
    assert all(70 <= h <= 290 for h in map(_hue, cool)), cool  # greens, cyans, blues, purples
    known = [plots.method_colour(m) for m in ["pconv", "conv", "gl", "gntipt", *CLASSICAL[:5]]]
    assert len(set(known)) == len(known)  # the built-in methods never share a colour


def test_colour_stable_per_method():
    # a function of the name only: the same in every figure, whatever else is drawn, in whatever order
    for m in LEARNED + CLASSICAL:
        assert plots.method_colour(m) == plots.method_colour(m) == plots.method_colour(m.upper())
    assert plots.method_colour("GL") == plots.method_colour("gl")


def test_curves_written_with_a_learned_and_a_classical_method(tmp_path):
    rows = [dict(method=m, bin=b, group=g, metric=k, mean=float(i), ci_low=i - 0.5, ci_high=i + 0.5, n=5)
            for m in ("PConv (mine)", "telea") for i, b in enumerate(BIN_NAMES[:3])
            for g in ("N", "B") for k in ("psnr", "ssim")]  # fmt: skip
    files = plots.plot_curves(pd.DataFrame(rows), tmp_path / "curves.png", TableContext(),
                              {"PConv (mine)": "pconv"})  # fmt: skip
    assert [f.name for f in files] == ["curves.png", "curves.pdf"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[1].read_bytes()[:5] == b"%PDF-"


def test_row_label():
    assert plots.row_label("0.3-0.4", "B", "images/coffee_05.png") == "(0.3,0.4] B · coffee_05"
    long = "00004_lomiri-wallpapers-16.04_Wine_by_Jakkub_Mede_03.png"
    assert plots.image_label(long) == "…ine_by_Jakkub_Mede_03" and len(plots.image_label(long)) == 22


REPRODUCE_ENV = {"profile": {"profile": "quick", "size": 128}, "image_set": {"source": "builtin"}}
RUN = {"command": "bench reproduce --profile quick --results r", "data": "/tmp/x/runs/quick/data",
       "n_images": 80, "image_size": [128, 128]}  # fmt: skip


def test_title_from_the_run():
    assert report_title(RUN, REPRODUCE_ENV, "2026-12-06") == (
        "pconv-bench · quick profile · data builtin (80 images, 128×128) · 2026-12-06"
    )
    # without environment.json: the profile from the command, the data folder's last two parts
    assert report_title(RUN, None, "") == "pconv-bench · quick profile · data quick/data (80 images, 128×128)"
    ev = {"command": "bench evaluate --data d --masks m", "data": "/a/b/photos"}
    assert report_title(ev) == "pconv-bench · bench evaluate · data b/photos"
    assert report_title({}) == "pconv-bench"


def test_report_title_has_the_date_run_json_was_written(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps(RUN))
    os.utime(tmp_path / "run.json", (1_000_000_000, 1_000_000_000))  # 2001-09-09 01:46:40 UTC
    summary = pd.DataFrame([dict(method="a", bin="0.1-0.2", group="N", metric="psnr", mean=20.0,
                                 ci_low=19.0, ci_high=21.0, n=3)])  # fmt: skip
    tables = SimpleNamespace(out=tmp_path, summary=summary, ctx=TableContext(), run=RUN)
    page = write_report(tables, REPRODUCE_ENV).read_text()
    want = "pconv-bench · quick profile · data builtin (80 images, 128×128) · 2001-09-09"
    assert f"<title>{want}</title>" in page and f"<h1>{want}</h1>" in page
    assert tmp_path.name not in page.split("<h1>")[1].split("</h1>")[0]


def test_grid_rows_are_the_pictures_evaluate_kept(dataset, tmp_path):  # noqa: F811
    from test_evaluate import _run

    from bench.runs.records import MethodRecords, read_run, sample_name

    out = tmp_path / "ev"
    _run(dataset, out, methods=("mean", "telea"), samples_per_bin=2)
    run, pairs = read_run(out), pd.read_csv(out / "pairs.csv", dtype={"bin": str, "group": str})
    rows = plots.grid_pairs(out, run, pairs)
    # a fresh evaluation kept the pictures of exactly the pairs the sampler draws, for every method
    assert rows["pair_id"].tolist() == sample_pairs(pairs, 2)["pair_id"].tolist()
    folders = [MethodRecords(out, m["name"], m["key"]).samples_path for m in run["methods"]]
    want = {sample_name(r.image, r.mask, r.inputs) for r in rows.itertuples()}
    assert all({f.name for f in d.iterdir()} == want for d in folders)
    assert set(rows["group"]) == {"N", "B"} and rows["bin"].nunique() == pairs["bin"].nunique()
    # a folder whose pictures an earlier release chose (the first pairs of group N): the grid shows those
    old = pairs[pairs["group"] == "N"].groupby("bin").head(2)
    picture = next(folders[0].iterdir()).read_bytes()
    for d in folders:
        for f in d.iterdir():
            f.unlink()
        for r in old.itertuples():
            (d / sample_name(r.image, r.mask, r.inputs)).write_bytes(picture)
    assert set(plots.grid_pairs(out, run, pairs)["pair_id"]) == set(old["pair_id"])
