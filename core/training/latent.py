"""Latent diffusion trained by the project's own loop: encode the data once, train on the latents.

Rombach et al. 2022, §3.2: with the autoencoder frozen, the diffusion objective is the pixel one
with x replaced by z = s · ℰ(x) (s = the autoencoder's scale factor, so z has unit variance, SD's
0.18215). Here the whole dataset is encoded once (the posterior means; the encoder is frozen, so
encoding every batch again would give the same numbers) and handed to ``core.training.train`` as an
in-memory dataset of 8×8×4 "images". The loop, the schedule, the U-Net, EMA, checkpoints and
``TrainingControl`` are unchanged. This wrapper only

- refuses data the autoencoder was not made for,
- has the loop decode its ``Preview`` latents (unclipped) to images, so a preview shows pictures,
- records the autoencoder by its content hash in every checkpoint (``core.io.latent_checkpoint``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch

from core.data import ImageDataset
from core.io.autoencoder_file import load_autoencoder
from core.io.latent_checkpoint import latent_reference
from core.models.autoencoder import Autoencoder
from core.training.config import TrainConfig, load_training_data
from core.training.control import TrainingControl
from core.training.events import TrainEvent, TrainingError
from core.training.loop import train

# The U-Net for 8×8×4 latents: three levels (8 → 4 → 2) with attention at 4×4 and in the middle.
LATENT_UNET_OPTIONS = {"channel_mult": [1, 2, 2], "attention_resolutions": [4]}


@torch.no_grad()
def encode_dataset(autoencoder: Autoencoder, data: ImageDataset, batch_size: int = 512) -> ImageDataset:
    """The dataset's scaled latents s · μ(x) as an ``ImageDataset`` with the same labels."""
    c, size = autoencoder.config.in_channels, autoencoder.config.image_size
    if tuple(data.images.shape[1:]) != (c, size, size):
        raise TrainingError(
            f"This autoencoder was made for {c}-channel {size}×{size} images, but {data.name or 'the dataset'} "
            f"has images shaped {tuple(data.images.shape[1:])}; pick the autoencoder trained on this dataset."
        )
    autoencoder = autoencoder.eval()
    latents = torch.cat(
        [autoencoder.encode_scaled(data.images[i : i + batch_size]) for i in range(0, len(data), batch_size)]
    )
    return dataclasses.replace(data, images=latents.float().contiguous(), name=f"{data.name} (latents)")


def latent_train_config(config: TrainConfig) -> TrainConfig:
    """``config`` with the latent U-Net's levels unless the caller chose its own."""
    options = {**LATENT_UNET_OPTIONS, **config.model_options}
    return dataclasses.replace(config, model_options=options)


def train_latent(
    config: TrainConfig,
    autoencoder_path: str | Path,
    control: TrainingControl | None = None,
    *,
    checkpoint_dir: str | Path | None = None,
    pixel_data: ImageDataset | None = None,
) -> Iterator[TrainEvent]:
    """``core.training.train`` on the latents of ``config.dataset`` (or ``pixel_data``), events unchanged
    except that ``Preview.images`` are decoded pictures (N, C, H, W) in [−1, 1]."""
    autoencoder, info = load_autoencoder(autoencoder_path)
    pixels = pixel_data if pixel_data is not None else load_training_data(config)
    if not isinstance(pixels, ImageDataset):
        raise TrainingError("Latent diffusion needs an image dataset (2-D points have no autoencoder).")
    latents = encode_dataset(autoencoder, pixels)
    extra = latent_reference(info, autoencoder_path, pixels.images.shape[1:])
    yield from train(
        latent_train_config(config),
        control,
        checkpoint_dir=checkpoint_dir,
        data=latents,
        extra_metadata=extra,
        preview_decoder=_Decoder(autoencoder),
    )


class _Decoder:
    """Decodes previewed latents on the CPU, wherever the denoiser trains."""

    def __init__(self, autoencoder: Autoencoder):
        self.autoencoder = autoencoder

    @torch.no_grad()
    def __call__(self, z_scaled: torch.Tensor) -> torch.Tensor:
        return self.autoencoder.decode_scaled(z_scaled.float().cpu())
