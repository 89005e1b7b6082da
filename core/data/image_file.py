"""Opening one of the user's image files safely: any format Pillow reads, any size, with clear errors.

Every place that opens a user's picture (an image folder for training, an image dropped onto the
Forward process or Edit view) goes through ``open_image_file``, so all of them refuse decompression
bombs, honour EXIF rotation, put transparency over white and explain a bad file the same way.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from core.data.base import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGE_FILE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
MAX_IMAGE_PIXELS = 120_000_000  # 120 megapixels: a 10000×10000 scan loads, a decompression bomb does not
_GRAY_MODES = ("1", "L", "I", "I;16", "F")


class ImageFileError(DatasetError):
    """A file that cannot be used as an image; the message names the file and says why in plain words."""


def open_image_file(path: str | Path, *, draft_side: int, mode: str = "auto"):
    """Open ``path`` as a Pillow image in ``mode`` ("RGB", "L", or "auto": "L" for grey files, else "RGB").

    ``draft_side`` lets JPEG decode straight at 1/2, 1/4 or 1/8 scale while keeping both sides at least
    that long, so a 10000×10000 photo never occupies full size in memory. Raises ``ImageFileError``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"“{path.name}” does not exist or is not a file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit is below
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageFileError(
                        f"“{path.name}” is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), over "
                        f"the {MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit that protects memory "
                        "(a 'decompression bomb' guard). Shrink it first."
                    )
                if mode == "auto":
                    mode = "L" if image.mode in _GRAY_MODES else "RGB"
                image.draft(mode, (draft_side, draft_side))
                image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
                if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                    background = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparency → white
                    image = Image.alpha_composite(background, image.convert("RGBA"))
                image = image.convert(mode)
                image.load()
                return image
    except ImageFileError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageFileError(
            f"“{path.name}” is far too large to open safely (a 'decompression bomb' guard): {error}"
        ) from error
    except UnidentifiedImageError:
        raise ImageFileError(
            f"“{path.name}” is not an image Diffusion Lab can read. Use a PNG, JPEG, BMP, GIF, WebP or TIFF file."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise ImageFileError(f"“{path.name}” is damaged or truncated and could not be read ({error}).") from error


def load_square_image(path: str | Path, size: int, channels: int) -> np.ndarray:
    """The centre square of an image file, resized to uint8 (size, size, channels) with Lanczos."""
    from PIL import Image

    image = open_image_file(path, draft_side=size, mode="RGB" if channels == 3 else "L")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Crop first: resize(box=...) would let the filter reach pixels outside the crop.
    image = image.crop((left, top, left + side, top + side))
    image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def load_fitted_image(path: str | Path, max_side: int) -> np.ndarray:
    """An image file downsized (aspect kept) so its longer side ≤ ``max_side``: uint8 (H, W) or (H, W, 3)."""
    from PIL import Image

    image = open_image_file(path, draft_side=max_side)
    scale = min(1.0, max_side / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return np.asarray(image, dtype=np.uint8)
