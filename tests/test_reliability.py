"""Reliability: no command deletes, overwrites or mixes what is not its own; every failure is one line.

One test (or a few) per defect found by trying the harness as a careless user and as an attacker would:
1 deletions outside the output folder, 2 folders of another kind destroyed, 3 two runs mixed in one
folder, 4 stale records reused after inputs changed in place, 5 manifest paths and mask contents
trusted, 6 tracebacks instead of exit 2, 7 good exports overwritten, 8 masks imported wrongly,
9 orphaned worker processes, 10 plugins shadowing builtins, 11 file modes, weights_only advice and
option ranges.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.core.files import write_png
from masks.conventions import BINS

SIZE = 64
BIN_ARGS = ["--ratio", "0.1-0.3"]  # two bins keep every run small
BENCH = [sys.executable, "-m", "bench"]
TABLES = ("summary.csv", "table.csv", "table.md", "table.tex")


def _photos(folder: Path, n: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
        write_png(folder / f"p{i}.png", cv2.resize(small, (96, 80), interpolation=cv2.INTER_LINEAR))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A prepared image set (64 px) and a generated mask set for two bins."""
    root = tmp_path_factory.mktemp("rel")
    from bench.data.prepare import prepare_dataset
    from masks.manifest import generate_set

    prepare_dataset(root / "data", size=SIZE, source=str(_photos(root / "photos", 5)), seed=0,
                    test_fraction=0.6, progress=False)  # fmt: skip
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:3], seed=0, progress=False)
    return root


def _cli(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def _evaluate_args(root: Path, out: Path, *extra) -> list[str]:
    return ["evaluate", "--data", root / "data", "--masks", root / "masks", "--method", "mean",
            "--out", out, "--no-is", "--no-figures", *BIN_ARGS, *extra]  # fmt: skip


def _one_error_line(res) -> str:
    """The one `Error: ...` line of a failed command (stdout and stderr are mixed here)."""
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not p.name.startswith(".pconv-bench.lock")
    }


# ---------------------------------------------------------------------------------------------- 1


def test_1_prepare_never_deletes_outside_its_folder(tmp_path, runner):
    photos = _photos(tmp_path / "photos", 3)
    out, victims = tmp_path / "X" / "out", tmp_path / "X" / "v"
    out.mkdir(parents=True)
    victims.mkdir()
    (victims / "a").write_text("a")
    (victims / "b").write_text("b")
    (out / "manifest.csv").write_text(f"file\n{victims / 'a'}\n../v/b\n")
    res = _cli(runner, "data", "prepare", "--out", out, "--source", photos, "--size", SIZE)
    assert res.exit_code == 2
    assert "not empty" in _one_error_line(res)
    assert (victims / "a").exists() and (victims / "b").exists()
    # A folder of its own with a manifest edited to point outside: a rebuild deletes only its own files.
    good = tmp_path / "good"
    assert _cli(runner, "data", "prepare", "--out", good, "--source", photos, "--size", SIZE).exit_code == 0
    df = pd.read_csv(good / "manifest.csv")
    df.loc[0, "file"] = str(victims / "a")
    df.loc[1, "file"] = "../X/v/b"
    df.to_csv(good / "manifest.csv", index=False)
    res = _cli(runner, "data", "prepare", "--out", good, "--source", photos, "--size", SIZE, "--seed", 3)
    assert res.exit_code == 0, res.output
    assert (victims / "a").read_text() == "a" and (victims / "b").read_text() == "b"


# ---------------------------------------------------------------------------------------------- 2


def test_2_commands_refuse_folders_of_another_kind(inputs, runner, tmp_path):
    masks_before = _files(inputs / "masks")
    data_before = _files(inputs / "data")
    photos = _photos(tmp_path / "photos", 2)
    res = _cli(runner, "data", "prepare", "--out", inputs / "masks", "--source", photos, "--size", SIZE)
    assert res.exit_code == 2 and "mask set" in _one_error_line(res)
    res = _cli(runner, "masks", "generate", "--out", inputs / "data", "--size", SIZE, "--per-bin", 1)
    assert res.exit_code == 2 and "image set" in _one_error_line(res)
    res = _cli(runner, "masks", "import", inputs / "masks", "--out", inputs / "data")
    assert res.exit_code == 2 and "image set" in _one_error_line(res)
    res = _cli(runner, *_evaluate_args(inputs, inputs / "masks"))
    assert res.exit_code == 2 and "mask set" in _one_error_line(res)
    assert _files(inputs / "masks") == masks_before
    assert _files(inputs / "data") == data_before


# ---------------------------------------------------------------------------------------------- 3


def test_3_a_second_writer_is_refused_naming_the_holder(inputs, runner, tmp_path):
    out = tmp_path / "ev"
    assert _cli(runner, *_evaluate_args(inputs, out)).exit_code == 0
    before = _files(out)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from bench.core.folders import FolderLock
            FolderLock({str(out)!r}).acquire()
            print("locked", flush=True)
            time.sleep(60)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = _cli(runner, *_evaluate_args(inputs, out, "--seed", 1))
        assert res.exit_code == 2
        assert f"process {holder.pid}" in _one_error_line(res)
        assert _files(out) == before
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed: its lock is gone with it, and the folder is usable again.
    assert _cli(runner, *_evaluate_args(inputs, out)).exit_code == 0


# ---------------------------------------------------------------------------------------------- 4


def test_4_inputs_changed_in_place_are_recomputed(inputs, runner, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(inputs / "data", root / "data")
    shutil.copytree(inputs / "masks", root / "masks")
    out = tmp_path / "ev"
    first = _cli(runner, *_evaluate_args(root, out))
    assert first.exit_code == 0 and "0 reused" in first.output
    summary = (out / "summary.csv").read_bytes()
    # The mask folder regenerated in place with another seed: every pair is recomputed.
    from masks.manifest import generate_set

    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:3], seed=7, progress=False)
    res = _cli(runner, *_evaluate_args(root, out))
    assert res.exit_code == 0, res.output
    assert "0 reused" in res.output
    assert (out / "summary.csv").read_bytes() != summary
    # One test image changed in place: only its pairs are recomputed.
    pairs = pd.read_csv(out / "pairs.csv")
    image = pairs["image"].iloc[0]
    img = cv2.imread(str(root / "data" / image))
    cv2.imwrite(str(root / "data" / image), 255 - img)
    res = _cli(runner, *_evaluate_args(root, out))
    n_image = int((pairs["image"] == image).sum())
    assert f"{n_image} computed now, {len(pairs) - n_image} reused" in res.output


# ---------------------------------------------------------------------------------------------- 5


@pytest.mark.parametrize("bad", ["absolute", "dotdot", "symlink"])
def test_5_manifest_paths_must_stay_inside_the_folder(inputs, runner, tmp_path, bad):
    import shutil

    masks = tmp_path / "masks"
    shutil.copytree(inputs / "masks", masks)
    df = pd.read_csv(masks / "manifest.csv", dtype=str, keep_default_na=False)
    outside = tmp_path / "outside.png"
    write_png(outside, np.full((SIZE, SIZE), 255, np.uint8))
    if bad == "absolute":
        df.loc[0, "file"] = str(outside)
    elif bad == "dotdot":
        df.loc[0, "file"] = "../outside.png"
    else:
        os.symlink(outside, masks / "link.png")
        df.loc[0, "file"] = "link.png"
    df.to_csv(masks / "manifest.csv", index=False)
    out = tmp_path / "ev"
    res = _cli(runner, "evaluate", "--data", inputs / "data", "--masks", masks, "--method", "mean",
               "--out", out, "--no-is", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 2
    assert "inside" in _one_error_line(res) or "out of" in _one_error_line(res)
    assert not out.exists()


def test_5_a_mask_contradicting_its_bin_or_group_is_named(inputs, runner, tmp_path):
    import shutil

    for what in ("ratio", "margin", "values"):
        masks = tmp_path / what
        shutil.copytree(inputs / "masks", masks)
        df = pd.read_csv(masks / "manifest.csv", dtype=str, keep_default_na=False)
        row = df[(df["bin"] == "0.1-0.2") & (df["group"] == "B")].iloc[0]
        m = np.full((SIZE, SIZE), 255, np.uint8)
        if what == "ratio":
            m[: int(SIZE * 0.62)] = 0  # a 62 % hole listed in (0.1,0.2]
        elif what == "margin":
            m[0:12, 0:40] = 0  # 11.7 % hole touching the border, listed in group B
        else:
            m[20:40, 10:50] = 0
            m[m == 255] = 200  # not binary
        write_png(masks / row["file"], m)
        out = tmp_path / f"ev-{what}"
        res = _cli(runner, "evaluate", "--data", inputs / "data", "--masks", masks, "--method", "mean",
                   "--out", out, "--no-is", *BIN_ARGS)  # fmt: skip
        assert res.exit_code == 2, res.output
        line = _one_error_line(res)
        assert row["file"] in line
        assert {"ratio": "0.1-0.2", "margin": "border", "values": "binary"}[what] in line
        assert not out.exists()


# ---------------------------------------------------------------------------------------------- 6


def test_6_missing_mask_file_exits_2_before_any_output(inputs, runner, tmp_path):
    import shutil

    masks = tmp_path / "masks"
    shutil.copytree(inputs / "masks", masks)
    victim = pd.read_csv(masks / "manifest.csv")["file"].iloc[0]
    (masks / victim).unlink()
    out = tmp_path / "ev"
    res = _cli(runner, "evaluate", "--data", inputs / "data", "--masks", masks, "--method", "mean",
               "--out", out, "--no-is", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 2 and victim in _one_error_line(res)
    assert not out.exists()


def test_6_out_that_is_a_file(inputs, runner, tmp_path):
    f = tmp_path / "file"
    f.write_text("mine")
    for args in (
        _evaluate_args(inputs, f),
        ["masks", "generate", "--out", f, "--size", SIZE, "--per-bin", 1],
        ["data", "prepare", "--out", f, "--source", _photos(tmp_path / "ph", 2), "--size", SIZE],
        ["train", "--profile", "smoke", "--out", f, "--data", inputs / "data"],
    ):
        res = _cli(runner, *args)
        assert res.exit_code == 2, (args, res.output)
        assert "not a folder" in _one_error_line(res)
        assert f.read_text() == "mine"


def test_6_complete_evaluation_rerun_writes_nothing(inputs, runner, tmp_path):
    """What makes a complete evaluation work on a read-only folder: its rerun changes no file."""
    out = tmp_path / "ev"
    args = ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", "mean",
            "--out", out, "--no-is", *BIN_ARGS]  # fmt: skip
    assert _cli(runner, *args).exit_code == 0
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    res = _cli(runner, *args)
    assert res.exit_code == 0 and "PSNR" in res.output
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}
    assert after == before


@contextlib.contextmanager
def _mount(path: Path, *opts: str):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(path)],
                       capture_output=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_6_read_only_and_full_disk(inputs, runner, tmp_path):
    out_args = ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", "mean",
                "--no-is", *BIN_ARGS]  # fmt: skip
    with _mount(tmp_path / "fs", "size=4m") as fs:
        out = fs / "ev"
        assert _cli(runner, *out_args, "--out", out).exit_code == 0
        want = _files(out)
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        res = _cli(runner, *out_args, "--out", out)
        assert res.exit_code == 0, res.output
        assert "PSNR" in res.output
        # Asking for more on a read-only disk: one line naming the cause, nothing lost.
        res = _cli(runner, *out_args, "--out", out, "--seed", "0", "--method", "telea", "--replace")
        assert res.exit_code == 2 and "read-only" in _one_error_line(res)
        assert _files(out) == want
    with _mount(tmp_path / "full", "size=160k") as full:
        res = _cli(runner, "train", "--profile", "smoke", "--out", full / "run", "--data", inputs / "data",
                   "--features", "none")  # fmt: skip
        assert res.exit_code == 2 and "no space left" in _one_error_line(res)
        assert "inline_container" not in res.output
        res = _cli(runner, "masks", "generate", "--out", full / "m", "--size", 256, "--per-bin", 40)
        assert res.exit_code == 2 and "no space left" in _one_error_line(res)
        assert not (full / "m" / "manifest.csv").exists()


def test_6_config_type_error_names_the_key(runner, tmp_path, inputs):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("size: abc\n")
    res = _cli(runner, "train", "--profile", "smoke", "--config", cfg, "--out", tmp_path / "r",
               "--data", inputs / "data")  # fmt: skip
    assert res.exit_code == 2 and "size" in _one_error_line(res)
    assert not (tmp_path / "r").exists()


def test_6_non_numeric_record_field(inputs, runner, tmp_path):
    out = tmp_path / "ev"
    assert _cli(runner, *_evaluate_args(inputs, out)).exit_code == 0
    (rec,) = out.glob("records/mean-*/records.jsonl")
    lines = rec.read_text().splitlines()
    bad = json.loads(lines[0])
    for key in bad:
        if key in ("psnr", "metrics"):
            bad[key] = "abc" if key == "psnr" else {**bad[key], "psnr": "abc"}
    rec.write_text("\n".join([json.dumps(bad), *lines[1:]]) + "\n")
    res = _cli(runner, "tables", out, "--no-figures", "--partial")  # a pair short: partial tables
    assert res.exit_code == 0 and "Traceback" not in res.output
    assert "ignored" in res.output and "PARTIAL" in (out / "table.md").read_text()
    res = _cli(runner, *_evaluate_args(inputs, out))
    assert res.exit_code == 0 and "1 computed now" in res.output


# ---------------------------------------------------------------------------------------------- 7


def test_7_tables_without_records_keeps_the_exports(inputs, runner, tmp_path):
    import shutil

    out = tmp_path / "ev"
    assert _cli(runner, *_evaluate_args(inputs, out)).exit_code == 0
    before = {f: (out / f).read_bytes() for f in TABLES}
    shutil.rmtree(out / "records")
    res = _cli(runner, "tables", out, "--no-figures")
    assert res.exit_code == 2 and "records" in _one_error_line(res)
    assert {f: (out / f).read_bytes() for f in TABLES} == before


# ---------------------------------------------------------------------------------------------- 8


def _import(runner, src, out, *extra):
    return _cli(runner, "masks", "import", src, "--out", out, *extra)


def test_8_import_binary_variants_and_refusals(runner, tmp_path):
    hole = np.zeros((SIZE, SIZE), bool)
    hole[10:30, 10:40] = True  # 600 / 4096 = 14.6 %, away from the border by 10 px (< margin 6? no: >=)
    ratio = hole.mean()
    variants = {
        "zero_one": np.where(hole, 0, 1).astype(np.uint8),  # 0/1 valued, holes black
        "zero_255": np.where(hole, 0, 255).astype(np.uint8),
        "antialiased": cv2.GaussianBlur(np.where(hole, 0, 255).astype(np.uint8), (5, 5), 1.0),
    }
    for name, m in variants.items():
        src = tmp_path / f"src-{name}"
        src.mkdir()
        for i in range(3):
            cv2.imwrite(str(src / f"{i}.png"), m)
        res = _import(runner, src, tmp_path / f"out-{name}", "--polarity", "hole-black")
        assert res.exit_code == 0, res.output
        df = pd.read_csv(tmp_path / f"out-{name}" / "manifest.csv")
        assert np.allclose(df["hole_ratio"], ratio, atol=0.01), (name, df["hole_ratio"].tolist())
        assert set(df["bin"]) == {"0.1-0.2"}
        res = _import(runner, src, tmp_path / f"auto-{name}")
        assert res.exit_code == 0
        auto = pd.read_csv(tmp_path / f"auto-{name}" / "manifest.csv")
        assert np.allclose(auto["hole_ratio"], ratio, atol=0.01), (name, auto["hole_ratio"].tolist())
    # Colour masks are refused unless all channels are equal.
    colour = tmp_path / "colour"
    colour.mkdir()
    c = np.dstack([variants["zero_255"]] * 3)
    c[..., 0] = 255 - c[..., 0]
    cv2.imwrite(str(colour / "c.png"), c)
    res = _import(runner, colour, tmp_path / "oc")
    assert res.exit_code == 2 and "colour" in _one_error_line(res)
    # Non-square and mixed sizes are refused (with and without --size for non-square).
    for name, shapes in (("nonsquare", [(SIZE, SIZE + 8)]), ("mixed", [(SIZE, SIZE), (32, 32)])):
        src = tmp_path / name
        src.mkdir()
        for i, shp in enumerate(shapes):
            cv2.imwrite(str(src / f"{i}.png"), np.full(shp, 255, np.uint8))
        res = _import(runner, src, tmp_path / f"o-{name}")
        assert res.exit_code == 2 and ("square" in _one_error_line(res) or "size" in _one_error_line(res))
    res = _import(runner, tmp_path / "nonsquare", tmp_path / "o-ns2", "--size", SIZE)
    assert res.exit_code == 2 and "square" in _one_error_line(res)
    res = _import(runner, tmp_path / "mixed", tmp_path / "o-mixed2", "--size", 32)
    assert res.exit_code == 0, res.output
    # A lone all-hole mask is outside every bin with ratio 1; an all-valid one with ratio 0.
    lone = tmp_path / "lone"
    lone.mkdir()
    cv2.imwrite(str(lone / "h.png"), np.zeros((SIZE, SIZE), np.uint8))
    res = _import(runner, lone, tmp_path / "o-lone", "--polarity", "hole-black")
    assert res.exit_code == 0 and "outside every bin" in res.output
    df = pd.read_csv(tmp_path / "o-lone" / "manifest.csv", keep_default_na=False)
    assert df["hole_ratio"].tolist() == [1.0] and df["bin"].tolist() == [""]


# ---------------------------------------------------------------------------------------------- 9


def _children(pid: int) -> set[int]:
    out = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.add(int(p.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_9_killed_mask_generation_leaves_no_workers(tmp_path, sig):
    out = tmp_path / "m"
    proc = subprocess.Popen([*BENCH, "masks", "generate", "--out", str(out), "--size", "256",
                             "--per-bin", "400", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    kids: set[int] = set()
    deadline = time.monotonic() + 60
    while len(kids) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        kids = _children(proc.pid)
    assert len(kids) >= 2, "the worker processes did not start"
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while any(_alive(k) for k in kids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(k) for k in kids), "worker processes outlived the command"
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        lines = [ln for ln in err.strip().splitlines() if ln.strip() and "masks:" not in ln]
        assert lines[-1].startswith("Interrupted:") and "Traceback" not in err


# ---------------------------------------------------------------------------------------------- 10


def test_10_a_plugin_cannot_shadow_a_builtin(inputs, runner, tmp_path, monkeypatch):
    plugin = tmp_path / "shadow_plugin.py"
    plugin.write_text(
        textwrap.dedent("""
        from bench.methods.inpainters import Inpainter, register

        @register("mean")
        class Fake(Inpainter):
            name = "mean"
            def _fill(self, images, masks):
                return images * 0
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PCONV_BENCH_PLUGINS", "shadow_plugin")
    import bench.methods.inpainters as inp

    inp.available()  # the builtins are registered first
    monkeypatch.setattr("bench.core.plugins._loaded", False)  # the plugins are imported again
    monkeypatch.setattr(inp, "_FACTORIES", dict(inp._FACTORIES))
    monkeypatch.setattr(inp, "_ORIGINS", dict(inp._ORIGINS))
    sys.modules.pop("shadow_plugin", None)
    res = _cli(runner, *_evaluate_args(inputs, tmp_path / "ev"))
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "mean" in line and "builtin" in line


def test_10_fingerprint_names_where_a_method_comes_from():
    from bench.methods.inpainters import get_inpainter

    ip = get_inpainter("mean")
    assert "baselines.classical" in ip.origin
    assert ip.fingerprint != type(ip)().__class__.__name__


# ---------------------------------------------------------------------------------------------- 11


def test_11_output_files_follow_the_umask(tmp_path):
    from bench.core.files import FILE_MODE, write_text

    write_text(tmp_path / "a.txt", "x")
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == FILE_MODE == 0o666 & ~umask


def test_11_no_message_advises_weights_only_false(tmp_path, runner, inputs):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("true",))

    bad = tmp_path / "evil.pt"
    bad.write_bytes(pickle.dumps({"model": Evil()}))
    for args in (
        ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", f"pconv={bad}",
         "--out", tmp_path / "e1", "--no-is", *BIN_ARGS],
        ["evaluate", "--data", inputs / "data", "--masks", inputs / "masks", "--method", "mean",
         "--out", tmp_path / "e2", "--is-weights", bad, *BIN_ARGS],
        ["train", "--profile", "smoke", "--out", tmp_path / "t", "--data", inputs / "data",
         "--features", "vgg16", "--feature-weights", bad],
    ):  # fmt: skip
        res = _cli(runner, *args)
        assert res.exit_code == 2, (args, res.output)
        line = _one_error_line(res)
        assert "evil.pt" in line
        assert "weights_only" not in res.output.replace("weights_only=True", "")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_11_workers_range_is_the_same_everywhere(inputs, runner, tmp_path, value):
    msgs = []
    for args in (
        _evaluate_args(inputs, tmp_path / "e", "--workers", value),
        ["masks", "generate", "--out", tmp_path / "m", "--workers", value],
        ["reproduce", "--out", tmp_path / "r", "--workers", value],
    ):
        res = _cli(runner, *args)
        assert res.exit_code == 2
        msgs.append(res.output.strip().splitlines()[-1].split("'--workers'")[-1])
    assert len(set(msgs)) == 1, msgs
    assert not (tmp_path / "e").exists() and not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------------------------- kills


@pytest.mark.slow
def test_evaluation_killed_at_random_points_ends_with_identical_tables(inputs, tmp_path):
    """SIGKILL a real `bench evaluate` process at random moments, resume, compare with a clean run."""
    args = ["evaluate", "--data", str(inputs / "data"), "--masks", str(inputs / "masks"),
            "--method", "telea", "--method", "mean", "--no-figures", "--batch-size", "1", "--out", "ev",
            *BIN_ARGS]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    ref_dir, kill_dir = tmp_path / "ref", tmp_path / "kill"
    ref_dir.mkdir()
    kill_dir.mkdir()
    subprocess.run([*BENCH, *args], cwd=ref_dir, env=env, check=True, capture_output=True)
    rng = np.random.default_rng(0)
    kills = 0
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        proc = subprocess.Popen([*BENCH, *args], cwd=kill_dir, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(float(rng.uniform(1.0, 3.5)))  # the first second or so is Python importing torch
        if proc.poll() is not None:
            break  # finished before the kill: the run is complete
        proc.kill()
        proc.wait()
        kills += 1
    final = subprocess.run([*BENCH, *args], cwd=kill_dir, env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert kills >= 2
    for f in TABLES:
        assert (kill_dir / "ev" / f).read_bytes() == (ref_dir / "ev" / f).read_bytes(), f
