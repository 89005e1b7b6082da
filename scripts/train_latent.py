"""Train the shipped latent-diffusion model: the project's U-Net and training loop on autoencoder latents.

    python scripts/train_latent.py                      # the shipped recipe (≤ 15 minutes, 1 thread)
    python scripts/train_latent.py --steps 200 --out /tmp/latent.safetensors   # a quick try

Needs the autoencoder first (``scripts/train_autoencoder.py --dataset shapes``). Writes
``resources/models/latent/shapes_latent_unet.safetensors``: a class-conditional (the five shapes)
U-Net on the 8×8×4 scaled latents of 20,000 coloured shapes, v-prediction, cosine schedule, whose
metadata names the autoencoder by its weights' SHA-256 (``core.io.latent_checkpoint``) beside the
usual provenance. Training stops at ``--steps`` or after ``--minutes`` of wall-clock time (the learning
rate decays by whichever is further), so on a busy shared machine it does fewer steps and says so in
the checkpoint's ``step``. The ``latent/`` folder keeps it out of the Generate view's list of pixel models.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.io import load_checkpoint, save_checkpoint  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training import TrainConfig  # noqa: E402
from core.training.events import Finished, StepEvent  # noqa: E402
from core.training.latent import train_latent  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    latent_dir = resource_path("models") / "latent"
    parser.add_argument("--autoencoder", type=Path, default=latent_dir / "shapes_autoencoder.safetensors")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--minutes", type=float, default=15.0, help="training time budget (wall clock); 0: none")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=latent_dir / "shapes_latent_unet.safetensors")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    recipe = "python scripts/train_latent.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "autoencoder")
    )
    config = TrainConfig(
        dataset="shapes",
        model="small",
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        warmup_steps=100,
        seed=args.seed,
        threads=args.threads,
        log_every=50,
        preview_every=0,
        time_budget_s=args.minutes * 60.0 if args.minutes > 0 else None,
        checkpoint_path=str(args.out),
        recipe=recipe,
    )
    for event in train_latent(config, args.autoencoder):
        if isinstance(event, StepEvent):
            print(
                f"step {event.step}/{event.total_steps} loss {event.loss:.4f} "
                f"({event.images_per_s:.0f} img/s, {event.elapsed_s:.0f} s)",
                flush=True,
            )
        elif isinstance(event, Finished):
            print(f"{event.step} steps in {event.elapsed_s:.0f} s; wrote {event.checkpoint_path}", flush=True)
    ship_sampling_weights(args.out)


def ship_sampling_weights(path: Path) -> None:
    """Rewrite the checkpoint with only its sampling (EMA) weights: a third of the size, nothing to resume."""
    checkpoint = load_checkpoint(path)
    save_checkpoint(path, checkpoint.model, schedule=checkpoint.schedule, metadata=checkpoint.metadata)
    path.chmod(0o644)
    print(f"kept the sampling weights only: {path.stat().st_size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
