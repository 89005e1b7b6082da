"""The DDPM variational bound of the shipped Fashion-MNIST model on held-out test images, in bits/dim.

``core.evaluation.held_out_vlb`` around ``core.diffusion.likelihood.iterate_vlb`` (Ho et al. 2020, eq. 5): the prior term L_T, the KL terms
L_t and the discretized-Gaussian decoder L_0 (8-bit data in [−1, 1], eq. 13), each L_t from one x_t per
image. A full bound needs T = 1,000 network evaluations per image, hours on a CPU; by default this runs
every t below ``--exact-below`` (48; L_t falls steeply there) and one random t in each of ``--strata`` equal
slices of the rest (an unbiased estimate of Σ L_t, weighted by the slice sizes), and prints the per-timestep terms, so the plot of L_t over t can be drawn.

Published DDPM values for comparison (Ho et al. 2020, Table 1; CIFAR-10, so only the order of magnitude
carries over): L_simple ≤ 3.75 bits/dim, trained on the bound L (fixed Σ) ≤ 3.70; Improved DDPM (Nichol & Dhariwal 2021) 2.94 on
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

from core.diffusion.likelihood import VLBResult  # noqa: E402
from core.evaluation.held_out_vlb import (  # noqa: E402
    PUBLISHED_BITS_PER_DIM,
    VLBSummary,
    held_out_images,
    iterate_held_out_vlb,
)
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
    images = held_out_images(args.images)
    print(f"{MODEL.name}: {len(images)} Fashion-MNIST test images, strata {args.strata}, exact below {args.exact_below}, "
          f"σ² = {args.variance}, {args.threads} thread(s), unconditional")  # fmt: skip
    start = time.perf_counter()
    total = None
    for event in iterate_held_out_vlb(model, images, schedule, strata=args.strata, exact_below=args.exact_below,
                                      batch_size=args.batch, variance=args.variance, seed=args.seed):  # fmt: skip
        if isinstance(event, VLBResult):
            total = event
        elif event.done % 20 == 0:
            print(f"  {event.done}/{event.total} network passes", flush=True)
    elapsed = time.perf_counter() - start
    print("t, L_t (bits/dim)")
    for t, value in zip(total.timesteps.tolist(), total.terms_bits_per_dim().tolist(), strict=True):
        print(f"  {t:4d}  {value:.5f}")
    s = VLBSummary.of(total)
    print(f"L_T (prior) {s.prior:.6f} bits/dim; L_0 (decoder) {s.decoder:.4f}; Σ L_t (t = 1…{s.exact_up_to}, exact) "
          f"{s.exact_terms:.4f}; Σ L_t (strata) {s.strata_terms:.4f} bits/dim")  # fmt: skip
    n = total.images
    print(f"VLB {total.bits_per_dim:.4f} bits/dim over {n} images in {elapsed:.1f} s ({elapsed / n:.2f} s/image)")
    print("Published (other data, only the scale compares): "
          + "; ".join(f"{name} {value:.2f}" for name, value in PUBLISHED_BITS_PER_DIM))  # fmt: skip


if __name__ == "__main__":
    main()
