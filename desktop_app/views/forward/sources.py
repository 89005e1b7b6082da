"""What the forward process starts from: built-in datasets, a 2-D point cloud, or the user's own image.

Plain numpy, torch and Pillow (no Qt): ``dataset_source`` builds a built-in source, ``load_image_source``
opens any image Pillow reads and raises ``ImageLoadError`` with a sentence naming the file otherwise.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

MAX_COMPUTE_SIDE = 256  # an opened image is downsized so its longer side is at most this (pixels)
MAX_IMAGE_PIXELS = 120_000_000  # refuse decompression bombs before decoding
IMAGE_FILE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
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
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"“{path.name}” does not exist or is not a file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageLoadError(
                        f"“{path.name}” is {width}×{height} pixels, larger than the "
                        f"{MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit that protects memory. Shrink it first."
                    )
                image.draft("RGB", (max_side, max_side))  # JPEG decodes straight at a reduced size
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                    image = Image.alpha_composite(background, image.convert("RGBA"))
                gray = image.mode in ("1", "L", "I", "I;16", "F")
                image = image.convert("L" if gray else "RGB")
                scale = min(1.0, max_side / max(image.size))
                if scale < 1.0:
                    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                    image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
                pixels = np.asarray(image, dtype=np.uint8)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"“{path.name}” is not an image Diffusion Lab can read. Open a PNG, JPEG, BMP, GIF, WebP or TIFF file."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ImageLoadError(f"“{path.name}” could not be read as an image ({error}).") from error
    chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    x0 = torch.from_numpy(np.array(chw, dtype=np.float32)).mul_(2.0 / 255.0).sub_(1.0)[None]
    return ForwardSource(name=path.name, x0=x0, kind="images")


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
