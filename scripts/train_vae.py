"""Train the shipped Fashion-MNIST VAE for the Compare view (issue 14).

    python scripts/train_vae.py                     # the shipped recipe: 10 CPU-minutes at 1 thread
    python scripts/train_vae.py --minutes 1 --out /tmp/vae.safetensors   # a quick look

Recipe: a convolutional VAE (core.models.vae, latent 16, base 32 channels, one learned decoder scale,
discretised Gaussian likelihood), −ELBO with the KL weight warmed up over the first 1,000 steps
(Bowman et al. 2016), AdamW lr 1e-3, batch 64, the 60,000 training images padded to 32×32, seed 0,
one thread, stopped after 10 minutes of CPU time (or a wall-clock cap). Writes ``resources/models/compare/fmnist_vae.safetensors``
(sampling weights only) with the recipe, steps, seconds, device, git commit and ``fid_history`` (the FID
of a snapshot saved every CPU-minute, scored after training) in its metadata.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runtime import resource_path  # noqa: E402
from core.training.vae import VAETrainConfig, train_vae  # noqa: E402
from scripts.compare_recipe import run_recipe  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU-time budget in minutes (default 10)")
    parser.add_argument("--wall-minutes", type=float, default=55.0, help="wall-clock cap on a busy machine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(resource_path("models", "compare", "fmnist_vae.safetensors")))
    args = parser.parse_args(argv)
    config = VAETrainConfig(
        dataset="fashion_mnist",
        model=dict(arch="conv", latent_dim=16, base_channels=32),
        steps=1_000_000,
        batch_size=64,
        learning_rate=1e-3,
        kl_warmup_steps=1000,
        log_every=100,
        preview_every=0,
        time_budget_s=60 * args.wall_minutes,
        threads=args.threads,
        recipe="scripts/train_vae.py",
    )
    run_recipe(train_vae, config, args.out, cpu_seconds=60 * args.minutes, kind="vae")


if __name__ == "__main__":
    main()
