"""Reliability, second round (issue 22), the file side: writes through symbolic links (8), image sizes
bounded before decoding and streaming imports (9), file names that are not UTF-8, colons and CSV formulas
(10), YAML aliases and checkpoint architectures (11), numeric bounds (12), EXIF orientation, temporary
files of killed writes and checkpoint messages (15).

Every test here failed on the main branch before these items were built.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.core.errors import BenchError
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 64
BIN_ARGS = ["--ratio", "0.1-0.3"]
BENCH = [sys.executable, "-m", "bench"]
NOT_UTF8 = os.fsdecode(b"bad\xff\xfename.png")  # a name whose bytes are not UTF-8


def _photos(folder: Path, n: int = 4, seed: int = 0, shape: tuple[int, int] = (80, 96)) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
        write_png(folder / f"p{i}.png", cv2.resize(small, shape[::-1], interpolation=cv2.INTER_LINEAR))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A prepared image set (64 px) and a generated mask set for two bins."""
    root = tmp_path_factory.mktemp("relfiles")
    from bench.data.prepare import prepare_dataset
    from masks.manifest import generate_set

    prepare_dataset(root / "data", size=SIZE, source=str(_photos(root / "photos", 5)), seed=0,
                    test_fraction=0.6, progress=False)  # fmt: skip
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:3], seed=0, progress=False, workers=1)
    return root


def _cli(runner, *args, env=None):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, env=env)


def _one_error_line(res) -> str:
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


def _relink(folder: Path, outside: Path) -> None:
    """Replace `folder` (a sub-folder a command wrote) by a symbolic link to `outside`."""
    for p in sorted(folder.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    folder.rmdir()
    outside.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(outside, target_is_directory=True)


def _png_header(w: int, h: int) -> bytes:
    """The first bytes of a PNG announcing w x h px (no pixel data: only the header may be read)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _mask(size: int = SIZE, hole: tuple[int, int] = (10, 30)) -> np.ndarray:
    m = np.full((size, size), 255, np.uint8)
    m[hole[0] : hole[1], hole[0] : hole[1]] = 0
    return m


# ---------------------------------------------------------------------------------------------- 8


def test_8_io_refuses_a_linked_sub_folder_but_replaces_a_linked_file(tmp_path):
    from bench.core.files import MARKER, open_append, write_bytes

    own, outside = tmp_path / "own", tmp_path / "outside"
    own.mkdir()
    (own / MARKER).write_text("{}")
    outside.mkdir()
    (own / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BenchError, match="symbolic link"):
        write_bytes(own / "sub" / "deeper" / "a.png", b"x")
    (outside / "f.txt").write_text("theirs")
    (own / "log.txt").symlink_to(outside / "f.txt")
    with pytest.raises(BenchError, match="symbolic link"):
        open_append(own / "log.txt")
    write_bytes(own / "log.txt", b"mine")  # the link itself is replaced by our file
    assert sorted(os.listdir(outside)) == ["f.txt"] and (outside / "f.txt").read_text() == "theirs"
    assert not (own / "log.txt").is_symlink() and (own / "log.txt").read_bytes() == b"mine"
    # The owned folder itself may be reached through a link (a user's --out on another disk).
    (tmp_path / "alias").symlink_to(own, target_is_directory=True)
    write_bytes(tmp_path / "alias" / "new" / "b.bin", b"ok")
    assert (own / "new" / "b.bin").read_bytes() == b"ok"


def test_8_data_prepare_never_writes_through_a_linked_images_folder(tmp_path, runner):
    photos = _photos(tmp_path / "photos", 3)
    out, outside = tmp_path / "set", tmp_path / "outside"
    assert _cli(runner, "data", "prepare", "--out", out, "--source", photos, "--size", SIZE).exit_code == 0
    _relink(out / "images", outside)
    res = _cli(runner, "data", "prepare", "--out", out, "--source", photos, "--size", SIZE, "--seed", 1)
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert os.listdir(outside) == []


def test_8_a_linked_lock_file_is_refused_not_written_through(tmp_path, runner):
    photos = _photos(tmp_path / "photos", 2)
    out, victim = tmp_path / "set", tmp_path / "victim.txt"
    args = ["data", "prepare", "--out", out, "--source", photos, "--size", SIZE]
    assert _cli(runner, *args).exit_code == 0
    victim.write_text("precious")
    (out / ".pconv-bench.lock").unlink()
    (out / ".pconv-bench.lock").symlink_to(victim)
    res = _cli(runner, *args, "--seed", 1)
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("workers", [1, 2])
def test_8_masks_generate_never_writes_through_a_linked_bin_folder(tmp_path, runner, workers):
    out, outside = tmp_path / "m", tmp_path / "outside"
    args = [
        "masks",
        "generate",
        "--out",
        out,
        "--size",
        SIZE,
        "--per-bin",
        2,
        *BIN_ARGS,
        "--workers",
        workers,
    ]
    assert _cli(runner, *args).exit_code == 0
    _relink(out / "0.1-0.2", outside)
    res = _cli(runner, *args, "--seed", 1)
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert os.listdir(outside) == []


def test_8_export_never_writes_through_a_linked_inputs_folder(inputs, tmp_path, runner):
    out, outside = tmp_path / "exp", tmp_path / "outside"
    args = ["export", "--data", inputs / "data", "--masks", inputs / "masks", *BIN_ARGS, "--out", out]
    assert _cli(runner, *args).exit_code == 0
    _relink(out / "inputs", outside)
    res = _cli(runner, *args)
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert os.listdir(outside) == []


def test_8_evaluate_never_writes_through_a_linked_records_folder(inputs, tmp_path, runner):
    out, outside = tmp_path / "ev", tmp_path / "outside"
    args = ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", "mean",
            "--out", out, "--no-is", "--no-figures", *BIN_ARGS]  # fmt: skip
    assert _cli(runner, *args).exit_code == 0
    _relink(out / "records", outside)
    res = _cli(runner, *args)
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert os.listdir(outside) == []


def test_8_train_never_writes_through_a_linked_samples_folder(inputs, tmp_path, runner):
    out, outside = tmp_path / "t", tmp_path / "outside"
    args = ["train", "--profile", "smoke", "--out", out, "--data", inputs / "data", "--features", "none"]
    assert _cli(runner, *args, "--steps", 1).exit_code == 0
    assert list((out / "samples").iterdir())
    _relink(out / "samples", outside)
    res = _cli(runner, *args, "--steps", 2, "--resume")
    assert res.exit_code == 2
    assert "symbolic link" in _one_error_line(res)
    assert os.listdir(outside) == []


# ---------------------------------------------------------------------------------------------- 9


def test_9_masks_import_refuses_a_huge_header_before_decoding(tmp_path, runner):
    src = tmp_path / "src"
    src.mkdir()
    write_png(src / "a.png", _mask())
    (src / "b.png").write_bytes(_png_header(30000, 30000) + b"\0" * 64)  # 30000x30000 announced
    res = _cli(runner, "masks", "import", src, "--out", tmp_path / "out")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "b.png" in line and "30000x30000" in line and "16384" in line
    assert not (tmp_path / "out").exists()


def test_9_maximum_side_is_overridable(tmp_path, runner):
    src = tmp_path / "src"
    src.mkdir()
    write_png(src / "a.png", _mask())
    env = {"PCONV_BENCH_MAX_SIDE": "32"}
    res = _cli(runner, "masks", "import", src, "--out", tmp_path / "o1", env=env)
    assert res.exit_code == 2 and "PCONV_BENCH_MAX_SIDE" in _one_error_line(res)
    assert _cli(runner, "masks", "import", src, "--out", tmp_path / "o2").exit_code == 0


def test_9_data_prepare_skips_a_huge_photo_without_decoding_it(tmp_path, runner):
    photos = _photos(tmp_path / "photos", 2)
    (photos / "huge.png").write_bytes(_png_header(40000, 20000) + b"\0" * 64)
    res = _cli(runner, "data", "prepare", "--out", tmp_path / "set", "--source", photos, "--size", SIZE)
    assert res.exit_code == 0, res.output
    assert "huge.png: 40000x20000 px is larger than the maximum" in res.output
    assert len(pd.read_csv(tmp_path / "set" / "manifest.csv")) == 2


def test_9_outputs_folder_refuses_a_huge_output_before_decoding(tmp_path):
    from baselines.outputs import read_output

    (tmp_path / "0.png").write_bytes(_png_header(30000, 30000) + b"\0" * 64)
    img, why = read_output(tmp_path / "0.png", (SIZE, SIZE))
    assert img is None and "larger than the maximum" in why


def test_9_masks_import_decodes_and_writes_one_mask_at_a_time(tmp_path, monkeypatch):
    """After the checking pass, each mask is decoded right before it is written (constant memory)."""
    import masks.manifest as mm

    src = tmp_path / "src"
    src.mkdir()
    for i in range(4):
        write_png(src / f"{i}.png", _mask(hole=(5 + i, 30 + i)))
    events: list[str] = []
    read, write = mm._read_binary, mm.write_bytes
    monkeypatch.setattr(mm, "_read_binary", lambda p: (events.append("read"), read(p))[1])
    monkeypatch.setattr(mm, "write_bytes", lambda *a, **k: (events.append("write"), write(*a, **k))[1])
    mm.import_set(src, tmp_path / "out", polarity="hole-black", progress=False)
    masks_events = [e for e in events[: events.index("write") + 8]]
    first_write = masks_events.index("write")
    assert masks_events[first_write - 1 :][:8] == ["read", "write"] * 4, events


# ---------------------------------------------------------------------------------------------- 10


def test_10_masks_import_of_a_name_that_is_not_utf8_is_one_line_and_writes_nothing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_png(src / "a.png", _mask())
    ok, buf = cv2.imencode(".png", _mask())
    (src / NOT_UTF8).write_bytes(buf.tobytes())
    out = tmp_path / "out"
    res = subprocess.run([*BENCH, "masks", "import", str(src), "--out", str(out)], capture_output=True,
                         text=True, errors="replace", timeout=120)  # fmt: skip
    assert res.returncode == 2, (res.returncode, res.stderr)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "not valid UTF-8" in errors[0] and "\\udcff" in errors[0], res.stderr
    assert not out.exists()


def test_10_data_prepare_skips_a_name_that_is_not_utf8(tmp_path, runner):
    photos = _photos(tmp_path / "photos", 2)
    os.rename(photos / "p1.png", photos / NOT_UTF8)
    res = _cli(runner, "data", "prepare", "--out", tmp_path / "set", "--source", photos, "--size", SIZE)
    assert res.exit_code == 0, res.output
    assert "not valid UTF-8" in res.output
    assert list(pd.read_csv(tmp_path / "set" / "manifest.csv")["source"]) == ["p0.png"]


def test_10_evaluate_refuses_a_name_that_is_not_utf8_before_writing(inputs, tmp_path, runner):
    images = _photos(tmp_path / "images", 2, shape=(SIZE, SIZE))
    os.rename(images / "p1.png", images / NOT_UTF8)
    out = tmp_path / "ev"
    res = _cli(runner, "evaluate", "--data", images, "--masks", inputs / "masks", "--method", "mean",
               "--out", out, "--no-is", "--no-figures", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 2
    assert "not valid UTF-8" in _one_error_line(res)
    assert not out.exists()


def test_10_a_colon_in_a_name_keeps_the_grid(inputs, tmp_path, runner):
    from bench.core.folders import inside

    assert inside(tmp_path, "a:b.png") == tmp_path / "a:b.png"
    with pytest.raises(BenchError):
        inside(tmp_path, "C:/windows/x.png")
    images = _photos(tmp_path / "images", 2, shape=(SIZE, SIZE))
    os.rename(images / "p0.png", images / "a:b.png")
    out = tmp_path / "ev"
    res = _cli(runner, "evaluate", "--data", images, "--masks", inputs / "masks", "--method", "mean",
               "--out", out, "--no-is", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (out / "grid.png").is_file()


def test_10_csv_cells_that_look_like_formulas_are_escaped_and_read_back(tmp_path, runner, inputs):
    from bench.core.files import csv_text, read_csv

    names = ["=HYPERLINK(1)", "+1", "-2.png", "@SUM(A1)", "'=x", "'a", "plain.png", ""]
    df = pd.DataFrame({"file": names, "v": [-1.5, 2, 3, 4, 5, 6, 7, 8]})
    text = csv_text(df)
    cells = [ln.rsplit(",", 1)[0] for ln in text.splitlines()[1:]]
    assert not any(c[:1] in "=+-@" for c in cells if c), cells
    assert "-1.5" in text  # numbers keep their sign
    back = read_csv(io.StringIO(text), keep_default_na=False)
    assert list(back["file"]) == names and list(back["v"]) == list(df["v"])
    # End to end: a photo named like a formula, prepared and evaluated.
    photos = _photos(tmp_path / "photos", 2)
    os.rename(photos / "p0.png", photos / "=cmd.png")
    res = _cli(runner, "data", "prepare", "--out", tmp_path / "set", "--source", photos, "--size", SIZE,
               "--split", "test")  # fmt: skip
    assert res.exit_code == 0, res.output
    raw = (tmp_path / "set" / "manifest.csv").read_text()
    assert "\n=" not in raw and ",=" not in raw and "'=cmd.png" in raw
    res = _cli(runner, "evaluate", "--data", tmp_path / "set", "--masks", inputs / "masks", "--method",
               "mean", "--out", tmp_path / "ev", "--no-is", "--no-figures", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 0, res.output
    pairs = (tmp_path / "ev" / "pairs.csv").read_text()
    assert ",=" not in pairs and "\n=" not in pairs


# ---------------------------------------------------------------------------------------------- 11


def test_11_yaml_aliases_are_refused_quickly(tmp_path, runner, inputs):
    """A "billion laughs" in the free-form `extra` setting (carried into every checkpoint): five levels
    here (59,049 strings); eight took 76 s and then a MemoryError."""
    bomb = tmp_path / "bomb.yaml"
    lines = ["extra:", '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcde"):
        lines.append(f"  {name}: &{name} [{','.join(['*' + 'abcd'[i]] * 9)}]")
    bomb.write_text("\n".join(lines) + "\n")
    out = tmp_path / "t"
    res = _cli(runner, "train", "--profile", "smoke", "--config", bomb, "--out", out, "--data",
               inputs / "data", "--steps", 1, "--features", "none")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "aliases" in _one_error_line(res)
    assert not out.exists()


def _checkpoint(path: Path, arch: dict) -> Path:
    ckpt = {"format": "pconv-bench/train/1", "model": {}, "step": 1, "config": {}, "arch": arch,
            "features": "none"}  # fmt: skip
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.parametrize(
    "arch",
    [
        {"layers": 10**9, "width": 8, "conv": "partial", "in_channels": 3},
        {"layers": 4, "width": 10**7, "conv": "partial", "in_channels": 3},
        {"layers": 8, "width": 1024, "conv": "partial", "in_channels": 3},  # 8.4G weights
        {"model": "gl", "width": 10**5},
        {"layers": "4", "width": 8, "conv": "partial", "in_channels": 3},
    ],
)
def test_11_checkpoint_architectures_are_bounded_before_allocation(tmp_path, arch):
    import time

    from bench.models.checkpoint import load_checkpoint_model

    path = _checkpoint(tmp_path / "last.pt", arch)
    t0 = time.perf_counter()
    with pytest.raises(BenchError, match="arch"):
        load_checkpoint_model(path)
    assert time.perf_counter() - t0 < 5.0


def test_11_crafted_checkpoint_in_evaluate_is_one_line(inputs, tmp_path, runner):
    path = _checkpoint(
        tmp_path / "last.pt", {"layers": 10**9, "width": 8, "conv": "partial", "in_channels": 3}
    )
    res = _cli(runner, "evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method",
               f"pconv={path}", "--out", tmp_path / "ev", "--no-is", "--no-figures", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 2
    assert "layers" in _one_error_line(res)


# ---------------------------------------------------------------------------------------------- 12


def test_12_negative_seeds_are_refused_before_any_folder(inputs, tmp_path, runner):
    photos = _photos(tmp_path / "photos", 2)
    cases = {
        "train": ["train", "--profile", "smoke", "--data", inputs / "data"],
        "masks": ["masks", "generate", "--size", SIZE, "--per-bin", 1],
        "data": ["data", "prepare", "--source", photos, "--size", SIZE],
        "eval": ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", "mean",
                 "--no-is", *BIN_ARGS],
        "export": ["export", "--data", inputs / "data", "--masks", inputs / "masks", *BIN_ARGS],
    }  # fmt: skip
    for name, args in cases.items():
        out = tmp_path / f"out-{name}"
        res = _cli(runner, *args, "--out", out, "--seed", -1)
        assert res.exit_code == 2, (name, res.output)
        assert "--seed" in _one_error_line(res), name
        assert not out.exists(), name


def test_12_sizes_are_bounded_before_any_folder(inputs, tmp_path, runner):
    photos = _photos(tmp_path / "photos", 2)
    cases = {
        "train": ["train", "--profile", "smoke", "--data", inputs / "data"],
        "masks": ["masks", "generate", "--per-bin", 1],
        "data": ["data", "prepare", "--source", photos],
    }
    for name, args in cases.items():
        out = tmp_path / f"out-{name}"
        res = _cli(runner, *args, "--out", out, "--size", 100000)
        assert res.exit_code == 2, (name, res.output)
        assert "16384" in _one_error_line(res), name
        assert not out.exists(), name


def test_12_layers_inconsistent_with_size_refused_before_any_folder(inputs, tmp_path, runner):
    cfg = tmp_path / "deep.yaml"
    cfg.write_text("layers: 50\n")
    out = tmp_path / "t"
    res = _cli(
        runner, "train", "--profile", "smoke", "--config", cfg, "--out", out, "--data", inputs / "data"
    )
    assert res.exit_code == 2
    assert "layers 50" in _one_error_line(res)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- 15


def _with_orientation(array: np.ndarray, orientation: int, path: Path, fmt: str) -> Path:
    from PIL import Image

    im = Image.fromarray(array)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_15_every_decoder_applies_exif_orientation_alike(tmp_path, orientation):
    from PIL import Image, ImageOps

    from bench.core.files import header_size, orient, read_png_rgb
    from bench.data.decode import decode_photo, load_image

    rng = np.random.default_rng(orientation)
    rgb = cv2.resize(
        rng.integers(0, 256, (6, 10, 3), dtype=np.uint8), (40, 24), interpolation=cv2.INTER_NEAREST
    )
    png = _with_orientation(rgb, orientation, tmp_path / "o.png", "PNG")
    with Image.open(png) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    assert np.array_equal(orient(rgb, orientation), expected)  # the helper is Pillow's transform
    assert np.array_equal(decode_photo(png).rgb, expected)
    assert np.array_equal(load_image(png), expected)
    assert np.array_equal(read_png_rgb(png), expected)
    assert header_size(png) == expected.shape[1::-1]
    jpg = _with_orientation(rgb, orientation, tmp_path / "o.jpg", "JPEG")
    shapes = {decode_photo(jpg).rgb.shape, load_image(jpg).shape, read_png_rgb(jpg).shape}
    assert shapes == {expected.shape} and header_size(jpg) == expected.shape[1::-1]


def test_15_mixed_exif_rotated_jpegs_evaluate(inputs, tmp_path, runner):
    """Portrait phone photos stored landscape with an orientation tag, beside plain ones: one size."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i, orientation in enumerate((1, 6, 8, 1)):
        rgb = rng.integers(0, 256, (SIZE, SIZE + 16, 3), dtype=np.uint8)
        stored = (
            rgb if orientation == 1 else np.ascontiguousarray(np.rot90(rgb, 1 if orientation == 6 else -1))
        )
        _with_orientation(stored, orientation, images / f"{i}.jpg", "JPEG")
    res = _cli(runner, "evaluate", "--data", images, "--masks", inputs / "masks", "--method", "mean",
               "--out", tmp_path / "ev", "--no-is", "--no-figures", "--resize-masks", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 0, res.output


def test_15_temporary_files_of_killed_writes_are_cleaned_on_the_next_claim(tmp_path, runner):
    from bench.core.files import clean_temp_files

    photos = _photos(tmp_path / "photos", 2)
    out = tmp_path / "set"
    args = ["data", "prepare", "--out", out, "--source", photos, "--size", SIZE]
    assert _cli(runner, *args).exit_code == 0
    left = [out / ".manifest.csv.abcd1234.tmp", out / "images" / ".00000_p0.png.k2j4_9zz.tmp"]
    for p in left:
        p.write_bytes(b"partial")
    (out / "images" / "notes.tmp").write_bytes(b"not ours")  # not our pattern: kept
    assert _cli(runner, *args, "--seed", 2).exit_code == 0
    assert not any(p.exists() for p in left)
    assert (out / "images" / "notes.tmp").exists()
    # A nested folder another command owns is left to that command's own claim.
    nested = tmp_path / "outer" / "inner"
    nested.mkdir(parents=True)
    (nested / ".pconv-bench.json").write_text("{}")
    (nested / ".x.png.abcdefgh.tmp").write_bytes(b"")
    (tmp_path / "outer" / ".y.png.abcdefgh.tmp").write_bytes(b"")
    assert clean_temp_files(tmp_path / "outer") == 1 and (nested / ".x.png.abcdefgh.tmp").exists()


def test_15_checkpoint_errors_give_the_right_advice(inputs, tmp_path, runner):
    from bench.models.gl.network import GLCompletionNet

    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes(b"")
    base = ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--no-is", "--no-figures",
            *BIN_ARGS]  # fmt: skip
    res = _cli(runner, *base, "--method", f"pconv={run}", "--out", tmp_path / "e1")
    line = _one_error_line(res)
    assert "is a folder" in line and str(run / "last.pt") in line and "does not exist" not in line
    torch.manual_seed(0)
    gl = _checkpoint(tmp_path / "gl.pt", {"model": "gl", "width": 4})
    ckpt = torch.load(gl, weights_only=True)
    ckpt["model"] = GLCompletionNet(width=4).state_dict()
    torch.save(ckpt, gl)
    res = _cli(runner, *base, "--method", f"pconv={gl}", "--out", tmp_path / "e2")
    line = _one_error_line(res)
    assert "None" not in line and f"--method gl={gl}" in line


def test_10_a_grid_pair_that_cannot_be_read_is_left_out_with_a_warning(inputs, tmp_path, runner):
    """The grid keeps its other rows and names the pair it left out (it used to vanish silently)."""
    import json

    from bench.reporting.plots import qualitative_grid

    images = _photos(tmp_path / "images", 2, shape=(SIZE, SIZE))
    out = tmp_path / "ev"
    res = _cli(runner, "evaluate", "--data", images, "--masks", inputs / "masks", "--method", "mean",
               "--out", out, "--no-is", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    pairs = pd.read_csv(out / "pairs.csv", dtype={"bin": str, "group": str})
    (images / "p0.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match=r"p0\.png") as caught:
        files = qualitative_grid(out, run, pairs, path=tmp_path / "g.png")
    assert (tmp_path / "g.png") in files and len(caught) == 1
    res = _cli(runner, "tables", out)
    assert res.exit_code == 0, res.output
    assert any(ln.startswith("Warning: grid.png: ") and "p0.png" in ln for ln in res.output.splitlines())
