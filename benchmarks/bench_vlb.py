"""The DDPM variational bound of the shipped Fashion-MNIST model on held-out test images, in bits/dim.

``core.diffusion.likelihood.variational_bound`` (Ho et al. 2020, eq. 5): the prior term L_T, the KL terms
L_t and the discretized-Gaussian decoder L_0 (8-bit data in [−1, 1], eq. 13), each L_t from one x_t per
image. A full bound needs T = 1,000 network evaluations per image, hours on a CPU; by default this runs
every t below ``--exact-below`` (48; L_t falls steeply there) and one random t in each of ``--strata`` equal
slices of the rest (an unbiased estimate of Σ L_t, weighted by the slice sizes), and prints the per-timestep terms, so the plot of L_t over t can be drawn.

Published DDPM values for comparison (Ho et al. 2020, Table 2; CIFAR-10, so only the order of magnitude
carries over): L_simple ≤ 3.75 bits/dim, learned-Σ L ≤ 3.70; Improved DDPM (Nichol & Dhariwal 2021) 2.94 on
CIFAR-10 with the hybrid loss. Fashion-MNIST here is 32×32 with the padding at −1 (1,024 dims per image).

Run: ``python benchmarks/bench_vlb.py [--images 200] [--strata 16] [--exact-below 48] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.data import get_dataset  # noqa: E402
from core.diffusion.likelihood import VLBProgress, VLBResult, iterate_vlb, stratified_timesteps  # noqa: E402
from core.io import load_denoiser  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "resources" / "models" / "fmnist_unet.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--strata", type=int, default=16, help="0: every timestep (the full bound)")
    parser.add_argument("--exact-below", type=int, default=48, help="timesteps 0 … n−1 computed exactly")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--variance", default="posterior", choices=("posterior", "beta"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = load_denoiser(MODEL)
    model, schedule = checkpoint.model, checkpoint.schedule
    images = get_dataset("fashion_mnist", split="test", pad_to=32, limit=args.images).images
    g = torch.Generator().manual_seed(args.seed)
    if args.strata:
        ts, weights = stratified_timesteps(schedule, args.strata, g, exact_below=args.exact_below)
    else:
        ts, weights = torch.arange(schedule.num_timesteps), None
    print(f"{MODEL.name}: {len(images)} Fashion-MNIST test images, {len(ts)} timesteps, σ² = {args.variance}, "
          f"{args.threads} thread(s), unconditional")  # fmt: skip
    start = time.perf_counter()
    results = []
    for lo in range(0, len(images), args.batch):
        batch = images[lo : lo + args.batch]
        for event in iterate_vlb(model, batch, schedule, timesteps=ts, weights=weights, variance=args.variance,
                                 generator=g):  # fmt: skip
            if isinstance(event, VLBResult):
                results.append((len(batch), event))
            elif isinstance(event, VLBProgress) and event.done % 5 == 0:
                print(f"  images {lo}-{lo + len(batch)}: {event.done}/{event.total} timesteps", flush=True)
    elapsed = time.perf_counter() - start
    n = sum(k for k, _ in results)
    terms = sum(k * r.terms for k, r in results) / n
    prior = sum(k * r.prior for k, r in results) / n
    first = results[0][1]
    total = VLBResult(first.timesteps, terms, first.weights, prior, first.dim, n)
    print("t, L_t (bits/dim)")
    for t, value in zip(total.timesteps.tolist(), total.terms_bits_per_dim().tolist(), strict=True):
        print(f"  {t:4d}  {value:.5f}")
    per_dim = total.dim * torch.log(torch.tensor(2.0)).item()
    print(f"L_T (prior) {prior / per_dim:.6f} bits/dim; L_0 (decoder) {float(terms[0]) / per_dim:.4f} bits/dim; "
          f"Σ L_t (t ≥ 1) {float((total.weights[1:] * terms[1:]).sum()) / per_dim:.4f} bits/dim")  # fmt: skip
    print(f"VLB {total.bits_per_dim:.4f} bits/dim over {n} images in {elapsed:.0f} s ({elapsed / n:.2f} s/image)")


if __name__ == "__main__":
    main()
