"""Where the Latent diffusion view finds its autoencoders, latent models and images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.data.fashion_mnist import load_fashion_mnist
from core.data.image_file import load_square_image
from core.data.shapes import make_shapes
from core.io import CheckpointError, read_metadata
from core.io.latent_checkpoint import is_latent_checkpoint
from desktop_app import paths

# dataset → (what the user sees, the shipped autoencoder's file name)
AUTOENCODERS = {
    "shapes": ("Coloured shapes", "shapes_autoencoder.safetensors"),
    "fashion_mnist": ("Fashion-MNIST", "fmnist_autoencoder.safetensors"),
}
EXAMPLE_IMAGES = 64  # held-out images offered by number
HELD_OUT_SEED = 10_000  # the shapes the autoencoder's recipe measured its error on (never trained on)


def latent_dir() -> Path:
    return paths.resources_dir() / "models" / "latent"


def available_autoencoders() -> list[tuple[str, str, Path]]:
    """(dataset, label, path) of every shipped autoencoder that is present."""
    found = []
    for dataset, (label, name) in AUTOENCODERS.items():
        path = latent_dir() / name
        if path.is_file():
            found.append((dataset, label, path))
    return found


def latent_model_files() -> list[Path]:
    """Shipped latent-diffusion checkpoints (headers only are read here)."""
    out = []
    for path in sorted(latent_dir().glob("*.safetensors")) if latent_dir().is_dir() else []:
        try:
            if is_latent_checkpoint(read_metadata(path)):
                out.append(path)
        except (CheckpointError, OSError):
            continue
    return out


def example_images(dataset: str) -> tuple[torch.Tensor, list[str]]:
    """Held-out images of ``dataset`` in [−1, 1] (N, C, 32, 32) and a name for each."""
    if dataset == "shapes":
        data = make_shapes(EXAMPLE_IMAGES, seed=HELD_OUT_SEED)
        colours = data.color_names
        names = [
            f"{colours[int(c)]} {data.class_names[int(s)]}" for s, c in zip(data.labels, data.color_labels, strict=True)
        ]
        return data.images, names
    data = load_fashion_mnist("test", pad_to=32, limit=EXAMPLE_IMAGES)
    return data.images, [f"test image: {data.class_names[int(y)]}" for y in data.labels]


def image_from_file(path: str | Path, channels: int, size: int) -> torch.Tensor:
    """An image file's centre square at ``size``² in [−1, 1], shaped (1, channels, size, size) (ImageFileError)."""
    pixels = load_square_image(path, size, channels)  # uint8 (size, size, channels)
    x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().mul(2.0 / 255.0).sub(1.0)
    return x[None]
