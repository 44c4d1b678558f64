"""Mask sets on disk: generate (workers, skip-if-complete), import round trip, stats, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.core.errors import BenchError
from bench.core.files import read_mask, write_png
from masks.conventions import BINS, GROUPS, Group, bin_by_name, hole_within_margin, margin_for
from masks.manifest import generate_set, read_manifest


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("set1")
    df = generate_set(out, size=64, per_bin=6, seed=3, workers=1, progress=False)
    return out, df


def test_generated_set_matches_manifest(small_set):
    out, df = small_set
    assert list(df.columns[:7]) == ["file", "hole_ratio", "bin", "group", "kind", "seed", "size"]
    assert len(df) == 6 * len(BINS) * len(GROUPS)
    assert (out / "preview.png").is_file()
    for row in df.itertuples():
        m = read_mask(out / row.file)
        assert m.shape == (64, 64)
        r = float((m == 0).mean())
        assert abs(r - row.hole_ratio) < 1e-6
        assert bin_by_name(row.bin).contains(r)
        if row.group == "B":
            assert not hole_within_margin(m, margin_for(64))
    assert set(df["seed"]) == {3} and set(df["kind"]) == {"mixed"}


def test_worker_count_does_not_change_bytes(small_set, tmp_path):
    out1, df1 = small_set
    out2 = tmp_path / "w2"
    df2 = generate_set(out2, size=64, per_bin=6, seed=3, workers=2, progress=False)
    pd.testing.assert_frame_equal(df1, df2)
    assert (out1 / "manifest.csv").read_bytes() == (out2 / "manifest.csv").read_bytes()
    for f in df1["file"]:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes()


def test_subset_masks_equal_full_set_masks(small_set, tmp_path):
    # A mask's bytes depend on (seed, bin, group, index) only, not on which other bins were asked for.
    out1, _ = small_set
    b = bin_by_name("0.4-0.5")
    df = generate_set(tmp_path, size=64, per_bin=3, bins=[b], groups=[Group.B], seed=3, progress=False)
    assert len(df) == 3
    for f in df["file"]:
        assert (tmp_path / f).read_bytes() == (out1 / f).read_bytes()


def test_rerun_with_same_parameters_does_nothing(tmp_path):
    generate_set(tmp_path, size=64, per_bin=2, seed=1, progress=False)
    probe = tmp_path / BINS[0].name / "N" / "00000.png"
    before = probe.stat().st_mtime_ns
    again = generate_set(tmp_path, size=64, per_bin=2, seed=1, progress=False)
    assert probe.stat().st_mtime_ns == before and again.attrs.get("skipped")
    generate_set(tmp_path, size=64, per_bin=2, seed=2, progress=False)  # other seed: regenerated
    assert probe.stat().st_mtime_ns != before


def test_read_manifest_errors(tmp_path):
    with pytest.raises(BenchError, match="does not exist"):
        read_manifest(tmp_path / "nope")
    with pytest.raises(BenchError, match="missing"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("file,hole_ratio\na.png,0.2\n")
    with pytest.raises(BenchError, match="missing column"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(
        "file,hole_ratio,bin,group,kind,seed,size\na.png,0.2,0.1-0.2,X,mixed,0,64\n"
    )
    with pytest.raises(BenchError, match="group"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text(
        "file,hole_ratio,bin,group,kind,seed,size\na.png,zz,0.1-0.2,N,mixed,0,64\n"
    )
    with pytest.raises(BenchError, match="not numbers"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("source", ["hole-white", "hole-black"])
@pytest.mark.parametrize("forced", [False, True])
def test_import_round_trip(small_set, tmp_path, runner, source, forced):
    out, df = small_set
    src = tmp_path / "src"
    for f in df["file"]:
        m = read_mask(out / f)
        write_png(src / f, 255 - m if source == "hole-white" else m)  # LaMa style: white = hole
    args = ["masks", "import", str(src), "--out", str(tmp_path / "imp")]
    if forced:
        args += ["--polarity", source]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    if not forced:
        assert f"auto-detected as {source}" in r.output
    else:
        assert "auto-detected" not in r.output
    imp = read_manifest(tmp_path / "imp")
    merged = df.merge(imp, on="file", suffixes=("", "_imp"))
    assert len(merged) == len(df) == len(imp)
    assert np.allclose(merged["hole_ratio"], merged["hole_ratio_imp"], atol=1e-6)
    assert (merged["bin"] == merged["bin_imp"]).all() and (merged["group"] == merged["group_imp"]).all()
    for f in df["file"]:
        assert np.array_equal(read_mask(out / f), read_mask(tmp_path / "imp" / f))


def test_import_hole_black_resize_and_out_of_bin(small_set, tmp_path, runner):
    out, df = small_set
    src = tmp_path / "nv"
    keep = df.groupby(["bin", "group"]).head(1)
    for f in keep["file"]:
        write_png(src / f, read_mask(out / f))
    empty = np.full((64, 64), 255, np.uint8)  # no hole: outside every bin, must be listed not dropped
    write_png(src / "empty.png", empty)
    full = np.zeros((64, 64), np.uint8)
    full[:, :48] = 255  # 25 % hole touching the border
    write_png(src / "left.png", full)
    r = runner.invoke(
        main,
        [
            "masks",
            "import",
            str(src),
            "--out",
            str(tmp_path / "imp"),
            "--size",
            "128",
            "--polarity",
            "hole-black",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "outside every bin: empty.png" in r.output
    imp = read_manifest(tmp_path / "imp").set_index("file")
    assert imp.loc["empty.png", "bin"] == "" and imp.loc["empty.png", "hole_ratio"] == 0
    assert imp.loc["left.png", "bin"] == "0.2-0.3" and imp.loc["left.png", "group"] == "N"
    for f in keep["file"]:
        m = read_mask(tmp_path / "imp" / f)
        assert m.shape == (128, 128)
        # Nearest neighbour x2 of a binary mask: every source pixel becomes a 2x2 block, ratio unchanged.
        assert np.array_equal(m[::2, ::2], read_mask(out / f))
        assert imp.loc[f, "bin"] == df.set_index("file").loc[f, "bin"]


def test_stats_prints_table_and_histogram(small_set, runner, tmp_path):
    out, df = small_set
    plot = tmp_path / "h.png"
    r = runner.invoke(main, ["masks", "stats", str(out), "--plot", str(plot)])
    assert r.exit_code == 0, r.output
    assert plot.is_file() and plot.read_bytes()[:4] == b"\x89PNG"
    lines = [ln for ln in r.output.splitlines() if ln.startswith("| 0.")]
    assert len(lines) == 12
    for ln in lines:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert int(cells[2]) == 6
        sub = df[(df["bin"] == cells[0]) & (df["group"] == cells[1])]
        assert float(cells[3]) == pytest.approx(sub["hole_ratio"].mean(), abs=1e-4)


def test_stats_on_missing_folder(runner, tmp_path):
    r = runner.invoke(main, ["masks", "stats", str(tmp_path / "none")])
    assert r.exit_code == 2 and "does not exist" in r.output


@pytest.mark.parametrize(
    "extra",
    [
        ["--ratio", "0.3-0.9"],
        ["--ratio", "abc"],
        ["--ratio", "0.4-0.3"],
        ["--size", "12"],
        ["--size", "16"],
        ["--per-bin", "0"],
    ],
)
def test_bad_generate_input_exits_2_and_writes_nothing(runner, tmp_path, extra):
    out = tmp_path / "out"
    r = runner.invoke(main, ["masks", "generate", "--out", str(out), "--size", "64", *extra])
    assert r.exit_code == 2, r.output
    assert "Error" in r.output
    assert not out.exists()


def test_generate_cli_one_bin_one_group(runner, tmp_path):
    out = tmp_path / "g"
    r = runner.invoke(
        main,
        [
            "masks",
            "generate",
            "--out",
            str(out),
            "--size",
            "64",
            "--per-bin",
            "3",
            "--ratio",
            "0.5-0.6",
            "--border",
            "--kind",
            "strokes",
            "--seed",
            "5",
        ],
    )
    assert r.exit_code == 0, r.output
    df = read_manifest(out)
    assert len(df) == 3 and set(df["bin"]) == {"0.5-0.6"} and set(df["group"]) == {"B"}
    assert set(df["kind"]) == {"strokes"}


def test_import_bad_input(runner, tmp_path):
    r = runner.invoke(main, ["masks", "import", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "does not exist" in r.output
    (tmp_path / "empty").mkdir()
    r = runner.invoke(main, ["masks", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no mask images" in r.output
    r = runner.invoke(main, ["masks", "import", str(tmp_path / "empty"), "--out", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "other than SRC" in r.output
    assert not (tmp_path / "o").exists()


def test_import_set_returns_what_it_wrote_without_the_command_line(small_set, tmp_path):
    """The library call: the manifest, the polarity it resolved and the masks in no bin, as a result
    object (no DataFrame.attrs), for a hand-made source whose answers are known."""
    from masks.manifest import ImportedSet, import_set

    out, df = small_set
    src = tmp_path / "src"
    keep = df.groupby(["bin", "group"]).head(1)
    for f in keep["file"]:
        write_png(src / f, 255 - read_mask(out / f))  # white holes
    write_png(src / "no-hole.png", np.zeros((64, 64), np.uint8))  # all white = all hole: in no bin
    res = import_set(src, tmp_path / "imp", progress=False)
    assert isinstance(res, ImportedSet) and res.polarity == "hole-white" and res.nvidia is None
    assert len(res.manifest) == len(keep) + 1 and res.manifest.attrs == {}
    assert list(res.outside["file"]) == ["no-hole.png"]
    pd.testing.assert_frame_equal(res.manifest, read_manifest(tmp_path / "imp"))
