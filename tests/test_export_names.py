"""pairs.csv of `bench export` names each pair's file, and a program's outputs may carry either name (the
padded stem or the plain pair id)."""

from __future__ import annotations

import csv
import shutil

import cv2
import pandas as pd
import pytest

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

pytestmark = pytest.mark.usefixtures("fake_inception")


def test_file_column_names_the_files_and_outputs_by_either_name_are_scored(runner, tmp_path, astronaut):
    from masks.manifest import generate_set

    (tmp_path / "images").mkdir()
    for i in range(3):
        write_png(
            tmp_path / "images" / f"im{i}.png", cv2.resize(astronaut[i * 90 : i * 90 + 200, :200], (32, 32))
        )
    generate_set(tmp_path / "masks", size=32, per_bin=1, bins=BINS[1:2], seed=2, progress=False)
    sel = ["--data", str(tmp_path / "images"), "--masks", str(tmp_path / "masks"), "--ratio", "0.1-0.2"]
    res = runner.invoke(main, ["export", *sel, "--out", str(tmp_path / "export")])
    assert res.exit_code == 0, res.output
    with open(tmp_path / "export" / "pairs.csv", newline="") as f:  # as a program without pandas reads it
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == [f"{int(r['pair_id']):06d}.png" for r in rows] and len(rows) == 6
    out = tmp_path / "outputs"
    out.mkdir()
    for k, r in enumerate(rows):  # the input itself as the "output" (holes black); alternate the names
        name = r["file"] if k % 2 else f"{int(r['pair_id'])}.png"
        shutil.copy(tmp_path / "export" / "inputs" / r["file"], out / name)
    res = runner.invoke(main, ["evaluate", *sel, "--out", str(tmp_path / "ev"), "--no-figures",
                               "--method", f"outputs:dir={out},label=copy"])  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = pd.read_csv(tmp_path / "ev" / "summary.csv")
    assert set(summary["n"]) == {3}  # every pair of both groups scored
