"""baselines.biharmonic: the fast solver gives scikit-image's biharmonic fill; the inpainter wires it in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.restoration import inpaint_biharmonic

from baselines.biharmonic import inpaint_biharmonic_fast
from bench.methods.inpainters import get_inpainter
from masks.conventions import BINS, VALID, Group
from masks.generate import generate_mask

TOL = 1e-4  # the contract; observed differences are ~1e-9


def _skimage(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    return inpaint_biharmonic(image, hole, channel_axis=-1, split_into_regions=False)


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {
        "astronaut": data.astronaut()[100:228, 160:288].astype(np.float64) / 255,  # 128 px, the face
        "chelsea": data.chelsea()[60:156, 150:246].astype(np.float64) / 255,  # 96 px
        "coffee": data.coffee()[200:264, 300:364].astype(np.float64) / 255,  # 64 px
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bin_i", [0, 2, 3, 5])
@pytest.mark.parametrize("group", [Group.N, Group.B])
@pytest.mark.parametrize("photo", ["astronaut", "chelsea", "coffee"])
def test_matches_skimage_on_irregular_masks(photos, photo, group, bin_i, seed) -> None:
    image = photos[photo]
    size = image.shape[0]
    hole = generate_mask(np.random.default_rng([seed, bin_i]), size, BINS[bin_i], group) < VALID // 2
    out = inpaint_biharmonic_fast(image, hole)
    ref = _skimage(image, hole)
    assert out.shape == ref.shape and out.dtype == np.float64
    assert np.abs(out - ref).max() < TOL
    assert np.array_equal(out[~hole], image[~hole])


def test_holes_touching_every_border_and_corner(photos) -> None:
    image = photos["astronaut"]
    hole = np.zeros(image.shape[:2], bool)
    hole[:3, 10:50] = True  # top edge, 3 rows
    hole[-1:, 30:90] = True  # bottom edge, 1 row
    hole[40:80, :2] = True  # left edge
    hole[20:100, -5:] = True  # right edge, wide
    hole[:6, :6] = True  # corners
    hole[-4:, -7:] = True
    hole[-2:, :1] = True
    ref = _skimage(image, hole)
    assert np.abs(inpaint_biharmonic_fast(image, hole) - ref).max() < TOL


def test_tiny_holes(photos) -> None:
    image = photos["chelsea"]
    rng = np.random.default_rng(7)
    hole = rng.random(image.shape[:2]) < 0.02  # isolated pixels, some on the border
    hole[0, 0] = hole[5, 0] = hole[-1, 40] = True
    hole[50:52, 50:51] = True
    ref = _skimage(image, hole)
    assert np.abs(inpaint_biharmonic_fast(image, hole) - ref).max() < TOL


def test_single_pixel_and_small_images() -> None:
    rng = np.random.default_rng(3)
    for shape in [(5, 5), (3, 7), (4, 4), (9, 6)]:
        image = rng.random((*shape, 3))
        hole = rng.random(shape) < 0.4
        hole[0, 0] = True
        hole[-1, -1] = False
        ref = _skimage(image, hole)
        assert np.abs(inpaint_biharmonic_fast(image, hole) - ref).max() < TOL, shape


def test_grayscale_and_float32(photos) -> None:
    image = photos["coffee"]
    hole = generate_mask(np.random.default_rng(5), 64, BINS[3], Group.N) < VALID // 2
    gray = image[..., 1]
    ref = inpaint_biharmonic(gray, hole)
    assert np.abs(inpaint_biharmonic_fast(gray, hole) - ref).max() < TOL
    out32 = inpaint_biharmonic_fast(image.astype(np.float32), hole)
    assert out32.dtype == np.float32
    assert np.abs(out32 - _skimage(image, hole)).max() < TOL


def test_no_hole_returns_the_image(photos) -> None:
    image = photos["coffee"]
    out = inpaint_biharmonic_fast(image, np.zeros(image.shape[:2], bool))
    assert out is not image and np.array_equal(out, image)


def test_all_hole_does_not_crash(photos) -> None:
    image = photos["coffee"]
    out = inpaint_biharmonic_fast(image, np.ones(image.shape[:2], bool))
    assert out.shape == image.shape and np.isfinite(out).all()


def test_shape_mismatch_raises(photos) -> None:
    with pytest.raises(ValueError):
        inpaint_biharmonic_fast(photos["coffee"], np.zeros((10, 10), bool))


def test_inpainter_fast_keeps_valid_pixels_and_matches_skimage_solver(photos) -> None:
    images = torch.from_numpy(
        np.stack([photos["chelsea"][:64, :64], photos["coffee"]]).astype(np.float32)
    ).permute(0, 3, 1, 2)
    holes = np.stack(
        [generate_mask(np.random.default_rng(s), 64, BINS[4], Group.N) < VALID // 2 for s in (11, 12)]
    )
    masks = torch.from_numpy((~holes)[:, None].astype(np.float32))
    fast = get_inpainter("biharmonic")
    slow = get_inpainter("biharmonic", solver="skimage")
    assert fast.options["solver"] == "fast"
    out_fast, out_slow = fast.inpaint(images, masks), slow.inpaint(images, masks)
    valid = masks.bool().expand_as(images)
    assert torch.equal(out_fast[valid], images[valid])
    assert (out_fast - out_slow).abs().max().item() < TOL
    assert fast.fingerprint != slow.fingerprint


def test_inpainter_rejects_bad_options() -> None:
    with pytest.raises(Exception, match="solver"):
        get_inpainter("biharmonic", solver="nope")
    with pytest.raises(Exception, match="split_into_regions"):
        get_inpainter("biharmonic", split_into_regions=True)
    get_inpainter("biharmonic", split_into_regions=True, solver="skimage")


def test_workspace_follows_the_update_stack_of_a_hand_made_tree() -> None:
    """Postorder tree 0, 1 -> 2; 2, 3 -> 4 (root), one own unknown each, r = 2, 3, 1, 2, 0 update
    unknowns. Fronts are (1 + r)^2: the largest is 4^2. The stack holds node 0's 2^2 and node 1's 3^2
    (13) until node 2 pops both and pushes 1^2; node 3 pushes 2^2 (5); the root pops both."""
    from baselines.biharmonic import _workspace

    own_s = np.arange(5, dtype=np.int64)
    own_e = own_s + 1
    sptr = np.array([0, 2, 5, 6, 8, 8], dtype=np.int64)
    cptr = np.array([0, 0, 0, 2, 2, 4], dtype=np.int64)
    child = np.array([0, 1, 2, 3], dtype=np.int64)
    assert tuple(_workspace(own_s, own_e, sptr, cptr, child)) == (16, 13)
