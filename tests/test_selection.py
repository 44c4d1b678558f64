"""A selection (--ratio, --border, --limit) holds exactly the pairs its cells have in the full run, under
both pairings: against the full run's rows filtered by hand, and end to end through `bench evaluate`."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from bench.runs.pairing import make_distinct_pairs, make_pairs
from masks.conventions import BINS, GROUPS, Group

PAIRS = {"cross": make_pairs, "distinct": make_distinct_pairs}


def _manifest(per_cell: dict[tuple[int, str], int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(file=f"{BINS[b].name}/{g}/{i:03d}.png", bin=BINS[b].name, group=g)
            for (b, g), n in per_cell.items()
            for i in range(n)
        ]  # fmt: skip
    )


def _rows(df: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    return set(zip(df["image"], df["mask"], df["bin"], df["group"], strict=True))


def _expected(full: pd.DataFrame, bins, groups, images, limit) -> set:
    """The full run's rows of the selected cells whose image is one of the first `limit` images."""
    keep = set(images[:limit]) if limit is not None else set(images)
    sel = full[full["bin"].isin([b.name for b in bins]) & full["group"].isin([str(g) for g in groups])]
    return _rows(sel[sel["image"].isin(keep)])


@pytest.mark.parametrize("pairing", ["cross", "distinct"])
@pytest.mark.parametrize("seed", [0, 7])
def test_any_selection_equals_the_same_rows_of_the_full_run(pairing, seed):
    rng = np.random.default_rng(seed)
    man = _manifest({(b, g): int(rng.integers(1, 5)) for b in range(6) for g in "NB"})
    images = [f"im{i:03d}.png" for i in range(len(man) + 5)]
    make = PAIRS[pairing]
    full = make(images, man, BINS, GROUPS, seed=seed)
    if pairing == "distinct":  # every mask once, every image at most once
        assert len(full) == len(man) and full["image"].is_unique
    selections = [[BINS[i]] for i in range(6)] + [list(BINS[1:4]), [BINS[5], BINS[0]]]
    for bins, groups, limit in itertools.product(selections, [[Group.N], [Group.B], GROUPS], [None, 1, 9]):
        want = _expected(full, bins, groups, images, limit)
        if not want:  # distinct, small limit: the first images' masks lie in other cells
            with pytest.raises(ValueError, match="meet no mask"):
                make(images, man, bins, groups, seed=seed, limit=limit)
            continue
        part = make(images, man, bins, groups, seed=seed, limit=limit)
        assert _rows(part) == want, (bins, groups, limit)
        assert len(part) == len(_rows(part))


def test_limit_means_the_first_images_under_both_pairings():
    man = _manifest({(b, g): 3 for b in range(6) for g in "NB"})
    images = [f"im{i:03d}.png" for i in range(40)]
    for make in PAIRS.values():
        part = make(images, man, BINS, GROUPS, seed=3, limit=10)
        assert set(part["image"]) <= set(images[:10])
    # cross: every one of the 10 images in each of the 12 cells; distinct: each image at most one mask
    assert len(make_pairs(images, man, BINS, GROUPS, seed=3, limit=10)) == 120
    distinct = make_distinct_pairs(images, man, BINS, GROUPS, seed=3, limit=10)
    assert distinct["image"].is_unique and set(distinct["image"]) == set(images[:10])  # 10 pairs, 10 images
    # more images than masks: the first 36 images (one per mask) take part, as --limit 36 would keep
    full = make_distinct_pairs(images, man, BINS, GROUPS, seed=3)
    assert set(full["image"]) == set(images[:36]) and full["mask"].is_unique and len(full) == 36


def test_distinct_needs_an_image_for_every_mask_of_the_whole_set():
    man = _manifest({(b, g): 2 for b in range(6) for g in "NB"})  # 24 masks, one cell of 2 selected
    with pytest.raises(ValueError, match="24 masks, 10 images"):
        make_distinct_pairs([f"{i}.png" for i in range(10)], man, [BINS[2]], [Group.B])
    part = make_distinct_pairs([f"{i}.png" for i in range(10)], man, BINS, GROUPS, limit=10)
    assert len(part) == 10 and part["mask"].is_unique  # --limit: the masks of the first 10 images


def _images(folder, n, astronaut):
    import cv2

    from bench.core.files import write_png

    folder.mkdir()
    for i in range(n):
        y, x = (37 * i) % 300, (53 * i) % 300
        write_png(folder / f"im{i:02d}.png", cv2.resize(astronaut[y : y + 200, x : x + 200], (32, 32)))
    return folder


@pytest.mark.parametrize("pairing", ["cross", "distinct"])
def test_one_cell_evaluated_alone_equals_that_cell_of_the_full_run(runner, tmp_path, astronaut, pairing):
    from bench.cli import main
    from masks.manifest import generate_set

    generate_set(tmp_path / "masks", size=32, per_bin=2, bins=BINS[1:3], seed=0, progress=False)
    data = _images(tmp_path / "img", 9, astronaut)
    base = ["evaluate", "--data", str(data), "--masks", str(tmp_path / "masks"), "--method", "mean",
            "--no-is", "--no-figures", "--pairing", pairing, "--seed", "5"]  # fmt: skip
    runs = {"full": ["--ratio", "0.1-0.3"], "cell": ["--ratio", "0.2-0.3", "--border"]}
    got = {}
    for name, sel in runs.items():
        res = runner.invoke(main, [*base, *sel, "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        got[name] = pd.read_csv(tmp_path / name / "summary.csv")
        got[name + "_pairs"] = pd.read_csv(tmp_path / name / "pairs.csv")
    full_pairs = got["full_pairs"]
    cell_pairs = full_pairs[(full_pairs["bin"] == "0.2-0.3") & (full_pairs["group"] == "B")]
    assert _rows(got["cell_pairs"]) == _rows(cell_pairs) and len(cell_pairs)
    full = got["full"].query("bin == '0.2-0.3' and group == 'B'").reset_index(drop=True)
    cols = ["metric", "mean", "n", "std"]
    pd.testing.assert_frame_equal(got["cell"][cols], full[cols])
    notes = (tmp_path / "full" / "table.md").read_text()
    # cross: each mask meets ~2 images of a cell, so the CI resamples masks; distinct: nothing repeats
    want = "bootstrap of the G masks" if pairing == "cross" else "bootstrap of the pairs (no image or mask"
    assert want in notes and "SSIM: 11-tap Gaussian window (sigma 1.5)" in notes


def test_a_selection_without_pairs_is_a_clear_error(runner, tmp_path, astronaut):
    """Distinct pairing, --limit 1: the first image's mask lies in one cell; another cell alone is refused
    with a one-line error (exit 2), nothing written."""
    from bench.cli import main
    from masks.manifest import generate_set

    man = _manifest({(b, g): 2 for b in range(6) for g in "NB"})
    images = [f"{i}.png" for i in range(30)]
    first = make_distinct_pairs(images, man, BINS, GROUPS, limit=1).iloc[0]
    other = next(b for b in BINS if b.name != first["bin"])
    with pytest.raises(ValueError, match="meet no mask of the selected cells"):
        make_distinct_pairs(images, man, [other], GROUPS, limit=1)
    generate_set(tmp_path / "masks", size=32, per_bin=1, bins=BINS[1:3], seed=0, progress=False)
    data = _images(tmp_path / "img", 6, astronaut)
    base = ["evaluate", "--data", str(data), "--masks", str(tmp_path / "masks"), "--method", "mean",
            "--no-is", "--no-figures", "--pairing", "distinct", "--limit", "1"]  # fmt: skip
    cells = [(r, g) for r in ("0.1-0.2", "0.2-0.3") for g in ("--border", "--no-border")]
    res = [
        runner.invoke(main, [*base, "--ratio", r, g, "--out", str(tmp_path / f"{r}{g}")]) for r, g in cells
    ]
    assert sorted(x.exit_code for x in res) == [0, 2, 2, 2]  # the cell of image 0's mask; three refusals
    for (r, g), x in zip(cells, res, strict=True):
        if x.exit_code == 2:
            assert "meet no mask of the selected cells" in x.output and not (tmp_path / f"{r}{g}").exists()
