"""bench.reporting.rebuild.make_tables: `bench tables` as a library call (TablesConfig in, Tables out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CROP_CORNERS, FakeISNet, write_crops

from bench.cli import main
from bench.core.errors import BenchError
from bench.evaluation.runner import EvalConfig, evaluate
from bench.reporting.rebuild import TablesConfig, make_tables
from masks.conventions import BINS

SIZE = 32
SEL_BINS = BINS[1:3]

pytestmark = pytest.mark.usefixtures("fake_inception")


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, astronaut):
    """An evaluation folder of two methods, its tables written by `evaluate` (figures off)."""
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("rebuild")
    write_crops(root / "images", astronaut, SIZE, CROP_CORNERS[:3])
    generate_set(root / "masks", size=SIZE, per_bin=2, bins=SEL_BINS, seed=1, progress=False)
    out = root / "ev"
    cfg = EvalConfig(data=root / "images", masks=root / "masks", methods=("mean", "telea"), out=out,
                     bins=SEL_BINS, n_boot=50, figures=False, progress=False, compute_is=False)  # fmt: skip
    evaluate(cfg, is_network=FakeISNet())
    return out


def _bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}


def test_make_tables_rebuilds_what_evaluate_wrote(evaluated):
    summary = (evaluated / "summary.csv").read_bytes()
    res = make_tables(TablesConfig(evaluated, figures=False))
    assert (evaluated / "summary.csv").read_bytes() == summary  # the same records, the same numbers
    names = [p.name for p in res.files]
    assert {"summary.csv", "table.md", "table.tex", "report.html"} <= set(names)
    assert "curves.png" not in names and all(p.parent == evaluated for p in res.files)
    assert set(res.summary["method"]) == {"mean", "telea"} and "PSNR" in res.text


def test_table_tex_options_reach_the_file(evaluated):
    make_tables(TablesConfig(evaluated, figures=False, metrics=("psnr",), columns=(("0.1-0.2", "B"),)))
    tex = (evaluated / "table.tex").read_text()
    assert "PSNR & mean" in tex and "SSIM & mean" not in tex  # one metric row
    assert "{(0.1,0.2]}" in tex and "(0.2,0.3]" not in tex  # one column
    make_tables(TablesConfig(evaluated, figures=False))
    tex = (evaluated / "table.tex").read_text()
    assert "SSIM & mean" in tex and "(0.2,0.3]" in tex


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (dict(metrics=("fid_x",)), "--metrics: no metric fid_x in this run; its metrics: "),
        (
            dict(columns=(("0.5-0.6", "N"),)),
            "--columns: no column 0.5-0.6:N in this run; its columns: 0.1-0.2:N",
        ),
        (dict(text_height=float("nan")), "--text-height nan is not a height in pt"),
        (dict(ci="both"), "--ci must be one of pm, none, separate"),
        (dict(reference=Path("no/such.csv")), "--reference no/such.csv does not exist"),
    ],
)
def test_a_bad_option_is_a_bench_error_and_nothing_is_rewritten(evaluated, cfg, message):
    before = _bytes(evaluated)
    with pytest.raises(BenchError) as e:
        make_tables(TablesConfig(evaluated, figures=False, **cfg))
    assert str(e.value).startswith(message)
    assert _bytes(evaluated) == before


def test_a_folder_without_an_evaluation_is_refused(tmp_path):
    with pytest.raises(BenchError, match="holds no evaluation"):
        make_tables(TablesConfig(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_command_prints_what_the_library_returns(evaluated, runner):
    res = make_tables(TablesConfig(evaluated, figures=False))
    out = runner.invoke(main, ["tables", str(evaluated), "--no-figures"])
    assert out.exit_code == 0, out.output
    wrote = f"Wrote: {', '.join(p.name for p in res.files)} in {evaluated}"
    assert out.output == f"{res.text}\n{wrote}\n"
