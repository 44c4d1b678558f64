"""Image-quality metrics of Table 1, and the registry every table, plot and record reads them from.

The registry (`METRICS`, filled by `register_metric`) holds each metric once: its name (the record key),
label, number format, direction (higher or lower is better), kind ("pair": one value per image-mask pair,
with a bootstrap CI; "cell": computed from a whole cell's distribution, like IS) and the network it
needs. Records, tables, plots and the CLI read it; nothing else lists metrics. A plugin module named in
$PCONV_BENCH_PLUGINS adds one with the same decorator::

    from bench.metrics.registry import register_metric

    @register_metric("max_err", label="Max error", higher_is_better=False)
    def max_err(output, target, valid):  # (H,W,3) float arrays in [0,1], (H,W) bool valid
        return float(abs(output - target).max())

The builtins (L1 (%), PSNR, SSIM, hole L1) are computed together by one fused pass (`all_metrics`);
per-image tensors are float (B,3,H,W) in [0,1] and each metric gives one float64 value per image,
shape (B,). They are computed on the composited output I_comp = M*I_gt + (1-M)*I_out over the whole
image (docs/conventions.md); use :func:`composite` first.

SSIM follows ``skimage.metrics.structural_similarity(a, b, data_range=1, channel_axis=-1,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: an 11-tap Gaussian (sigma 1.5,
scipy's ``truncate=3.5``), population covariance, K1=0.01, K2=0.03, SSIM map averaged over the
interior (skimage crops (11-1)//2 = 5 px of border, so a valid-mode filter needs no padding at all),
per channel, then the channel means averaged.

Example::

    >>> x = torch.rand(2, 3, 32, 32)
    >>> all_metrics(x, x, torch.ones(2, 1, 32, 32))["ssim"]
    tensor([1., 1.], dtype=torch.float64)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from bench.core.errors import BenchError
from bench.core.plugins import load_plugins
from masks.conventions import composite

try:  # optional: a fused CPU kernel, ~10x faster than eager torch on CPU (benchmarks/metrics.py)
    import numba as _nb
except ImportError:  # pragma: no cover - numba is a declared dependency
    _nb = None

__all__ = [
    "BACKENDS",
    "METRICS",
    "METRIC_KEYS",
    "Metric",
    "register_cell_metric",
    "register_metric",
    "SSIM_WIN",
    "all_metrics",
    "composite",
    "hole_l1_percent",
    "inception_score",
    "l1_percent",
    "psnr",
    "ssim",
]

# Result keys of all_metrics (the fused builtins), in the order it returns them.
METRIC_KEYS: tuple[str, ...] = ("l1_percent", "psnr", "ssim", "hole_l1_percent")
KINDS: tuple[str, ...] = ("pair", "cell")
# What a network gives per pair for the cell metrics, stored in the records (bench.runs.records): the IS
# network's class probabilities and pool features of the composited output, and the pool features of the
# pair's ground-truth image.
NETWORK_OUTPUTS: tuple[str, ...] = ("probs", "pool", "real_pool")


@dataclass(frozen=True)
class NetworkRequest:
    """What a network loader is given: the device, whether downloading is allowed, and explicit weight
    files by network name (e.g. {"is": --is-weights})."""

    device: Any = "cpu"
    allow_download: bool = False
    weights: dict[str, Any] | None = None


def _load_is(req: NetworkRequest) -> tuple[Any, str]:
    from bench.metrics.inception import load_is_network

    w = (req.weights or {}).get("is")
    try:
        return load_is_network(weights=w, allow_download=req.allow_download, device=req.device), ""
    except BenchError:
        raise
    except Exception as e:  # noqa: BLE001
        raise BenchError(f"the Inception Score network could not be loaded: {e}") from None


# The table note when LPIPS is left out (short: it goes under every table; bench.metrics.lpips has the long
# advice).
LPIPS_TABLE_NOTE = "LPIPS left out: its AlexNet backbone weights were not found (see --lpips-backbone)."


def _load_lpips(req: NetworkRequest) -> tuple[Any, str]:
    from bench.metrics.lpips import find_lpips_weights, load_lpips

    found = find_lpips_weights("alex", (req.weights or {}).get("lpips"), req.allow_download)
    if found is None:
        return None, LPIPS_TABLE_NOTE
    return load_lpips(weights=found, device=req.device), ""


# Networks the metrics use, by name: loader(NetworkRequest) -> (network or None, note when None).
NETWORKS: dict[str, Callable[[NetworkRequest], tuple[Any, str]]] = {"is": _load_is, "lpips": _load_lpips}


@dataclass(frozen=True)
class Metric:
    """One metric and what every table, plot and record needs to know about it."""

    name: str  # record key and summary.csv's `metric`
    label: str  # shown in tables and plots
    higher_is_better: bool
    decimals: int = 2  # number format of tables
    kind: str = "pair"  # "pair" (per image-mask pair, bootstrap CI) or "cell" (whole-cell distribution)
    network: str | None = None  # the network it needs (a key of NETWORKS): "is" = the IS classifier
    fn: Callable[..., Any] | None = None  # see register_metric / register_cell_metric
    fused: bool = False  # computed by all_metrics in one pass with the other fused builtins
    origin: str = ""  # module that registered it
    needs: tuple[str, ...] = ()  # a cell metric's per-pair network outputs (NETWORK_OUTPUTS)

    def meta(self) -> dict[str, Any]:
        """JSON-able metadata (written into run.json, so tables can be rebuilt without the plugin)."""
        return dict(name=self.name, label=self.label, higher_is_better=self.higher_is_better,
                    decimals=self.decimals, kind=self.kind, network=self.network,
                    needs=list(self.needs))  # fmt: skip


METRICS: dict[str, Metric] = {}  # the registry, in table order (builtins first, then plugins)


def register_metric(
    name: str,
    *,
    label: str,
    higher_is_better: bool,
    decimals: int = 2,
    kind: str = "pair",
    network: str | None = None,
    fused: bool = False,
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Decorator registering `fn(output, target, valid) -> float` as a per-pair metric `name`.

    `output` and `target` are float (H,W,3) arrays in [0,1] (the composited output and the ground truth),
    `valid` an (H,W) bool array (True = valid pixel). A name already taken by other code is refused.

    With `network` (a key of NETWORKS) the metric is batched instead: `fn(output, target, masks, net)`
    takes the (B,3,H,W) tensors and the loaded network and returns (B,) values. When the network is not
    available (its loader returns None) the metric is left out of the run with the loader's note.
    """
    if kind not in KINDS:
        raise ValueError(f"metric kind must be one of {KINDS}, got {kind!r}")
    return _registrar(name, Metric(name, label, higher_is_better, int(decimals), kind, network, None, fused))


def register_cell_metric(
    name: str, *, label: str, higher_is_better: bool, needs: Sequence[str], decimals: int = 2,
    network: str = "is",
) -> Callable[[Callable[..., tuple[float, float]]], Callable[..., tuple[float, float]]]:  # fmt: skip
    """Decorator registering a metric of a whole cell's distribution (IS, FID, KID).

    `fn(inputs, seed) -> (value, std)`: `inputs` maps each name of `needs` to an (n, D) array with one row
    per pair of the cell, in pair order; names are NETWORK_OUTPUTS: "probs" and "pool" are the class
    probabilities and pool features of the composited outputs, "real_pool" the pool features of the
    pairs' ground-truth images. `std` is NaN where the metric has none. Records store these outputs per
    pair, so cell metrics are computed after all pairs are in, over any union of pairs.
    """
    bad = [n for n in needs if n not in NETWORK_OUTPUTS]
    if bad or not needs:
        raise ValueError(f"a cell metric needs some of {NETWORK_OUTPUTS}, got {list(needs)}")
    meta = Metric(name, label, higher_is_better, int(decimals), "cell", network, needs=tuple(needs))
    return _registrar(name, meta)


def _registrar(name: str, meta: Metric) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"metric name {name!r} must be lower-case letters, digits and '_'")
    if meta.network is not None and meta.network not in NETWORKS:
        raise ValueError(f"metric {name!r}: unknown network {meta.network!r}; known: {', '.join(NETWORKS)}")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        origin = getattr(fn, "__module__", "")
        old = METRICS.get(name)
        if old is not None and old.origin != origin:
            raise BenchError(f"metric name {name!r} is taken by {old.origin}; {origin} must use another name")
        METRICS[name] = replace(meta, fn=fn, origin=origin)
        return fn

    return deco


def available_metrics() -> dict[str, Metric]:
    """The registry, with the user's plugin modules imported (they may register metrics)."""
    load_plugins()
    return METRICS


def pair_metric_values(
    comp: Tensor, target: Tensor, masks: Tensor, names: Sequence[str], networks: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """The per-pair metrics `names` of a batch: name -> (B,) float64. The fused builtins are computed by
    one `all_metrics` pass (only when one of them is asked for), the metrics of a network batched with
    `networks[name]`, the others image by image in numpy."""
    out: dict[str, np.ndarray] = {}
    if any(METRICS[n].fused for n in names):
        fused = all_metrics(comp, target, masks)
        out.update({n: fused[n].detach().cpu().double().numpy() for n in names if METRICS[n].fused})
    for n in [n for n in names if METRICS[n].network is not None]:
        net = (networks or {})[METRICS[n].network]
        out[n] = np.asarray(METRICS[n].fn(comp, target, masks, net), dtype=np.float64).reshape(len(comp))
    others = [n for n in names if not METRICS[n].fused and METRICS[n].network is None]
    if others:
        o = comp.detach().cpu().double().permute(0, 2, 3, 1).numpy()  # (B,H,W,3)
        t = target.detach().cpu().double().permute(0, 2, 3, 1).numpy()
        v = masks.detach().cpu().numpy()[:, 0] > 0.5  # (B,H,W) bool
        for n in others:
            out[n] = np.array([float(METRICS[n].fn(o[i], t[i], v[i])) for i in range(len(o))])
    return out


SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # skimage's value for gaussian_weights=True: radius int(3.5*1.5+0.5) = 5
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)
SSIM_WIN = 2 * SSIM_RADIUS + 1  # 11
SSIM_K1 = 0.01
SSIM_K2 = 0.03
BACKENDS: tuple[str, ...] = ("auto", "torch", "numba")


def _check_pair(output: Tensor, target: Tensor) -> None:
    if output.shape != target.shape or output.dim() != 4:
        raise ValueError(
            f"expected two (B,C,H,W) tensors of one shape, got {tuple(output.shape)}, {tuple(target.shape)}"
        )


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> Tensor:
    # scipy.ndimage.gaussian_filter1d's kernel: exp(-x^2 / (2 sigma^2)) on x = -r..r, normalised to sum 1.
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    w /= w.sum()
    return torch.as_tensor(w, dtype=dtype, device=device)


def _filter_valid(maps: Tensor) -> Tensor:
    """Separable Gaussian, valid mode: (N,C,H,W) -> (N,C,H-10,W-10).

    Depthwise (grouped) convs, one per direction, over all C maps at once: much faster on CPU than a
    single-channel conv over a large batch. Interior pixels of a valid-mode filter equal skimage's
    reflect-padded filter after its 5-px crop.
    """
    c = maps.shape[1]
    taps = _gaussian_taps(maps.dtype, maps.device)
    x = F.conv2d(
        maps, taps.view(1, 1, 1, SSIM_WIN).expand(c, 1, 1, SSIM_WIN).contiguous(), groups=c
    )  # along W
    return F.conv2d(
        x, taps.view(1, 1, SSIM_WIN, 1).expand(c, 1, SSIM_WIN, 1).contiguous(), groups=c
    )  # along H


def _ssim_torch(output: Tensor, target: Tensor) -> Tensor:
    """SSIM with torch ops on any device: (B,C,H,W) x2 -> (B,) float64."""
    b, c, h, w = output.shape
    # Centre on 0.5: variances are shift-invariant, and smaller magnitudes mean less float32
    # cancellation in E[x^2] - E[x]^2. The means are shifted back for the luminance term.
    x = output.float() - 0.5
    y = target.float() - 0.5
    # (B,5*C,H,W): the 5 maps of every channel stacked, one grouped filter call per direction.
    stack = torch.cat((x, y, x * x, y * y, x * y), dim=1)
    mx, my, mxx, myy, mxy = _filter_valid(stack).chunk(5, dim=1)
    vx = mxx - mx * mx
    vy = myy - my * my
    vxy = mxy - mx * my
    ux = mx + 0.5
    uy = my + 0.5
    c1 = SSIM_K1**2  # data range 1
    c2 = SSIM_K2**2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    # (B,C,h',w') -> per-channel means in float64 (as skimage), then the channel average.
    return s.double().mean(dim=(2, 3)).mean(dim=1)


# ---- fused CPU kernel (numba) --------------------------------------------------------------------
# On CPU, torch's eager ops make ~25 passes over 15 full-size maps per image; this kernel reads each
# pixel once, keeps the horizontal pass of one plane (5 maps) in memory and the vertical pass in
# cache, and accumulates the L1 / squared-error / hole-L1 sums in the same sweep. Same maths, same
# float32 filtering with centring on 0.5, float64 sums: it agrees with the torch path to ~1e-7.

if _nb is not None:

    @_nb.njit(cache=True, nogil=True)
    def _plane_stats(out, tgt, masks, has_mask, taps, res, p0, p1):  # pragma: no cover - compiled
        # out, tgt (B,C,H,W) float32; masks (B,H,W) float32 (read only if has_mask);
        # res (B*C,4) float64 per plane: mean SSIM, sum |d|, sum d^2, sum |d| over hole pixels.
        _, C, H, W = out.shape
        win = taps.shape[0]
        hv = H - win + 1
        wv = W - win + 1
        half = np.float32(0.5)
        two = np.float32(2.0)
        c1 = np.float32(SSIM_K1**2)
        c2 = np.float32(SSIM_K2**2)
        for p in range(p0, p1):
            b = p // C
            X = out[b, p % C]
            Y = tgt[b, p % C]
            hor = np.zeros((H, 5, wv), dtype=np.float32)  # horizontal pass, 5 maps per row
            row = np.empty((5, W), dtype=np.float32)  # x, y, x*x, y*y, x*y of one row, centred
            sabs = 0.0
            ssq = 0.0
            shole = 0.0
            for r in range(H):
                xr = X[r]
                yr = Y[r]
                for j in range(W):
                    d = np.float64(xr[j]) - np.float64(yr[j])
                    sabs += abs(d)
                    ssq += d * d
                if has_mask:
                    mr = masks[b, r]
                    for j in range(W):
                        shole += abs(np.float64(xr[j]) - np.float64(yr[j])) * (1.0 - mr[j])
                for j in range(W):
                    xv = xr[j] - half
                    yv = yr[j] - half
                    row[0, j] = xv
                    row[1, j] = yv
                    row[2, j] = xv * xv
                    row[3, j] = yv * yv
                    row[4, j] = xv * yv
                hr = hor[r]
                for q in range(5):
                    src = row[q]
                    dst = hr[q]
                    for k in range(win):
                        t = taps[k]
                        for j in range(wv):
                            dst[j] += t * src[j + k]
            acc = np.empty((5, wv), dtype=np.float32)
            stot = 0.0
            for i in range(hv):
                acc[:, :] = np.float32(0.0)
                for k in range(win):
                    t = taps[k]
                    hk = hor[i + k]
                    for q in range(5):
                        src = hk[q]
                        dst = acc[q]
                        for j in range(wv):
                            dst[j] += t * src[j]
                for j in range(wv):
                    mx = acc[0, j]
                    my = acc[1, j]
                    vx = acc[2, j] - mx * mx
                    vy = acc[3, j] - my * my
                    vxy = acc[4, j] - mx * my
                    ux = mx + half
                    uy = my + half
                    num = (two * ux * uy + c1) * (two * vxy + c2)
                    stot += num / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
            res[p, 0] = stot / (hv * wv)
            res[p, 1] = sabs
            res[p, 2] = ssq
            res[p, 3] = shole


_POOL: ThreadPoolExecutor | None = None


def _fused_numba(output: Tensor, target: Tensor, masks: Tensor | None) -> Tensor:
    """(B,C,H,W) x2 [+ (B,1,H,W)] -> (B*C,4) float64 plane stats, planes spread over CPU threads."""
    global _POOL
    b, c, h, w = output.shape
    out = output.detach().float().contiguous().numpy()
    tgt = target.detach().float().contiguous().numpy()
    if masks is None:
        m = np.zeros((b, 1, 1), dtype=np.float32)  # never read
    else:
        m = masks.detach().float().reshape(b, h, w).contiguous().numpy()
    taps = _gaussian_taps(torch.float32, torch.device("cpu")).numpy()
    res = np.zeros((b * c, 4), dtype=np.float64)
    n = b * c
    workers = max(1, min(torch.get_num_threads(), n))
    if workers == 1:
        _plane_stats(out, tgt, m, masks is not None, taps, res, 0, n)
    else:
        if _POOL is None or _POOL._max_workers < workers:  # noqa: SLF001 - sizing check only
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-metrics")
        bounds = [n * i // workers for i in range(workers + 1)]
        futures = [
            _POOL.submit(_plane_stats, out, tgt, m, masks is not None, taps, res, lo, hi)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        for f in futures:
            f.result()
    return torch.from_numpy(res)


def _use_numba(x: Tensor, backend: str) -> bool:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba":
        if _nb is None:
            raise RuntimeError("backend='numba' needs the numba package")
        if x.device.type != "cpu":
            raise ValueError("backend='numba' works on CPU tensors only")
        return True
    return backend == "auto" and _nb is not None and x.device.type == "cpu"


def _check_ssim_size(x: Tensor) -> None:
    h, w = x.shape[-2:]
    if h < SSIM_WIN or w < SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} px, got {h}x{w}")


def ssim(output: Tensor, target: Tensor, *, backend: str = "auto") -> Tensor:
    """SSIM per image, (B,) float64; needs H, W >= 11.

    Agrees with skimage (module docstring) to ~1e-7 on natural images; the largest deviation found,
    2e-5, is on near-flat images, from float32 cancellation in E[x^2] - E[x]^2 (the tests allow 5e-4).
    ``backend``: "auto" (numba kernel on CPU when numba is installed, else torch), "torch", "numba".
    """
    _check_pair(output, target)
    _check_ssim_size(output)
    with torch.no_grad():
        if _use_numba(output, backend):
            return _fused_numba(output, target, None)[:, 0].reshape(output.shape[0], -1).mean(dim=1)
        return _ssim_torch(output, target)


def _diff64(output: Tensor, target: Tensor) -> Tensor:
    return output.detach().double() - target.detach().double()


def l1_percent(output: Tensor, target: Tensor) -> Tensor:
    """100 * mean |output - target| per image, (B,) float64."""
    _check_pair(output, target)
    return _diff64(output, target).abs().mean(dim=(1, 2, 3)) * 100.0


# PSNR of an exact pair: the MSE is floored at 1e-10, so PSNR is at most 100 dB (docs/conventions.md).
# skimage gives +inf there, which would blank a cell's mean and move "best" to another row. Only pairs
# that are exact or nearly so reach the floor (one 8-bit step in a single value of a 512 px image is
# already an MSE of 2e-11), far above any real method's cell mean.
PSNR_MSE_FLOOR = 1e-10
PSNR_MAX = 100.0  # = -10 log10(PSNR_MSE_FLOOR)


def _psnr_from_mse(mse: Tensor) -> Tensor:
    # Data range 1: 10 log10(1 / mse), with mse floored at PSNR_MSE_FLOOR (an exact pair: PSNR_MAX dB).
    return -10.0 * torch.log10(mse.clamp_min(PSNR_MSE_FLOOR))


def psnr(output: Tensor, target: Tensor) -> Tensor:
    """PSNR in dB with data range 1, per image, (B,) float64; at most PSNR_MAX (exact pairs)."""
    _check_pair(output, target)
    d = _diff64(output, target)
    return _psnr_from_mse((d * d).mean(dim=(1, 2, 3)))


def _hole_count(masks: Tensor, channels: int) -> Tensor:
    # masks (B,1,H,W), 1 = valid -> hole pixels x channels per image, (B,) float64.
    return (1.0 - masks.detach().double()).sum(dim=(1, 2, 3)) * channels


def _hole_mean(total: Tensor, n_hole: Tensor) -> Tensor:
    # NaN where an image has no hole pixel: the quantity is undefined, not zero.
    return torch.where(n_hole > 0, total / n_hole.clamp_min(1.0), torch.full_like(total, math.nan)) * 100.0


def hole_l1_percent(output: Tensor, target: Tensor, masks: Tensor) -> Tensor:
    """100 * mean |output - target| over hole pixels (mask 0) and channels, (B,); NaN with no hole."""
    _check_pair(output, target)
    hole = 1.0 - masks.detach().double()
    total = (_diff64(output, target).abs() * hole).sum(dim=(1, 2, 3))
    return _hole_mean(total, _hole_count(masks, output.shape[1]).to(total.device))


def all_metrics(
    output: Tensor, target: Tensor, masks: Tensor | None = None, *, backend: str = "auto"
) -> dict[str, Tensor]:
    """All per-image metrics in one pass: keys METRIC_KEYS, each (B,) float64 on output's device.

    ``output`` is the composited output (see :func:`composite`); ``masks`` (B,1,H,W), 1 = valid,
    is used only for the hole-only L1. ``masks=None`` means no hole is known: L1, PSNR and SSIM are those
    of the whole images (as with any mask) and the hole-only L1 is NaN, as for a mask without a hole
    (undefined, not zero; never the whole-image L1). ``backend`` as in :func:`ssim`.

    >>> x, y = torch.zeros(1, 3, 16, 16), torch.full((1, 3, 16, 16), 0.25)
    >>> m = all_metrics(x, y)
    >>> float(m["l1_percent"]), bool(m["hole_l1_percent"].isnan())
    (25.0, True)
    """
    _check_pair(output, target)
    _check_ssim_size(output)
    b, c, h, w = output.shape
    if masks is None:
        masks = torch.ones((b, 1, h, w), dtype=output.dtype, device=output.device)  # every pixel valid
    if masks.shape != (b, 1, h, w):
        raise ValueError(f"expected masks of shape {(b, 1, h, w)}, got {tuple(masks.shape)}")
    with torch.no_grad():
        n_hole = _hole_count(masks, c)
        if _use_numba(output, backend):
            stats = _fused_numba(output, target, masks).reshape(b, c, 4)
            ssim_v = stats[:, :, 0].mean(dim=1)
            sums = stats[:, :, 1:].sum(dim=1)  # (B,3): sum |d|, sum d^2, sum |d| over holes
        else:
            d = _diff64(output, target)
            ad = d.abs()
            sums = torch.stack(
                (
                    ad.sum(dim=(1, 2, 3)),
                    (d * d).sum(dim=(1, 2, 3)),
                    (ad * (1.0 - masks.double())).sum(dim=(1, 2, 3)),
                ),
                dim=1,
            )
            ssim_v = _ssim_torch(output, target)
        npix = c * h * w
        return {
            "l1_percent": sums[:, 0] / npix * 100.0,
            "psnr": _psnr_from_mse(sums[:, 1] / npix),
            "ssim": ssim_v,
            "hole_l1_percent": _hole_mean(sums[:, 2], n_hole.to(sums.device)),
        }


def inception_score(probs: Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score (mean, std over splits) from class probabilities p(y|x), (N,K).

    IS = exp(E_x KL(p(y|x) || p(y))) per split, p(y) the split's marginal. As torch-fidelity's
    ``isc_features_to_metric``: rows shuffled by ``np.random.RandomState(seed).permutation(N)``,
    split i = rows [i*N//splits, (i+1)*N//splits), float64, population std (ddof 0).
    """
    if probs.dim() != 2:
        raise ValueError(f"expected (N,K) probabilities, got shape {tuple(probs.shape)}")
    n = probs.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"need 1 <= splits <= N, got splits={splits}, N={n}")
    p = probs.detach().double().cpu()[np.random.RandomState(seed).permutation(n)]
    # 0 * log 0 = 0: xlogy handles rows with zero-probability classes (one-hot predictions).
    scores = []
    for i in range(splits):
        chunk = p[i * n // splits : (i + 1) * n // splits]
        marginal = chunk.mean(dim=0, keepdim=True)
        kl = (torch.special.xlogy(chunk, chunk) - torch.special.xlogy(chunk, marginal)).sum(dim=1)
        scores.append(math.exp(kl.mean().item()))
    return float(np.mean(scores)), float(np.std(scores))


# ---- the builtin metrics of Table 1 (registry order = table order) ------------------------------------
def _fused(name: str) -> Callable[..., float]:
    def one(output: np.ndarray, target: np.ndarray, valid: np.ndarray) -> float:
        x = torch.from_numpy(np.ascontiguousarray(output.transpose(2, 0, 1)))[None].float()
        y = torch.from_numpy(np.ascontiguousarray(target.transpose(2, 0, 1)))[None].float()
        m = torch.from_numpy(valid.astype(np.float32))[None, None]
        return float(all_metrics(x, y, m)[name][0])

    one.__module__ = __name__
    return one


# Inception Score splits: the paper's 10 (torch-fidelity's default) once a cell has 10 x 50 pairs.
IS_SPLITS: int = 10
IS_MIN_PER_SPLIT: int = 50
KID_SUBSETS: int = 100  # torch-fidelity's defaults
KID_SUBSET_SIZE: int = 1000


def is_splits_for(n: int) -> int:
    """Splits for a cell of n pairs: min(IS_SPLITS, n // IS_MIN_PER_SPLIT), at least 1."""
    return max(1, min(IS_SPLITS, n // IS_MIN_PER_SPLIT))


def _is_cell(inputs: dict[str, np.ndarray], seed: int) -> tuple[float, float]:
    probs = inputs["probs"]
    return inception_score(torch.from_numpy(probs.astype(np.float64)), is_splits_for(len(probs)), seed)


def _fid_cell(inputs: dict[str, np.ndarray], seed: int) -> tuple[float, float]:  # noqa: ARG001
    from bench.metrics.fid_kid import fid_from_features

    if min(len(inputs["pool"]), len(inputs["real_pool"])) < 2:  # a covariance needs two samples
        return math.nan, math.nan
    return fid_from_features(inputs["real_pool"], inputs["pool"]), math.nan


def _kid_cell(inputs: dict[str, np.ndarray], seed: int) -> tuple[float, float]:
    from bench.metrics.fid_kid import kid_from_features

    if min(len(inputs["pool"]), len(inputs["real_pool"])) < 2:  # a covariance needs two samples
        return math.nan, math.nan
    return kid_from_features(inputs["real_pool"], inputs["pool"], KID_SUBSETS, KID_SUBSET_SIZE, seed=seed)


def _lpips_pairs(output: Tensor, target: Tensor, masks: Tensor, net: Any) -> np.ndarray:  # noqa: ARG001
    from bench.metrics.lpips import lpips_per_pair

    dev = next(net.parameters()).device
    return lpips_per_pair(net, output.to(dev), target.to(dev))


# The registry's order is the tables' order: Table 1's metrics, then hole L1, LPIPS, FID and KID.
for _name, _label, _up, _dec in (
    ("l1_percent", "L1 (%)", False, 2),
    ("psnr", "PSNR", True, 2),
    ("ssim", "SSIM", True, 3),
):
    register_metric(_name, label=_label, higher_is_better=_up, decimals=_dec, fused=True)(_fused(_name))
register_cell_metric("is", label="IS", higher_is_better=True, needs=("probs",))(_is_cell)
register_metric("hole_l1_percent", label="Hole L1 (%)", higher_is_better=False, fused=True)(
    _fused("hole_l1_percent")
)
register_metric("lpips", label="LPIPS", higher_is_better=False, decimals=3, network="lpips")(_lpips_pairs)
register_cell_metric("fid", label="FID", higher_is_better=False, needs=("pool", "real_pool"))(_fid_cell)
register_cell_metric("kid", label="KID", higher_is_better=False, needs=("pool", "real_pool"), decimals=3)(
    _kid_cell
)
