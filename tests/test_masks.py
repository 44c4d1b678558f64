"""Mask generation: properties over many seeds, determinism, sampler, manifest and CLI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bench.cli import main
from masks.conventions import BINS, GROUPS, Group, bin_by_name, hole_ratio, hole_within_margin, margin_for
from masks.generate import Kind, generate_mask, pixel_range
from masks.sampler import MaskSampler


def _hole_count(m: np.ndarray) -> int:
    return int((m == 0).sum())


@pytest.mark.parametrize("kind", [k.value for k in Kind])
@pytest.mark.parametrize("size", [64, 96])
def test_every_mask_lands_in_its_bin_and_group(kind, size):
    margin = margin_for(size)
    touching = 0
    n_n = 0
    for bi, b in enumerate(BINS):
        for g in GROUPS:
            for i in range(12):
                m = generate_mask(np.random.default_rng([size, bi, i]), size, b, g, kind)
                assert m.dtype == np.uint8 and m.shape == (size, size)
                assert set(np.unique(m)) <= {0, 255}
                # Independent check of the ratio: plain count over the pixels.
                assert b.lo < _hole_count(m) / m.size <= b.hi
                # Independent check of the margin: any zero in the four strips.
                strips = np.concatenate(
                    [m[:margin].ravel(), m[-margin:].ravel(), m[:, :margin].ravel(), m[:, -margin:].ravel()]
                )
                if g is Group.B:
                    assert (strips == 255).all()
                else:
                    n_n += 1
                    touching += bool((strips == 0).any())
    assert touching > 0.6 * n_n


@pytest.mark.parametrize("b", [BINS[0], BINS[5]])
def test_paper_size_bins_and_margin(b):
    for g in GROUPS:
        for i in range(3):
            m = generate_mask(np.random.default_rng(i), 512, b, g)
            assert b.contains(hole_ratio(m))
            if g is Group.B:
                assert (m[:50] == 255).all() and (m[-50:] == 255).all()
                assert (m[:, :50] == 255).all() and (m[:, -50:] == 255).all()


def test_explicit_margin():
    for i in range(10):
        m = generate_mask(np.random.default_rng(i), 128, bin_by_name("0.2-0.3"), "B", margin=20)
        assert not hole_within_margin(m, 20)


def test_same_seed_same_bytes_different_seed_differs():
    b = bin_by_name("0.3-0.4")
    a1 = generate_mask(np.random.default_rng(7), 128, b, "N")
    a2 = generate_mask(np.random.default_rng(7), 128, b, "N")
    a3 = generate_mask(np.random.default_rng(8), 128, b, "N")
    assert a1.tobytes() == a2.tobytes()
    assert a1.tobytes() != a3.tobytes()


def test_masks_are_irregular_and_often_several_holes():
    # Not rectangles: a hole component rarely fills its bounding box; several components are common.
    multi = 0
    fills = []
    for i in range(40):
        m = generate_mask(np.random.default_rng(i), 128, bin_by_name("0.1-0.2"), "N")
        lab, n = ndimage.label(m == 0)
        multi += n >= 2
        for sl in ndimage.find_objects(lab):
            box = lab[sl]
            fills.append((box > 0).mean())
    assert multi >= 10
    assert np.median(fills) < 0.9


def test_pixel_range_matches_bin_contains():
    for n in (256, 4096, 262144, 1000):
        for b in BINS:
            lo, hi = pixel_range(b, n)
            assert b.contains(lo / n) and not b.contains((lo - 1) / n)
            assert b.contains(hi / n) and not b.contains((hi + 1) / n)


def test_infeasible_sizes_are_refused():
    with pytest.raises(ValueError, match="too small"):
        generate_mask(np.random.default_rng(0), 8, BINS[0], "N")
    with pytest.raises(ValueError, match="margin"):
        generate_mask(np.random.default_rng(0), 128, BINS[5], "B", margin=30)


def test_sampler_follows_the_bin_distribution():
    s = MaskSampler(64, bin_weights={"0.1-0.2": 1.0, "0.5-0.6": 3.0}, group_weights={"B": 1.0})
    rng = np.random.default_rng(0)
    counts = {"0.1-0.2": 0, "0.5-0.6": 0}
    for _ in range(200):
        m = s.sample(rng)
        r = hole_ratio(m)
        name = "0.1-0.2" if bin_by_name("0.1-0.2").contains(r) else "0.5-0.6"
        assert bin_by_name(name).contains(r)
        assert not hole_within_margin(m, margin_for(64))
        counts[name] += 1
    # Binomial(200, 0.75): 150 +- 6; far outside [120, 180] would mean the weights are ignored.
    assert 120 <= counts["0.5-0.6"] <= 180
    batch = s.sample_batch(np.random.default_rng(1), 3)
    assert batch.shape == (3, 1, 64, 64) and batch.dtype == np.float32
    assert set(np.unique(batch)) <= {0.0, 1.0}


def test_sampler_default_is_uniform_and_deterministic():
    s = MaskSampler(64)
    a = [s.sample(np.random.default_rng(i)).tobytes() for i in range(5)]
    b = [s.sample(np.random.default_rng(i)).tobytes() for i in range(5)]
    assert a == b
    ratios = [hole_ratio(s.sample(np.random.default_rng(100 + i))) for i in range(120)]
    per_bin = [sum(bb.contains(r) for r in ratios) for bb in BINS]
    assert sum(per_bin) == 120 and min(per_bin) >= 8


def test_sampler_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown bin"):
        MaskSampler(64, bin_weights={"0.3-0.9": 1.0})
    with pytest.raises(ValueError, match="unknown group"):
        MaskSampler(64, group_weights={"X": 1.0})


def test_cli_help_lists_commands(runner):
    r = runner.invoke(main, ["masks", "--help"])
    assert r.exit_code == 0
    for name in ("generate", "import", "stats"):
        assert name in r.output
