"""Recipe for the shipped coloured-shapes model (resources/models/shapes_unet.safetensors).

    python scripts/train_shapes.py --steps 800 --threads 1

The shipped RGB pixel model: Generate samples it, Edit colourises and inpaints with it, and it is the
pixel-space side of the latent diffusion comparison. The shapes are flat colours with a one-pixel
anti-aliased edge, so a U-Net a quarter of the Fashion-MNIST one's width (16 base channels, 0.3M
parameters) learns them in minutes of CPU; the schedule, objective and optimiser are the
Fashion-MNIST recipe's (see scripts/train_fmnist.py for why). Conditioned on the shape (5 classes)
with label dropout, so classifier-free guidance works; the colour is left free, which is what
colourisation has to infer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.train_fmnist import FMNIST_RECIPE, run  # noqa: E402

SHAPES_RECIPE = {
    **FMNIST_RECIPE,
    "dataset": "shapes",
    "model": "small",
    "model_options": {"base_channels": 16, "channel_mult": [1, 2, 2], "num_res_blocks": 1, "attention_resolutions": []},
    "batch_size": 32,
    "warmup_steps": 100,
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="resources/models/shapes_unet.safetensors")
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-training-state", action="store_true", help="keep what resuming needs (4x the size)")
    args = p.parse_args(argv)
    recipe = "python scripts/train_shapes.py " + " ".join(sys.argv[1:] if argv is None else argv)
    status = run(SHAPES_RECIPE, args.out, args.steps, None, args.threads, args.device, args.seed, 500, None, recipe)
    if status == 0 and not args.keep_training_state:
        without_training_state(args.out)
    return status


def without_training_state(path: str) -> None:
    """Re-save a checkpoint with only what sampling needs (the optimiser's state is 3/4 of the file)."""
    from core.io import load_checkpoint, save_checkpoint

    checkpoint = load_checkpoint(path)
    save_checkpoint(path, checkpoint.model, schedule=checkpoint.schedule, metadata=checkpoint.metadata)
    print(f"kept the weights, schedule and metadata only: {Path(path).stat().st_size / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
