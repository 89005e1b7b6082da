"""Train the shipped Fashion-MNIST GAN for the Compare view (issue 14).

    python scripts/train_gan.py                     # the shipped recipe: 10 CPU-minutes at 1 thread
    python scripts/train_gan.py --minutes 1 --out /tmp/gan.safetensors   # a quick look

Recipe: a DCGAN (core.models.gan, latent 64, base 32 channels, BatchNorm in G, spectral norm in D),
the non-saturating loss, Adam lr 2e-4 for both networks, β = (0.5, 0.999) (Radford et al. 2016),
batch 64, the 60,000 training images padded to 32×32 (the data the diffusion U-Net was trained on),
seed 0, one thread, stopped after 10 minutes of CPU time (or a wall-clock cap). Writes ``resources/models/compare/fmnist_gan.safetensors``
(sampling weights only, so the file stays small) whose metadata records the recipe, the steps and
the seconds it took, the device, the git commit and ``fid_history``: the FID (100 samples) of a snapshot
saved every CPU-minute, scored after training (``scripts/compare_recipe.py``; the time-to-FID row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runtime import resource_path  # noqa: E402
from core.training.gan import GANTrainConfig, train_gan  # noqa: E402
from scripts.compare_recipe import run_recipe  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU-time budget in minutes (default 10)")
    parser.add_argument("--wall-minutes", type=float, default=55.0, help="wall-clock cap on a busy machine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(resource_path("models", "compare", "fmnist_gan.safetensors")))
    args = parser.parse_args(argv)
    config = GANTrainConfig(
        dataset="fashion_mnist",
        model=dict(arch="dcgan", latent_dim=64, base_channels=32, spectral_norm=True),
        steps=1_000_000,
        batch_size=64,
        lr_g=2e-4,
        lr_d=2e-4,
        beta1=0.5,
        log_every=100,
        preview_every=0,
        time_budget_s=60 * args.wall_minutes,
        threads=args.threads,
        recipe="scripts/train_gan.py",
    )
    run_recipe(train_gan, config, args.out, cpu_seconds=60 * args.minutes, kind="gan")


if __name__ == "__main__":
    main()
