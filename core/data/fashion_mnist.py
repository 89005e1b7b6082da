"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT licence), shipped in ``resources/fashion_mnist``."""

from __future__ import annotations

import functools

import numpy as np
import torch

from core.data.base import DatasetError, ImageDataset, uint8_to_unit_range
from core.data.idx import labels_from_idx_array, pad_images, read_idx
from core.runtime.resources import resource_path

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@functools.lru_cache(maxsize=2)
def _fashion_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decoded uint8 images (N, 28, 28) and labels (N,) of a split; decoded once per process."""
    images_name, labels_name = FASHION_MNIST_FILES[split]
    images_path = resource_path("fashion_mnist", images_name)
    labels_path = resource_path("fashion_mnist", labels_name)
    for path in (images_path, labels_path):
        if not path.is_file():
            raise DatasetError(f"{path}: Fashion-MNIST file is missing from the app's resources folder.")
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DatasetError(f"{images_path}: expected 28×28 uint8 images, found {images.dtype} {images.shape}.")
    labels_from_idx_array(labels, images.shape[0], labels_path)  # validates
    return images, labels


def load_fashion_mnist(split: str = "train", pad_to: int = 32, limit: int | None = None) -> ImageDataset:
    """Fashion-MNIST as (N, 1, pad_to, pad_to) images in [−1, 1] with labels 0–9.

    ``split`` is "train" (60,000 images) or "test" (10,000). Images are padded from 28×28 with the
    background value −1 so a U-Net can halve 32 → 16 → 8. ``limit`` keeps the first images only
    (the files are already shuffled, so classes stay roughly balanced).
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test'; got {split!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive whole number or None; got {limit!r}.")
    images, labels = _fashion_mnist_arrays(split)
    images, labels = images[:limit], labels[:limit]
    path = resource_path("fashion_mnist", FASHION_MNIST_FILES[split][0])
    tensor = uint8_to_unit_range(np.ascontiguousarray(pad_images(images, pad_to, path)[:, None]))
    return ImageDataset(
        images=tensor,
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=list(FASHION_MNIST_CLASSES),
        name="fashion_mnist" if split == "train" else "fashion_mnist_test",
    )
