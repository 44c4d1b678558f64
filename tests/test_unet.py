"""The paper's U-Net and its plain-conv twin: architecture, shapes, invariants, phases."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from bench.models.unet.network import InpaintingUNet, layers_for_size
from bench.models.unet.pconv import partial_conv2d


def batch(n: int, size: int, seed: int, h: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and masks: speckle holes plus a large block, so holes survive a few layers."""
    gen = torch.Generator().manual_seed(seed)
    h = h or size
    images = torch.rand(n, 3, h, size, generator=gen)
    masks = (torch.rand(n, 1, h, size, generator=gen) > 0.3).float()
    masks[:, :, h // 4 : h // 2 + 2, size // 8 : size // 2] = 0
    return images, masks


def tiny(conv: str = "partial", size: int = 32, width: int = 4) -> InpaintingUNet:
    torch.manual_seed(0)
    return InpaintingUNet(layers_for_size(size), width=width, conv=conv)


def test_layers_for_size():
    assert [layers_for_size(s) for s in (512, 256, 128, 64, 32, 1024, 96, 4)] == [8, 7, 6, 5, 4, 8, 5, 1]
    for bad in (3, 2, 63, 255):
        with pytest.raises(ValueError):
            layers_for_size(bad)


def test_paper_architecture_at_512():
    net = InpaintingUNet(layers_for_size(512), width=64)
    enc = [
        (b.conv.in_channels, b.conv.out_channels, b.conv.kernel_size[0], b.conv.stride[0])
        for b in net.encoder
    ]
    assert enc == [
        (3, 64, 7, 2),
        (64, 128, 5, 2),
        (128, 256, 5, 2),
        (256, 512, 3, 2),
        (512, 512, 3, 2),
        (512, 512, 3, 2),
        (512, 512, 3, 2),
        (512, 512, 3, 2),
    ]
    # The supplementary table: decoder input channels after concatenation, and outputs.
    dec = [
        (b.conv.in_channels, b.conv.out_channels, b.conv.kernel_size[0], b.conv.stride[0])
        for b in net.decoder
    ]
    assert dec == [
        (1024, 512, 3, 1),
        (1024, 512, 3, 1),
        (1024, 512, 3, 1),
        (1024, 512, 3, 1),
        (768, 256, 3, 1),
        (384, 128, 3, 1),
        (192, 64, 3, 1),
        (67, 3, 3, 1),
    ]
    assert net.encoder[0].bn is None and all(b.bn is not None for b in net.encoder[1:])
    assert (
        net.decoder[-1].bn is None and net.decoder[-1].act is None and net.decoder[-1].conv.bias is not None
    )
    assert all(isinstance(b.act, torch.nn.ReLU) for b in net.encoder)
    assert all(
        isinstance(b.act, torch.nn.LeakyReLU) and b.act.negative_slope == 0.2 for b in net.decoder[:-1]
    )
    std = InpaintingUNet(8, 64, conv="standard")
    assert type(std.encoder[0].conv) is torch.nn.Conv2d
    assert [p.shape for p in std.parameters()] == [p.shape for p in net.parameters()]


@pytest.mark.parametrize("conv", ["partial", "standard"])
@pytest.mark.parametrize("layers,h,w", [(1, 4, 6), (2, 16, 16), (3, 16, 24), (4, 32, 48), (5, 64, 64)])
def test_output_shapes(conv, layers, h, w):
    net = InpaintingUNet(layers, width=4, conv=conv)
    images, masks = batch(2, w, seed=layers, h=h)
    assert net(images, masks).shape == (2, 3, h, w)


def test_bad_inputs_raise():
    net = tiny()
    images, masks = batch(1, 32, 0)
    with pytest.raises(ValueError, match="divisible"):
        net(images[..., :24], masks[..., :24])
    with pytest.raises(ValueError, match="masks"):
        net(images, masks[..., :16])
    with pytest.raises(ValueError):
        net(images[:, :2], masks)
    with pytest.raises(ValueError):
        InpaintingUNet(3, conv="gated")


@pytest.mark.parametrize("conv", ["partial", "standard"])
def test_hole_values_do_not_reach_the_output(conv):
    net = tiny(conv).eval()
    gen = torch.Generator().manual_seed(1)
    for seed in range(3):
        images, masks = batch(2, 32, seed)
        scrambled = torch.where(masks > 0, images, torch.rand(images.shape, generator=gen))
        with torch.no_grad():
            assert torch.equal(net(images, masks), net(scrambled, masks))
            # ...while a change in a valid pixel does reach it (the check above is not vacuous).
            poked = images.clone()
            ys, xs = torch.nonzero(masks[0, 0], as_tuple=True)
            poked[0, :, ys[0], xs[0]] += 0.5
            assert not torch.equal(net(images, masks), net(poked, masks))


def test_no_leak_in_training_mode_either():
    net = tiny().train()
    images, masks = batch(4, 32, 5)
    scrambled = torch.where(masks > 0, images, 1 - images)
    torch.testing.assert_close(net(images, masks), net(scrambled, masks), rtol=0, atol=0)


def naive_partial_forward(net: InpaintingUNet, images, masks):
    """The network evaluated layer by layer with materialised full-channel masks (NVIDIA's way)."""
    m = masks.expand(-1, 3, -1, -1)
    skips, h = [(images, m)], images
    for blk in net.encoder:
        out, m1 = partial_conv2d(h, m, blk.conv.weight, blk.conv.bias, blk.conv.stride, blk.conv.padding)
        h, m = blk.post(out), m1.expand(-1, out.shape[1], -1, -1)
        skips.append((h, m))
    for j, blk in enumerate(net.decoder):
        s_h, s_m = skips[net.layers - 1 - j]
        x = torch.cat([F.interpolate(h, scale_factor=2.0), s_h], 1)
        mm = torch.cat([F.interpolate(m, scale_factor=2.0), s_m], 1)
        out, m1 = partial_conv2d(x, mm, blk.conv.weight, blk.conv.bias, blk.conv.stride, blk.conv.padding)
        h, m = blk.post(out), m1.expand(-1, out.shape[1], -1, -1)
    return h


def test_fast_forward_equals_full_channel_mask_forward():
    net = tiny(width=6).eval()
    images, masks = batch(3, 32, 7)
    with torch.no_grad():
        torch.testing.assert_close(net(images, masks), naive_partial_forward(net, images, masks))


def test_batch_of_one_equals_slice_of_batch():
    net = tiny().eval()
    images, masks = batch(8, 32, 2)
    with torch.no_grad():
        full = net(images, masks)
        for i in (0, 5):
            torch.testing.assert_close(net(images[i : i + 1], masks[i : i + 1]), full[i : i + 1])


@pytest.mark.parametrize("conv", ["partial", "standard"])
def test_channels_last_matches_contiguous(conv):
    net = tiny(conv).eval()
    images, masks = batch(2, 32, 3)
    with torch.no_grad():
        ref = net(images, masks)
        net = net.to(memory_format=torch.channels_last)
        got = net(images.to(memory_format=torch.channels_last), masks.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_arch_round_trip():
    net = InpaintingUNet(3, width=5, conv="standard", in_channels=3)
    arch = json.loads(json.dumps(net.arch()))
    assert arch == {"layers": 3, "width": 5, "conv": "standard", "in_channels": 3}
    twin = InpaintingUNet(**arch)
    twin.load_state_dict(net.state_dict(), strict=True)
    images, masks = batch(2, 16, 4)
    net.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(net(images, masks), twin(images, masks))


def _bn_state(bns):
    return [
        torch.cat([b.running_mean, b.running_var, b.weight.detach(), b.bias.detach()]).clone() for b in bns
    ]


def test_frozen_encoder_bn_survives_train_and_step():
    net = tiny(width=4)
    net.set_encoder_bn_frozen(True)
    net.train()  # a later train() call must keep the freeze
    enc_bns = net.encoder_batchnorms()
    dec_bns = [b.bn for b in net.decoder if b.bn is not None]
    assert enc_bns and all(not b.training for b in enc_bns) and all(b.training for b in dec_bns)
    assert all(not p.requires_grad for b in enc_bns for p in b.parameters())
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    enc_before, dec_before = _bn_state(enc_bns), _bn_state(dec_bns)
    conv_before = net.encoder[1].conv.weight.detach().clone()
    images, masks = batch(4, 32, 6)
    out = net(images, masks)
    ((out - images).abs() * masks).mean().backward()
    opt.step()
    for a, b in zip(enc_before, _bn_state(enc_bns), strict=True):
        assert torch.equal(a, b)
    assert all(not torch.equal(a, b) for a, b in zip(dec_before, _bn_state(dec_bns), strict=True))
    assert not torch.equal(conv_before, net.encoder[1].conv.weight)  # the encoder convolutions still learn
    net.set_encoder_bn_frozen(False)
    assert all(b.training for b in enc_bns) and all(p.requires_grad for b in enc_bns for p in b.parameters())
    net.eval()
    assert all(not b.training for b in enc_bns)


def test_gradients_flow_and_hole_inputs_get_none():
    net = tiny()
    images, masks = batch(2, 32, 8)
    x = images.clone().requires_grad_(True)
    net(x, masks).square().mean().backward()
    assert torch.equal(x.grad * (1 - masks), torch.zeros_like(x))
    assert x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in net.parameters())
