"""FID, KID and LPIPS through `bench evaluate`: recomputed here from the same images with the formulas of
bench.metrics.fid_kid / bench.metrics.lpips, resumed when added later, LPIPS absent without weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
from conftest import CROP_CORNERS, FakeISNet, write_crops

from bench.core.files import read_mask
from bench.data.decode import load_image
from bench.evaluation.runner import EvalConfig, evaluate
from bench.metrics.fid_kid import fid_from_features, kid_from_features
from bench.metrics.lpips import LPIPS_ENV, load_lpips, lpips_per_pair
from bench.metrics.registry import KID_SUBSET_SIZE, KID_SUBSETS, LPIPS_TABLE_NOTE, composite
from masks.conventions import BINS, is_valid

SIZE = 32
SEL_BINS = BINS[1:3]
PAIR_METRICS = ("l1_percent", "psnr", "ssim", "hole_l1_percent")
ALL = (*PAIR_METRICS, "is", "fid", "kid")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No LPIPS backbone anywhere unless a test names one; any download attempt fails the test."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv(LPIPS_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, astronaut):
    from masks.manifest import generate_set

    root = tmp_path_factory.mktemp("cellset")
    write_crops(root / "images", astronaut, SIZE, (*CROP_CORNERS, (50, 310), (310, 20)))
    generate_set(root / "masks", size=SIZE, per_bin=3, bins=SEL_BINS, seed=1, progress=False)
    return root


@pytest.fixture(scope="module")
def alex_file(tmp_path_factory) -> Path:
    """A torchvision AlexNet `features` state dict with random weights, under the real file's name."""
    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    path = tmp_path_factory.mktemp("alex") / "alexnet-owt-7be5be79.pth"
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, path)
    return path


def _run(ds: Path, out: Path, methods=("telea",), **kw):
    kw.setdefault("bins", SEL_BINS)
    kw.setdefault("batch_size", 4)
    kw.setdefault("n_boot", 50)
    kw.setdefault("figures", False)
    cfg = EvalConfig(data=ds / "images", masks=ds / "masks", methods=tuple(methods), out=out, progress=False,
                     **kw)  # fmt: skip
    return evaluate(cfg, is_network=FakeISNet())


def _composites(ds: Path, out: Path, method: str) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor]:
    """The run's pairs, their ground truths and their composited outputs, recomputed here."""
    from bench.methods.inpainters import get_inpainters

    pairs = pd.read_csv(out / "pairs.csv", keep_default_na=False)
    imgs = torch.stack(
        [
            torch.from_numpy(np.array(load_image(ds / "images" / f))).permute(2, 0, 1).float() / 255
            for f in pairs["image"]
        ]
    )
    masks = torch.stack(
        [
            torch.from_numpy(is_valid(read_mask(ds / "masks" / f)).astype(np.float32))[None]
            for f in pairs["mask"]
        ]
    )
    (inp,) = get_inpainters([method], device="cpu", workers=1, batch_size=4)
    out_imgs = torch.cat([inp.inpaint(imgs[i : i + 4], masks[i : i + 4]) for i in range(0, len(imgs), 4)])
    return pairs, imgs, composite(out_imgs, imgs, masks)


def test_fid_and_kid_per_cell_and_over_all_cells_match_the_formulas(dataset, tmp_path):
    r = _run(dataset, tmp_path / "o", metrics=ALL)
    pairs, real, comp = _composites(dataset, tmp_path / "o", "telea")
    net = FakeISNet()
    real_f = net.outputs(real)["pool"].double().numpy()
    fake_f = net.outputs(comp)["pool"].double().numpy()
    s = r.summary
    for (b, g), cell in pairs.groupby(["bin", "group"]):
        idx = cell.sort_values("pair_id").index.to_numpy()
        row = s[(s.metric == "fid") & (s.bin == b) & (s.group == g)]
        assert row["n"].item() == len(idx) == 6
        assert row["mean"].item() == pytest.approx(fid_from_features(real_f[idx], fake_f[idx]), rel=1e-6)
        want = kid_from_features(real_f[idx], fake_f[idx], KID_SUBSETS, KID_SUBSET_SIZE, seed=0)
        got = s[(s.metric == "kid") & (s.bin == b) & (s.group == g)][["mean", "std"]].to_numpy()[0]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
    # Over all cells: every output against each distinct test image once.
    whole = pd.read_csv(tmp_path / "o/overall.csv")
    first = pairs.sort_values("pair_id").drop_duplicates("image").index.to_numpy()
    fid = whole[(whole.method == "telea") & (whole.metric == "fid")]
    assert (fid["n"].item(), fid["n_real"].item()) == (len(pairs), 6)
    assert fid["value"].item() == pytest.approx(fid_from_features(real_f[first], fake_f), rel=1e-5)
    # The notes say what FID rests on and label the stand-in's metrics with a star.
    md = (tmp_path / "o/table.md").read_text()
    assert "FID*/KID* per cell" in md and "(n = 6 of each)" in md and "biased upward" in md
    assert "FID* over all cells (24 pairs against 6 distinct test images): telea" in md
    assert set(pd.read_csv(tmp_path / "o/summary.csv").query("metric == 'fid'")["label"]) == {"FID*"}


def test_fid_and_kid_are_in_the_default_set_and_go_with_the_is_network(dataset, tmp_path):
    default = _run(dataset, tmp_path / "d")
    assert set(default.summary.metric) == set(ALL)  # LPIPS has no weights here
    assert list((tmp_path / "d/records").glob("ground-truth-*"))  # FID/KID's side of the ground truth
    pd.testing.assert_frame_equal(default.summary, _run(dataset, tmp_path / "a", metrics=ALL).summary)
    without = _run(dataset, tmp_path / "n", compute_is=False)  # --no-is
    assert set(without.summary.metric) == set(PAIR_METRICS)
    assert not list((tmp_path / "n/records").glob("ground-truth-*"))


def test_distribution_metrics_added_later_are_computed_alone_and_equal_a_fresh_run(dataset, tmp_path):
    out = tmp_path / "o"
    first = _run(dataset, out, metrics=(*PAIR_METRICS, "is"))
    assert set(first.summary.metric) == {*PAIR_METRICS, "is"}
    again = _run(dataset, out, metrics=ALL)  # now with FID and KID: only the network outputs are computed
    fresh = _run(dataset, tmp_path / "fresh", metrics=ALL)
    assert again.computed == again.n_pairs
    pd.testing.assert_frame_equal(again.summary, fresh.summary)
    assert (out / "summary.csv").read_bytes() == (tmp_path / "fresh/summary.csv").read_bytes()
    # The pair metrics were not recomputed: their first records stay, a second line adds the outputs.
    folder = next(p for p in (out / "records").iterdir() if p.name.startswith("telea-"))
    lines = [json.loads(x) for x in (folder / "records.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * again.n_pairs
    assert all(x["metrics"] == {} and x["net_outputs"] == ["pool", "probs"] for x in lines[again.n_pairs :])
    rerun = _run(dataset, out, metrics=ALL)
    assert rerun.computed == 0


def test_lpips_absent_without_weights_with_a_note(dataset, tmp_path):
    r = _run(dataset, tmp_path / "o")
    assert "lpips" not in set(r.summary.metric)
    run = json.loads((tmp_path / "o/run.json").read_text())
    assert run["notes"] == [LPIPS_TABLE_NOTE]
    assert "lpips" not in [m["name"] for m in run["metrics"]]
    assert LPIPS_TABLE_NOTE in (tmp_path / "o/table.md").read_text()
    # Asked for by name, it is an error naming what is missing, and nothing is written.
    from bench.core.errors import BenchError

    with pytest.raises(BenchError, match="LPIPS left out: its AlexNet backbone weights were not found"):
        _run(dataset, tmp_path / "p", metrics=("lpips",))
    assert not (tmp_path / "p").exists()


def test_lpips_per_pair_with_a_random_backbone(dataset, tmp_path, alex_file, monkeypatch):
    monkeypatch.setenv(LPIPS_ENV, str(alex_file))
    r = _run(dataset, tmp_path / "o", metrics=("l1_percent", "lpips"))
    pairs, real, comp = _composites(dataset, tmp_path / "o", "telea")
    want = lpips_per_pair(load_lpips(backbone=alex_file), comp, real)
    s = r.summary[r.summary.metric == "lpips"]
    assert len(s) == 4 and "LPIPS" in (tmp_path / "o/table.md").read_text()
    for (b, g), cell in pairs.groupby(["bin", "group"]):
        got = s[(s.bin == b) & (s.group == g)]["mean"].item()
        assert got == pytest.approx(want[cell.index.to_numpy()].mean(), rel=1e-6)
    # A --lpips-backbone path naming a missing file is an error, not a silent fall-back to the variable.
    from bench.core.errors import BenchError

    with pytest.raises(BenchError, match="not found"):
        _run(dataset, tmp_path / "q", metrics=("lpips",), lpips_weights=tmp_path / "missing.pth")


def test_ground_truth_goes_through_the_network_once_per_image(dataset, tmp_path):
    """Cross pairing puts each image in every cell: its real features are computed once, not per pair."""

    class Counting(FakeISNet):
        seen = 0

        def outputs(self, images):
            Counting.seen += len(images)
            return super().outputs(images)

    cfg = EvalConfig(data=dataset / "images", masks=dataset / "masks", methods=("telea",), out=tmp_path / "o",
                     bins=SEL_BINS, batch_size=4, n_boot=50, figures=False, progress=False,
                     metrics=ALL)  # fmt: skip
    result = evaluate(cfg, is_network=Counting())
    n_images = len(list((dataset / "images").iterdir()))
    assert result.n_pairs == 4 * n_images  # every image in each of the 4 cells
    assert Counting.seen == result.n_pairs + n_images  # telea's composites per pair, real images once
