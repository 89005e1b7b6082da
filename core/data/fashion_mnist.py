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


def load_fashion_mnist(
    split: str = "train",
    pad_to: int = 32,
    limit: int | None = None,
    classes: list[str] | None = None,
    downsample: int = 1,
) -> ImageDataset:
    """Fashion-MNIST as (N, 1, pad_to, pad_to) images in [−1, 1] with labels 0–9.

    ``split`` is "train" (60,000 images) or "test" (10,000). Images are padded from 28×28 with the
    background value −1 so a U-Net can halve 32 → 16 → 8. ``limit`` keeps the first images only
    (the files are already shuffled, so classes stay roughly balanced).

    For a lesson that must learn in minutes: ``classes`` keeps only the named classes (names from
    ``FASHION_MNIST_CLASSES``), relabelled 0, 1, … in the order given; ``downsample`` averages
    ``downsample`` × ``downsample`` pixel blocks (2: 28×28 → 14×14, padded to e.g. 16), so each
    step costs about a quarter. ``limit`` counts the images kept after choosing classes.
    """
    if split not in FASHION_MNIST_FILES:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test'; got {split!r}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive whole number or None; got {limit!r}.")
    if isinstance(downsample, bool) or not isinstance(downsample, int) or downsample < 1 or 28 % downsample:
        raise ValueError(f"downsample must be 1, 2, 4, 7, 14 or 28 (it must divide 28); got {downsample!r}.")
    images, labels = _fashion_mnist_arrays(split)
    class_names = list(FASHION_MNIST_CLASSES)
    if classes is not None:
        unknown = [c for c in classes if c not in FASHION_MNIST_CLASSES]
        if unknown or not classes or len(set(classes)) != len(classes):
            raise ValueError(
                f"classes must name different Fashion-MNIST classes ({', '.join(FASHION_MNIST_CLASSES)}); "
                f"got {list(classes)!r}."
            )
        new_label = np.full(len(FASHION_MNIST_CLASSES), -1)
        new_label[[FASHION_MNIST_CLASSES.index(c) for c in classes]] = np.arange(len(classes))
        keep = new_label[labels] >= 0
        images, labels = images[keep], new_label[labels[keep]]
        class_names = list(classes)
    images, labels = images[:limit], labels[:limit]
    if downsample > 1:
        n, side = images.shape[0], 28 // downsample
        blocks = images.reshape(n, side, downsample, side, downsample).astype(np.float32).mean(axis=(2, 4))
        images = np.rint(blocks).astype(np.uint8)
    path = resource_path("fashion_mnist", FASHION_MNIST_FILES[split][0])
    tensor = uint8_to_unit_range(np.ascontiguousarray(pad_images(images, pad_to, path)[:, None]))
    return ImageDataset(
        images=tensor,
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        name="fashion_mnist" if split == "train" else "fashion_mnist_test",
    )


def to_classifier_size(images: torch.Tensor, downsample: int = 1, size: int = 32) -> torch.Tensor:
    """Images of a ``downsample``d loader (padded, any size) brought back to the classifier's input.

    The centred 28/downsample square is cut out, scaled up bilinearly to 28×28 and padded with −1 to
    ``size`` × ``size``: the layout of ``load_fashion_mnist(pad_to=size)``, so the metrics'
    classifier (trained on 32×32 Fashion-MNIST) can judge samples of a small lesson model.
    """
    import torch.nn.functional as F  # noqa: N812

    side = 28 // downsample
    height = images.shape[-1]
    if height < side:
        raise ValueError(
            f"Images of {height}×{height} cannot hold the {side}×{side} picture of downsample={downsample}."
        )
    top = (height - side) // 2
    crop = images[..., top : top + side, top : top + side].float()
    full = F.interpolate(crop, size=(28, 28), mode="bilinear", align_corners=False) if side != 28 else crop
    pad = (size - 28) // 2
    return F.pad(full, (pad, size - 28 - pad, pad, size - 28 - pad), value=-1.0).clamp(-1, 1)
