"""Pixel vs latent diffusion on the same data and CPU: training images/s and sampling seconds per image.

    python benchmarks/bench_latent.py                   # 1 thread, the shipped shapes autoencoder
    python benchmarks/bench_latent.py --threads 2 --rounds 3

Both sides use the project's training loop (``core.training.train``) on the same 512 coloured shapes,
batch 64, the same U-Net preset ("small"): in pixels on 3×32×32 images (its default four levels), in
latents on the 8×8×4 scaled latents of the shipped autoencoder (three levels, ``LATENT_UNET_OPTIONS``).
A second pixel row uses the narrow U-Net of the shipped pixel shapes model (0.3 M parameters), so the
latent model is also compared with a pixel model smaller than itself.
Encoding the dataset happens once before latent training and is reported on its own line. Sampling is
deterministic DDIM from the same number of steps on 16 images; the latent side includes decoding the
final latents (and, on a second line, decoding every step's x̂₀ as the Latent diffusion view does).
Rounds alternate pixel and latent so a busy machine slows both alike; the best round of each is kept.

Reference (issue 13): latent training images/s ≥ 3× the pixel model's, sampling ≥ 3× faster at the
same steps, on the same data and CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data.shapes import make_shapes  # noqa: E402
from core.diffusion.latent import sample_latent  # noqa: E402
from core.diffusion.samplers import sample_ddim  # noqa: E402
from core.io.autoencoder_file import load_autoencoder  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training import TrainConfig  # noqa: E402
from core.training.config import build_schedule  # noqa: E402
from core.training.events import Finished, StepEvent  # noqa: E402
from core.training.latent import encode_dataset, latent_train_config  # noqa: E402
from core.training.loop import train  # noqa: E402

BATCH = 64
NARROW_PIXEL_UNET = {"base_channels": 16, "channel_mult": [1, 2, 2], "attention_resolutions": []}
SAMPLES = 16


def training_rate(config: TrainConfig, data, steps: int) -> tuple[float, torch.nn.Module]:
    """Images per second over ``steps`` training steps after one warm-up step; and the trained model."""
    config = TrainConfig(**{**config.to_dict(), "steps": steps + 1, "log_every": 1})
    times, model = [], None
    for event in train(config, data=data):
        if isinstance(event, StepEvent):
            times.append(time.perf_counter())
        elif isinstance(event, Finished):
            model = event.model
    return steps * config.batch_size / (times[-1] - times[0]), model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--autoencoder", type=Path, default=resource_path("models", "latent", "shapes_autoencoder.safetensors")
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--sample-steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    pixels = make_shapes(512, seed=0)
    autoencoder, info = load_autoencoder(args.autoencoder)
    t0 = time.perf_counter()
    latents = encode_dataset(autoencoder, pixels)
    encode_s = time.perf_counter() - t0
    base = TrainConfig(dataset="shapes", model="small", batch_size=BATCH, preview_every=0, warmup_steps=0,
                       class_conditional=False, threads=args.threads)  # fmt: skip
    latent_config = latent_train_config(base)
    schedule = build_schedule(base)  # both models are trained with this cosine T = 1000 schedule

    # The pixel side twice: the same preset as the latent model, and the narrow U-Net of the shipped pixel
    # shapes model (scripts/train_shapes.py: 16 base channels, three levels, no attention, 0.3 M parameters).
    pixel_configs = {
        "pixel 'small'": base,
        "pixel narrow (shapes_unet)": TrainConfig(**{**base.to_dict(), "model_options": NARROW_PIXEL_UNET}),
    }
    rows = {name: {"train": 0.0, "sample": float("inf"), "params": 0} for name in [*pixel_configs, "latent 'small'"]}
    every_step = float("inf")
    g = torch.Generator().manual_seed(0)
    for _ in range(args.rounds):
        x_T = torch.randn((SAMPLES, 3, 32, 32), generator=g)
        for name, config in pixel_configs.items():
            rate, model = training_rate(config, pixels, args.train_steps)
            t = time.perf_counter()
            sample_ddim(model, x_T, schedule, args.sample_steps, clip_x0="clip")
            _keep_best(rows[name], rate, (time.perf_counter() - t) / SAMPLES, model)
        rate, latent_model = training_rate(latent_config, latents, args.train_steps)
        z_T = torch.randn((SAMPLES, 4, 8, 8), generator=g)
        t = time.perf_counter()
        sample_latent(latent_model, autoencoder.decode_scaled, z_T, schedule, args.sample_steps)
        _keep_best(rows["latent 'small'"], rate, (time.perf_counter() - t) / SAMPLES, latent_model)
        t = time.perf_counter()
        sample_latent(latent_model, autoencoder.decode_scaled, z_T, schedule, args.sample_steps,
                      on_step=lambda step: None)  # fmt: skip
        every_step = min(every_step, (time.perf_counter() - t) / SAMPLES)

    latent = rows["latent 'small'"]
    print(f"CPU, {args.threads} thread(s), torch {torch.__version__}; best of {args.rounds} alternating rounds")
    print(f"autoencoder {args.autoencoder.name}: held-out MSE {info.get('held_out_mse', float('nan')):.5f} "
          f"(PSNR {info.get('held_out_psnr_db', float('nan')):.1f} dB), scale factor {info['scale_factor']:.4f}")  # fmt: skip
    print(f"encoding the 512 training images once: {encode_s:.2f} s ({512 / encode_s:.0f} images/s)")
    print(
        f"training batch {BATCH}; sampling DDIM {args.sample_steps} steps on {SAMPLES} images (latent: decoding included)"
    )
    print(f"{'model':28s} {'params':>8s} {'train img/s':>12s} {'latent ×':>9s} {'sample s/img':>13s} {'latent ×':>9s}")
    for name, row in rows.items():
        print(f"{name:28s} {row['params'] / 1e6:7.2f}M {row['train']:12.1f} {latent['train'] / row['train']:8.1f}× "
              f"{row['sample']:13.4f} {row['sample'] / latent['sample']:8.1f}×")  # fmt: skip
    print("reference (issue 13): latent ≥ 3× the pixel model's training images/s and ≥ 3× faster sampling")
    print(f"latent sampling decoding every step's x̂₀ as the view does: {every_step:.4f} s/img")


def _keep_best(row: dict, rate: float, seconds_per_image: float, model) -> None:
    row["train"] = max(row["train"], rate)
    row["sample"] = min(row["sample"], seconds_per_image)
    row["params"] = sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    main()
