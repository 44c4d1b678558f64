"""`bench export` and `--method outputs:dir=...`: the protocol's inputs out, another program's outputs in.

The external program is examples/fill_with_opencv.py, run in a separate process; it fills exactly as the
`telea` method does, so its scores must equal telea's scored in process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import write_crops

from bench.cli import main
from bench.runs.records import RECORDS_FILE, list_method_dirs
from masks.conventions import BINS

ROOT = Path(__file__).resolve().parents[1]
FILL = ROOT / "examples" / "fill_with_opencv.py"
SIZE = 40
SEL_BINS = BINS[1:3]  # 0.1-0.2, 0.2-0.3
N_PAIRS = 4 * 2 * 2  # 4 images x 2 bins x 2 groups


pytestmark = pytest.mark.usefixtures("fake_inception")


def _dirs(out):
    """The record folders of the methods (not the ground truth's, kept for FID/KID)."""
    return [d for d in list_method_dirs(out) if not d.name.startswith("ground-truth-")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("exportset")
    write_crops(root / "images", astronaut, SIZE)
    generate_set(root / "masks", size=SIZE, per_bin=3, bins=SEL_BINS, seed=1, progress=False)
    return root


def _sel(ds: Path) -> list[str]:
    return ["--data", str(ds / "images"), "--masks", str(ds / "masks"), "--ratio", "0.1-0.3"]


def _export(runner, ds: Path, out: Path, *extra: str):
    return runner.invoke(main, ["export", *_sel(ds), "--out", str(out), *extra])


def _evaluate(runner, ds: Path, out: Path, *methods: str, extra: tuple[str, ...] = ()):
    args = ["evaluate", *_sel(ds), "--out", str(out), "--no-figures", "--batch-size", "5", *extra]
    for m in methods:
        args += ["--method", m]
    return runner.invoke(main, args)


def _fill(export: Path, out: Path) -> None:
    """The external program, in a process of its own."""
    done = subprocess.run([sys.executable, str(FILL), str(export), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"filled {N_PAIRS} pairs" in done.stdout


def _records(out: Path, name: str) -> dict[int, dict]:
    folder = next(d for d in _dirs(out) if d.name.startswith(f"{name}-"))
    recs = [json.loads(x) for x in (folder / RECORDS_FILE).read_text().splitlines()]
    return {r["pair_id"]: r for r in recs}


def _max_diff(a: Path, b: Path) -> float:
    """Largest |difference| between the per-pair metrics and the summary of two evaluation folders that
    scored one method each under the same label (the bootstrap CIs are seeded by the label)."""
    ra, rb = _records(a, _only(a)), _records(b, _only(b))
    assert sorted(ra) == sorted(rb) and len(ra) > 0
    worst = 0.0
    for pid, rec in ra.items():
        assert (rec["image"], rec["mask"], rec["inputs"]) == (
            rb[pid]["image"],
            rb[pid]["mask"],
            rb[pid]["inputs"],
        )
        assert rec["metrics"].keys() == rb[pid]["metrics"].keys()
        for m, v in rec["metrics"].items():
            w = rb[pid]["metrics"][m]
            assert (v is None) == (w is None)
            if v is not None and np.isfinite(v):
                worst = max(worst, abs(v - w))
            else:
                assert v == w
    sa, sb = pd.read_csv(a / "summary.csv"), pd.read_csv(b / "summary.csv")
    cols = ["method", "bin", "group", "metric", "n"]
    assert len(sa) > 0 and sa[cols].equals(sb[cols])
    for col in ("mean", "ci_low", "ci_high", "std"):
        d = np.abs(sa[col].to_numpy(float) - sb[col].to_numpy(float))
        assert (np.isnan(d) == (sa[col].isna() | sb[col].isna()).to_numpy()).all()
        worst = max(worst, float(np.nan_to_num(d, nan=0.0).max()))
    return worst


def _only(out: Path) -> str:
    """The method name of the one record folder of an evaluation."""
    (folder,) = _dirs(out)
    return json.loads((folder / "method.json").read_text())["name"]


@pytest.fixture(scope="module")
def filled(dataset, tmp_path_factory):
    """A bench-layout export and the external program's outputs for it (made once, copied by tests)."""
    from click.testing import CliRunner

    root = tmp_path_factory.mktemp("filled")
    res = _export(CliRunner(), dataset, root / "export")
    assert res.exit_code == 0, res.output
    _fill(root / "export", root / "outputs")
    return root


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}  # fmt: skip


# ---------------------------------------------------------------------------------------------- round trips


def test_export_fill_externally_score_equals_telea_in_process(runner, dataset, filled, tmp_path):
    export, outputs = filled / "export", filled / "outputs"
    pairs = pd.read_csv(export / "pairs.csv", dtype=str, keep_default_na=False)
    assert len(pairs) == N_PAIRS and list(pairs.columns) == [
        "pair_id",
        "file",
        "image",
        "mask",
        "bin",
        "group",
        "inputs",
    ]
    for r in pairs.itertuples():
        stem = f"{int(r.pair_id):06d}"
        inp = cv2.cvtColor(cv2.imread(str(export / "inputs" / f"{stem}.png")), cv2.COLOR_BGR2RGB)
        m = cv2.imread(str(export / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        gt = cv2.cvtColor(cv2.imread(str(dataset / "images" / r.image)), cv2.COLOR_BGR2RGB)
        assert m.ndim == 2 and set(np.unique(m)) <= {0, 255} and (m == 0).any()
        assert (inp[m == 0] == 0).all()  # no ground-truth hole pixel is written
        assert (inp[m == 255] == gt[m == 255]).all()
        want = cv2.imread(str(dataset / "masks" / r.mask), cv2.IMREAD_GRAYSCALE)
        assert (m == want).all()

    ref = tmp_path / "in-process"
    res = _evaluate(runner, dataset, ref, "telea")
    assert res.exit_code == 0, res.output
    out = tmp_path / "external"
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs},label=telea")
    assert res.exit_code == 0, res.output
    # The pairs scored are exactly the pairs exported (the export adds the file column).
    scored = pd.read_csv(out / "pairs.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(scored, pairs.drop(columns="file"))
    worst = _max_diff(ref, out)
    print(f"max |external - in-process telea| over per-pair metrics and summary: {worst:.3g}")
    assert worst <= 1e-6
    meta = json.loads((out / "run.json").read_text())["methods"][0]["meta"]
    assert meta["valid_change"] == 0.0 and meta["n_outputs"] == N_PAIRS and meta["n_skipped"] == 0
    assert "telea: outputs of an external program" in res.output and "0.000/255" in res.output
    assert "0.000/255" in (out / "table.md").read_text()


def test_lama_layout_round_trip(runner, dataset, filled, tmp_path):
    export = tmp_path / "lama"
    res = _export(runner, dataset, export, "--layout", "lama")
    assert res.exit_code == 0, res.output
    assert not (export / "inputs").exists() and not (export / "masks").exists()
    bench_export = filled / "export"
    assert (export / "pairs.csv").read_bytes() == (bench_export / "pairs.csv").read_bytes()
    for i in range(N_PAIRS):
        stem = f"{i:06d}"
        hole = cv2.imread(str(export / f"{stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        ours = cv2.imread(str(bench_export / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED)
        assert (hole == 255 - ours).all() and (hole == 255).any()  # LaMa's polarity: hole = 255
        inp = cv2.imread(str(export / f"{stem}.png"))
        assert (inp[hole == 255] == 0).all()  # no ground-truth hole pixel is written
    outputs = tmp_path / "lama-out"
    _fill(export, outputs)
    # LaMa's bin/predict.py names each output after its mask: <pair_id>_mask.png.
    for f in sorted(outputs.glob("*.png")):
        f.rename(outputs / f"{f.stem}_mask.png")
    ref, out = tmp_path / "in-process", tmp_path / "external"
    assert _evaluate(runner, dataset, ref, "telea").exit_code == 0
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs},label=telea")
    assert res.exit_code == 0, res.output
    worst = _max_diff(ref, out)
    print(f"LaMa layout: max |outputs - telea| = {worst:.3g}")
    assert worst <= 1e-6


# ---------------------------------------------------------------------------------------------- bad outputs


def _spoil(folder: Path, case: str) -> str:
    """Spoil pair 3's output file the way `case` says; returns the file name the error must name."""
    f = folder / "000003.png"
    if case == "missing":
        f.unlink()
    elif case == "wrong_size":
        cv2.imwrite(str(f), np.zeros((SIZE + 8, SIZE, 3), np.uint8))
    elif case == "non_image":
        f.write_text("not an image\n")
    elif case == "grey":
        cv2.imwrite(str(f), np.full((SIZE, SIZE), 128, np.uint8))
    elif case == "16_bit":
        cv2.imwrite(str(f), np.full((SIZE, SIZE, 3), 40000, np.uint16))
    return f.name


@pytest.mark.parametrize("case", ["missing", "wrong_size", "non_image", "grey", "16_bit"])
def test_bad_output_exits_2_names_it_and_writes_nothing(runner, dataset, filled, tmp_path, case):
    outputs = tmp_path / "outputs"
    shutil.copytree(filled / "outputs", outputs)
    out = tmp_path / "eval"
    good = _evaluate(runner, dataset, out, f"outputs:dir={outputs}")
    assert good.exit_code == 0, good.output
    before = _snapshot(out)
    name = _spoil(outputs, case)
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs}")
    assert res.exit_code == 2, res.output
    msg = res.output.strip().splitlines()[-1]
    assert msg.startswith("Error") and name in msg and "1 output file(s)" in msg, msg
    expect = {"missing": "allow_missing", "wrong_size": "48 px", "non_image": "not a readable image",
              "grey": "grey-scale", "16_bit": "16-bit"}[case]  # fmt: skip
    assert expect in msg, msg
    assert _snapshot(out) == before
    fresh = tmp_path / "fresh"
    assert _evaluate(runner, dataset, fresh, "telea", f"outputs:dir={outputs}").exit_code == 2
    assert not fresh.exists()


def test_allow_missing_scores_the_rest(runner, dataset, filled, tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(filled / "outputs", outputs)
    for i in (2, 7):
        (outputs / f"{i:06d}.png").unlink()
    out = tmp_path / "eval"
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs},label=ext,allow_missing=true", "telea")
    assert res.exit_code == 0, res.output
    recs = _records(out, "outputs")
    assert sorted(recs) == sorted(set(range(N_PAIRS)) - {2, 7})
    assert f"2 of {N_PAIRS} pairs had no output file" in res.output and "Incomplete" not in res.output
    assert f"2 of {N_PAIRS} pairs had no output file" in (out / "table.md").read_text()
    telea = _records(out, "telea")
    for pid, rec in recs.items():
        assert rec["metrics"] == pytest.approx(telea[pid]["metrics"], abs=1e-6)
    # The global flag does the same for every outputs: method.
    res = _evaluate(runner, dataset, tmp_path / "eval2", f"outputs:dir={outputs}", extra=("--allow-missing",))
    assert res.exit_code == 0, res.output
    assert len(_records(tmp_path / "eval2", "outputs")) == N_PAIRS - 2


def test_changed_output_is_rescored_and_unchanged_folder_reused(runner, dataset, filled, tmp_path):
    outputs = tmp_path / "outputs"
    shutil.copytree(filled / "outputs", outputs)
    out = tmp_path / "eval"
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs}")
    assert res.exit_code == 0 and f"{N_PAIRS} computed now" in res.output, res.output
    first = _records(out, "outputs")
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs}")
    assert res.exit_code == 0 and "0 computed now" in res.output, res.output
    # Pair 5's file is rewritten with other content: a new fingerprint, the folder is scored again.
    f = outputs / "000005.png"
    img = cv2.imread(str(f))
    cv2.imwrite(str(f), 255 - img)
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs}")
    assert res.exit_code == 2 and "keeps_valid=false" in res.output  # its valid pixels changed too
    res = _evaluate(runner, dataset, out, f"outputs:dir={outputs},keeps_valid=false")
    assert res.exit_code == 0 and f"{N_PAIRS} computed now" in res.output, res.output
    again = _records(out, "outputs")
    assert again[5]["metrics"]["psnr"] != first[5]["metrics"]["psnr"]
    assert again[4]["metrics"] == first[4]["metrics"]
    assert list((out / "records" / "stale").iterdir())  # the old records are kept aside
    run = json.loads((out / "run.json").read_text())
    assert run["methods"][0]["meta"]["valid_change"] > 0  # the inverted file changed valid pixels too


def test_outputs_of_another_selection_are_refused_by_their_valid_pixels(runner, dataset, filled, tmp_path):
    """Outputs copied away from their export (no stamp to compare) and scored with other selection
    options: the holes they filled lie where this evaluation's masks say valid, so they are refused."""
    outputs = tmp_path / "outputs"
    shutil.copytree(filled / "outputs", outputs)
    out = tmp_path / "eval"
    args = ["evaluate", "--data", str(dataset / "images"), "--masks", str(dataset / "masks"), "--ratio",
            "0.2-0.3", "--border", "--out", str(out), "--no-figures", "--no-is", "--method"]  # fmt: skip
    res = runner.invoke(main, [*args, f"outputs:dir={outputs},allow_missing=true"])
    assert res.exit_code == 2 and "changes the valid pixels" in res.output, res.output
    assert not out.exists()
    res = runner.invoke(main, [*args, f"outputs:dir={outputs},allow_missing=true,keeps_valid=false"])
    assert res.exit_code == 0, res.output
    # With the export's own selection the same files change no valid pixel and are accepted.
    res = _evaluate(runner, dataset, tmp_path / "eval2", f"outputs:dir={outputs}")
    assert res.exit_code == 0 and "0.000/255" in res.output, res.output


# ---------------------------------------------------------------------------------------------- export input


def test_export_bad_input_exits_2_before_writing(runner, dataset, tmp_path):
    fresh = tmp_path / "x"
    res = _export(runner, dataset, fresh, "--ratio", "0.4-0.5")  # no masks in that bin
    assert res.exit_code == 2 and "0.4-0.5" in res.output.strip().splitlines()[-1]
    assert not fresh.exists()
    res = _export(runner, dataset, fresh, "--limit", "2")
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(fresh / "pairs.csv")) == 2 * 2 * 2
    assert json.loads((fresh / ".pconv-bench.json").read_text())["kind"] == "export"
    before = _snapshot(fresh)
    res = _export(runner, dataset, fresh, "--limit", "3")  # another export into the same folder
    assert res.exit_code == 2 and "limit" in res.output, res.output
    assert _snapshot(fresh) == before
    res = _export(runner, dataset, fresh, "--limit", "2")  # the same one again: nothing rewritten
    assert res.exit_code == 0 and "0 file(s) written now" in res.output, res.output


def test_reproduce_accepts_extra_methods(runner, monkeypatch, tmp_path):
    import bench.pipeline.reproduce

    seen = {}

    def fake(rep, train, out, **kw):
        seen["methods"] = rep.methods
        raise SystemExit(0)

    monkeypatch.setattr(bench.pipeline.reproduce, "reproduce", fake)
    spec = f"outputs:dir={tmp_path},label=mine"
    runner.invoke(main, ["reproduce", "--profile", "smoke", "--out", str(tmp_path / "r"), "--method", spec])
    assert seen["methods"][-1] == spec and "telea" in seen["methods"]
