"""The notebook API (bench.api.evaluate): every method kind scored against hand computations, code and
weight changes recomputed, no folder left behind by out=None, bad options refused; docs/python.md runs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_crops

from bench.api import Result, evaluate
from bench.core.errors import BenchError
from bench.core.files import read_mask
from bench.methods.inpainters import Inpainter

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
RATIO = "0.3-0.4"
PAIR_METRICS = "l1_percent,psnr,ssim,hole_l1_percent"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, astronaut) -> Path:
    """4 images of 32 px and 2 masks per cell of the bins 0.1-0.2 and 0.3-0.4."""
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("apiset")
    write_crops(root / "images", astronaut, SIZE)
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=["0.1-0.2", RATIO], seed=1, progress=False)
    return root


def _eval(inputs: Path, methods, **kw) -> Result:
    kw.setdefault("ratio", RATIO)
    kw.setdefault("border", False)
    kw.setdefault("metrics", PAIR_METRICS)
    kw.setdefault("n_boot", 50)
    kw.setdefault("progress", False)
    return evaluate(methods, data=inputs / "images", masks=inputs / "masks", **kw)


def _means(result: Result, method: str) -> dict[str, float]:
    s = result.summary[(result.summary["method"] == method) & (result.summary["bin"] == RATIO)]
    return dict(zip(s["metric"], s["mean"], strict=True))


class Const(torch.nn.Module):
    """Fills with its one weight; `pair` returns the paper's (image, mask) tuple."""

    def __init__(self, value: float, pair: bool = False) -> None:
        super().__init__()
        self.value = torch.nn.Parameter(torch.tensor(value))
        self.pair = pair

    def forward(self, image, mask):
        out = torch.zeros_like(image) + self.value
        return (out, mask) if self.pair else out


class Fill(Inpainter):
    name = "fill"
    defaults = {"value": 0.2}

    def _fill(self, images, masks):
        return torch.full_like(images, self.options["value"])


def _hand(inputs: Path, out: Path, fill) -> dict[str, float]:
    """Means over the pairs of pairs.csv of the metrics of I_comp = M*I_gt + (1-M)*fill(I_gt, M),
    computed here in numpy (SSIM with bench.metrics.registry.ssim)."""
    from bench.data.decode import load_image
    from bench.metrics.registry import ssim

    pairs = pd.read_csv(out / "pairs.csv")
    vals: dict[str, list[float]] = {k: [] for k in PAIR_METRICS.split(",")}
    for image, mask in zip(pairs["image"], pairs["mask"], strict=True):
        gt = load_image(inputs / "images" / image).astype(np.float64) / 255.0  # (H,W,3)
        valid = (read_mask(inputs / "masks" / mask) >= 128)[..., None]  # (H,W,1)
        comp = np.where(valid, gt, fill(gt, valid))
        d = np.abs(comp - gt)
        vals["l1_percent"].append(100 * d.mean())
        vals["psnr"].append(10 * math.log10(1 / max((d**2).mean(), 1e-10)))
        vals["hole_l1_percent"].append(100 * d[np.broadcast_to(~valid, d.shape)].mean())
        to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1)[None].float()  # noqa: E731
        vals["ssim"].append(float(ssim(to_t(comp), to_t(gt))[0]))
    return {k: float(np.mean(v)) for k, v in vals.items()}


def _close(got: dict[str, float], want: dict[str, float]) -> None:
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-5, abs=1e-5), (k, got[k], v)


def test_every_method_kind_matches_a_hand_computation(inputs, tmp_path):
    out = tmp_path / "ev"
    methods = {
        "const": lambda images, masks: torch.full_like(images, 0.2),
        "identity": lambda images, masks: images,  # sees 0.5 in the holes, never the ground truth
        "net": Const(0.2),
        "net_pair": Const(0.7, pair=True),
        "instance": Fill(),
        "mean": "mean",
    }
    r = _eval(inputs, methods, out=out)
    assert r.out == out and (out / "summary.csv").is_file() and r.n_pairs == 4 and r.computed == 24
    assert set(r.summary["method"]) == set(methods)
    c02 = _hand(inputs, out, lambda gt, valid: np.full_like(gt, 0.2))
    for name in ("const", "net", "instance"):
        _close(_means(r, name), c02)
    _close(_means(r, "identity"), _hand(inputs, out, lambda gt, valid: np.full_like(gt, 0.5)))
    _close(_means(r, "net_pair"), _hand(inputs, out, lambda gt, valid: np.full_like(gt, 0.7)))

    def mean_fill(gt, valid):
        return np.broadcast_to((gt * valid).sum((0, 1)) / valid.sum(), gt.shape)

    _close(_means(r, "mean"), _hand(inputs, out, mean_fill))
    assert r.table() == r.text and "const" in r.table() and "PSNR" in r.table()


def test_list_of_methods_and_names(inputs):
    def half(images, masks):
        return images * 0 + 0.5

    r = _eval(inputs, ["mean", half, Const(0.5)], metrics="psnr")
    assert list(dict.fromkeys(r.summary["method"])) == ["mean", "half", "Const"]
    assert _means(r, "half")["psnr"] == pytest.approx(_means(r, "Const")["psnr"])
    one = _eval(inputs, half, metrics="psnr")  # one method, not in a list
    assert _means(one, "half") == _means(r, "half")


def test_changed_code_or_weights_recompute(inputs, tmp_path):
    out = tmp_path / "ev"
    net = Const(0.2)
    first = _eval(inputs, {"m": net}, out=out, metrics="psnr")
    assert (first.computed, first.reused) == (4, 0)
    again = _eval(inputs, {"m": net}, out=out, metrics="psnr")
    assert (again.computed, again.reused) == (0, 4)
    assert any("reused 4 record(s) of plugin 'm'" in line for line in again.messages), again.messages
    with torch.no_grad():
        net.value += 0.3  # trained further, in place: the same object
    changed = _eval(inputs, {"m": net}, out=out, metrics="psnr")
    assert (changed.computed, changed.reused) == (4, 0)
    assert _means(changed, "m") == _means(_eval(inputs, {"m": Const(0.5)}, metrics="psnr"), "m")
    assert _means(changed, "m") != _means(first, "m")

    # A function: other code, or the same code reading another value (closure), recomputes.
    def const(value):
        return lambda images, masks: torch.full_like(images, value)

    runs = [_eval(inputs, {"f": f}, out=out, metrics="psnr") for f in (const(0.2), const(0.2), const(0.6))]
    assert [(x.computed, x.reused) for x in runs] == [(4, 0), (0, 4), (4, 0)]
    other = _eval(
        inputs, {"f": lambda images, masks: torch.full_like(images, 0.6) ** 1}, out=out, metrics="psnr"
    )
    assert (other.computed, other.reused) == (4, 0)
    assert _means(other, "f") == pytest.approx(_means(runs[2], "f"))


def test_code_digest_of_functions():
    from bench.methods.inpainters import as_inpainter, code_digest

    scope: dict = {"torch": torch}
    src = "def f(images, masks):\n    return images * 0 + {}\n"
    exec(compile(src.format(0.25), "<cell>", "exec"), scope)
    a = scope["f"]
    exec(compile(src.format(0.75), "<cell>", "exec"), scope)
    b = scope["f"]
    assert code_digest(a) != code_digest(b)  # no source file: the code objects differ
    assert code_digest(a) == code_digest(a)
    weights = {"w": torch.ones(3)}
    exec("def g(images, masks):\n    return images * 0 + W.mean()\n", {"W": weights["w"]}, scope)
    g, before = scope["g"], code_digest(scope["g"])
    g.__globals__["W"][0] = 2.0  # a global tensor it reads, changed in place
    assert code_digest(g) != before
    inp = as_inpainter(g)
    assert inp.name == "g" and inp.fingerprint != as_inpainter(a).fingerprint
    assert as_inpainter(lambda i, m: i).name == "lambda"


def test_out_none_leaves_no_folder(inputs, tmp_path, monkeypatch):
    import tempfile

    tmp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    tmp.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.chdir(cwd)
    r = _eval(inputs, "mean", metrics="psnr")
    assert r.out is None and len(r.summary) and "Result(4 pairs" in repr(r)
    assert list(tmp.iterdir()) == [] and list(cwd.iterdir()) == []
    with pytest.raises(BenchError, match="unknown option"):
        _eval(inputs, "mean", nosuch=1)
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        (dict(nosuch=1), "nosuch"),
        (dict(ratio="0.3-0.45"), "0.45 is not a bin edge"),
        (dict(ratio="thirty"), "not of the form LO-HI"),
        (dict(ratio=0.3), "ratio=0.3"),
        (dict(border="yes"), "border='yes'"),
        (dict(bins=("0.3-0.4",)), "ratio="),
        (dict(figures=True), "out=FOLDER"),
        (dict(metrics="psnr,nosuch"), "nosuch"),
        (dict(pairing="weird"), "pairing"),
    ],
)
def test_bad_options_are_bench_errors(inputs, tmp_path, kw, words):
    with pytest.raises(BenchError, match=re.escape(words)):
        _eval(inputs, "mean", **kw)


def test_bad_methods_are_bench_errors(inputs):
    with pytest.raises(BenchError, match="expected a method name"):
        _eval(inputs, [42])
    with pytest.raises(BenchError, match=r"method 'big' .*outside \[0,1\]"):
        _eval(inputs, {"big": lambda images, masks: images * 255})  # 0-255 output: refused, not clamped


def test_evalconfig_takes_bin_and_group_names(inputs, tmp_path):
    from bench.evaluation.runner import EvalConfig, as_bins
    from bench.evaluation.runner import evaluate as run
    from masks.conventions import BINS

    assert as_bins("0.01-0.6") == BINS and as_bins(["0.3-0.4", BINS[3]]) == (BINS[3],)
    cfg = EvalConfig(data=inputs / "images", masks=inputs / "masks", methods=("mean",), out=tmp_path / "ev",
                     bins=(RATIO,), groups=("N",), metrics=("psnr",), n_boot=50, figures=False,
                     progress=False)  # fmt: skip
    r = run(cfg)
    assert set(r.summary["bin"]) == {RATIO} and set(r.summary["group"]) == {"N"} and r.n_pairs == 4
    with pytest.raises(BenchError, match="not a bin edge"):
        run(
            EvalConfig(
                data=inputs / "images",
                masks=inputs / "masks",
                methods=("mean",),
                bins=("0.3-0.35",),
                out=tmp_path / "x",
            )
        )


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_all_metrics_without_masks(backend):
    from bench.metrics.registry import METRIC_KEYS, all_metrics

    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    got = all_metrics(x, y, backend=backend)
    assert tuple(got) == METRIC_KEYS
    d = (x.double() - y.double()).abs()
    assert torch.allclose(got["l1_percent"], 100 * d.mean(dim=(1, 2, 3)))
    assert torch.allclose(got["psnr"], 10 * torch.log10(1 / (d**2).mean(dim=(1, 2, 3))))
    # SSIM and the whole-image numbers are those of an all-valid mask; the hole L1 is undefined (NaN).
    full = all_metrics(x, y, torch.ones(2, 1, 16, 16), backend=backend)
    assert torch.equal(got["ssim"], full["ssim"]) and torch.equal(got["psnr"], full["psnr"])
    assert bool(got["hole_l1_percent"].isnan().all()) and bool(full["hole_l1_percent"].isnan().all())


def test_docs_python_example_runs(tmp_path, monkeypatch, fake_inception, capsys):
    """Every ```python block of docs/python.md, in order, in one namespace, in a temporary folder."""
    text = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "docs_python"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/python.md block {i + 1}", "exec"), scope)
    printed = capsys.readouterr().out
    result = scope["result"]
    assert set(result.summary["method"]) == {"telea", "mirror", "blur"}
    assert result.table() in printed and "PSNR" in printed and "mirror" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api-demo"]  # no results folder


def test_readme_python_snippet_runs(inputs, tmp_path, monkeypatch, fake_inception, capsys):
    """The README's five-minute Python example, on a copy of the tiny set placed where the smoke run
    puts its data and masks."""
    import shutil

    text = (ROOT / "README.md").read_text()
    (block,) = [b for b in re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M) if "bench.api" in b]
    shutil.copytree(inputs / "images", tmp_path / "runs" / "smoke" / "data")
    shutil.copytree(inputs / "masks", tmp_path / "runs" / "smoke" / "masks")
    monkeypatch.chdir(tmp_path)
    scope: dict = {"__name__": "readme"}
    exec(compile(block, "README.md python block", "exec"), scope)
    result = scope["result"]
    assert set(result.summary["method"]) == {"telea", "mirror"} and set(result.summary["group"]) == {"B"}
    assert result.table() in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # out=None: no results folder
