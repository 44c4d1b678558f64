"""`bench reproduce --json`: stdout is the JSON document alone, whatever the stages print.

A real smoke reproduce takes minutes (82 s with --steps 1 --per-bin 1 --limit 2 on a quiet machine), too
long for this suite; the stages are faked here, printing as the real ones do: the training's lines
through tqdm.write (to stdout, as `bench train` prints them) and the stage log through `log`."""

from __future__ import annotations

import json

import pandas as pd

from bench.cli import main


def test_what_the_stages_print_stays_off_stdout(runner, monkeypatch, tmp_path):
    from tqdm import tqdm

    import bench.pipeline.reproduce

    summary = pd.DataFrame([dict(method="telea", bin="0.1-0.2", group="N", metric="psnr", mean=20.0,
                                 ci_low=19.5, ci_high=20.5, n=2, std=1.0)])  # fmt: skip

    def fake(rep, train, out, results=None, log=print, **kw):
        log("[train-pconv] running")
        tqdm.write("training {'layers': 4} at 64px")  # as bench.training.loop says it
        print("done: last.pt")
        results = results or out / "results"
        return bench.pipeline.reproduce.ReproduceResult(
            out=out, results=results, text="TABLE", files=[results / "summary.csv"], timings={},
            summary=summary, n_pairs=2, computed=2, reused=0,
        )  # fmt: skip

    monkeypatch.setattr(bench.pipeline.reproduce, "reproduce", fake)
    res = runner.invoke(main, ["reproduce", "--profile", "smoke", "--out", str(tmp_path / "r"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)  # it used to begin with the training lines
    assert doc["command"] == "reproduce" and len(doc["summary"]) == 1
    for line in ("[train-pconv] running", "training {'layers': 4} at 64px", "done: last.pt"):
        assert line in res.stderr.splitlines()

    res = runner.invoke(main, ["reproduce", "--profile", "smoke", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0 and "training {'layers': 4} at 64px" in res.stdout  # without --json: as before
