"""GL and GntIpt as their papers and releases train them: GntIpt's critic widths (the release's 64 base,
whatever the generator's cnum) and learning rate, GL's ADADELTA, and each row saying how it was trained."""

from __future__ import annotations

import cv2
import pytest
import torch

from bench.core.files import write_png
from bench.models.registry import get_model
from bench.training.config import resolve_config

# The released critics (JiahuiYu/generative_inpainting v1.0.0, build_wgan_local/global_discriminator with
# cnum=64): conv widths 64, 128, 256, 512 (local) and 64, 128, 256, 256 (global).
RELEASE_LOCAL, RELEASE_GLOBAL = [64, 128, 256, 512], [64, 128, 256, 256]


def _widths(critic) -> list[int]:
    return [m.out_channels for m in critic.modules() if isinstance(m, torch.nn.Conv2d)]


@pytest.mark.parametrize("cnum", [8, 32])
def test_gntipt_critics_have_the_release_widths_whatever_the_generator_cnum(cnum):
    from bench.training.config import TrainConfig

    cfg = TrainConfig(model="gntipt", size=64, width=cnum)  # critic_width None: the release's
    critics = get_model("gntipt").critics(cfg)
    assert _widths(critics["local"]) == RELEASE_LOCAL and _widths(critics["global"]) == RELEASE_GLOBAL
    narrow = get_model("gntipt").critics(TrainConfig(model="gntipt", size=64, width=cnum, critic_width=8))
    assert _widths(narrow["local"]) == [8, 16, 32, 64]


def test_paper_profile_trains_gntipt_and_gl_as_released():
    gnt = resolve_config("paper", overrides={"model": "gntipt", "width": 32})
    assert gnt.critic_width is None and gnt.critic_steps == 5
    gen = torch.nn.Linear(2, 2)
    opt_g, opt_d = get_model("gntipt").optimisers(gnt, gen, torch.nn.Linear(2, 1))
    assert isinstance(opt_g, torch.optim.Adam) and opt_g.defaults["betas"] == (0.5, 0.9)
    assert opt_g.defaults["lr"] == opt_d.defaults["lr"] == 1e-4
    gl = resolve_config("paper", overrides={"model": "gl"})
    assert gl.gl_optimizer == "adadelta"
    opt_g, opt_d = get_model("gl").optimisers(gl, gen, torch.nn.Linear(2, 1))
    assert isinstance(opt_g, torch.optim.Adadelta) and isinstance(opt_d, torch.optim.Adadelta)
    assert (opt_g.defaults["lr"], opt_g.defaults["rho"], opt_g.defaults["eps"]) == (1.0, 0.9, 1e-6)
    # PConv in the paper profile keeps its own 2e-4 (the GntIpt rate is a setting of its own)
    assert resolve_config("paper").lr == 2e-4


def test_cpu_profiles_state_their_choices():
    from bench.models.gl.network import training_recipe as gl_recipe
    from bench.models.gntipt.network import training_recipe as gnt_recipe

    quick = resolve_config("quick", overrides={"model": "gntipt", "width": 8}).to_dict()
    assert quick["critic_width"] == 8 and quick["gl_optimizer"] == "adam"
    lr = f"{quick['gntipt_lr'] or quick['lr']:g}"  # the profile's rate for GntIpt
    assert gnt_recipe(quick) == (f"Adam lr {lr} (release 0.0001), critics 8-64 (release 64-512), 1 critic "
                                 "steps per step (release 5)")  # fmt: skip
    assert gl_recipe({**quick, "model": "gl"}) == f"Adam lr {quick['lr']:g} (paper: ADADELTA)"
    assert gl_recipe({"gl_optimizer": "adadelta"}) == "ADADELTA (the paper's)"
    # a checkpoint written before these settings: Adam, critics as wide as the generator's cnum
    assert "critics 16-128" in gnt_recipe({"lr": 2e-4, "width": 16})


@pytest.mark.parametrize("bad", [{"gl_optimizer": "sgd"}, {"critic_width": 0}, {"gntipt_lr": 0.0}])
def test_bad_settings_are_refused(bad):
    from bench.core.errors import BenchError

    with pytest.raises(BenchError, match=next(iter(bad))):
        resolve_config("smoke", overrides=bad)


@pytest.mark.slow
def test_gl_trained_with_adadelta_says_so_in_the_table(runner, tmp_path, astronaut):
    from bench.cli import main
    from bench.models.checkpoint import load_checkpoint
    from bench.training.loop import train
    from masks.manifest import generate_set

    data = tmp_path / "img"
    data.mkdir()
    for i in range(4):
        write_png(data / f"p{i}.png", cv2.resize(astronaut[i * 80 : i * 80 + 160, 100:260], (32, 32)))
    over = {"model": "gl", "size": 32, "steps": 2, "features": "none", "gl_optimizer": "adadelta"}
    ckpt = train(resolve_config("smoke", overrides=over), tmp_path / "gl", data=data, progress=False)
    state = load_checkpoint(ckpt)["optimizer"]["state"]
    assert state and all("acc_delta" in s for s in state.values())  # ADADELTA's running averages
    generate_set(tmp_path / "masks", size=32, per_bin=1, bins=["0.1-0.2"], seed=0, progress=False)
    res = runner.invoke(main, ["evaluate", "--data", str(data), "--masks", str(tmp_path / "masks"),
                               "--method", f"gl={ckpt}", "--ratio", "0.1-0.2", "--no-is", "--no-figures",
                               "--out", str(tmp_path / "ev")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "GL: retrained on irregular masks" in (tmp_path / "ev" / "table.md").read_text()
    assert "ADADELTA (the paper's)" in (tmp_path / "ev" / "table.md").read_text()
