"""`bench evaluate`: pairing, resumable records, fingerprints, and bad input (tiny images, cheap methods)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FakeISNet, write_crops

from bench.cli import main
from bench.evaluation.runner import EvalConfig, evaluate
from bench.runs.pairing import make_pairs
from bench.runs.records import RECORDS_FILE, list_method_dirs
from masks.conventions import BINS, Group

SIZE = 32
SEL_BINS = BINS[1:3]  # 0.1-0.2, 0.2-0.3: a mask set with only these two bins
TABLE_FILES = ("summary.csv", "paired.csv", "table.csv", "table.md", "table.tex")


pytestmark = pytest.mark.usefixtures("fake_inception")


def _dirs(out):
    """The record folders of the methods (not the ground truth's, kept for FID/KID)."""
    return [d for d in list_method_dirs(out) if not d.name.startswith("ground-truth-")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("evalset")
    write_crops(root / "images", astronaut, SIZE)
    generate_set(root / "masks", size=SIZE, per_bin=3, bins=SEL_BINS, seed=1, progress=False)
    generate_set(root / "masks48", size=48, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    return root


def _run(ds: Path, out: Path, methods=("mean", "telea"), **kw):
    kw.setdefault("bins", SEL_BINS)
    kw.setdefault("batch_size", 3)
    kw.setdefault("n_boot", 200)
    kw.setdefault("figures", False)
    cfg = EvalConfig(data=ds / "images", masks=ds / "masks", methods=tuple(methods), out=out, progress=False,
                     **kw)  # fmt: skip
    return evaluate(cfg, is_network=FakeISNet())


def _tables(out: Path) -> dict[str, bytes]:
    return {f: (out / f).read_bytes() for f in TABLE_FILES}


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


# ---------------------------------------------------------------------------------------------- pairing


def test_pairing_is_seeded_and_independent_of_selection_and_limit():
    man = pd.DataFrame(
        [
            dict(file=f"{b.name}/{g}/{i}.png", bin=b.name, group=g)
            for b in BINS[:3]
            for g in "NB"
            for i in range(5)
        ]
    )
    images = [f"img{i}.png" for i in range(12)]  # more images than masks per cell: permutations repeat
    a = make_pairs(images, man, BINS[:3], (Group.N, Group.B), seed=3)
    b = make_pairs(images, man, BINS[:3], (Group.N, Group.B), seed=3)
    c = make_pairs(images, man, BINS[:3], (Group.N, Group.B), seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["mask"].equals(c["mask"])
    assert len(a) == 12 * 3 * 2 and a.groupby(["bin", "group"]).size().eq(12).all()
    # Each cell's masks come from that cell, and every mask is used before any repeats.
    assert all(m.startswith(f"{r.bin}/{r.group}/") for m, r in zip(a["mask"], a.itertuples(), strict=True))
    cell = a[(a.bin == BINS[0].name) & (a.group == "N")]["mask"].tolist()
    assert len(set(cell[:5])) == 5 and len(set(cell[5:10])) == 5
    key = ["image", "mask", "bin", "group"]
    # One bin alone, or one group alone: the same masks for the same images.
    one = make_pairs(images, man, BINS[1:2], (Group.B,), seed=3)
    sub = a[(a.bin == BINS[1].name) & (a.group == "B")][key].reset_index(drop=True)
    pd.testing.assert_frame_equal(one[key], sub)
    # --limit keeps a prefix of the images and their pairs.
    lim = make_pairs(images, man, BINS[:3], (Group.N, Group.B), seed=3, limit=4)
    pd.testing.assert_frame_equal(lim[key], a[a.image.isin(images[:4])][key].reset_index(drop=True))


def test_pairs_do_not_depend_on_the_methods(dataset, tmp_path):
    r1 = _run(dataset, tmp_path / "a", methods=("mean",))
    r2 = _run(dataset, tmp_path / "b", methods=("telea", "mean"))
    assert (tmp_path / "a/pairs.csv").read_bytes() == (tmp_path / "b/pairs.csv").read_bytes()
    s1 = r1.summary[r1.summary.method == "mean"].reset_index(drop=True)
    s2 = r2.summary[r2.summary.method == "mean"].reset_index(drop=True)
    pd.testing.assert_frame_equal(s1, s2)
    assert r1.n_pairs == 4 * 2 * 2 and r1.computed == 16 and r2.computed == 32


# ---------------------------------------------------------------------------------------------- records


def test_records_hand_checked_and_run_json(dataset, tmp_path):
    from bench.metrics.registry import all_metrics

    r = _run(dataset, tmp_path / "o", methods=("mean",))
    (folder,) = _dirs(tmp_path / "o")
    recs = [json.loads(x) for x in (folder / RECORDS_FILE).read_text().splitlines()]
    assert len(recs) == 16
    # Recompute one pair by hand: mean fill of the hole, composited, metrics.
    rec = recs[5]
    img = torch.from_numpy(
        cv2.cvtColor(cv2.imread(str(dataset / "images" / rec["image"])), cv2.COLOR_BGR2RGB)
    )
    img = img.permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(cv2.imread(str(dataset / "masks" / rec["mask"]), 0) >= 128).float()[None, None]
    mean = (img * m).sum((2, 3), keepdim=True) / m.sum()
    comp = m * img + (1 - m) * mean
    want = all_metrics(comp, img, m)
    assert rec["metrics"]["l1_percent"] == pytest.approx(float(want["l1_percent"][0]), rel=1e-5)
    assert rec["metrics"]["psnr"] == pytest.approx(float(want["psnr"][0]), rel=1e-5)
    # summary mean == plain mean of the records of that cell
    cell = [x["metrics"]["psnr"] for x in recs if x["bin"] == rec["bin"] and x["group"] == rec["group"]]
    s = r.summary
    got = s[(s.bin == rec["bin"]) & (s.group == rec["group"]) & (s.metric == "psnr")]["mean"].item()
    assert got == pytest.approx(np.mean(cell), rel=1e-12)
    run = json.loads((tmp_path / "o/run.json").read_text())
    assert (
        run["seed"] == 0
        and run["is_network"]["label"] == "IS*"
        and run["is_network"]["name"] == FakeISNet.name
    )
    assert run["bins"] == [b.name for b in SEL_BINS] and run["data"].endswith("images")


def test_resume_after_torn_line_and_crash_gives_identical_tables(dataset, tmp_path, monkeypatch):
    _run(dataset, tmp_path / "ref")
    want = _tables(tmp_path / "ref")

    # 1) A run killed mid-way: the second method raises after two batches.
    import bench.methods.inpainters as inp

    real = inp.get_inpainters

    def crashing(specs, **kw):
        (m,) = real(specs, **kw)
        if m.name == "telea":
            calls = {"n": 0}
            orig = m.inpaint

            def inpaint(images, masks):
                calls["n"] += 1
                if calls["n"] > 2:
                    raise KeyboardInterrupt
                return orig(images, masks)

            m.inpaint = inpaint
        return [m]

    monkeypatch.setattr(inp, "get_inpainters", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(dataset, tmp_path / "x")
    monkeypatch.setattr(inp, "get_inpainters", real)
    telea = next(d for d in _dirs(tmp_path / "x") if d.name.startswith("telea"))
    mean = next(d for d in _dirs(tmp_path / "x") if d.name.startswith("mean"))
    # Chunks of 3 pairs run every method in turn: mean finished 3 chunks, telea 2 when it was killed.
    assert len((mean / RECORDS_FILE).read_text().splitlines()) == 9
    assert len((telea / RECORDS_FILE).read_text().splitlines()) == 6
    # 2) ... and its last line torn, as a kill during a write would leave it.
    data = (telea / RECORDS_FILE).read_bytes()
    (telea / RECORDS_FILE).write_bytes(data[: len(data) - 40])
    r = _run(dataset, tmp_path / "x")
    assert r.computed == (16 - 9) + (16 - 5) and r.reused == 9 + 5
    assert _tables(tmp_path / "x") == want
    lines = (telea / RECORDS_FILE).read_text().splitlines()
    assert len(lines) == 16 and all(json.loads(x) for x in lines)
    # 3) A rerun with nothing to do computes nothing and changes no table byte.
    r = _run(dataset, tmp_path / "x")
    assert r.computed == 0 and _tables(tmp_path / "x") == want


def test_changed_options_change_the_fingerprint_and_retire_old_records(dataset, tmp_path):
    _run(dataset, tmp_path / "o", methods=("telea",))
    (old,) = _dirs(tmp_path / "o")
    r = _run(dataset, tmp_path / "o", methods=("telea:radius=7",))
    (new,) = _dirs(tmp_path / "o")
    assert new.name != old.name and r.computed == 16 and r.reused == 0
    assert (tmp_path / "o/records/stale" / old.name / RECORDS_FILE).is_file()  # kept aside, never read
    # Back to the old options: the old records are stale now, so they are recomputed, not reused.
    r = _run(dataset, tmp_path / "o", methods=("telea",))
    assert r.computed == 16


def test_one_method_with_two_settings(dataset, tmp_path):
    r = _run(dataset, tmp_path / "o", methods=("telea", "telea:radius=7"))
    labels = list(dict.fromkeys(r.summary.method))
    assert len(labels) == 2 and all(x.startswith("telea@") for x in labels)
    assert len(_dirs(tmp_path / "o")) == 2
    a = r.summary[r.summary.method == labels[0]]["mean"].to_numpy()
    b = r.summary[r.summary.method == labels[1]]["mean"].to_numpy()
    assert not np.allclose(a, b)  # the radius changes the result
    # Either setting alone reuses its folder (the label is not part of it).
    r = _run(dataset, tmp_path / "o", methods=("telea:radius=7",))
    assert r.computed == 0 and np.allclose(r.summary["mean"].to_numpy(), b, equal_nan=True)


def test_figures_are_written(dataset, tmp_path):
    r = _run(dataset, tmp_path / "o", methods=("mean",), figures=True, samples_per_bin=1)
    names = {p.name for p in r.files}
    assert {"curves.png", "grid.png", "curves.pdf", "grid.pdf", "table.md"} <= names
    for f in ("curves.pdf", "grid.pdf"):
        assert (tmp_path / "o" / f).read_bytes().startswith(b"%PDF")  # vector figures beside the PNGs
    for f in ("curves.png", "grid.png"):
        assert cv2.imread(str(tmp_path / "o" / f)) is not None


# ---------------------------------------------------------------------------------------------- CLI


def _cli(runner, dataset, out, *extra, masks="masks", ratio="0.1-0.3"):
    args = ["evaluate", "--data", str(dataset / "images"), "--masks", str(dataset / masks), "--out", str(out),
            "--ratio", ratio, "--no-figures", "--batch-size", "4", *extra]  # fmt: skip
    return runner.invoke(main, args)


def test_cli_evaluate_then_tables_with_reference(runner, dataset, tmp_path):
    out = tmp_path / "o"
    res = _cli(
        runner,
        dataset,
        out,
        "--method",
        "mean",
        "--method",
        "telea",
        "--limit",
        "2",
        "--paired",
        "telea,mean",
    )
    assert res.exit_code == 0, res.output
    assert "IS*" in res.output and "Paired test telea vs mean" in res.output
    assert len(pd.read_csv(out / "pairs.csv")) == 2 * 2 * 2
    ref = tmp_path / "ref.csv"
    ref.write_text("# hand-made\nmethod,group,bin,l1_percent,psnr,ssim\nTELEA,B,0.1-0.2,1.00,30.00,0.900\n")
    res = runner.invoke(main, ["tables", str(out), "--format", "md", "--reference", str(ref), "--no-figures"])
    assert res.exit_code == 0, res.output
    s = pd.read_csv(out / "summary.csv")
    meas = s[(s.method == "telea") & (s.bin == "0.1-0.2") & (s.group == "B") & (s.metric == "psnr")][
        "mean"
    ].item()
    assert f"{meas - 30.0:+.2f}" in res.output and "Reference" in res.output
    cmp = pd.read_csv(out / "reference.csv")
    assert cmp.loc[cmp.metric == "psnr", "delta"].item() == pytest.approx(meas - 30.0, abs=1e-4)


@pytest.mark.parametrize(
    "case",
    ["unknown_method", "bad_checkpoint", "mask_size", "missing_bin", "bad_ratio", "other_seed"],
)
def test_bad_input_exits_2_and_touches_nothing(runner, dataset, tmp_path, case):
    out = tmp_path / "o"
    good = _cli(runner, dataset, out, "--method", "mean", "--limit", "1")
    assert good.exit_code == 0, good.output
    before = _snapshot(out)
    bad_ckpt = tmp_path / "bad.pt"
    bad_ckpt.write_bytes(b"not a checkpoint")
    args = {
        "unknown_method": ["--method", "nosuchmethod"],
        "bad_checkpoint": ["--method", f"pconv={bad_ckpt}"],
        "mask_size": ["--method", "mean"],
        "missing_bin": ["--method", "mean", "--ratio", "0.4-0.5"],
        "bad_ratio": ["--method", "mean", "--ratio", "0.3-0.9"],
        "other_seed": ["--method", "mean", "--seed", "5"],
    }[case]
    masks = "masks48" if case == "mask_size" else "masks"
    res = _cli(runner, dataset, out, *args, masks=masks)
    assert res.exit_code == 2, res.output
    msg = res.output.strip().splitlines()[-1]
    assert msg.startswith("Error")
    expect = {
        "unknown_method": "telea",  # the known methods are listed
        "bad_checkpoint": "bad.pt",
        "mask_size": "--resize-masks",
        "missing_bin": "0.4-0.5",
        "bad_ratio": "0.9",
        "other_seed": "seed",
    }[case]
    assert expect in msg
    assert _snapshot(out) == before
    # A fresh --out is not even created.
    fresh = tmp_path / "fresh"
    if case != "other_seed":
        assert _cli(runner, dataset, fresh, *args, masks=masks).exit_code == 2
        assert not fresh.exists()


def test_resize_masks_allows_other_sizes(runner, dataset, tmp_path):
    res = _cli(
        runner, dataset, tmp_path / "o", "--method", "mean", "--limit", "1", "--resize-masks", masks="masks48"
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o/run.json").read_text())["resize_masks"] is True


def test_no_is_skips_the_inception_score_fid_and_kid(runner, dataset, tmp_path):
    out = tmp_path / "o"
    res = _cli(runner, dataset, out, "--method", "mean", "--limit", "2", "--no-is")
    assert res.exit_code == 0, res.output
    s = pd.read_csv(out / "summary.csv")
    assert not {"is", "fid", "kid"} & set(s.metric) and len(s) == 2 * 2 * 4
    md = (out / "table.md").read_text()
    assert "| IS" not in md and "Inception" not in md and "| FID" not in md and "| KID" not in md
    assert not list(out.glob("records/*/probs-*.npz")) and not list(out.glob("records/ground-truth-*"))


def test_real_is_network_is_labelled_from_the_network(runner, dataset, tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "bench.metrics.inception")
    pytest.importorskip("bench.metrics.inception")
    out = tmp_path / "o"
    res = _cli(runner, dataset, out, "--method", "mean", "--limit", "1", "--border", ratio="0.1-0.2")
    assert res.exit_code == 0, res.output
    net = json.loads((out / "run.json").read_text())["is_network"]
    md = (out / "table.md").read_text()
    row_labels = {line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ")}
    assert net["label"] in row_labels and net["name"] in md
    if net["is_standin"]:
        assert "IS" not in row_labels and "IS*" in row_labels


def test_tables_rebuilds_identical_exports_from_records(runner, dataset, tmp_path):
    out = tmp_path / "o"
    _run(dataset, out)
    want = _tables(out)
    for f in TABLE_FILES:
        (out / f).unlink()
    res = runner.invoke(main, ["tables", str(out), "--no-figures"])
    assert res.exit_code == 0, res.output
    assert _tables(out) == want
    # The packaged reference (the paper's cells, 512 px) is the default, and not set beside a 64 px run.
    assert "not set beside this run" in res.output and not (out / "reference.csv").exists()
    res = runner.invoke(main, ["tables", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "bench evaluate" in res.output
    res = runner.invoke(main, ["tables", str(out), "--paired", "mean,nosuch"])
    assert res.exit_code == 2 and "nosuch" in res.output


def test_paper_cells_are_not_set_beside_a_run_of_another_protocol(runner, dataset, tmp_path):
    out = tmp_path / "o"
    res = _cli(runner, dataset, out, "--method", "telea", "--limit", "2")
    assert res.exit_code == 0, res.output
    ref = tmp_path / "ref.csv"
    ref.write_text("# protocol: pairing=cross\nmethod,group,bin,psnr\nTELEA,B,0.1-0.2,30.0\n")
    res = runner.invoke(main, ["tables", str(out), "--format", "md", "--reference", str(ref), "--no-figures"])
    assert res.exit_code == 0 and (out / "reference.csv").is_file(), res.output
    res = runner.invoke(main, ["tables", str(out), "--format", "md", "--no-figures"])  # the paper's cells
    assert res.exit_code == 0, res.output
    assert "not set beside this run" in res.output and "(reference: 512)" in res.output
    assert not (out / "reference.csv").exists()
