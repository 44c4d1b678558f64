"""Training-step time of the PConv U-Net against the same U-Net with ordinary convolutions.

One training step = forward + backward + Adam step on a batch (default 4, CPU) with the loss
L_valid + 6 L_hole (plain L1 means). The perceptual, style and TV terms are left out on purpose: they
cost the same for every variant and would only dilute the ratio, which is meant to measure the network.

Three variants, each with its own copy of the same initial weights and its own Adam optimiser:
  pconv   bench.models.unet.network.InpaintingUNet(conv="partial"): a single-channel mask path (one window
          sum per layer);
  conv    bench.models.unet.network.InpaintingUNet(conv="standard"): ordinary convolutions, holes filled
          with 0.5;
  naive   the same weights run the way NVIDIA's PartialConv2d(multi_channel=True) does it: masks
          materialised with as many channels as the features, and each layer recomputing the new mask with
          a (C_out, C_in, kh, kw) ones-convolution over the full mask (defined here, not in the library).
Repetitions are interleaved (the order rotates every repetition) so that load from other processes hits
all variants alike; each variant's time is the median over repetitions, and each size's ratio is the
median over repetitions of pconv/conv measured back to back. The last line is

    pconv/conv step-time ratio: R

with R the geometric mean of the per-size ratios. ``--clock cpu`` times process CPU time instead of wall
time: steadier on a machine shared with other jobs (use it with ``--threads 1``, where no thread spins).

    .venv/bin/python benchmarks/pconv_layer.py                 # 128 and 256 px, width 64, batch 4
    .venv/bin/python benchmarks/pconv_layer.py --width 16 --reps 3
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import Tensor

from bench.models.unet.network import InpaintingUNet, layers_for_size

VARIANTS = ("pconv", "conv", "naive")


# ---- NVIDIA-style partial convolution, for comparison only --------------------------------------------
_ONES: dict[tuple, Tensor] = {}


def nvidia_pconv(x: Tensor, mask: Tensor, conv: torch.nn.Conv2d) -> tuple[Tensor, Tensor]:
    """NVIDIA's PartialConv2d(multi_channel=True, return_mask=True) forward: mask (B,C_in,H,W) ->
    new mask (B,C_out,H',W') from a ones-convolution over all channels, recomputed on every call."""
    c_out, c_in, kh, kw = conv.weight.shape
    key = (c_out, c_in, kh, kw, x.device, x.dtype)
    if key not in _ONES:  # NVIDIA keeps this kernel as a module attribute
        _ONES[key] = torch.ones(c_out, c_in, kh, kw, device=x.device, dtype=x.dtype)
    with torch.no_grad():
        update = F.conv2d(mask, _ONES[key], None, conv.stride, conv.padding, conv.dilation)
        ratio = (c_in * kh * kw) / (update + 1e-8)
        update = torch.clamp(update, 0, 1)
        ratio = ratio * update
    raw = F.conv2d(x * mask, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation)
    if conv.bias is not None:
        b = conv.bias.view(1, -1, 1, 1)
        out = ((raw - b) * ratio + b) * update
    else:
        out = raw * ratio
    return out, update


def naive_forward(net: InpaintingUNet, images: Tensor, masks: Tensor) -> Tensor:
    """``net``'s forward with NVIDIA-style layers (full-channel masks, concatenated in the decoder)."""
    m = masks.expand(-1, images.shape[1], -1, -1).contiguous()
    h = images
    skips = [(h, m)]
    for blk in net.encoder:
        out, m = nvidia_pconv(h, m, blk.conv)
        h = blk.post(out)
        skips.append((h, m))
    for j, blk in enumerate(net.decoder):
        s_h, s_m = skips[net.layers - 1 - j]
        x = torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), s_h], 1)
        mm = torch.cat([F.interpolate(m, scale_factor=2.0, mode="nearest"), s_m], 1)
        out, m = nvidia_pconv(x, mm, blk.conv)
        h = blk.post(out)
    return h


# ---- data, loss, step ---------------------------------------------------------------------------------
def make_batch(batch: int, size: int, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Random images and masks with rectangular holes covering roughly a quarter of each image."""
    images = torch.rand(batch, 3, size, size, generator=gen)
    masks = torch.ones(batch, 1, size, size)
    for b in range(batch):
        while (1 - masks[b]).mean() < 0.25:
            hh, ww = (int(v) for v in torch.randint(size // 16, size // 4, (2,), generator=gen))
            y, x = (int(v) for v in torch.randint(0, size - max(hh, ww), (2,), generator=gen))
            masks[b, :, y : y + hh, x : x + ww] = 0
    return images, masks


def l1_loss(out: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """L_valid + 6 L_hole, both plain means over all pixels and channels (the paper's L1 terms)."""
    diff = (out - gt).abs()
    return (mask * diff).mean() + 6.0 * ((1 - mask) * diff).mean()


def step(
    variant: str,
    net: InpaintingUNet,
    opt: torch.optim.Optimizer,
    images: Tensor,
    masks: Tensor,
    clock=time.perf_counter,
) -> float:
    """One timed training step; returns milliseconds."""
    t0 = clock()
    opt.zero_grad(set_to_none=True)
    out = naive_forward(net, images, masks) if variant == "naive" else net(images, masks)
    l1_loss(out, images, masks).backward()
    opt.step()
    return (clock() - t0) * 1e3


def check_naive_equivalence() -> float:
    """The naive variant computes the same function as ours (tiny net, eval mode): max |difference|."""
    torch.manual_seed(0)
    net = InpaintingUNet(layers_for_size(32), width=8).eval()
    images, masks = make_batch(2, 32, torch.Generator().manual_seed(1))
    with torch.no_grad():
        return float((net(images, masks) - naive_forward(net, images, masks)).abs().max())


def run(
    sizes: list[int], batch: int, width: int, reps: int, warmup: int, seed: int, clock=time.perf_counter
) -> dict[int, dict]:
    results: dict[int, dict] = {}
    for size in sizes:
        layers = layers_for_size(size)
        torch.manual_seed(seed)
        base = InpaintingUNet(layers, width, conv="partial")
        nets = {
            v: InpaintingUNet(layers, width, conv="standard" if v == "conv" else "partial") for v in VARIANTS
        }
        for net in nets.values():
            net.load_state_dict(base.state_dict())  # same initial weights everywhere
            net.train()
        opts = {v: torch.optim.Adam(n.parameters(), lr=2e-4) for v, n in nets.items()}
        images, masks = make_batch(batch, size, torch.Generator().manual_seed(seed + size))
        times: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(warmup + reps):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]  # rotate so no variant always runs first
            for v in order:
                ms = step(v, nets[v], opts[v], images, masks, clock)
                if r >= warmup:
                    times[v].append(ms)
        med = {v: statistics.median(t) for v, t in times.items()}
        ratio = {
            v: statistics.median(a / c for a, c in zip(times[v], times["conv"], strict=True))
            for v in VARIANTS
        }
        results[size] = {"layers": layers, "median_ms": med, "ratio": ratio, "times": times}
        print(
            f"{size:4d} px ({layers} layers, width {width}, batch {batch}, {reps} reps): "
            + ", ".join(f"{v} {med[v]:8.1f} ms/step" for v in VARIANTS)
            + f" | pconv/conv {ratio['pconv']:.3f}, naive/conv {ratio['naive']:.3f}",
            flush=True,
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions per variant and size")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, {args.clock} clock")
    print(f"naive variant == ours (32 px, eval): max |diff| = {check_naive_equivalence():.2e}")
    res = run(args.sizes, args.batch, args.width, args.reps, args.warmup, args.seed, clock)
    ratios = [r["ratio"]["pconv"] for r in res.values()]
    naive = [r["ratio"]["naive"] for r in res.values()]
    gmean = math.exp(sum(map(math.log, ratios)) / len(ratios))
    print(f"naive/conv step-time ratio: {math.exp(sum(map(math.log, naive)) / len(naive)):.3f}")
    print(f"pconv/conv step-time ratio: {gmean:.3f}")


if __name__ == "__main__":
    main()
