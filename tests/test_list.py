"""`bench list methods|metrics|profiles`: every registered name (plugins included) with a line on it."""

from __future__ import annotations

import sys

import pytest

from bench.cli import main
from bench.methods import inpainters as inp
from bench.metrics import registry as bm
from bench.training.config import PROFILES

PLUGIN = '''
"""A plugin of the test: one method and one metric."""
from bench.methods.inpainters import Inpainter, register
from bench.metrics.registry import register_metric


@register("listed-plugin")
class Listed(Inpainter):
    """Fills holes with grey, for the listing test.

    A second paragraph that the listing leaves out."""

    name = "listed-plugin"

    def _fill(self, images, masks):
        return images * 0 + 0.5


@register_metric("listed_err", label="Listed error", higher_is_better=False)
def listed_err(output, target, valid):
    """Largest absolute error."""
    return float(abs(output - target).max())
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "listed_plugin_mod.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(inp.PLUGINS_ENV, "listed_plugin_mod")
    monkeypatch.setattr("bench.core.plugins._loaded", False)
    monkeypatch.setattr(inp, "_FACTORIES", dict(inp._FACTORIES))
    monkeypatch.setattr(inp, "_ORIGINS", dict(inp._ORIGINS))
    monkeypatch.setattr(bm, "METRICS", dict(bm.METRICS))
    yield
    sys.modules.pop("listed_plugin_mod", None)


def _lines(runner, *args) -> dict[str, str]:
    res = runner.invoke(main, ["list", *args])
    assert res.exit_code == 0, res.output
    out = {}
    for ln in res.output.splitlines():
        name, _, text = ln.partition("  ")
        assert name not in out, f"{name} listed twice"
        out[name] = text.strip()
    return out


def test_methods_with_plugin(runner, plugin):
    lines = _lines(runner, "methods")
    assert set(lines) == set(inp.available())
    assert {"pconv", "conv", "gl", "gntipt", "telea", "listed-plugin"} <= set(lines)
    assert (
        lines["listed-plugin"]
        == "Fills holes with grey, for the listing test. [plugin listed_plugin_mod.Listed]"
    )
    assert lines["pconv"] == inp._FACTORIES["pconv"].__doc__.strip().splitlines()[0]
    assert all(lines.values())


def test_metrics_with_plugin(runner, plugin):
    lines = _lines(runner, "metrics")
    assert list(lines) == list(bm.available_metrics())
    assert lines["psnr"].startswith("PSNR; per pair") and "higher is better" in lines["psnr"]
    assert "lower is better" in lines["fid"] and "ground truth" in lines["fid"]
    assert lines["listed_err"].startswith("Listed error; per pair")
    assert (
        "Largest absolute error." in lines["listed_err"] and "plugin listed_plugin_mod" in lines["listed_err"]
    )


def test_profiles(runner):
    lines = _lines(runner, "profiles")
    assert list(lines) == list(PROFILES)
    for name, prof in PROFILES.items():
        size = prof["reproduce"].get("size", prof["train"].get("size"))
        if size is not None:
            assert lines[name].startswith(f"{size} px")


def test_all_three_and_bad_kind(runner):
    res = runner.invoke(main, ["list"])
    assert res.exit_code == 0
    assert [ln for ln in res.output.splitlines() if ln.endswith(":")] == ["methods:", "metrics:", "profiles:"]
    bad = runner.invoke(main, ["list", "models"])
    assert bad.exit_code == 2 and "models" in bad.output
