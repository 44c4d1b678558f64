"""The paper's protocol around the models: distinct pairing, He initialisation, NVIDIA's training-mask
augmentation in the trainer, NVIDIA's test-set layout on import."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.files import write_png
from bench.runs.pairing import make_distinct_pairs
from masks.conventions import BINS, Group

SIZE = 32


def _images(folder, n, astronaut):
    for i in range(n):
        y, x = (37 * i) % 300, (53 * i) % 300
        crop = cv2.resize(astronaut[y : y + 200, x : x + 200], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        write_png(folder / f"im{i:02d}.png", crop)
    return folder


def test_distinct_pairing_gives_each_mask_its_own_image():
    man = pd.DataFrame(
        [
            dict(file=f"{b.name}/{g}/{i}.png", bin=b.name, group=g)
            for b in BINS[:2]
            for g in "NB"
            for i in range(3)
        ]
    )
    images = [f"img{i}.png" for i in range(15)]
    a = make_distinct_pairs(images, man, BINS[:2], (Group.N, Group.B), seed=1)
    assert len(a) == 12 and a["image"].is_unique and a["mask"].is_unique
    assert a.equals(make_distinct_pairs(images, man, BINS[:2], (Group.N, Group.B), seed=1))
    assert not a["image"].equals(
        make_distinct_pairs(images, man, BINS[:2], (Group.N, Group.B), seed=2)["image"]
    )
    one = make_distinct_pairs(images, man, BINS[:2], (Group.N, Group.B), seed=1, limit=1)
    assert set(one["image"]) <= {images[0]} and len(one) <= 1  # --limit 1: the first image's pair only
    with pytest.raises(ValueError, match="12 masks, 11 images"):
        make_distinct_pairs(images[:11], man, BINS[:2], (Group.N, Group.B))


def test_distinct_pairing_end_to_end_and_too_few_images(runner, tmp_path, astronaut):
    from masks.manifest import generate_set

    generate_set(tmp_path / "masks", size=SIZE, per_bin=1, bins=BINS[1:2], seed=0, progress=False)
    base = ["evaluate", "--masks", str(tmp_path / "masks"), "--method", "mean", "--ratio", "0.1-0.2",
            "--no-is", "--no-figures", "--pairing", "distinct"]  # fmt: skip
    two = _images(tmp_path / "two", 2, astronaut)
    res = runner.invoke(main, [*base, "--data", str(two), "--out", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    pairs = pd.read_csv(tmp_path / "ev" / "pairs.csv")
    assert len(pairs) == 2 and pairs["image"].nunique() == 2
    assert json.loads((tmp_path / "ev" / "run.json").read_text())["pairing"] == "distinct"
    assert "Pairing: distinct" in (tmp_path / "ev" / "table.md").read_text()
    one = _images(tmp_path / "one", 1, astronaut)
    res = runner.invoke(main, [*base, "--data", str(one), "--out", str(tmp_path / "ev1")])
    assert res.exit_code == 2 and "2 masks, 1 images" in res.output
    assert not (tmp_path / "ev1").exists()


def test_unet_convolutions_are_he_initialised_and_seeded():
    from bench.models.unet.network import InpaintingUNet

    torch.manual_seed(0)
    a = InpaintingUNet(layers=4, width=32)
    torch.manual_seed(0)
    b = InpaintingUNet(layers=4, width=32, conv="standard")
    for net in (a, b):
        for block in [*net.encoder, *net.decoder]:
            w = block.conv.weight
            fan_in = w.shape[1] * w.shape[2] * w.shape[3]
            # kaiming_normal_(fan_in, relu): std = sqrt(2 / fan_in); checked on every layer's sample std.
            assert float(w.detach().std()) == pytest.approx((2.0 / fan_in) ** 0.5, rel=0.15)
            if block.conv.bias is not None:
                assert float(block.conv.bias.detach().abs().max()) == 0.0
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_nvidia_mask_augmentation_in_the_trainer(tmp_path, astronaut):
    from bench.core.errors import BenchError
    from bench.training.loop import TrainSamples, _mask_files_checked

    images = _images(tmp_path / "img", 3, astronaut)
    raw = tmp_path / "raw"  # a raw folder of 48 px training masks (as NVIDIA's are of their own size)
    raw.mkdir()
    for i in range(3):
        m = np.full((48, 48), 255, np.uint8)
        m[10 + i : 20 + i, 12:22] = 0
        write_png(raw / f"{i}.png", m)
    files, augment = _mask_files_checked(raw, SIZE, "auto")
    assert augment == "nvidia" and len(files) == 3
    ds = TrainSamples(sorted(images.glob("*.png")), SIZE, 0, 2, mask_files=files, mask_augment=augment)
    a, b = ds[(5, 1)][1], ds[(5, 1)][1]
    assert a.shape == (1, SIZE, SIZE) and torch.equal(a, b)  # seeded by (seed, step, slot)
    assert set(torch.unique(a).tolist()) <= {0.0, 1.0}
    holes = [float((1 - ds[(s, 0)][1]).sum()) for s in range(12)]
    # Dilation by 5..25 px at 32 px (9..49 at 512) grows the 10x10 px source holes (scaled to 6.7 px).
    assert max(holes) > 45 and len(set(holes)) > 3
    with pytest.raises(BenchError, match="--mask-augment nvidia"):
        _mask_files_checked(raw, SIZE, "flips")


def test_train_cli_with_nvidia_augmentation(runner, tmp_path, astronaut):
    images = _images(tmp_path / "img", 3, astronaut)
    from bench.data.prepare import prepare_dataset

    prepare_dataset(tmp_path / "data", size=SIZE, source=str(images), test_fraction=0.0, progress=False)
    raw = tmp_path / "raw"
    raw.mkdir()
    m = np.full((64, 64), 255, np.uint8)
    m[20:30, 20:30] = 0
    write_png(raw / "a.png", m)
    res = runner.invoke(main, ["train", "--profile", "smoke", "--size", str(SIZE), "--steps", "2",
                               "--features", "none", "--data", str(tmp_path / "data"), "--masks", str(raw),
                               "--out", str(tmp_path / "run")])  # fmt: skip
    assert res.exit_code == 0, res.output
    from bench.models.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "run" / "last.pt")["config"]["mask_augment"] == "auto"


@pytest.mark.slow
def test_nvidia_test_layout_import_reports_labels_beside_measurement(runner, tmp_path):
    """A synthetic NVIDIA-style folder: 12,000 numbered masks, white holes, six blocks of 2,000 in ratio
    order, each block's first half touching the border (N) and second half clear of it (B)."""
    from masks.conventions import flip_polarity, group_of, margin_for
    from masks.generate import generate_mask

    src = tmp_path / "testing_mask_dataset"
    src.mkdir()
    size = 32
    for b_i, b in enumerate(BINS):
        for half, g in enumerate((Group.N, Group.B)):
            rng = np.random.default_rng([b_i, half])
            templates = []
            while len(templates) < 3:  # N templates that do reach into the margin
                m = generate_mask(rng, size, b, g)
                if group_of(m, margin_for(size)) is g:
                    templates.append(flip_polarity(m))  # NVIDIA's white holes
            for k in range(1000):
                cv2.imwrite(str(src / f"{b_i * 2000 + half * 1000 + k:05d}.png"), templates[k % 3])
    res = runner.invoke(main, ["masks", "import", str(src), "--out", str(tmp_path / "imp")])
    assert res.exit_code == 0, res.output
    assert "NVIDIA does not publish" in res.output and "halves NB" in res.output
    df = pd.read_csv(tmp_path / "imp" / "manifest.csv", keep_default_na=False)
    assert len(df) == 12000 and {"nvidia_bin", "nvidia_group"} <= set(df.columns)
    # The measured bins and groups are the manifest's; here they agree with the labels everywhere.
    assert (df["bin"] == df["nvidia_bin"]).all() and (df["group"] == df["nvidia_group"]).all()
    assert "bin_mismatch" in res.output
    # Polarity: NVIDIA's white holes became this project's black holes.
    assert df["hole_ratio"].between(0.01, 0.6).all()


def test_grey_photos_are_kept_as_rgb_and_splits(runner, tmp_path, astronaut):
    src = _images(tmp_path / "src", 4, astronaut)
    grey = cv2.cvtColor(astronaut[:200, :200], cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(src / "grey.png"), grey)
    res = runner.invoke(main, ["data", "prepare", "--out", str(tmp_path / "d"), "--size", str(SIZE),
                               "--source", str(src)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "kept 1 grey-scale image(s) as RGB" in res.output
    df = pd.read_csv(tmp_path / "d" / "manifest.csv")
    g = cv2.imread(str(tmp_path / "d" / df.loc[df.source == "grey.png", "file"].item()))
    assert g.shape == (SIZE, SIZE, 3) and (g[..., 0] == g[..., 1]).all()
    res = runner.invoke(main, ["data", "prepare", "--out", str(tmp_path / "d2"), "--size", str(SIZE),
                               "--source", str(src), "--skip-grey"])  # fmt: skip
    assert res.exit_code == 0 and "grey.png" not in set(pd.read_csv(tmp_path / "d2" / "manifest.csv").source)
    # Whole folder in one split, or an official list.
    for split in ("train", "test"):
        out = tmp_path / f"s-{split}"
        res = runner.invoke(main, ["data", "prepare", "--out", str(out), "--size", str(SIZE), "--source",
                                   str(src), "--split", split])  # fmt: skip
        assert res.exit_code == 0 and set(pd.read_csv(out / "manifest.csv").split) == {split}
    lst = tmp_path / "list.txt"
    lst.write_text("# official test list\nim01.png\nim03.png 17\n")
    res = runner.invoke(main, ["data", "prepare", "--out", str(tmp_path / "sl"), "--size", str(SIZE),
                               "--source", str(src), "--split", str(lst)])  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_csv(tmp_path / "sl" / "manifest.csv")
    assert sorted(df.loc[df.split == "test", "source"]) == ["im01.png", "im03.png"]
    res = runner.invoke(main, ["data", "prepare", "--out", str(tmp_path / "bad"), "--size", str(SIZE),
                               "--source", str(src), "--split", "validation"])  # fmt: skip
    assert res.exit_code == 2 and "--split" in res.output


@pytest.mark.slow
def test_reproduce_takes_every_input_of_a_paper_run(runner, tmp_path, astronaut):
    """Train and test folders, imported test masks, raw training masks, distinct pairing: the smoke
    profile with everything a paper run brings."""
    from masks.manifest import generate_set, import_set

    train_dir = tmp_path / "train"
    train_dir.mkdir()
    for i in range(4):
        write_png(train_dir / f"p{i}.png", astronaut[i * 60 : i * 60 + 150, i * 50 : i * 50 + 150])
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    for i in range(12):
        crop = cv2.resize(astronaut[i * 20 : i * 20 + 200, 100:300], (64, 64), interpolation=cv2.INTER_AREA)
        write_png(test_dir / f"t{i:02d}.png", crop)
    generate_set(tmp_path / "gen", size=64, per_bin=1, seed=3, progress=False)
    import_set(tmp_path / "gen", tmp_path / "test-masks", polarity="hole-black", progress=False)
    raw = tmp_path / "raw"
    raw.mkdir()
    m = np.full((96, 96), 255, np.uint8)
    m[30:50, 30:50] = 0
    write_png(raw / "0.png", m)
    out = tmp_path / "run"
    args = [
        "reproduce",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--data",
        str(train_dir),
        "--test-data",
        str(test_dir),
        "--masks",
        str(tmp_path / "test-masks"),
        "--train-masks",
        str(raw),
        "--pairing",
        "distinct",
        "--steps",
        "2",
        "--limit",
        "12",
    ]  # fmt: skip (smoke's limit 4: 4 images)
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "[masks]" not in res.output and "augmentation nvidia" in res.output
    pairs = pd.read_csv(out / "eval" / "pairs.csv")
    assert len(pairs) == 12 and pairs["image"].is_unique  # one test image per mask
    env = json.loads((out / "results" / "environment.json").read_text())
    assert env["image_set"]["photos"] == {"train": 4, "test": 12}
    assert env["profile"]["pairing"] == "distinct"
