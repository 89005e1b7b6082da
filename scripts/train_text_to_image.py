"""Train the shipped text-to-image model: a tiny text encoder and a cross-attention U-Net on shapes latents.

    python scripts/train_text_to_image.py                       # the shipped recipe (≤ 20 CPU-minutes, 1 thread)
    python scripts/train_text_to_image.py --steps 100 --out /tmp/t2i.safetensors   # a quick try

Needs the shapes autoencoder (``scripts/train_autoencoder.py --dataset shapes``). Writes
``resources/models/latent/shapes_text_unet.safetensors``: the EMA weights of both networks in float16
(under 2 MB), the vocabulary, the schedule, the autoencoder's content hash, and provenance (recipe,
steps, CPU and wall seconds, git commit). Training stops at ``--steps`` or when ``--cpu-minutes`` of
CPU time are spent, whichever comes first (the learning rate decays by whichever is further).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.runtime import resource_path  # noqa: E402
from core.training.events import StepEvent  # noqa: E402
from core.training.text_to_image import TextToImageConfig, TextToImageFinished, train_text_to_image  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    latent_dir = resource_path("models") / "latent"
    parser.add_argument("--autoencoder", type=Path, default=latent_dir / "shapes_autoencoder.safetensors")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--cpu-minutes", type=float, default=20.0, help="CPU-time budget; 0: none")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--base-channels", type=int, default=32)
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=latent_dir / "shapes_text_unet.safetensors")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    recipe = "python scripts/train_text_to_image.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "autoencoder")
    )
    config = TextToImageConfig(
        num_images=args.images,
        steps=args.steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        cpu_budget_s=args.cpu_minutes * 60.0 if args.cpu_minutes > 0 else None,
        unet={"base_channels": args.base_channels},
    )
    for event in train_text_to_image(config, args.autoencoder, checkpoint_path=args.out, metadata={"recipe": recipe}):
        if isinstance(event, StepEvent):
            print(
                f"step {event.step}/{event.total_steps} loss {event.loss:.4f} lr {event.lr:.2e} "
                f"({event.images_per_s:.0f} img/s, {event.elapsed_s:.0f} s)",
                flush=True,
            )
        elif isinstance(event, TextToImageFinished):
            size = event.checkpoint_path.stat().st_size / 1e6
            print(
                f"{event.step} steps ({event.reason}) in {event.elapsed_s:.0f} s wall, {event.cpu_s:.0f} s CPU; "
                f"wrote {event.checkpoint_path} ({size:.2f} MB)",
                flush=True,
            )
            event.checkpoint_path.chmod(0o644)


if __name__ == "__main__":
    main()
