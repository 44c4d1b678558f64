"""Every script in benchmarks/ runs from the repository as the README shows (`python benchmarks/X.py`), with
tiny arguments, and prints its closing figures. Speed itself is never asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]

# script -> (tiny arguments, text its output must contain)
RUNS = {
    "baselines.py": (["--max-photos-total", "1", "--bins", "0.1-0.2", "--method", "telea",
                      "--no-pypatchmatch"],
                     "telea"),
    "biharmonic.py": (["--bins", "0.1-0.2", "--size", "64", "--repeats", "1", "--max-photos", "1"], "max"),
    "evaluate.py": (["--images", "2", "--size", "64", "--method", "mean", "--no-is", "--together-only"],
                    "pairs/s"),
    "fmm.py": (["--methods", "telea", "--bins", "0.1-0.2", "--size", "64", "--repeats", "1",
                "--max-photos", "1"],
               "telea"),
    "intervals.py": (["--reps", "20", "--n-boot", "50"], "coverage"),
    "mask_rate.py": (["--size", "64", "--n", "2", "--batch", "1"], "masks/s"),
    "metrics.py": (["--size", "64", "--batch", "2", "--reps", "1", "--threads", "1"], "pairs/s"),
    "pconv_layer.py": (["--sizes", "32", "--width", "4", "--reps", "1"], "pconv/conv step-time ratio"),
    "train_step.py": (["--profile", "smoke", "--models", "pconv", "gntipt", "--steps", "1", "--warmup", "1"],
                      "speed-up over old, gntipt"),
    "learning_curve.py": (["--profile", "smoke", "--steps", "4", "--every", "2", "--per-cell", "1",
                           "--classical", "telea", "--out", "{tmp}/curve"], "conv beats telea in psnr"),
    "texture.py": (["--run", "{tmp}/run"], "largest ratio, pconv"),
    "profiles.py": (["--results", "results/quick"], "| L1 (%) | 12 of 12 |"),
    "recipe_ablation.py": (["--out", "{tmp}/abl", "--profile", "smoke", "--steps", "2", "--per-cell", "1",
                            "--only", "base"], "| base"),
}  # fmt: skip


def tiny_run(folder: Path) -> None:
    """What benchmarks/texture.py reads of a `bench reproduce` folder: a trained model, eval/run.json naming
    the data and mask folders, eval/pairs.csv (two pairs)."""
    import json

    import cv2
    import numpy as np

    from bench.training.config import resolve_config
    from bench.training.loop import train

    data, masks = folder / "data", folder / "masks"
    (data / "images").mkdir(parents=True)
    (masks / "0.3-0.4" / "N").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for k in range(2):
        cv2.imwrite(str(data / "images" / f"{k}.png"), rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        m = np.full((64, 64), 255, np.uint8)
        m[10 + k : 40, 12:44] = 0
        cv2.imwrite(str(masks / "0.3-0.4" / "N" / f"{k}.png"), m)
    cfg = resolve_config("smoke", overrides={"steps": 2, "features": "none"})
    train(cfg, folder / "train" / "pconv", data=data, progress=False)
    (folder / "eval").mkdir()
    (folder / "eval" / "run.json").write_text(json.dumps({"data": str(data), "masks": str(masks)}))
    rows = [f"{k},images/{k}.png,0.3-0.4/N/{k}.png,0.3-0.4,N" for k in range(2)]
    (folder / "eval" / "pairs.csv").write_text("pair_id,image,mask,bin,group\n" + "\n".join(rows) + "\n")


def test_every_benchmark_is_covered():
    assert sorted(RUNS) == sorted(p.name for p in (REPO / "benchmarks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_benchmark_runs_as_a_script(script, tmp_path):
    args, expect = RUNS[script]
    if script == "texture.py":
        tiny_run(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, f"benchmarks/{script}", *(a.format(tmp=tmp_path) for a in args)]
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert expect in r.stdout, r.stdout[-2000:]
    if script == "learning_curve.py":  # again, scoring the checkpoints that run kept without training
        again = [sys.executable, f"benchmarks/{script}", "--profile", "smoke", "--run",
                 str(tmp_path / "curve"), "--per-cell", "1", "--classical", "telea", "--out",
                 str(tmp_path / "curve2")]  # fmt: skip
        r2 = subprocess.run(again, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert r2.returncode == 0, r2.stdout[-2000:] + r2.stderr[-3000:]
        assert not (tmp_path / "curve2" / "train").exists()
        first, second = (pd.read_csv(d / "curve.csv") for d in (tmp_path / "curve", tmp_path / "curve2"))
        pd.testing.assert_frame_equal(first, second)


def test_profiles_counts_wins_and_large_hole_gaps_by_the_metric_direction():
    """Hand-made means: pconv beats patchmatch in L1 in one of two cells and in PSNR in the other."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import profiles
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    rows = []
    cells = (
        ("0.1-0.2", 1.0, 1.2, 30.0, 29.0),
        ("0.3-0.4", 3.0, 2.5, 25.0, 24.0),
        ("0.5-0.6", 4.0, 4.5, 22.0, 22.5),
    )
    for b, pm_l1, pc_l1, pm_psnr, pc_psnr in cells:
        for method, l1, psnr in (("pconv", pc_l1, pc_psnr), ("patchmatch", pm_l1, pm_psnr)):
            rows += [(method, b, "N", "l1_percent", l1), (method, b, "N", "psnr", psnr)]
    s = pd.DataFrame(rows, columns=["method", "bin", "group", "metric", "mean"])
    assert profiles.wins(s, "pconv", "patchmatch", "l1_percent") == (1, 3)
    assert profiles.wins(s, "pconv", "patchmatch", "psnr") == (1, 3)
    assert profiles.wins(s, "pconv", "conv", "psnr") == (0, 0)  # no conv rows
    gaps = profiles.large_hole_gaps(s, "pconv", "patchmatch", 0.3)
    assert sorted(zip(gaps["metric"], gaps["bin"], gaps["gap"].round(6), strict=True)) == [
        ("l1_percent", "0.3-0.4", -0.5), ("l1_percent", "0.5-0.6", 0.5), ("psnr", "0.3-0.4", -1.0),
        ("psnr", "0.5-0.6", 0.5)]  # fmt: skip
    assert "pconv ahead of patchmatch in 2 of 4" in profiles.report_text(s, "x", "patchmatch", 0.3)
