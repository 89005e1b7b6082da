"""What the forward process starts from: built-in datasets, a 2-D point cloud, or the user's own image.

Plain numpy, torch and Pillow (no Qt): ``dataset_source`` builds a built-in source, ``load_image_source``
opens any image Pillow reads and raises ``ImageLoadError`` with a sentence naming the file otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.image_file import ImageFileError, load_fitted_image

MAX_COMPUTE_SIDE = 256  # an opened image is downsized so its longer side is at most this (pixels)
IMAGE_COUNTS = (1, 8, 16, 64)
POINT_COUNT = 1500

SOURCE_FASHION = "Fashion-MNIST test images"
SOURCE_SHAPES = "Coloured shapes"
SOURCE_POINTS = "2-D point cloud"
BUILTIN_SOURCES = (SOURCE_FASHION, SOURCE_SHAPES, SOURCE_POINTS)


class ImageLoadError(ValueError):
    """A file that cannot be shown as a source image; the message says which file and why."""


@dataclass(eq=False)
class ForwardSource:
    """What the forward process starts from: images (N, C, H, W) in [−1, 1] or points (N, 2)."""

    name: str
    x0: torch.Tensor
    kind: str  # "images" or "points"

    @property
    def is_points(self) -> bool:
        return self.kind == "points"


def load_image_source(path: str | Path, max_side: int = MAX_COMPUTE_SIDE) -> ForwardSource:
    """Open any image Pillow reads; downsize it (keeping its aspect) so the longer side ≤ ``max_side``.

    Grayscale stays one channel, everything else becomes RGB (transparency over white).
    Raises ``ImageLoadError`` with a sentence naming the file for anything that is not a usable image.
    """
    try:
        pixels = load_fitted_image(path, max_side)
    except ImageFileError as error:
        raise ImageLoadError(str(error)) from error
    chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    x0 = torch.from_numpy(np.array(chw, dtype=np.float32)).mul_(2.0 / 255.0).sub_(1.0)[None]
    return ForwardSource(name=Path(path).name, x0=x0, kind="images")


def dataset_source(name: str, count: int, toy: str = "two_moons") -> ForwardSource:
    """A built-in source: ``count`` Fashion-MNIST test images, coloured shapes, or a 2-D toy cloud."""
    if name == SOURCE_FASHION:
        from core.data import load_fashion_mnist

        return ForwardSource(f"Fashion-MNIST ×{count}", load_fashion_mnist("test", limit=count).images, "images")
    if name == SOURCE_SHAPES:
        from core.data import make_shapes

        return ForwardSource(f"coloured shapes ×{count}", make_shapes(count, seed=1).images, "images")
    if name == SOURCE_POINTS:
        from core.data import make_toy_2d

        return ForwardSource(
            f"{toy.replace('_', ' ')} ({POINT_COUNT} points)", make_toy_2d(toy, POINT_COUNT).points, "points"
        )
    raise ValueError(f"Unknown source '{name}'.")
