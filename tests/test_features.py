import numpy as np
import pytest
import torch
from conftest import vgg16_conv1_to_conv3

from bench.core.errors import BenchError
from bench.metrics.features import VGG16_ENV, load_efficientnet_lite0, load_feature_net


@pytest.fixture
def no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv(VGG16_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() then follows $TORCH_HOME


def _as_batch(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.slow
def test_standin_classifier_recognises_real_photos():
    """The stand-in is a real ImageNet classifier: a cat photo and an espresso photo are named as such."""
    from skimage import data

    net = load_efficientnet_lite0()
    with torch.no_grad():
        cat = net(_as_batch(data.chelsea())).argmax(1).item()
        coffee = net(_as_batch(data.coffee())).argmax(1).item()
    assert 281 <= cat <= 285  # ImageNet's domestic-cat classes
    assert coffee in (967, 968)  # espresso, cup


def test_auto_without_vgg_weights_falls_back_to_labelled_standin(no_hub_cache):
    net = load_feature_net("auto")
    assert net.name == "efficientnet-lite0" and net.is_standin and "stand-in" in net.label
    feats = net(torch.rand(2, 3, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(2, 16, 32, 32), (2, 24, 16, 16), (2, 40, 8, 8)]
    assert not any(p.requires_grad for p in net.parameters())


def test_vgg16_required_without_weights_is_a_clear_error(no_hub_cache):
    with pytest.raises(BenchError, match="VGG-16 ImageNet weights are needed"):
        load_feature_net("vgg16")


def test_vgg16_from_explicit_path_and_env(tmp_path, no_hub_cache, monkeypatch):
    from torchvision.models import vgg16

    path = tmp_path / "vgg.pth"
    ref = vgg16(weights=None).eval()
    # Only conv1-conv3 (features[:17]) are read: a file of those 7 MB stands for the 528 MB one.
    torch.save(vgg16_conv1_to_conv3(ref), path)
    x = torch.rand(1, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    want = ref.features[:17]((x - mean) / std)  # torchvision's own layers on ImageNet-normalised input
    for kwargs in ({"weights": path}, {}):
        if not kwargs:
            monkeypatch.setenv(VGG16_ENV, str(path))
        net = load_feature_net("auto", **kwargs)
        assert net.name == "vgg16" and not net.is_standin
        feats = net(x)
        assert [tuple(f.shape) for f in feats] == [(1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4)]
        assert torch.allclose(feats[2], want, atol=1e-5)


def test_bad_weights_and_names(tmp_path, no_hub_cache):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BenchError, match="junk.pth"):
        load_feature_net("vgg16", weights=junk)
    with pytest.raises(BenchError, match="not found"):
        load_feature_net("vgg16", weights=tmp_path / "missing.pth")
    with pytest.raises(BenchError, match="unknown feature network"):
        load_feature_net("resnet")
    assert load_feature_net("none")(torch.rand(1, 3, 8, 8)) == []


@pytest.mark.parametrize("size", [(9, 9), (10, 7), (1, 4)])
@pytest.mark.parametrize("kernel, stride", [(3, 1), (5, 1), (3, 2), (5, 2)])
def test_same_conv_equals_explicit_tf_padding(size, kernel, stride):
    """TF 'SAME': output ceil(n / stride); the padding (total p) is split p // 2 before, the rest after.
    Reference: the input zero-padded by hand, then an unpadded convolution."""
    from bench.metrics.features import _SameConv2d

    g = torch.Generator().manual_seed(kernel * 10 + stride)
    conv = _SameConv2d(4, 4, kernel, stride, groups=4, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g))
        conv.bias.copy_(torch.randn(4, generator=g))
    x = torch.randn(2, 4, *size, generator=g)
    pads = []
    for n in reversed(size):  # F.pad wants the last dimension first
        total = max((-(-n // stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, pads), conv.weight, conv.bias, stride, groups=4
    )
    out = conv(x)
    assert out.shape[-2:] == tuple(-(-n // stride) for n in size)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


def test_lite0_features_backpropagate_through_inplace_relu6():
    """The in-place ReLU6s must not break gradients through the frozen feature net (the perceptual loss):
    the input gradient equals the one through an out-of-place copy of the same network."""
    import torch.nn.functional as F

    import bench.metrics.features as features

    torch.manual_seed(0)
    net = features.EfficientNetLite0().eval()
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(f.square().mean() for f in net.features(x)).backward()
    grad = x.grad.clone()
    x.grad = None
    relu6 = F.relu6
    try:
        features.F.relu6 = lambda t, inplace=False: relu6(t)
        sum(f.square().mean() for f in net.features(x)).backward()
    finally:
        features.F.relu6 = relu6
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, x.grad)
