"""Probes of issue 22's evaluation-side items: a method cannot corrupt the ground truth or another method
(1), its output is checked before any number (2), an exact pair has a finite PSNR (3), the input folders
cannot change under an evaluation (4), a checkpoint is hashed and loaded from the same bytes (6), plugin
errors are one line (12, 14). Each test fails on the code before these fixes. 64 px images, two bins."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

import bench.methods.inpainters as inp_mod
from bench.cli import main
from bench.core.files import write_png
from bench.methods.inpainters import Inpainter, MethodOutputError, check_output
from masks.conventions import BINS

SIZE = 64
BIN_ARGS = ["--ratio", "0.1-0.3"]
BENCH = [sys.executable, "-m", "bench"]


def _photos(folder: Path, n: int = 5) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        small = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
        write_png(folder / f"p{i}.png", cv2.resize(small, (96, 80), interpolation=cv2.INTER_LINEAR))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A prepared image set (64 px, 3 test images) and a generated mask set for two bins (12 pairs)."""
    root = tmp_path_factory.mktemp("rel_eval")
    from bench.data.prepare import prepare_dataset
    from masks.manifest import generate_set

    prepare_dataset(root / "data", size=SIZE, source=str(_photos(root / "photos")), seed=0,
                    test_fraction=0.6, progress=False)  # fmt: skip
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=BINS[1:3], seed=0, progress=False)
    return root


@pytest.fixture
def own_inputs(inputs, tmp_path):
    """A copy of the inputs for a test that tries to write into them."""
    for name in ("data", "masks", "photos"):
        shutil.copytree(inputs / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def registry(monkeypatch):
    """Register test methods without leaving them in the registry; `add(cls)` registers cls.name."""
    inp_mod.available()
    monkeypatch.setattr(inp_mod, "_FACTORIES", dict(inp_mod._FACTORIES))
    monkeypatch.setattr(inp_mod, "_ORIGINS", dict(inp_mod._ORIGINS))

    def add(cls):
        inp_mod.register(cls.name)(cls)
        return cls.name

    return add


@pytest.fixture
def plugin(monkeypatch, tmp_path):
    """Write a plugin module from source and make the next registry use import it."""

    def make(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv("PCONV_BENCH_PLUGINS", name)
        inp_mod.available()
        monkeypatch.setattr("bench.core.plugins._loaded", False)
        monkeypatch.setattr(inp_mod, "_FACTORIES", dict(inp_mod._FACTORIES))
        monkeypatch.setattr(inp_mod, "_ORIGINS", dict(inp_mod._ORIGINS))
        sys.modules.pop(name, None)
        return name

    return make


def _cli(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def _evaluate(runner, root: Path, out: Path, *methods: str, extra=()):
    args = ["evaluate", "--data", root / "data", "--masks", root / "masks", "--out", out, "--no-is",
            "--no-figures", *BIN_ARGS, *extra]  # fmt: skip
    for m in methods:
        args += ["--method", m]
    return _cli(runner, *args)


def _one_error_line(res) -> str:
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


def _summary(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "summary.csv").set_index(["method", "bin", "group", "metric"])["mean"]


# ---------------------------------------------------------------------------------------------- 1


class InPlace(Inpainter):
    name = "t_inplace"

    def _fill(self, images, masks):
        return images.mul_(masks)  # zeroes the holes of the very tensor it was given


class Zero(Inpainter):
    name = "t_zero"

    def _fill(self, images, masks):
        return torch.zeros_like(images)


def test_1_a_method_changing_its_input_in_place_changes_nothing_else(inputs, runner, tmp_path, registry):
    registry(InPlace), registry(Zero)
    assert _evaluate(runner, inputs, tmp_path / "a", "t_inplace", "mean").exit_code == 0
    assert _evaluate(runner, inputs, tmp_path / "b", "t_zero", "mean").exit_code == 0
    a, b = _summary(tmp_path / "a"), _summary(tmp_path / "b")
    # The in-place method scores as the same fill made without touching its input (not L1 0 / SSIM 1)...
    mine = a.xs("t_inplace", level="method")
    assert (mine.xs("l1_percent", level="metric") > 1).all()
    pd.testing.assert_series_equal(mine, b.xs("t_zero", level="method"))
    # ... and the method after it sees the true images.
    pd.testing.assert_series_equal(a.xs("mean", level="method"), b.xs("mean", level="method"))


# ---------------------------------------------------------------------------------------------- 2


class OneImage(Inpainter):
    name = "t_one"

    def inpaint(self, images, masks):
        return images[:1].clone()  # one image for a batch of B


class Fives(Inpainter):
    name = "t_fives"

    def inpaint(self, images, masks):
        return torch.full_like(images, 5.0)


class NanFill(Inpainter):
    name = "t_nan"

    def _fill(self, images, masks):
        out = images.clone()
        out[1:] = float("nan")  # the second image of each chunk
        return out


class Raises(Inpainter):
    name = "t_raises"

    def _fill(self, images, masks):
        return images * (1 // 0)


@pytest.mark.parametrize(
    "cls,words",
    [(OneImage, ["shape (1, 3, 64, 64)", "pairs 0-7"]),
     (Fives, ["outside [0,1]", "pair 0 ("]),
     (NanFill, ["NaN", "pair 1 ("])],
)  # fmt: skip
def test_2_a_bad_output_is_refused_naming_method_and_pair(inputs, runner, tmp_path, registry, cls, words):
    registry(cls)
    res = _evaluate(runner, inputs, tmp_path / "ev", cls.name, "mean")
    assert res.exit_code == 2, res.output
    line = _one_error_line(res)
    assert f"method {cls.name!r}" in line and all(w in line for w in words), line
    assert not (tmp_path / "ev" / "summary.csv").exists()


def test_2_a_method_exception_is_one_line_with_the_traceback_in_a_log(inputs, runner, tmp_path, registry):
    registry(Raises)
    out = tmp_path / "ev"
    res = _evaluate(runner, inputs, out, "t_raises")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "method 't_raises'" in line and "ZeroDivisionError" in line and "pairs 0-7" in line
    log = out / "method-errors.log"
    assert str(log) in line
    text = log.read_text()
    assert "Traceback" in text and "1 // 0" in text


def _checkpoint(path: Path, layers: int = 3, nan: bool = False, seed: int = 0) -> Path:
    from bench.models.checkpoint import FORMAT, save_checkpoint
    from bench.models.unet.network import InpaintingUNet

    torch.manual_seed(seed)
    net = InpaintingUNet(layers=layers, width=4, conv="partial")
    state = net.state_dict()
    if nan:
        for v in state.values():
            if v.is_floating_point():
                v.fill_(float("nan"))
    ckpt = dict(format=FORMAT, model=state, step=1, config={}, arch=net.arch(), features="none")
    save_checkpoint(path, ckpt)
    return path


def test_2_a_checkpoint_of_nan_weights_is_refused_before_any_folder(inputs, runner, tmp_path):
    path = _checkpoint(tmp_path / "nan.pt", nan=True)
    res = _evaluate(runner, inputs, tmp_path / "ev", f"pconv={path}")
    assert res.exit_code == 2
    assert "NaN" in _one_error_line(res)
    assert not (tmp_path / "ev").exists()


def test_2_check_output_tolerance_dtype_and_shape():
    x = torch.rand(2, 3, 4, 4)
    assert check_output(x, x) is x  # a valid output is passed on untouched
    assert check_output(x.double(), x).dtype == torch.float64
    near = x.clone()
    near[0, 0, 0, 0], near[1, 0, 0, 0] = 1 + 5e-4, -5e-4  # rounding: clamped
    got = check_output(near, x)
    assert got.min() == 0 and got.max() <= 1 and torch.equal(got[:, 1:], x[:, 1:])
    far = x.clone()
    far[1, 2, 3, 3] = 1.01
    with pytest.raises(MethodOutputError) as e:
        check_output(far, x)
    assert e.value.index == 1
    for bad in ((x * 255).to(torch.uint8), x[:, :1], x[None], x.numpy()):
        with pytest.raises(MethodOutputError):
            check_output(bad, x)
    inf = x.clone()
    inf[0, 1, 2, 2] = float("inf")
    with pytest.raises(MethodOutputError) as e:
        check_output(inf, x)
    assert e.value.index == 0


# ---------------------------------------------------------------------------------------------- 3


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_3_psnr_matches_skimage_and_an_exact_pair_is_100_db(backend):
    from skimage.metrics import peak_signal_noise_ratio

    from bench.metrics.registry import PSNR_MAX, all_metrics

    rng = np.random.default_rng(1)
    gt = rng.integers(0, 256, size=(3, 3, 24, 24)).astype(np.float32) / 255
    out = gt.copy()
    out[0, :, 4:12, 4:12] = rng.random((3, 8, 8))  # an ordinary pair
    out[1, 0, 0, 0] += 1 / 255  # one 8-bit step: MSE 1/(255^2 * 1728), 94.8 dB
    ones = torch.ones(3, 1, 24, 24)
    got = all_metrics(torch.from_numpy(out), torch.from_numpy(gt), ones, backend=backend)["psnr"].numpy()
    for i in (0, 1):
        want = peak_signal_noise_ratio(gt[i].astype(np.float64), out[i].astype(np.float64), data_range=1)
        assert got[i] == pytest.approx(want, rel=1e-6)
    assert got[2] == PSNR_MAX == 100.0  # exact: skimage says inf


class Exact(Inpainter):
    name = "t_exact"

    def _fill(self, images, masks):
        return images.clone()  # the ground truth itself: every pair is exact


def test_3_an_exact_method_has_a_finite_psnr_mean_and_is_best(inputs, runner, tmp_path, registry):
    registry(Exact)
    out = tmp_path / "ev"
    assert _evaluate(runner, inputs, out, "t_exact", "mean").exit_code == 0
    psnr = _summary(out).xs("psnr", level="metric")
    assert (psnr.xs("t_exact", level="method") == 100.0).all()
    table = (out / "table.md").read_text()
    assert "100.00" in table
    row = next(ln for ln in table.splitlines() if ln.startswith("| PSNR") and "| t_exact" in ln)
    assert row.count("**100.00**") == 4  # every cell's best, not blank nor moved to another row


def test_3_a_stored_null_psnr_is_computed_again(inputs, runner, tmp_path, registry):
    """Records written before the cap hold null for an exact pair: a rerun replaces it."""
    registry(Exact)
    out = tmp_path / "ev"
    assert _evaluate(runner, inputs, out, "t_exact").exit_code == 0
    (rec,) = list((out / "records").glob("t_exact-*/records.jsonl"))
    lines = [json.loads(ln) for ln in rec.read_text().splitlines()]
    for ln in lines:
        ln["metrics"]["psnr"] = None
    rec.write_text("".join(json.dumps(ln, sort_keys=True) + "\n" for ln in lines))
    res = _evaluate(runner, inputs, out, "t_exact")
    assert res.exit_code == 0 and f"{len(lines)} computed now" in res.output
    assert (_summary(out).xs("psnr", level="metric") == 100.0).all()


# ---------------------------------------------------------------------------------------------- 4


def _contents(root: Path) -> dict[Path, bytes]:
    files = [p for d in ("data", "masks") for p in sorted((root / d).rglob("*")) if p.is_file()]
    return {p: p.read_bytes() for p in files if ".pconv-bench" not in p.name}


def test_4_a_writer_started_during_an_evaluation_is_refused(own_inputs, runner, tmp_path, registry):
    root = own_inputs
    writers = {
        "masks": [*BENCH, "masks", "generate", "--out", root / "masks", "--size", SIZE, "--per-bin", 2,
                  *BIN_ARGS, "--seed", 1],
        "data": [*BENCH, "data", "prepare", "--out", root / "data", "--source", root / "photos", "--size",
                 SIZE, "--seed", 1],
    }  # fmt: skip
    seen: dict[str, subprocess.CompletedProcess] = {}

    class Writer(Inpainter):
        name = "t_writer"

        def _fill(self, images, masks):
            for k, cmd in writers.items():
                if k not in seen:  # while the evaluation runs: the writers of both input folders
                    seen[k] = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
            return torch.full_like(images, 0.5)

    registry(Writer)
    before = _contents(root)
    assert _evaluate(runner, root, tmp_path / "ev", "t_writer").exit_code == 0
    for k, done in seen.items():
        assert done.returncode == 2, (k, done.stderr)
        err = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert len(err) == 1 and "in use" in err[0], (k, done.stderr)
    assert _contents(root) == before


def test_4_an_evaluation_started_during_a_writer_is_refused(own_inputs, runner, tmp_path):
    from bench.core.folders import claim

    for folder, option in (("masks", "--masks"), ("data", "--data")):
        with claim(own_inputs / folder, folder):  # the writer's exclusive lock
            res = _evaluate(runner, own_inputs, tmp_path / f"ev-{folder}", "mean")
        assert res.exit_code == 2
        line = _one_error_line(res)
        assert option in line and "in use" in line
        assert not (tmp_path / f"ev-{folder}").exists()
    assert _evaluate(runner, own_inputs, tmp_path / "ev", "mean").exit_code == 0  # locks released


def test_4_export_started_during_a_writer_is_refused(own_inputs, runner, tmp_path):
    """`bench export` reads --data and --masks under the same shared lock as `bench evaluate`."""
    from bench.core.folders import claim

    for folder, option in (("masks", "--masks"), ("data", "--data")):
        out = tmp_path / f"ex-{folder}"
        with claim(own_inputs / folder, folder):
            res = _cli(runner, "export", "--data", own_inputs / "data", "--masks", own_inputs / "masks",
                       "--out", out, *BIN_ARGS)  # fmt: skip
        assert res.exit_code == 2
        line = _one_error_line(res)
        assert option in line and "in use" in line
        assert not out.exists()
    res = _cli(runner, "export", "--data", own_inputs / "data", "--masks", own_inputs / "masks", "--out",
               tmp_path / "ex", *BIN_ARGS)  # fmt: skip
    assert res.exit_code == 0, res.output


def test_4_an_input_changed_by_another_program_is_never_recorded(own_inputs, runner, tmp_path, registry):
    from bench.evaluation.protocol import list_test_images

    last = list_test_images(own_inputs / "data")[-1]  # image-major pairs: its pairs are in the second chunk
    noise = np.random.default_rng(5).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)

    class Changer(Inpainter):
        name = "t_changer"

        def _fill(self, images, masks):
            write_png(last, noise)  # another program, which takes no lock, rewrites a test image
            return torch.full_like(images, 0.5)

    registry(Changer)
    out = tmp_path / "ev"
    res = _evaluate(runner, own_inputs, out, "t_changer")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert last.name in line and "changed" in line
    (rec,) = list((out / "records").glob("t_changer-*/records.jsonl"))
    images = {json.loads(ln)["image"] for ln in rec.read_text().splitlines()}
    assert last.name not in " ".join(images) and len(images) == 2  # the first chunk's pairs are kept


def test_4_readers_decode_the_bytes_they_are_given(tmp_path):
    """What the evaluator hashes is what it decodes: the readers take the bytes already read, and give
    the same pixels as reading the file (8-bit RGB, RGBA, grey, 16-bit PNG, JPEG, a mask)."""
    from bench.core.digests import bytes_digest, file_digest
    from bench.core.files import read_mask
    from bench.data.decode import load_image

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(20, 24, 3), dtype=np.uint8)
    files = {
        "rgb.png": cv2.imencode(".png", rgb)[1],
        "rgba.png": cv2.imencode(".png", np.dstack([rgb, np.full((20, 24), 200, np.uint8)]))[1],
        "grey.png": cv2.imencode(".png", rgb[..., 0])[1],
        "deep.png": cv2.imencode(".png", rgb.astype(np.uint16) * 257)[1],
        "photo.jpg": cv2.imencode(".jpg", rgb)[1],
    }
    other = tmp_path / "other.png"
    other.write_bytes(cv2.imencode(".png", 255 - rgb)[1].tobytes())
    for name, enc in files.items():
        path = tmp_path / name
        path.write_bytes(enc.tobytes())
        data = path.read_bytes()
        assert bytes_digest(data) == file_digest(path)
        np.testing.assert_array_equal(load_image(other, data=data), load_image(path), err_msg=name)
    mask = (rgb[..., 0] > 128).astype(np.uint8) * 255
    (tmp_path / "m.png").write_bytes(cv2.imencode(".png", mask)[1].tobytes())
    np.testing.assert_array_equal(read_mask(other, data=(tmp_path / "m.png").read_bytes()), mask)


# ---------------------------------------------------------------------------------------------- 6


def test_6_a_checkpoint_replaced_between_hash_and_load_is_not_mixed(tmp_path, monkeypatch):
    a = _checkpoint(tmp_path / "last.pt", seed=0)
    want = a.read_bytes()
    b = _checkpoint(tmp_path / "other.pt", seed=1)
    real_load = torch.load

    def swap_then_load(f, *args, **kwargs):  # `bench train` renames a new last.pt in place meanwhile
        if b.exists():
            os.replace(b, a)
        return real_load(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", swap_then_load)
    ip = inp_mod.get_inpainter("pconv", checkpoint=str(a), device="cpu")
    assert ip.options["checkpoint_sha256"] == hashlib.sha256(want).hexdigest()
    import io

    state = real_load(io.BytesIO(want), weights_only=True)["model"]
    for k, v in ip.model.state_dict().items():
        assert torch.equal(v, state[k]), k  # the weights of the bytes that were hashed


# ---------------------------------------------------------------------------------------------- 12, 14


def test_12_a_unet_on_images_it_cannot_divide_is_refused_before_any_folder(inputs, runner, tmp_path):
    path = _checkpoint(tmp_path / "deep.pt", layers=7)  # needs sides that are multiples of 128 px
    res = _evaluate(runner, inputs, tmp_path / "ev", f"pconv={path}")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert "128" in line and "64x64" in line
    assert not (tmp_path / "ev").exists()


def test_14_a_plugin_failing_at_import_is_named(inputs, runner, tmp_path, plugin):
    name = plugin("broken_plugin", "import math\nx = 1 / 0\n")
    res = _evaluate(runner, inputs, tmp_path / "ev", "mean")
    assert res.exit_code == 2
    line = _one_error_line(res)
    assert name in line and "ZeroDivisionError" in line and "'mean'" not in line
    assert not (tmp_path / "ev").exists()


def test_14_sys_exit_at_import_is_an_error(inputs, runner, tmp_path, plugin):
    plugin("exiting_plugin", "import sys\nsys.exit(0)\n")
    res = _evaluate(runner, inputs, tmp_path / "ev", "mean")
    assert res.exit_code == 2
    assert "exiting_plugin" in _one_error_line(res) and "sys.exit(0)" in res.output


def test_14_sys_exit_or_ctrl_c_in_a_method_ends_the_run_non_zero(inputs, runner, tmp_path, plugin):
    plugin(
        "stopping_plugin",
        """
        import sys
        from bench.methods.inpainters import Inpainter, register

        @register("t_exit")
        class Exit(Inpainter):
            name = "t_exit"
            def _fill(self, images, masks):
                sys.exit(0)

        @register("t_ctrl_c")
        class CtrlC(Inpainter):
            name = "t_ctrl_c"
            def _fill(self, images, masks):
                raise KeyboardInterrupt
        """,
    )
    res = _evaluate(runner, inputs, tmp_path / "a", "t_exit")
    assert res.exit_code == 2
    assert "t_exit" in _one_error_line(res) and "sys.exit(0)" in res.output
    res = _evaluate(runner, inputs, tmp_path / "b", "t_ctrl_c")
    assert res.exit_code == 130 and "Interrupted" in res.output
