"""GntIpt (DeepFill v1): shapes, critics, discounted L1 weights, gradient penalty, local crops, weight files.

Small widths (cnum 8) and sizes (64-72 px); CPU only.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from bench.core.errors import BenchError
from bench.models.gntipt.network import (
    GntIptGenerator,
    LossWeights,
    global_critic,
    gradient_penalty,
    local_critic,
    reconstruction_losses,
    spatial_discount,
    wgan_losses,
)
from bench.models.gntipt.weights import load_mmagic, load_tf_port

# Layer names as the two PyTorch ports store them, in network order (written out from their sources).
_DILATED = ["conv1", "conv2_downsample", "conv3", "conv4_downsample", "conv5", "conv6"] + [
    f"conv{i}_atrous" for i in range(7, 11)
]
_PM = ["pmconv1", "pmconv2_downsample", "pmconv3", "pmconv4_downsample", "pmconv5", "pmconv6"]
_PM += ["pmconv9", "pmconv10"]
TF_PORT_LAYERS = [f"coarse_generator.{n}" for n in _DILATED + [f"conv{i}" for i in range(11, 18)]] + [
    f"fine_generator.{n}" for n in _DILATED + _PM + [f"allconv{i}" for i in range(11, 18)]
]
MMAGIC_LAYERS = (
    [f"generator.stage1.encoder.enc{i}" for i in range(1, 7)]
    + [f"generator.stage1.dilation_neck.dilation_convs.{i}" for i in range(4)]
    + [f"generator.stage1.decoder.dec{i}" for i in range(1, 8)]
    + [f"generator.stage2.encoder_conv.enc{i}" for i in range(1, 7)]
    + [f"generator.stage2.dilation_neck.dilation_convs.{i}" for i in range(4)]
    + [f"generator.stage2.encoder_attention.enc{i}" for i in range(1, 7)]
    + [f"generator.stage2.contextual_attention_neck.conv{i}" for i in (1, 2)]
    + [f"generator.stage2.decoder.dec{i}" for i in range(1, 8)]
)


def _pair(size: int, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, size, size, generator=g)
    mask = torch.ones(batch, 1, size, size)
    mask[0, :, size // 4 : size // 2, size // 4 : 3 * size // 4] = 0
    mask[-1, :, size // 2 :, : size // 3] = 0
    return image, mask


def _port_state(net: GntIptGenerator, layers: list[str]) -> dict[str, torch.Tensor]:
    # Our convolutions in network order, renamed with the port's names.
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(layers) == 42
    state = {}
    for name, conv in zip(layers, convs, strict=True):
        state[f"{name}.conv.weight"] = conv.weight.detach().clone()
        state[f"{name}.conv.bias"] = conv.bias.detach().clone()
    return state


@pytest.mark.parametrize("flavour,size", [("tf", 64), ("mmagic", 72)])
def test_generator_shapes_and_range(flavour: str, size: int) -> None:
    torch.manual_seed(0)
    net = GntIptGenerator(cnum=8, flavour=flavour).eval()
    image, mask = _pair(size)
    with torch.no_grad():
        coarse, refined = net(image, mask)
        done = net.complete(image, mask)
    for out in (coarse, refined, done):
        assert out.shape == image.shape
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    s = size // 8
    assert net.last_attention.shape == (2, s * s, s, s)
    assert torch.equal(done * mask, image * mask)


def test_generator_refuses_bad_sizes() -> None:
    net = GntIptGenerator(cnum=4)
    with pytest.raises(BenchError, match="divisible by 8"):
        net(torch.rand(1, 3, 36, 36), torch.ones(1, 1, 36, 36))
    with pytest.raises(BenchError, match="masks of shape"):
        net(torch.rand(1, 3, 32, 32), torch.ones(1, 3, 32, 32))


def test_critics_shapes() -> None:
    loc, glob = local_critic(size=32, cnum=8), global_critic(size=64, cnum=8)
    assert loc(torch.rand(3, 3, 32, 32)).shape == (3, 1)
    assert glob(torch.rand(3, 3, 64, 64)).shape == (3, 1)
    # Four stride-2 convolutions: 32 px -> 2x2 x 8c, 64 px -> 4x4 x 4c.
    assert loc.fc.in_features == 64 * 2 * 2 and glob.fc.in_features == 32 * 4 * 4
    with pytest.raises(BenchError, match="critic expects"):
        loc(torch.rand(1, 3, 64, 64))


def test_discount_mask_box_and_irregular() -> None:
    gamma = 0.99
    mask = torch.ones(1, 1, 20, 20)
    mask[..., 4:10, 5:13] = 0  # a 6x8 box
    d = spatial_discount(mask, gamma)[0, 0]
    for i, j in itertools.product(range(6), range(8)):
        # 1 on the box's edge, one factor gamma per pixel inward.
        assert float(d[4 + i, 5 + j]) == pytest.approx(gamma ** min(i, j, 5 - i, 7 - j))
    assert torch.all(d[mask[0, 0] == 1] == 0)
    assert float(d[6, 8]) == pytest.approx(gamma**2)

    # Irregular hole: against a brute-force chessboard distance to the nearest valid pixel.
    rng = np.random.default_rng(0)
    m = np.ones((12, 12), np.float32)
    m[2:9, 3:10] = 0
    m[5:11, 1:4] = 0
    m[rng.integers(0, 12, 6), rng.integers(0, 12, 6)] = 1
    got = spatial_discount(torch.from_numpy(m)[None, None], 0.9)[0, 0].numpy()
    valid = np.argwhere(m == 1)
    for y, x in np.argwhere(m == 0):
        dist = np.abs(valid - (y, x)).max(axis=1).min()
        assert got[y, x] == pytest.approx(0.9 ** (dist - 1))


class _Linear(nn.Module):
    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(dim=1, keepdim=True)


class _Square(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x.pow(2).flatten(1).sum(dim=1, keepdim=True)


def test_gradient_penalty_matches_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    real, fake = torch.rand(2, 3, 4, 4, generator=g), torch.rand(2, 3, 4, 4, generator=g)
    hole = torch.zeros(2, 1, 4, 4)
    hole[0, :, 1:3, 1:3] = 1
    hole[1, :, :2, :] = 1
    w = torch.rand(1, 3, 4, 4, generator=g)
    # Linear critic: the gradient is w everywhere, whatever the interpolation.
    gp = gradient_penalty(_Linear(w.clone()), real, fake, hole=hole, alpha=torch.tensor([0.3, 0.8]))
    slopes = [np.sqrt(float((w[0] ** 2 * hole[i]).sum())) for i in range(2)]
    assert gp.item() == pytest.approx(np.mean([(s - 1) ** 2 for s in slopes]), rel=1e-5)
    # 0.5 * ||x||^2: the gradient is x_hat = real + alpha * (fake - real).
    alpha = torch.tensor([0.25, 0.5])
    gp = gradient_penalty(_Square(), real, fake, alpha=alpha)
    x_hat = [real[i] + float(alpha[i]) * (fake[i] - real[i]) for i in range(2)]
    expected = np.mean([(float(x.pow(2).sum().sqrt()) - 1) ** 2 for x in x_hat])
    assert gp.item() == pytest.approx(expected, rel=1e-5)
    # Seeded alphas are reproducible, and the penalty trains the critic.
    critic = _Linear(w.clone())
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    assert a.item() == b.item()
    a.backward()
    assert critic.w.grad is not None


def test_local_crop_seeded_and_centred_on_a_hole() -> None:
    mask = torch.ones(3, 1, 48, 48)
    mask[0, :, 18:30, 16:34] = 0
    mask[1, :, 20:26, 22:24] = 0
    mask[2, :, 0:4, 40:48] = 0  # at the border: the box is shifted inside
    # GntIpt's training step crops with GL's boxes: (top, left, bottom, right), bottom/right exclusive.
    from bench.models.gl.network import crop_patches, local_crop_boxes

    a = local_crop_boxes(mask, 16, torch.Generator().manual_seed(3))
    b = local_crop_boxes(mask, 16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    for s, (top, left, bottom, right) in enumerate(a.tolist()):
        assert (bottom - top, right - left) == (16, 16) and 0 <= top <= 32 and 0 <= left <= 32
        if s < 2:
            assert float(mask[s, 0, top + 8, left + 8]) == 0
    assert crop_patches(torch.rand(3, 3, 48, 48), a).shape == (3, 3, 16, 16)
    picks = {
        tuple(local_crop_boxes(mask[:1], 16, torch.Generator().manual_seed(k))[0].tolist()) for k in range(8)
    }
    assert len(picks) > 1  # different seeds, different hole pixels


def test_losses_and_released_weights() -> None:
    w = LossWeights()
    assert (w.l1, w.coarse_l1, w.ae, w.gan, w.gp_lambda, w.global_wgan) == (1.2, 1.2, 1.2, 0.001, 10.0, 1.0)
    image, mask = _pair(16)
    gt = image * 2 - 1
    l1, ae = reconstruction_losses(gt, mask, gt, gt)
    assert float(l1) == 0 and float(ae) == 0
    l1, ae = reconstruction_losses(gt, mask, gt + 0.5, gt)
    # Only the coarse output is off, by 0.5 everywhere: ae = 1.2 * 0.5 on the valid pixels.
    assert float(ae) == pytest.approx(1.2 * 0.5)
    disc = spatial_discount(mask)
    assert float(l1) == pytest.approx(1.2 * 0.5 * float(disc.sum()) / float((1 - mask).sum()), rel=1e-5)
    g, d = wgan_losses(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 1.0]))
    assert (float(g), float(d)) == (-0.5, -1.5)


def _save(tmp_path, name: str, obj) -> str:
    path = tmp_path / name
    torch.save(obj, path)
    return str(path)


def test_tf_port_weights_round_trip_and_refusals(tmp_path) -> None:
    torch.manual_seed(1)
    net = GntIptGenerator(cnum=8, flavour="tf").eval()
    state = _port_state(net, TF_PORT_LAYERS)
    image, mask = _pair(64)
    with torch.no_grad():
        want = net(image, mask)
        for prefix in ("", "netG."):
            loaded = load_tf_port(_save(tmp_path, f"p{prefix}.p", {prefix + k: v for k, v in state.items()}))
            assert loaded.cnum == 8 and loaded.flavour == "tf"
            got = loaded(image, mask)
            assert all(torch.equal(a, b) for a, b in zip(want, got, strict=True))
    missing = dict(state)
    del missing["fine_generator.pmconv9.conv.bias"]
    with pytest.raises(BenchError, match="missing tensors: fine_generator.pmconv9.conv.bias"):
        load_tf_port(_save(tmp_path, "m.p", missing))
    with pytest.raises(BenchError, match="unexpected tensors: fine_generator.extra.conv.weight"):
        load_tf_port(_save(tmp_path, "u.p", {**state, "fine_generator.extra.conv.weight": torch.zeros(1)}))
    bad = {**state, "coarse_generator.conv3.conv.weight": torch.zeros(16, 16, 5, 5)}
    with pytest.raises(BenchError, match="coarse_generator.conv3.conv.weight has shape"):
        load_tf_port(_save(tmp_path, "s.p", bad))


def test_mmagic_weights_round_trip_and_refusals(tmp_path) -> None:
    torch.manual_seed(2)
    net = GntIptGenerator(cnum=8, flavour="mmagic").eval()
    state = _port_state(net, MMAGIC_LAYERS)
    state["generator.stage2.contextual_attention_neck.contextual_attention.fuse_kernel"] = torch.eye(3).view(
        1, 1, 3, 3
    )
    state["disc.global_disc.conv1.conv.weight"] = torch.zeros(64, 3, 5, 5)  # the critics: skipped
    ckpt = {"meta": {"iter": 5}, "state_dict": state}
    image, mask = _pair(72)
    loaded = load_mmagic(_save(tmp_path, "mm.pth", ckpt))
    assert loaded.flavour == "mmagic"
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(net(image, mask), loaded(image, mask), strict=True))
    missing = {k: v for k, v in state.items() if not k.startswith("generator.stage2.decoder.dec7")}
    with pytest.raises(BenchError, match="missing tensors: generator.stage2.decoder.dec7.conv.bias"):
        load_mmagic(_save(tmp_path, "m.pth", missing))
    with pytest.raises(BenchError, match="unexpected tensors: generator.stage3.x"):
        load_mmagic(_save(tmp_path, "u.pth", {**state, "generator.stage3.x": torch.zeros(1)}))
    with pytest.raises(BenchError, match="does not exist|no such file"):
        load_mmagic(tmp_path / "absent.pth")
