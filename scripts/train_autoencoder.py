"""Train the KL-regularised autoencoders that latent diffusion runs on, and ship them.

    python scripts/train_autoencoder.py --dataset shapes           # the shipped recipe (7 CPU-minutes, 1 thread)
    python scripts/train_autoencoder.py --dataset fashion_mnist
    python scripts/train_autoencoder.py --dataset shapes --cpu-minutes 1 --out /tmp/ae.safetensors   # a quick try

Writes ``resources/models/latent/shapes_autoencoder.safetensors`` (or ``fmnist_autoencoder``): weights
of ``core.models.autoencoder.Autoencoder`` (32×32×C → 8×8×4) with its config, the measured latent
scale factor, the held-out reconstruction error, the recipe, steps, wall time, versions, git commit and
the weights' SHA-256 (``core.io.autoencoder_file``). The ``latent/`` folder keeps these files out of
the Generate view's list of denoisers.

Recipe: L1 reconstruction + 1e-4 · KL per element, AdamW 2e-3 (50 warm-up steps, cosine to 10 % by
steps or CPU time), batch 32, seed 0, one thread, stopped after ``--cpu-minutes`` of CPU time
(CPU time, not wall time, so the recipe does the same work on a busy shared machine).
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runtime import resource_path  # noqa: E402
from core.training.autoencoder import (  # noqa: E402
    AutoencoderFinished,
    AutoencoderStep,
    AutoencoderTrainConfig,
    autoencoder_file_name,
    train_autoencoder,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("shapes", "fashion_mnist"), default="shapes")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--cpu-minutes", type=float, default=7.0, help="training budget in CPU time of this process")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--kl-weight", type=float, default=1e-4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    out = args.out or resource_path("models") / "latent" / autoencoder_file_name(args.dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    recipe = "python scripts/train_autoencoder.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out"
    )
    torch.set_num_threads(args.threads)
    config = AutoencoderTrainConfig(
        dataset=args.dataset,
        kl_weight=args.kl_weight,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        steps=args.steps,
        cpu_budget_s=args.cpu_minutes * 60.0,
        seed=args.seed,
        threads=args.threads,
        log_every=50,
        preview_every=0,
        checkpoint_path=str(out),
        recipe=recipe,
    )
    for event in train_autoencoder(config):
        if isinstance(event, AutoencoderStep):
            print(
                f"step {event.step}/{event.total_steps} loss {event.loss:.4f} L1 {event.reconstruction_l1:.4f} "
                f"KL/elt {event.kl:.3f} ({event.images_per_s:.0f} img/s, {event.elapsed_s:.0f} s)",
                flush=True,
            )
        elif isinstance(event, AutoencoderFinished):
            m = event.metadata
            print(
                f"{event.step} steps in {event.elapsed_s:.0f} s on {platform.machine()}: held-out MSE {m['held_out_mse']:.5f} "
                f"(PSNR {m['held_out_psnr_db']:.1f} dB), scale factor {m['scale_factor']:.4f}; wrote {event.checkpoint_path}",
                flush=True,
            )


if __name__ == "__main__":
    main()
