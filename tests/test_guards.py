"""Guards of issue 26 against wrong numbers with exit 0: builtin fingerprints frozen (records stay valid),
exports stamped with their selection, plugin fingerprints following their code and weights, a folder of
another selection not replaced silently, contradictory flags refused. 64 px images, two masks per cell."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

import bench.methods.inpainters as inp_mod
from bench.cli import main
from bench.core.files import write_png
from bench.runs.pairing import selection_digest
from bench.runs.records import record_key
from masks.conventions import BINS

SIZE = 64
LOW, HIGH = "0.3-0.4", "0.4-0.5"  # two bins, two masks per cell


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A prepared image set (64 px, 3 test images) and masks for bins 0.3-0.4 and 0.4-0.5, N and B."""
    from bench.data.prepare import prepare_dataset
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("guards")
    rng = np.random.default_rng(0)
    (root / "photos").mkdir()
    for i in range(5):
        small = rng.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)
        write_png(root / "photos" / f"p{i}.png", cv2.resize(small, (96, 80), interpolation=cv2.INTER_LINEAR))
    prepare_dataset(root / "data", size=SIZE, source=str(root / "photos"), seed=0, test_fraction=0.6,
                    progress=False)  # fmt: skip
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=[b for b in BINS if b.name in (LOW, HIGH)],
                 seed=0, progress=False)  # fmt: skip
    return root


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _sel(root: Path) -> list:
    return ["--data", root / "data", "--masks", root / "masks"]


def _evaluate(root: Path, out: Path, *methods: str, extra=()):
    args = ["evaluate", *_sel(root), "--out", out, "--no-is", "--no-figures", "--metrics", "psnr", *extra]
    for m in methods:
        args += ["--method", m]
    return _cli(*args)


def _one_error_line(res) -> str:
    errors = [ln for ln in res.output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert "Traceback" not in res.output
    return errors[0]


# ---------------------------------------------------------------------------------------------- 1
# The record key material of every builtin method, as literal values taken once (before any change of
# issue 26): a change of the fingerprint formula would orphan every stored record of these methods.
# Never update these to make a test pass; a deliberate change needs a migration of stored records.
FROZEN = {
    ("mean", ()): "b6cb1f0726e3",
    ("telea", ()): "f9c8cdfe7aa2",
    ("ns", ()): "24b08aa39dc5",
    ("biharmonic", ()): "61278a3f6947",
    ("patchmatch", ()): "a6327dc88c9d",
    ("telea", (("radius", "3"),)): "b605ffdd1e05",
    ("patchmatch", (("seed", "1"), ("patch_size", "7"))): "79e460022353",
}

# Methods whose constructor needs a file: the fingerprint of an instance with fixed options (what the
# constructor stores: the path as given and the file's sha256).
FROZEN_FILE_METHODS = {
    ("pconv", (("checkpoint", "runs/quick/last.pt"), ("checkpoint_sha256", "0" * 64))): "7dfdf6c78311",
    ("conv", (("checkpoint", "runs/quick/last.pt"), ("checkpoint_sha256", "1" * 64))): "dbc401a6500a",
    ("gl", (("checkpoint", ""), ("file_sha256", "2" * 64), ("weights", "gl.t7"))): "6890b3028d42",
    ("gntipt", (("checkpoint", "g.pt"), ("file_sha256", "3" * 64), ("weights", ""))): "1fb16f8db282",
    ("outputs", (("dir", "/data/fills"), ("outputs_sha256", "4" * 16))): "e68de119bdee",
}


@pytest.mark.parametrize(("name", "options"), list(FROZEN))
def test_builtin_fingerprint_frozen(name, options):
    inp = inp_mod.get_inpainter(name, **dict(options))
    assert inp.fingerprint == FROZEN[(name, options)]


@pytest.mark.parametrize(("name", "options"), list(FROZEN_FILE_METHODS))
def test_file_method_fingerprint_frozen(name, options):
    inp_mod.available()
    cls = inp_mod._FACTORIES[name]
    inp = cls.__new__(cls)  # without loading a file: the fingerprint depends on the options alone
    inp.options = dict(options)
    assert inp.fingerprint == FROZEN_FILE_METHODS[(name, options)]


def test_record_key_frozen():
    # The folder name of a method's records: fingerprint + IS network (bench.runs.records.record_key).
    assert record_key("f9c8cdfe7aa2", "none") == "0cad52a13c29"
    assert record_key("ground-truth", "inception-v3-compat") == "45de632e732c"


# ---------------------------------------------------------------------------------------------- 2


def _fill_export(export: Path, fills: Path) -> None:
    """A program's outputs: the exported input with its holes painted mid-grey."""
    fills.mkdir(parents=True)
    for p in sorted((export / "inputs").glob("*.png")):
        img = cv2.imread(str(p))
        hole = cv2.imread(str(export / "masks" / p.name), cv2.IMREAD_GRAYSCALE) == 0
        img[hole] = 128
        cv2.imwrite(str(fills / p.name), img)


@pytest.fixture(scope="module")
def exported(inputs, tmp_path_factory):
    """An export of 0.3-0.4 B, filled into exp/fills (inside it) and into fills/ (beside it)."""
    root = tmp_path_factory.mktemp("exported")
    res = _cli("export", *_sel(inputs), "--out", root / "exp", "--ratio", LOW, "--border")
    assert res.exit_code == 0, res.output
    _fill_export(root / "exp", root / "exp" / "fills")
    _fill_export(root / "exp", root / "fills")
    return root


def test_export_stamp_names_its_pairs(exported):
    import json

    stamp = json.loads((exported / "exp" / "export.json").read_text())["selection"]
    listed = pd.read_csv(exported / "exp" / "pairs.csv", dtype=str, keep_default_na=False)
    assert stamp["bins"] == [LOW] and stamp["groups"] == ["B"]
    assert stamp["n_pairs"] == len(listed) == 3
    # The digest over the rows of pairs.csv, recomputed here from the file.
    import hashlib

    h = hashlib.sha256()
    for r in listed.assign(pair_id=listed["pair_id"].astype(int)).sort_values("pair_id").itertuples():
        h.update(f"{r.pair_id}\t{r.image}\t{r.mask}\t{r.inputs}\n".encode())
    assert stamp["digest"] == h.hexdigest()[:16]


def test_selection_digest_changes_with_any_pair():
    pairs = pd.DataFrame({"pair_id": [0, 1], "image": ["a.png", "b.png"], "mask": ["m0.png", "m1.png"],
                          "bin": [LOW, LOW], "group": ["B", "B"], "inputs": ["x:y", "z:w"]})  # fmt: skip
    base = selection_digest(pairs)
    assert selection_digest(pairs.iloc[::-1]) == base  # row order is not part of the selection
    for col, value in (("image", "c.png"), ("mask", "m2.png"), ("inputs", "x:q"), ("pair_id", 5)):
        changed = pairs.copy()
        changed.loc[1, col] = value
        assert selection_digest(changed) != base, col
    assert selection_digest(pairs.iloc[:1]) != base


@pytest.mark.parametrize("where", ["inside", "named"])
def test_outputs_of_another_selection_refused(inputs, exported, tmp_path, where):
    method = (f"outputs:dir={exported / 'exp' / 'fills'}" if where == "inside"
              else f"outputs:dir={exported / 'fills'},export={exported / 'exp'}")  # fmt: skip
    res = _evaluate(inputs, tmp_path / "ev", method, extra=["--ratio", HIGH, "--border"])
    assert res.exit_code == 2, res.output
    line = _one_error_line(res)
    assert f"exported for {LOW} B (3 pairs" in line and f"this evaluation is {HIGH} B (3 pairs" in line
    assert not (tmp_path / "ev" / "summary.csv").exists()
    # The export's own selection is scored.
    res = _evaluate(inputs, tmp_path / "ok", method, extra=["--ratio", LOW, "--border"])
    assert res.exit_code == 0, res.output


def test_unstamped_outputs_of_another_selection_refused_by_their_valid_pixels(inputs, exported, tmp_path):
    """A folder with no stamp anywhere, filled for other pairs: its filled holes lie where this
    evaluation's masks say valid, so it is refused (exit 2) unless keeps_valid=false; with its own
    selection it is scored."""
    shutil.copytree(exported / "fills", tmp_path / "other" / "fills")
    method = f"outputs:dir={tmp_path / 'other' / 'fills'}"
    res = _evaluate(inputs, tmp_path / "ev", method, extra=["--ratio", HIGH, "--border"])
    assert res.exit_code == 2 and "changes the valid pixels" in _one_error_line(res), res.output
    res = _evaluate(
        inputs, tmp_path / "ev", method + ",keeps_valid=false", extra=["--ratio", HIGH, "--border"]
    )
    assert res.exit_code == 0, res.output
    res = _evaluate(inputs, tmp_path / "ok", method, extra=["--ratio", LOW, "--border"])
    assert res.exit_code == 0, res.output


def test_export_option_without_stamp_refused(inputs, exported, tmp_path):
    res = _evaluate(inputs, tmp_path / "ev", f"outputs:dir={exported / 'fills'},export={tmp_path}",
                    extra=["--ratio", LOW, "--border"])  # fmt: skip
    assert res.exit_code == 2
    assert "holds no `bench export` stamp" in _one_error_line(res)


# ---------------------------------------------------------------------------------------------- 3

PLUGIN = """
import torch
from bench.methods.inpainters import Inpainter, register

@register("myfill")
class MyFill(Inpainter):
    name = "myfill"

    def _fill(self, images, masks):
        return torch.full_like(images, {value})
"""


@pytest.fixture
def plugin(monkeypatch, tmp_path):
    """`write(value)`: (re)write the plugin module `myfill` (fills holes with `value`) for the next run."""
    folder = tmp_path / "plug"
    folder.mkdir()
    inp_mod.available()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PCONV_BENCH_PLUGINS", "myfill")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # a rewrite within one second is read anew
    monkeypatch.setattr(inp_mod, "_FACTORIES", dict(inp_mod._FACTORIES))
    monkeypatch.setattr(inp_mod, "_ORIGINS", dict(inp_mod._ORIGINS))

    def write(value: float) -> None:
        import importlib

        (folder / "myfill.py").write_text(PLUGIN.format(value=value))
        importlib.invalidate_caches()
        sys.modules.pop("myfill", None)
        monkeypatch.setattr("bench.core.plugins._loaded", False)
        inp_mod._FACTORIES.pop("myfill", None)
        inp_mod._ORIGINS.pop("myfill", None)

    yield write
    sys.modules.pop("myfill", None)


def _psnr(out: Path) -> float:
    s = pd.read_csv(out / "summary.csv")
    return float(s[(s["metric"] == "psnr") & (s["bin"] == LOW) & (s["group"] == "N")]["mean"].iloc[0])


def test_plugin_code_change_recomputes(inputs, plugin, tmp_path):
    out, extra = tmp_path / "ev", ["--ratio", LOW]
    plugin(0.5)
    first = _evaluate(inputs, out, "myfill", extra=extra)
    assert first.exit_code == 0, first.output
    plugin(0.0)  # the code changed: the holes are now black
    second = _evaluate(inputs, out, "myfill", extra=extra)
    assert "6 computed now, 0 reused" in second.output, second.output
    fresh = _evaluate(inputs, tmp_path / "fresh", "myfill", extra=extra)
    assert _psnr(out) == _psnr(tmp_path / "fresh")
    # The same code again: its records are reused, and that is said, with the code digest.
    third = _evaluate(inputs, out, "myfill", extra=extra)
    assert "0 computed now, 6 reused" in third.output
    digest = inp_mod.get_inpainter("myfill").code_digest
    assert f"reused 6 record(s) of plugin 'myfill' (myfill.MyFill) computed by code digest {digest}" in (
        third.output
    )
    assert fresh.exit_code == 0


def test_builtin_reuse_not_announced(inputs, tmp_path):
    for _ in range(2):
        res = _evaluate(inputs, tmp_path / "ev", "mean", extra=["--ratio", LOW])
        assert res.exit_code == 0, res.output
    assert "0 computed now, 6 reused" in res.output and "plugin" not in res.output


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 3, 3, padding=1)


class _ModelMethod(inp_mod.Inpainter):
    name = "modelmethod"

    def __init__(self, net: torch.nn.Module, **options) -> None:
        super().__init__(**options)
        self.net = net

    def _fill(self, images, masks):
        return self.net(torch.cat([images, masks], 1))


def test_in_memory_method_fingerprint_follows_weights():
    torch.manual_seed(0)
    a = _Net()
    b = _Net()
    b.load_state_dict(a.state_dict())
    assert _ModelMethod(a).fingerprint == _ModelMethod(b).fingerprint  # equal weights, one fingerprint
    with torch.no_grad():
        b.conv.bias[0] += 1e-6
    assert _ModelMethod(a).fingerprint != _ModelMethod(b).fingerprint
    assert not inp_mod.is_builtin(_ModelMethod(a)) and inp_mod.is_builtin(inp_mod.get_inpainter("mean"))


def test_code_digest_without_source_follows_code():
    """Classes defined where no source file is kept (exec of a string) differ by their code objects."""
    made = []
    for value in (0.25, 0.75):
        scope: dict = {}
        src = (
            f"class M(Inpainter):\n    def _fill(self, images, masks):\n        return images * 0 + {value}\n"
        )
        exec(
            compile(src, "<string>", "exec"), {"Inpainter": inp_mod.Inpainter, "__name__": "notebook"}, scope
        )
        made.append(scope["M"]())
    assert made[0].fingerprint != made[1].fingerprint
    assert made[0].code_digest == type(made[0])().code_digest


# ---------------------------------------------------------------------------------------------- 4


def test_another_selection_or_method_set_needs_replace(inputs, tmp_path):
    out = tmp_path / "ev"
    assert _evaluate(inputs, out, "mean", extra=["--ratio", LOW]).exit_code == 0
    before = (out / "summary.csv").read_bytes()
    again = _evaluate(inputs, out, "mean", extra=["--ratio", LOW])  # a rerun: silent, as before
    assert again.exit_code == 0 and "replace" not in again.output
    other = _evaluate(inputs, out, "mean", extra=["--ratio", HIGH])
    assert other.exit_code == 2
    line = _one_error_line(other)
    assert (
        f"holds the tables of {LOW} B+N (6 pairs" in line
        and f"this evaluation is {HIGH} B+N (6 pairs" in line
    )
    assert "--replace" in line
    methods = _evaluate(inputs, out, "ns", extra=["--ratio", LOW])
    assert methods.exit_code == 2 and "methods mean; this evaluation is" in _one_error_line(methods)
    assert (out / "summary.csv").read_bytes() == before  # nothing replaced
    done = _evaluate(inputs, out, "mean", extra=["--ratio", HIGH, "--replace"])
    assert done.exit_code == 0, done.output
    assert f"replaced the tables of {LOW} B+N (6 pairs" in done.output
    assert set(pd.read_csv(out / "summary.csv")["bin"]) == {HIGH}


def test_inputs_changed_in_place_are_the_same_selection(inputs, tmp_path):
    from bench.evaluation.protocol import check_replace
    from bench.runs.records import read_pairs

    out = tmp_path / "ev"
    assert _evaluate(inputs, out, "mean", extra=["--ratio", LOW]).exit_code == 0
    pairs = read_pairs(out)
    changed = pairs.assign(inputs=["other:digest"] * len(pairs))  # every file's content changed
    assert check_replace(out, changed, ["mean"], False) == ""
    fewer = pairs.iloc[:-1]
    with pytest.raises(Exception, match="5 pairs"):
        check_replace(out, fewer, ["mean"], False)


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        ("evaluate", ["--border", "--no-border"], "--border and --no-border contradict"),
        ("evaluate", ["--ratio", LOW, "--ratio", HIGH], f"--ratio is given twice ('{LOW}', then '{HIGH}')"),
        ("evaluate", ["--seed", "1", "--seed=2"], "--seed is given twice ('1', then '2')"),
        ("evaluate", ["--no-is", "--metrics", "psnr,is"], "--no-is and --metrics is contradict"),
        ("export", ["--no-border", "--border"], "--no-border and --border contradict"),
        ("tables", ["--ci", "pm", "--ci", "none"], "--ci is given twice"),
        ("reproduce", ["--size", "32", "--size", "64"], "--size is given twice"),
    ],
)
def test_contradictory_options_refused(inputs, tmp_path, command, args, words):
    out = tmp_path / "out"
    if command in ("evaluate", "export"):
        full = [command, *_sel(inputs), "--out", out, *args] + (
            ["--method", "mean"] * (command == "evaluate")
        )
    elif command == "tables":
        full = [command, out, *args]
    else:
        full = [command, "--profile", "smoke", "--out", out, *args]
    res = _cli(*full)
    assert res.exit_code == 2, res.output
    assert words in _one_error_line(res)
    assert not out.exists()


def test_same_value_twice_is_fine(inputs, tmp_path):
    res = _evaluate(
        inputs, tmp_path / "ev", "mean", extra=["--ratio", LOW, "--border", "--border", "--ratio", LOW]
    )
    assert res.exit_code == 0, res.output


def test_library_call_replaces_and_says_so(inputs, tmp_path):
    """EvalConfig's default (a library caller such as `bench reproduce` owns its folder): replaced, said."""
    from bench.evaluation.runner import EvalConfig, evaluate

    def run(ratio: str):
        cfg = EvalConfig(data=inputs / "data", masks=inputs / "masks", methods=("mean",), out=tmp_path / "ev",
                         bins=[b for b in BINS if b.name == ratio], compute_is=False, metrics=("psnr",),
                         figures=False, progress=False)  # fmt: skip
        return evaluate(cfg)

    assert run(LOW).messages == []
    assert run(LOW).messages == []  # a rerun
    (line,) = run(HIGH).messages
    assert line.startswith(f"replaced the tables of {LOW} B+N (6 pairs") and f"by those of {HIGH} B+N" in line
