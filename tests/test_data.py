"""bench.data (photos, decode, prepare) and `bench data prepare`: crops, split by source photo, determinism,
user folders, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

import bench.data.decode as bdec
import bench.data.photos as bp
import bench.data.prepare as bd
from bench.cli import main
from bench.core.errors import BenchError

S = 32


def _photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random colour picture (uint8 (h,w,3)): low-frequency noise, so resizing is well-behaved."""
    small = rng.integers(0, 256, size=(max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _save(path: Path, rgb: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kw)
    return path


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _folder(root: Path, n: int, seed: int = 0, size: tuple[int, int] = (48, 64)) -> dict[str, np.ndarray]:
    """n lossless PNG photos in a flat folder; returns name -> pixels."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        img = _photo(rng, *size)
        _save(root / f"img{i:02d}.png", img)
        out[f"img{i:02d}.png"] = img
    return out


def _paper_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Centred square resized with INTER_AREA, written out here independently of bench.data."""
    h, w = img.shape[:2]
    s = min(h, w)
    y, x = (h - s) // 2, (w - s) // 2
    return cv2.resize(img[y : y + s, x : x + s], (size, size), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------------------------------
# The builtin set.
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def builtin_set(tmp_path_factory) -> tuple[Path, bd.PrepareReport]:
    out = tmp_path_factory.mktemp("builtin") / "set"
    report = bd.prepare_dataset(out, size=S, seed=0, crops_per_photo=3, progress=False)
    return out, report


def test_builtin_split_by_source_photo(builtin_set):
    out, report = builtin_set
    df = pd.read_csv(out / "manifest.csv")
    assert set(df["split"]) == {"train", "test"}
    per_source = df.groupby("source")["split"].nunique()
    assert (per_source == 1).all(), "a source photo has crops in both splits"
    photos = df.drop_duplicates("source")["split"].value_counts()
    assert report.photos == {"train": photos["train"], "test": photos["test"]}
    assert report.crops == df["split"].value_counts().to_dict()
    assert photos["test"] == round(0.2 * len(per_source))
    assert set(df["file"]) == {p.relative_to(out).as_posix() for p in bd.list_images(out)}


def test_builtin_sources_are_the_reviewed_photos(builtin_set):
    out, _ = builtin_set
    df = pd.read_csv(out / "manifest.csv")
    sources = set(df["source"])
    assert not sources & set(bp.EXCLUDED)
    assert {"skimage:astronaut.png", "sklearn:china.jpg", "matplotlib:grace_hopper.jpg"} <= sources
    for pkg, (folder, names) in bp.WALLPAPER_PACKAGES.items():
        if all((Path(folder) / n).is_file() for n in names):
            assert {f"{pkg}:{n}" for n in names} <= sources
    # Every crop is an RGB picture, not a grey one.
    for f in df["file"][::7]:
        img = _read(out / f)
        assert np.abs(img.astype(int) - img.mean(axis=2, keepdims=True)).max() > 10


def test_builtin_crops_match_their_boxes(builtin_set):
    """Each crop is the manifest's box of the source photo, resized to SxS (checked on a few photos)."""
    out, _ = builtin_set
    df = pd.read_csv(out / "manifest.csv")
    assert (df["x1"] - df["x0"] == df["y1"] - df["y0"]).all()
    assert ((df["x0"] >= 0) & (df["y0"] >= 0)).all()
    assert ((df["x1"] <= df["src_width"]) & (df["y1"] <= df["src_height"])).all()
    paths = {p.source: p.path for p in bp.builtin_photos()}
    for source in ("skimage:astronaut.png", "sklearn:flower.jpg", "matplotlib:grace_hopper.jpg"):
        full = _read(paths[source])  # full-resolution decode, independent of bench.data.images
        for row in df[df["source"] == source].itertuples():
            crop = _read(out / row.file)
            assert crop.shape == (S, S, 3)
            err = _box_error(full, crop, row.x0, row.y0, row.x1 - row.x0)
            # JPEGs may be decoded at 1/2..1/8 scale (DCT scaling), so allow a few grey levels; a box
            # off by a quarter of its side must fit clearly worse.
            assert err < 6.0
            q = (row.x1 - row.x0) // 4
            dx = q if row.x1 + q <= full.shape[1] else -q
            assert _box_error(full, crop, row.x0 + dx, row.y0, row.x1 - row.x0) > err + 1.0


def _box_error(full: np.ndarray, crop: np.ndarray, x0: int, y0: int, side: int) -> float:
    """Mean absolute difference between a crop and the box (x0, y0, side) of the photo resized to SxS."""
    expect = cv2.resize(full[y0 : y0 + side, x0 : x0 + side], (S, S), interpolation=cv2.INTER_AREA)
    return float(np.abs(crop.astype(int) - expect).mean())


def test_builtin_rerun_is_reused_and_identical(builtin_set):
    out, _ = builtin_set
    before = (out / "manifest.csv").read_bytes()
    again = bd.prepare_dataset(out, size=S, seed=0, crops_per_photo=3, progress=False)
    assert again.reused
    assert (out / "manifest.csv").read_bytes() == before


def test_builtin_same_seed_same_bytes(tmp_path, monkeypatch):
    # The package photos only (small, fast); the wallpapers go through the same code.
    monkeypatch.setattr(bp, "WALLPAPER_PACKAGES", {})
    a = bd.prepare_dataset(tmp_path / "a", size=S, seed=3, crops_per_photo=2, progress=False)
    b = bd.prepare_dataset(tmp_path / "b", size=S, seed=3, crops_per_photo=2, progress=False)
    c = bd.prepare_dataset(tmp_path / "c", size=S, seed=4, crops_per_photo=2, progress=False)
    assert not a.reused and not b.reused
    ma, mb = (tmp_path / "a/manifest.csv").read_bytes(), (tmp_path / "b/manifest.csv").read_bytes()
    assert ma == mb
    for f in pd.read_csv(tmp_path / "a/manifest.csv")["file"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    # Another seed moves the crops.
    dc = pd.read_csv(tmp_path / "c/manifest.csv")
    da = pd.read_csv(tmp_path / "a/manifest.csv")
    assert not da[["x0", "y0"]].equals(dc[["x0", "y0"]])
    assert c.crops["train"] + c.crops["test"] == a.crops["train"] + a.crops["test"]


def test_absent_source_is_skipped_with_a_message(monkeypatch, tmp_path):
    monkeypatch.setattr(
        bp, "WALLPAPER_PACKAGES", {"no-such-wallpapers": (str(tmp_path / "none"), ("x.jpg",))}
    )
    messages: list[str] = []
    photos = bp.builtin_photos(messages.append)
    assert photos and all(p.collection in ("skimage", "sklearn", "matplotlib") for p in photos)
    assert any("no-such-wallpapers" in m and "skipped" in m for m in messages)


def test_builtin_crop_count_and_scale():
    """A big photo gives min(count, how many fit) crops of S/(factor*S) of its short side; a photo
    smaller than S is upscaled, its crops span its whole short side."""
    photos = {p.source: p.path for p in bp.builtin_photos()}
    crops, d = bd.builtin_crops(photos["skimage:astronaut.png"], 64, 5, 3.0, np.random.default_rng(0))
    # 512 px short side viewed at 192 px: crop side 512 * 64 / 192 = 171 source px; 512^2/171^2 = 9 fit.
    assert len(crops) == 5
    assert all(c.box[2] - c.box[0] == 171 and c.image.shape == (64, 64, 3) for c in crops)
    crops, d = bd.builtin_crops(photos["skimage:chelsea.png"], 400, 5, 3.0, np.random.default_rng(0))
    # 451x300 upscaled to S=400: crops cover the whole 300 px short side; round(451 / 300) = 2 fit.
    assert d.height == 300 and len(crops) == 2
    assert all(c.box[1] == 0 and c.box[3] == 300 and c.image.shape == (400, 400, 3) for c in crops)


# ------------------------------------------------------------------------------------------------
# Split.
# ------------------------------------------------------------------------------------------------


def test_split_properties():
    ids = [f"p{i}" for i in range(40)]
    splits = [bd.split_photos(ids, seed, 0.25) for seed in range(10)]
    for sp in splits:
        assert sum(v == "test" for v in sp.values()) == 10
    assert len({tuple(sorted(k for k, v in sp.items() if v == "test")) for sp in splits}) == 10
    assert bd.split_photos(ids, 3, 0.25) == splits[3]
    # A photo's split does not depend on which other photos exist (when the count stays the same).
    sub = bd.split_photos(ids[:20], 0, 0.5)
    assert sum(v == "test" for v in sub.values()) == 10
    # At least one photo in each split when there are two or more photos.
    assert sorted(bd.split_photos(["a", "b"], 0, 0.01).values()) == ["test", "train"]
    assert set(bd.split_photos(ids, 0, 0.0).values()) == {"train"}
    assert set(bd.split_photos(ids, 0, 1.0).values()) == {"test"}


# ------------------------------------------------------------------------------------------------
# User folders.
# ------------------------------------------------------------------------------------------------


def test_user_folder_nested_layouts(tmp_path):
    rng = np.random.default_rng(1)
    src = tmp_path / "src"
    pics = {
        "a/abbey/00000001.png": _photo(rng, 80, 60),  # Places365
        "a/airfield/00000002.png": _photo(rng, 64, 64),
        "train/n01440764/n01440764_10026.PNG": _photo(rng, 50, 90),  # ImageNet
        "celeba/00001.png": _photo(rng, 96, 96),  # CelebA-HQ
        "flat.png": _photo(rng, 40, 70),
    }
    for rel, img in pics.items():
        _save(src / rel, img, format="PNG")
    (src / "README.txt").write_text("not an image")
    (src / ".hidden.png").write_bytes(b"junk")
    report = bd.prepare_dataset(tmp_path / "out", size=S, source=str(src), seed=0, progress=False)
    df = pd.read_csv(tmp_path / "out/manifest.csv")
    assert sorted(df["source"]) == sorted(pics)
    assert report.ignored == 1 and not report.skipped
    assert report.photos["test"] == 1 and report.photos["train"] == 4  # round(0.2 * 5)
    for row in df.itertuples():
        got = _read(tmp_path / "out" / row.file)
        np.testing.assert_array_equal(got, _paper_crop(pics[row.source], S))
        h, w = pics[row.source].shape[:2]
        s = min(h, w)
        assert (row.x0, row.y0, row.x1, row.y1) == (
            (w - s) // 2,
            (h - s) // 2,
            (w - s) // 2 + s,
            (h - s) // 2 + s,
        )
    # Writing the output inside the source folder does not index the crops on a rerun.
    bd.prepare_dataset(src / "prepared", size=S, source=str(src), progress=False)
    again = bd.prepare_dataset(src / "prepared", size=S, source=str(src), progress=False)
    assert again.reused and sum(again.photos.values()) == 5


def test_user_folder_jpeg_and_determinism(tmp_path):
    rng = np.random.default_rng(2)
    for i in range(12):
        _save(tmp_path / "src" / f"d{i % 3}" / f"{i}.jpg", _photo(rng, 70, 100), quality=92)
    a = bd.prepare_dataset(tmp_path / "a", size=S, source=str(tmp_path / "src"), seed=5, progress=False)
    bd.prepare_dataset(tmp_path / "b", size=S, source=str(tmp_path / "src"), seed=5, progress=False)
    assert (tmp_path / "a/manifest.csv").read_bytes() == (tmp_path / "b/manifest.csv").read_bytes()
    df = pd.read_csv(tmp_path / "a/manifest.csv")
    for f in df["file"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert a.crops == {"train": 10, "test": 2}
    splits = set()
    for seed in range(6):
        bd.prepare_dataset(tmp_path / "c", size=S, source=str(tmp_path / "src"), seed=seed, progress=False)
        dc = pd.read_csv(tmp_path / "c/manifest.csv")
        splits.add(tuple(sorted(dc.loc[dc["split"] == "test", "source"])))
    assert len(splits) > 1


def test_rebuild_with_other_parameters_replaces_files(tmp_path):
    _folder(tmp_path / "src", 4)
    out = tmp_path / "out"
    bd.prepare_dataset(out, size=S, source=str(tmp_path / "src"), progress=False)
    first = set(pd.read_csv(out / "manifest.csv")["file"])
    (tmp_path / "src" / "img03.png").unlink()
    r = bd.prepare_dataset(out, size=S, source=str(tmp_path / "src"), progress=False)
    assert not r.reused
    second = set(pd.read_csv(out / "manifest.csv")["file"])
    assert len(second) == 3 and second < first
    on_disk = {p.relative_to(out).as_posix() for p in (out / "images").iterdir()}
    assert on_disk == second
    r16 = bd.prepare_dataset(out, size=16, source=str(tmp_path / "src"), progress=False)
    assert not r16.reused and _read(out / sorted(second)[0]).shape == (16, 16, 3)


# ------------------------------------------------------------------------------------------------
# Bad input.
# ------------------------------------------------------------------------------------------------


def _bad_files(folder: Path, rng: np.random.Generator) -> dict[str, str]:
    """Make one file of each kind of bad input; returns name -> a word the message must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.jpg").write_text("this is not a JPEG\n")
    buf = folder / "full.jpg"
    _save(buf, _photo(rng, 64, 64), quality=90)
    data = buf.read_bytes()
    buf.unlink()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    _save(folder / "grey.png", _photo(rng, 64, 64)[..., 0])
    grey3 = np.repeat(_photo(rng, 64, 64)[..., :1], 3, axis=2)
    _save(folder / "grey_as_rgb.jpg", grey3, quality=95)
    cv2.imwrite(str(folder / "grey16.png"), (rng.random((64, 64)) * 65535).astype(np.uint16))
    _save(folder / "small.png", _photo(rng, 20, 60))
    return {
        "text.jpg": "not an image",
        "truncated.jpg": "truncated",
        "grey.png": "grey",
        "grey_as_rgb.jpg": "grey",
        "grey16.png": "grey",
        "small.png": "smaller",
    }


def test_bad_files_are_skipped_and_named(tmp_path, runner):
    rng = np.random.default_rng(3)
    expect = _bad_files(tmp_path / "src", rng)
    _folder(tmp_path / "src" / "good", 3)
    result = runner.invoke(
        main,
        [
            "data",
            "prepare",
            "--out",
            str(tmp_path / "out"),
            "--size",
            str(S),
            "--source",
            str(tmp_path / "src"),
            "--skip-grey",  # grey images count as unusable here (by default they are kept as RGB)
        ],
    )
    assert result.exit_code == 0, result.output
    for name, word in expect.items():
        lines = [ln for ln in result.output.splitlines() if name in ln]
        assert lines and any(word in ln for ln in lines), (name, result.output)
    assert f"skipped {len(expect)} unusable file(s)" in result.output
    df = pd.read_csv(tmp_path / "out/manifest.csv")
    assert sorted(df["source"]) == [f"good/img{i:02d}.png" for i in range(3)]


def test_nothing_usable_exits_2_and_writes_nothing(tmp_path, runner):
    _bad_files(tmp_path / "src", np.random.default_rng(4))
    out = tmp_path / "out"
    result = runner.invoke(
        main,
        [
            "data",
            "prepare",
            "--out",
            str(out),
            "--size",
            str(S),
            "--source",
            str(tmp_path / "src"),
            "--skip-grey",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "no usable images" in result.output
    assert not out.exists()


@pytest.mark.parametrize("kind", ["missing", "empty", "no-images"])
def test_missing_or_empty_folder_exits_2(tmp_path, runner, kind):
    src = tmp_path / "src"
    if kind != "missing":
        src.mkdir()
    if kind == "no-images":
        (src / "notes.txt").write_text("hello")
    out = tmp_path / "out"
    result = runner.invoke(
        main, ["data", "prepare", "--out", str(out), "--size", str(S), "--source", str(src)]
    )
    assert result.exit_code == 2
    assert str(src) in result.output
    assert not out.exists()


def test_rgba_and_16bit_are_converted(tmp_path):
    rng = np.random.default_rng(5)
    rgb = _photo(rng, S, S)
    alpha = np.zeros((S, S), np.uint8)
    alpha[:, S // 2 :] = 255  # left half transparent
    _save(tmp_path / "src" / "rgba.png", np.dstack([rgb, alpha]))
    rgb16 = (rng.random((S, S, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "src" / "deep.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    notes: list[str] = []
    report = bd.prepare_dataset(tmp_path / "out", size=S, source=str(tmp_path / "src"), log=notes.append)
    assert not report.skipped and len(report.notes) == 2
    assert any("rgba.png" in n and "white" in n for n in notes)
    assert any("deep.png" in n and "16-bit" in n for n in notes)
    df = pd.read_csv(tmp_path / "out/manifest.csv").set_index("source")
    got = _read(tmp_path / "out" / df.loc["rgba.png", "file"])
    assert (got[:, : S // 2] == 255).all()
    np.testing.assert_array_equal(got[:, S // 2 :], rgb[:, S // 2 :])
    got16 = _read(tmp_path / "out" / df.loc["deep.png", "file"])
    np.testing.assert_array_equal(got16, np.round(rgb16 / 257.0).astype(np.uint8))


def test_bad_parameters(tmp_path, runner):
    _folder(tmp_path / "src", 2)
    for args in (["--size", "4"], ["--test-fraction", "1.5"], ["--crops-per-photo", "0"]):
        r = runner.invoke(
            main, ["data", "prepare", "--out", str(tmp_path / "o"), "--source", str(tmp_path / "src"), *args]
        )
        assert r.exit_code == 2, args
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------
# Library helpers other modules use.
# ------------------------------------------------------------------------------------------------


def test_list_images(tmp_path):
    pics = _folder(tmp_path / "plain" / "x", 3)
    _save(tmp_path / "plain" / "a.png", next(iter(pics.values())))
    files = bd.list_images(tmp_path / "plain")
    assert [f.relative_to(tmp_path / "plain").as_posix() for f in files] == [
        "a.png",
        "x/img00.png",
        "x/img01.png",
        "x/img02.png",
    ]
    with pytest.raises(BenchError):
        bd.list_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError):
        bd.list_images(tmp_path / "empty")

    bd.prepare_dataset(
        tmp_path / "set", size=S, source=str(tmp_path / "plain"), test_fraction=0.5, progress=False
    )
    df = pd.read_csv(tmp_path / "set/manifest.csv")
    for split in ("train", "test"):
        got = bd.list_images(tmp_path / "set", split)
        assert got == sorted(tmp_path / "set" / f for f in df.loc[df["split"] == split, "file"])
        assert len(got) == 2
    assert len(bd.list_images(tmp_path / "set")) == 4


def test_load_image(tmp_path):
    rng = np.random.default_rng(6)
    img = _photo(rng, 50, 80)
    _save(tmp_path / "p.png", img)
    np.testing.assert_array_equal(bdec.load_image(tmp_path / "p.png"), img)
    np.testing.assert_array_equal(bdec.load_image(tmp_path / "p.png", size=24), _paper_crop(img, 24))
    _save(tmp_path / "g.png", img[..., 1])
    np.testing.assert_array_equal(bdec.load_image(tmp_path / "g.png"), np.repeat(img[..., 1:2], 3, axis=2))
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(ValueError, match="t.png"):
        bdec.load_image(tmp_path / "t.png")


def test_builtin_dataset_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(bp, "WALLPAPER_PACKAGES", {})
    monkeypatch.setenv("PCONV_BENCH_CACHE", str(tmp_path / "cache"))
    folder = bd.builtin_dataset(S, seed=1)
    assert folder.is_relative_to(tmp_path / "cache") and (folder / "manifest.csv").is_file()
    stamp = (folder / "manifest.csv").stat().st_mtime_ns
    assert bd.builtin_dataset(S, seed=1) == folder
    assert (folder / "manifest.csv").stat().st_mtime_ns == stamp
    assert bd.list_images(folder, "train") and bd.list_images(folder, "test")


def test_cli_prints_counts(tmp_path, runner):
    _folder(tmp_path / "src", 5)
    args = [
        "data",
        "prepare",
        "--out",
        str(tmp_path / "o"),
        "--size",
        str(S),
        "--source",
        str(tmp_path / "src"),
    ]
    r = runner.invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "train:    4 photos,     4 crops" in r.output and "test :    1 photos,     1 crops" in r.output
    r2 = runner.invoke(main, args)
    assert r2.exit_code == 0 and "reused" in r2.output


def test_every_candidate_file_is_classified():
    """Each picture in the builtin sources' folders is either used or excluded with a reason."""
    used = {p.source for p in bp.builtin_photos()}
    folders = {
        "skimage": (bp._module_data_folder("skimage.data", ""), False),
        "sklearn": (bp._module_data_folder("sklearn.datasets", "images"), False),
        "matplotlib": (bp._module_data_folder("matplotlib", ""), False),
    }
    for pkg, (folder, _) in bp.WALLPAPER_PACKAGES.items():
        folders[pkg] = (Path(folder), pkg == "mate-backgrounds")
    for collection, (folder, recursive) in folders.items():
        if not folder.is_dir():
            continue
        pattern = "**/*" if recursive else "*"
        for f in folder.glob(pattern):
            if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif") and f.is_file():
                key = f"{collection}:{f.relative_to(folder).as_posix()}"
                assert key in used or key in bp.EXCLUDED, f"{key} is neither used nor excluded"
    assert all(reason for reason in bp.EXCLUDED.values())


def test_interrupted_prepare_leaves_no_manifest_and_no_temp_files(tmp_path, monkeypatch):
    _folder(tmp_path / "src", 4)
    out = tmp_path / "out"
    bd.prepare_dataset(out, size=S, source=str(tmp_path / "src"), progress=False)
    calls = {"n": 0}
    real = bd.encode_png

    def failing(img):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(img)

    monkeypatch.setattr(bd, "encode_png", failing)
    with pytest.raises(KeyboardInterrupt):
        bd.prepare_dataset(out, size=S + 8, source=str(tmp_path / "src"), progress=False)
    assert not (out / "manifest.csv").exists()  # the old one describes other crops: gone
    assert not list(out.rglob("*.tmp"))
    for f in (out / "images").iterdir():
        assert _read(f).shape[0] in (S, S + 8)  # every file on disk is a complete PNG
    monkeypatch.setattr(bd, "encode_png", real)
    r = bd.prepare_dataset(out, size=S + 8, source=str(tmp_path / "src"), progress=False)
    assert not r.reused and len(bd.list_images(out)) == 4


def test_symlink_loop_and_missing_manifest_file(tmp_path):
    _folder(tmp_path / "src" / "a", 2)
    (tmp_path / "src" / "a" / "loop").symlink_to(tmp_path / "src", target_is_directory=True)
    r = bd.prepare_dataset(tmp_path / "out", size=S, source=str(tmp_path / "src"), progress=False)
    assert sum(r.photos.values()) == 2
    victim = bd.list_images(tmp_path / "out")[0]
    victim.unlink()
    with pytest.raises(BenchError, match="missing"):
        bd.list_images(tmp_path / "out")
    # A rerun notices the missing crop and rebuilds.
    again = bd.prepare_dataset(tmp_path / "out", size=S, source=str(tmp_path / "src"), progress=False)
    assert not again.reused and victim.is_file()


def test_builtin_dataset_builds_once_under_concurrency(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(bp, "WALLPAPER_PACKAGES", {})
    monkeypatch.setenv("PCONV_BENCH_CACHE", str(tmp_path / "cache"))
    real = bd.prepare_dataset
    reports: list[bd.PrepareReport] = []

    def recording(*args, **kwargs):
        reports.append(real(*args, **kwargs))
        return reports[-1]

    monkeypatch.setattr(bd, "prepare_dataset", recording)
    folders: list[Path] = []
    threads = [
        threading.Thread(target=lambda: folders.append(bd.builtin_dataset(S, seed=7))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(folders)) == 1 and len(reports) == 3
    assert sorted(r.reused for r in reports) == [False, True, True]
