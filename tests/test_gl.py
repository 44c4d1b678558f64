"""GL (Iizuka et al. 2017): shapes, crop boxes, schedule, losses, post-processing and the two weight loaders.

The loaders are checked against a plain functional forward pass written here from the paper's Table 1,
on files built here with random weights: a Torch7 .t7 (by a minimal Torch7 serialiser below) and an
mmagic-style checkpoint (torch.save).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.core.errors import BenchError
from bench.models.gl.network import (
    ALPHA,
    GLCompletionNet,
    GLDiscriminator,
    crop_patches,
    disc_channels,
    disc_feature_size,
    generator_spec,
    gl_discriminator_loss,
    gl_generator_loss,
    gl_postprocess,
    gl_reconstruction_loss,
    load_mmagic_gl,
    load_mmagic_gl_discriminator,
    load_torch7_gl,
    local_crop_boxes,
)


def paper_table(w: int) -> list[tuple[str, int, int, int, int, int]]:
    """(kind, c_in, c_out, kernel, stride, dilation) of the completion network, from the paper's Table 1."""
    c = [
        ("conv", 4, w, 5, 1, 1),
        ("conv", w, 2 * w, 3, 2, 1),
        ("conv", 2 * w, 2 * w, 3, 1, 1),
        ("conv", 2 * w, 4 * w, 3, 2, 1),
        ("conv", 4 * w, 4 * w, 3, 1, 1),
        ("conv", 4 * w, 4 * w, 3, 1, 1),
    ]
    c += [("conv", 4 * w, 4 * w, 3, 1, d) for d in (2, 4, 8, 16)]
    c += [
        ("conv", 4 * w, 4 * w, 3, 1, 1),
        ("conv", 4 * w, 4 * w, 3, 1, 1),
        ("deconv", 4 * w, 2 * w, 4, 2, 1),
        ("conv", 2 * w, 2 * w, 3, 1, 1),
        ("deconv", 2 * w, w, 4, 2, 1),
        ("conv", w, w // 2, 3, 1, 1),
        ("conv", w // 2, 3, 3, 1, 1),
    ]
    return c


def random_layers(w: int, seed: int, conv_bias: bool = True) -> list[dict]:
    """Random weights for every layer of ``paper_table(w)`` as numpy float32 arrays."""
    rng = np.random.default_rng(seed)
    table = paper_table(w)
    layers = []
    for i, (kind, cin, cout, k, s, d) in enumerate(table):
        last = i == len(table) - 1
        shape = (cin, cout, k, k) if kind == "deconv" else (cout, cin, k, k)
        std = 1.0 / np.sqrt(cin * k * k)
        layer = {
            "kind": kind, "cin": cin, "cout": cout, "k": k, "s": s, "d": d,
            "pad": 1 if kind == "deconv" else d * (k - 1) // 2,
            "weight": (rng.standard_normal(shape) * std).astype(np.float32),
            "bias": (rng.standard_normal(cout) * 0.1).astype(np.float32) if (conv_bias or last) else None,
            "bn": None,
        }  # fmt: skip
        if not last:
            layer["bn"] = {
                "weight": rng.uniform(0.5, 1.5, cout).astype(np.float32),
                "bias": (rng.standard_normal(cout) * 0.1).astype(np.float32),
                "running_mean": (rng.standard_normal(cout) * 0.1).astype(np.float32),
                "running_var": rng.uniform(0.5, 1.5, cout).astype(np.float32),
            }
        layers.append(layer)
    return layers


def reference_forward(layers: list[dict], x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """conv / transposed conv, inference BatchNorm, ReLU; returns the last convolution's raw output."""
    t = torch.from_numpy
    for layer in layers:
        b = None if layer["bias"] is None else t(layer["bias"])
        if layer["kind"] == "deconv":
            x = F.conv_transpose2d(x, t(layer["weight"]), b, layer["s"], layer["pad"])
        else:
            x = F.conv2d(x, t(layer["weight"]), b, layer["s"], layer["pad"], layer["d"])
        if layer["bn"] is not None:
            bn = {k: t(v).view(1, -1, 1, 1) for k, v in layer["bn"].items()}
            x = (x - bn["running_mean"]) / torch.sqrt(bn["running_var"] + eps) * bn["weight"] + bn["bias"]
            x = F.relu(x)
    return x


def image_and_mask(b: int = 2, h: int = 16, w: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(b, 3, h, w, generator=g)
    mask = torch.ones(b, 1, h, w)
    mask[:, :, 4:11, 3:9] = 0
    mask[1, :, 12:, 12:] = 0
    return img, mask


# ----------------------------------------------------------------------------- a minimal Torch7 writer


class T7Class:
    """A Torch7 class instance (nn modules): class name + its field table."""

    def __init__(self, name: str, fields: dict) -> None:
        self.name, self.fields = name, fields


def write_t7(path, obj) -> None:
    """Torch7's binary serialisation (little-endian, 8-byte longs) of nil, numbers, booleans, strings,
    tables (dict; list = keys 1..n), FloatTensors (np.float32 arrays) and T7Class objects."""
    counter = [0]
    with open(path, "wb") as f:

        def w_int(v: int) -> None:
            f.write(struct.pack("<i", v))

        def w_long(v: int) -> None:
            f.write(struct.pack("<q", v))

        def w_str(s: str | bytes) -> None:
            data = s.encode() if isinstance(s, str) else s
            w_int(len(data))
            f.write(data)

        def w_head(kind: int) -> None:
            counter[0] += 1
            w_int(kind)
            w_int(counter[0])  # object reference index

        def w_obj(o) -> None:
            if o is None:
                w_int(0)
            elif isinstance(o, bool):
                w_int(5)
                w_int(int(o))
            elif isinstance(o, int | float):
                w_int(1)
                f.write(struct.pack("<d", float(o)))
            elif isinstance(o, str):
                w_int(2)
                w_str(o)
            elif isinstance(o, np.ndarray):
                a = np.ascontiguousarray(o, dtype=np.float32)
                w_head(4)
                w_str("V 1")
                w_str("torch.FloatTensor")
                if a.size == 0:  # an empty tensor: no dimensions, no storage
                    w_int(0)
                    w_long(1)
                    w_int(0)
                    return
                w_int(a.ndim)
                for s in a.shape:
                    w_long(s)
                for s in a.strides:
                    w_long(s // a.itemsize)
                w_long(1)  # 1-based storage offset
                w_head(4)
                w_str("V 1")
                w_str("torch.FloatStorage")
                w_long(a.size)
                f.write(a.tobytes())
            elif isinstance(o, T7Class):
                w_head(4)
                w_str("V 1")
                w_str(o.name)
                w_obj(o.fields)
            elif isinstance(o, list):
                w_obj({i + 1: v for i, v in enumerate(o)})
            elif isinstance(o, dict):
                w_head(3)
                w_int(len(o))
                for k, v in o.items():
                    w_obj(k)
                    w_obj(v)
            else:
                raise TypeError(type(o))

        w_obj(obj)


EMPTY = np.zeros(0, dtype=np.float32)


def t7_modules(layers: list[dict]) -> list[T7Class]:
    """The released network's module list: (conv, BN, ReLU) x 16, conv, Sigmoid, as Torch7 nn classes."""
    mods = []
    for layer in layers:
        fields = {
            "nInputPlane": layer["cin"], "nOutputPlane": layer["cout"], "kW": layer["k"], "kH": layer["k"],
            "dW": layer["s"], "dH": layer["s"], "padW": layer["pad"], "padH": layer["pad"],
            "weight": layer["weight"], "bias": layer["bias"], "train": False,
            "gradWeight": np.zeros_like(layer["weight"]), "output": EMPTY, "gradInput": EMPTY,
        }  # fmt: skip
        if layer["kind"] == "deconv":
            name = "nn.SpatialFullConvolution"
            fields.update(adjW=0, adjH=0)
        elif layer["d"] > 1:
            name = "nn.SpatialDilatedConvolution"
            fields.update(dilationW=layer["d"], dilationH=layer["d"])
        else:
            name = "nn.SpatialConvolution"
        mods.append(T7Class(name, fields))
        if layer["bn"] is not None:
            bn = dict(layer["bn"], eps=1e-5, momentum=0.1, affine=True, train=False, output=EMPTY)
            mods.append(T7Class("nn.SpatialBatchNormalization", bn))
            mods.append(T7Class("nn.ReLU", {"threshold": 0, "val": 0, "inplace": True, "output": EMPTY}))
        else:
            mods.append(T7Class("nn.Sigmoid", {"output": EMPTY}))
    return mods


def write_released(path, mods: list[T7Class], mean=(0.4, 0.45, 0.5)) -> None:
    model = T7Class("nn.Sequential", {"modules": mods, "train": False, "output": EMPTY})
    write_t7(path, {"model": model, "mean": np.asarray(mean, dtype=np.float32)})


W = 4  # network width in the tests: channels 4, 8, 16 and 2


def test_spec_is_the_paper_table():
    got = [(s.kind, s.c_in, s.c_out, s.kernel, s.stride, s.dilation) for s in generator_spec(64)]
    assert got == paper_table(64)
    assert [s.padding for s in generator_spec(64)][6:10] == [2, 4, 8, 16]


def test_generator_shapes_and_range():
    img, mask = image_and_mask(h=32, w=24)
    net = GLCompletionNet(width=W).eval()
    with torch.no_grad():
        out = net(img, mask)
    assert out.shape == img.shape
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    with pytest.raises(BenchError, match="divisible by 4"):
        net(img[..., :30, :], mask[..., :30, :])


def test_complete_pads_any_size_and_keeps_valid_pixels():
    img, mask = image_and_mask(h=18, w=21)
    with torch.no_grad():
        out = GLCompletionNet(width=W).eval().complete(img, mask)
    assert out.shape == img.shape
    valid = mask.expand_as(img) > 0.5
    assert torch.equal(out[valid], img[valid])


def test_discriminator_shapes_at_small_sizes():
    disc = GLDiscriminator(global_size=64, local_size=32, width=W).eval()
    out = disc(torch.rand(3, 3, 64, 64), torch.rand(3, 3, 32, 32))
    assert out.shape == (3, 1)
    assert disc.global_branch.fc.out_features == 16 * W and disc.fc.in_features == 32 * W
    with pytest.raises(BenchError, match="32"):
        disc(torch.rand(3, 3, 64, 64), torch.rand(3, 3, 48, 48))
    # The paper's sizes: 256 -> 6 convs -> 4x4x512 and 128 -> 5 convs -> 4x4x512, so FC inputs of 8192.
    assert disc_feature_size(256, 6) == 4 and disc_feature_size(128, 5) == 4
    assert disc_channels(6) == [64, 128, 256, 512, 512, 512]
    assert GLDiscriminator(global_size=40, local_size=20, width=W).global_branch.fc.in_features == 8 * W


# ----------------------------------------------------------------------------------------- crop boxes


def blob_masks(b: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    masks = (torch.rand(b, 1, h, w, generator=g) > 0.03).float()  # scattered holes, some on the border
    masks[0, :, 0:3, 0:3] = 0
    return masks


def test_crop_boxes_inside_and_hold_a_hole():
    h, w, crop = 40, 48, 16
    masks = blob_masks(6, h, w, 1)
    boxes = local_crop_boxes(masks, crop, torch.Generator().manual_seed(0))
    assert boxes.shape == (6, 4) and boxes.dtype == torch.int64
    for (top, left, bottom, right), m in zip(boxes.tolist(), masks, strict=True):
        assert 0 <= top and bottom <= h and 0 <= left and right <= w
        assert bottom - top == crop and right - left == crop
        assert (m[0, top:bottom, left:right] < 0.5).any()


def test_crop_box_is_centred_on_a_hole_pixel():
    masks = torch.ones(2, 1, 32, 32)
    masks[0, 0, 13, 17] = 0  # a single hole pixel: the box must be centred on it
    masks[1, 0, 30, 1] = 0  # near a corner: the box is shifted inside, still holding it
    boxes = local_crop_boxes(masks, 8, np.random.default_rng(3)).tolist()
    assert boxes[0] == [13 - 4, 17 - 4, 13 + 4, 17 + 4]
    assert boxes[1] == [24, 0, 32, 8]
    # No hole: the centre of the image.
    assert local_crop_boxes(torch.ones(1, 1, 32, 32), 8, np.random.default_rng(0)).tolist() == [
        [12, 12, 20, 20]
    ]
    with pytest.raises(BenchError, match="does not fit"):
        local_crop_boxes(masks, 33, np.random.default_rng(0))


def test_seeded_crops_are_reproducible_and_shared():
    masks = blob_masks(5, 40, 40, 2)
    a = local_crop_boxes(masks, 12, torch.Generator().manual_seed(7))
    b = local_crop_boxes(masks, 12, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert torch.equal(
        local_crop_boxes(masks, 12, np.random.default_rng(7)),
        local_crop_boxes(masks, 12, np.random.default_rng(7)),
    )
    real, fake = torch.rand(5, 3, 40, 40), torch.rand(5, 3, 40, 40)
    pr, pf = crop_patches(real, a), crop_patches(fake, a)
    assert pr.shape == pf.shape == (5, 3, 12, 12)
    t, lf = a[2, 0].item(), a[2, 1].item()
    assert torch.equal(pr[2], real[2, :, t : t + 12, lf : lf + 12])
    assert torch.equal(pf[2], fake[2, :, t : t + 12, lf : lf + 12])


# ----------------------------------------------------------------------------------- schedule, losses


def test_phase_schedule():
    """The schedule `bench train --model gl` runs: the paper's (Sec. 3.4) T_C = 90,000 reconstruction
    steps, then T_D = 10,000 discriminator steps, then joint, of 500,000; the same shares of shorter
    runs, each phase at least one step."""
    from bench.models.gl.recipe import gl_phase, gl_phases

    assert gl_phases(500_000) == (90_000, 10_000)
    assert [gl_phase(s, 500_000) for s in (0, 89_999, 90_000, 99_999, 100_000, 499_999)] == [1, 1, 2, 2, 3, 3]
    assert gl_phases(50) == (9, 1)  # 18 % and 2 % of 50
    assert [gl_phase(s, 8) for s in range(8)] == [1, 2, 3, 3, 3, 3, 3, 3]  # 1.44 -> 1, 0.16 -> 1


def test_losses():
    target, mask = image_and_mask()
    out = target + 0.1 * (1 - mask)  # wrong by 0.1 in the holes only
    holes = float((1 - mask).sum()) * 3
    expected = 0.01 * holes / target.numel()
    assert gl_reconstruction_loss(out, target, mask).item() == pytest.approx(expected, rel=1e-5)
    assert gl_reconstruction_loss(target + 0.5 * mask, target, mask).item() == 0.0  # valid errors ignored
    logits = torch.tensor([[0.0], [2.0]])
    adv = F.softplus(-logits).mean().item()
    assert gl_generator_loss(out, target, mask, logits).item() == pytest.approx(
        expected + ALPHA * adv, rel=1e-5
    )
    assert gl_generator_loss(out, target, mask).item() == pytest.approx(expected, rel=1e-5)
    zero = torch.zeros(4, 1)
    assert gl_discriminator_loss(zero, zero).item() == pytest.approx(2 * np.log(2), rel=1e-6)
    assert gl_discriminator_loss(zero + 9, zero - 9).item() < 1e-3


# ------------------------------------------------------------------------------------ post-processing


@pytest.mark.parametrize("as_uint8", [False, True])
def test_postprocess_keeps_valid_pixels(as_uint8):
    rng = np.random.default_rng(0)
    img = rng.random((32, 40, 3)).astype(np.float32)
    out = np.clip(img + 0.3, 0, 1).astype(np.float32)  # a completion too bright everywhere
    mask = np.ones((32, 40), dtype=np.float32)
    mask[8:20, 10:26] = 0
    mask[0:4, 30:40] = 0  # a hole touching the border
    if as_uint8:
        img, out, mask = (np.rint(a * 255).astype(np.uint8) for a in (img, out, mask))
    res = gl_postprocess(out, img, mask)
    assert res.dtype == out.dtype and res.shape == img.shape
    valid = mask > (127 if as_uint8 else 0.5)
    assert np.array_equal(res[valid], img[valid])
    # Poisson blending pulls the too-bright hole towards its surroundings.
    scale = 255.0 if as_uint8 else 1.0
    hole = ~valid
    err_out = np.abs(out[hole].astype(np.float64) - img[hole]).mean() / scale
    err_res = np.abs(res[hole].astype(np.float64) - img[hole]).mean() / scale
    assert err_res < err_out
    assert np.array_equal(gl_postprocess(out, img, np.full_like(mask, 255 if as_uint8 else 1)), img)


# ------------------------------------------------------------------------------------- Torch7 loader


def test_torch7_loader_matches_reference(tmp_path):
    import torchfile

    layers = random_layers(W, seed=1)
    mean = (0.4, 0.45, 0.5)
    path = tmp_path / "completionnet.t7"
    write_released(path, t7_modules(layers), mean)
    top = torchfile.load(str(path))  # the writer produces what torchfile reads
    assert top[b"model"].torch_typename() == b"nn.Sequential" and len(top[b"model"][b"modules"]) == 50

    net = load_torch7_gl(path)
    assert not net.training and net.width == W
    img, mask = image_and_mask()
    # The released input: image minus the mean, 0 in the holes, and the hole mask (1 = hole).
    x = torch.cat([(img - torch.tensor(mean).view(1, 3, 1, 1)) * mask, 1 - mask], 1)
    with torch.no_grad():
        assert torch.allclose(net(img, mask), torch.sigmoid(reference_forward(layers, x)), atol=1e-5)


def test_torch7_loader_refuses_mismatches(tmp_path):
    layers = random_layers(W, seed=2)

    def attempt(mods, match):
        path = tmp_path / "bad.t7"
        write_released(path, mods)
        with pytest.raises(BenchError, match=match):
            load_torch7_gl(path)

    mods = t7_modules(layers)
    del mods[3].fields["bias"]
    attempt(mods, r"missing tensors: model\.modules\[3\]\.bias")

    mods = t7_modules(layers)
    mods[1].fields["extra"] = np.ones(3, dtype=np.float32)
    attempt(mods, r"unexpected tensors: model\.modules\[1\]\.extra")

    mods = t7_modules(layers)
    attempt(mods + [t7_modules(layers)[0]], r"unexpected tensors: model\.modules\[50\]\.bias")
    attempt(mods[:-3], r"missing tensors: .*\(nn\.SpatialConvolution\)\.weight")

    mods = t7_modules(layers)
    mods[18].fields["dilationW"] = 3  # the first dilated layer (rate 2)
    attempt(mods, r"dilationW is 3")

    mods = t7_modules(layers)
    mods[2] = T7Class("nn.Tanh", {})
    attempt(mods, r"nn\.Tanh, expected nn\.ReLU")

    (tmp_path / "junk.t7").write_bytes(b"\x07\x00\x00\x00garbage")
    with pytest.raises(BenchError, match="not a readable Torch7 file"):
        load_torch7_gl(tmp_path / "junk.t7")


# ------------------------------------------------------------------------------------- mmagic loader


def mmagic_state(layers: list[dict]) -> dict[str, torch.Tensor]:
    """An mmagic GLEncoderDecoder state dict: enc1-6, dilation_neck.dilation_convs.0-3, dec1-7."""
    names = [f"encoder.enc{i}" for i in range(1, 7)]
    names += [f"dilation_neck.dilation_convs.{i}" for i in range(4)]
    names += [f"decoder.dec{i}" for i in range(1, 8)]
    sd: dict[str, torch.Tensor] = {}
    for name, layer in zip(names, layers, strict=True):
        sd[f"generator.{name}.conv.weight"] = torch.from_numpy(layer["weight"])
        if layer["bias"] is not None:
            sd[f"generator.{name}.conv.bias"] = torch.from_numpy(layer["bias"])
        if layer["bn"] is not None:
            for k, v in layer["bn"].items():
                sd[f"generator.{name}.bn.{k}"] = torch.from_numpy(v)
            sd[f"generator.{name}.bn.num_batches_tracked"] = torch.tensor(100)
    return sd


def test_mmagic_loader_matches_reference(tmp_path):
    layers = random_layers(W, seed=3, conv_bias=False)
    sd = mmagic_state(layers)
    sd["disc.fc.weight"] = torch.zeros(1, 8)  # discriminator keys are skipped by the generator loader
    path = tmp_path / "gl.pth"
    torch.save({"meta": {"iter": 1}, "state_dict": sd}, path)
    net = load_mmagic_gl(path)
    img, mask = image_and_mask()
    # mmagic: image in [-1, 1], holes 0, mask channel 1 = hole, output clamped to [-1, 1].
    x = torch.cat([(img * 2 - 1) * mask, 1 - mask], 1)
    ref = reference_forward(layers, x).clamp(-1, 1) * 0.5 + 0.5
    with torch.no_grad():
        assert torch.allclose(net(img, mask), ref, atol=1e-5)


def test_mmagic_loader_refuses_mismatches(tmp_path):
    sd = mmagic_state(random_layers(W, seed=4, conv_bias=False))
    path = tmp_path / "gl.pth"

    missing = dict(sd)
    del missing["generator.decoder.dec3.bn.running_var"]
    torch.save(missing, path)
    with pytest.raises(BenchError, match=r"missing tensors: generator\.decoder\.dec3\.bn\.running_var"):
        load_mmagic_gl(path)

    extra = dict(sd, **{"generator.encoder.enc1.conv.bias": torch.zeros(W), "head.weight": torch.zeros(2)})
    torch.save(extra, path)
    with pytest.raises(BenchError, match=r"unexpected tensors: generator\.encoder\.enc1\.conv\.bias, head"):
        load_mmagic_gl(path)

    wrong = dict(sd, **{"generator.decoder.dec7.conv.bias": torch.zeros(4)})
    torch.save(wrong, path)
    with pytest.raises(BenchError, match=r"dec7\.conv\.bias has shape \(4,\), expected \(3,\)"):
        load_mmagic_gl(path)


def test_mmagic_discriminator_round_trip(tmp_path):
    torch.manual_seed(0)
    disc = GLDiscriminator(global_size=64, local_size=32, width=W, conv_bias=False).eval()
    sd = {"disc.fc.weight": disc.fc.weight, "disc.fc.bias": disc.fc.bias, "generator.x": torch.zeros(1)}
    for mm, branch in (("disc.global_disc", disc.global_branch), ("disc.local_disc", disc.local_branch)):
        for i, block in enumerate(branch.convs, start=1):
            sd[f"{mm}.conv{i}.conv.weight"] = block.conv.weight
            for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
                sd[f"{mm}.conv{i}.bn.{k}"] = getattr(block.bn, k)
        sd[f"{mm}.fc.linear.weight"], sd[f"{mm}.fc.linear.bias"] = branch.fc.weight, branch.fc.bias
    path = tmp_path / "gl.pth"
    torch.save({k: v.detach().clone() for k, v in sd.items()}, path)
    loaded = load_mmagic_gl_discriminator(path)
    g, p = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(g, p), disc(g, p), atol=1e-6)


def test_torch7_loader_reads_legacy_running_std(tmp_path):
    # Torch7 before mid-2016 kept 1 / sqrt(var + eps) as running_std in place of running_var.
    layers = random_layers(W, seed=5)
    mods = t7_modules(layers)
    for mod in mods:
        if mod.name == "nn.SpatialBatchNormalization":
            var = mod.fields.pop("running_var")
            mod.fields["running_std"] = (1.0 / np.sqrt(var.astype(np.float64) + 1e-5)).astype(np.float32)
    path = tmp_path / "old.t7"
    write_released(path, mods, mean=(0.5, 0.5, 0.5))
    img, mask = image_and_mask()
    x = torch.cat([(img - 0.5) * mask, 1 - mask], 1)
    with torch.no_grad():
        assert torch.allclose(
            load_torch7_gl(path)(img, mask), torch.sigmoid(reference_forward(layers, x)), atol=1e-4
        )


def test_torch7_loader_needs_model_and_mean(tmp_path):
    path = tmp_path / "bare.t7"
    write_t7(path, T7Class("nn.Sequential", {"modules": t7_modules(random_layers(W, seed=6))}))
    with pytest.raises(BenchError, match="'model' and 'mean'"):
        load_torch7_gl(path)


class _NotATensor:
    pass


def test_mmagic_loader_refuses_pickled_objects(tmp_path):
    path = tmp_path / "gl.pth"
    torch.save({"meta": _NotATensor(), "state_dict": {}}, path)
    with pytest.raises(BenchError, match="refused by the safe loader"):
        load_mmagic_gl(path)
