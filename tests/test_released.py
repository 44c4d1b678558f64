"""`--method gl:weights=FILE` and `--method gntipt:weights=FILE`: released weights through the registry."""

from __future__ import annotations

import pytest
import torch
from test_gl import W, mmagic_state, random_layers
from test_gntipt import TF_PORT_LAYERS, _port_state

from bench.core.errors import BenchError
from bench.methods.inpainters import get_inpainter
from bench.models.gntipt.network import GntIptGenerator


def _pair(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, size, size, generator=g)
    mask = torch.ones(2, 1, size, size)
    mask[0, :, 8:20, 6:18] = 0
    mask[1, :, 14:30, 10:24] = 0
    return img, mask


def test_gl_from_mmagic_weights_fills_holes_and_keeps_valid_pixels(tmp_path):
    path = tmp_path / "gl_places.pth"
    torch.save({"state_dict": mmagic_state(random_layers(W, seed=3, conv_bias=False))}, path)
    img, mask = _pair()
    for post in (False, True):
        m = get_inpainter("gl", weights=str(path), postprocess=post)
        out = m.inpaint(img, mask)
        valid = mask.expand_as(img) > 0
        assert torch.equal(out[valid], img[valid]) and out.shape == img.shape
        assert 0 <= float(out.min()) and float(out.max()) <= 1
    assert m.options["file_sha256"] and "gl_places.pth" in m.meta["label"]
    a = get_inpainter("gl", weights=str(path), postprocess=False).fingerprint
    assert a != get_inpainter("gl", weights=str(path)).fingerprint


def test_gntipt_from_the_tf_port_and_refusals(tmp_path):
    torch.manual_seed(1)
    net = GntIptGenerator(cnum=8, flavour="tf").eval()
    path = tmp_path / "torch_model.p"
    torch.save({"netG." + k: v for k, v in _port_state(net, TF_PORT_LAYERS).items()}, path)
    img, mask = _pair()
    m = get_inpainter("gntipt", weights=str(path))
    with torch.no_grad():
        want = net.complete(img, mask)
    assert torch.allclose(m.inpaint(img, mask), want.clamp(0, 1), atol=1e-6)
    with pytest.raises(BenchError, match="needs released weights or a checkpoint"):
        get_inpainter("gntipt")
    with pytest.raises(BenchError, match="does not exist"):
        get_inpainter("gl", weights=str(tmp_path / "absent.t7"))
    junk = tmp_path / "junk.pth"
    torch.save({"netG.coarse_generator.conv1.conv.weight": torch.zeros(1)}, junk)
    with pytest.raises(BenchError, match="missing tensors"):
        get_inpainter("gntipt", weights=str(junk))


def test_released_weights_are_hashed_and_loaded_from_the_same_bytes(tmp_path, monkeypatch):
    """A weights file replaced between the hash and the load: the hash names the weights actually used."""
    import hashlib

    from baselines.gl_gntipt import GLInpainter

    path, other = tmp_path / "gl_places.pth", tmp_path / "other.pth"
    torch.save({"state_dict": mmagic_state(random_layers(W, seed=3, conv_bias=False))}, path)
    torch.save({"state_dict": mmagic_state(random_layers(W, seed=4, conv_bias=False))}, other)
    first = path.read_bytes()
    want = get_inpainter("gl", weights=str(path)).net.state_dict()
    real = GLInpainter._load

    def swapped(self, p):  # the file on disk changes after it was read and hashed
        path.write_bytes(other.read_bytes())
        return real(self, p)

    monkeypatch.setattr(GLInpainter, "_load", swapped)
    m = get_inpainter("gl", weights=str(path))
    assert m.options["file_sha256"] == hashlib.sha256(first).hexdigest()
    got = m.net.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
