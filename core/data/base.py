"""What every image dataset is: ``ImageDataset`` (float32 images in [−1, 1] with labels) and ``DatasetError``.

Pixels map 0 ↦ −1 and 255 ↦ +1, as DDPM scales its data. A file or folder that cannot be used raises
``DatasetError`` (a ``ValueError``) whose message names it and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


class DatasetError(ValueError):
    """A dataset file or folder that cannot be used; the message names it and says why."""


@dataclass(eq=False)
class ImageDataset:
    """Images float32 (N, C, H, W) in [−1, 1] with optional class labels long (N,).

    ``color_labels`` / ``color_names`` are a second labelling, filled by ``make_shapes`` (the colour
    of each shape); other datasets leave them empty. ``skipped`` lists ``(file, reason)`` for every
    file ``load_image_folder`` did not use, so the app can show them.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    color_labels: torch.Tensor | None = None
    color_names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.dtype != torch.float32:
            raise ValueError(
                f"images must be a float32 tensor (N, C, H, W); got {self.images.dtype} {tuple(self.images.shape)}."
            )
        for labels in (self.labels, self.color_labels):
            if labels is not None and labels.shape != (self.images.shape[0],):
                raise ValueError(
                    f"labels must have shape ({self.images.shape[0]},) to match the images; got {tuple(labels.shape)}."
                )

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """Side length in pixels (images are square)."""
        return self.images.shape[-1]

    @property
    def num_classes(self) -> int:
        """Number of classes a conditional model needs (0 when the dataset has no labels)."""
        return len(self.class_names) if self.labels is not None else 0


def uint8_to_unit_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels 0…255 → float32 in [−1, 1] (DDPM's data scaling)."""
    if not pixels.flags.writeable:  # e.g. a view of the cached, read-only Fashion-MNIST bytes
        pixels = pixels.copy()
    return torch.from_numpy(pixels).to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)
