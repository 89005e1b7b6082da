"""What the Edit view edits: a shipped image, the user's image file, or a drawing, at the model's size.

Plain numpy, torch and Pillow (no Qt). Every source becomes one float32 image (C, H, W) in [−1, 1] of
exactly the model's shape, and a sentence says what was done to get there ("photo.jpg: 4032×3024
RGB → centred square, grey, inverted, 28×28 padded to 32×32"), so a student sees the conversion.

Fashion-MNIST models know light garments on a black background, 28×28 padded to 32×32: a picture
with a light background (a photo on a table, a sketch on paper) is inverted for them, and fitted
into the same 28×28 centre.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from core.data import IMAGE_FILE_FILTER, open_image_file

SOURCE_FASHION = "Fashion-MNIST test image"
SOURCE_SHAPES = "Coloured shape"
SOURCE_DRAWING = "My drawing"
SOURCE_FILE = "Opened image"
SOURCES = (SOURCE_FASHION, SOURCE_SHAPES, SOURCE_DRAWING, SOURCE_FILE)
BUILTIN_COUNT = 1000  # shipped images offered by number
FASHION_CONTENT = 28  # Fashion-MNIST's own size inside the padded 32×32 frame
__all__ = ["IMAGE_FILE_FILTER", "SOURCES", "EditSource", "builtin_source", "drawing_source", "file_source"]


@dataclass(eq=False)
class EditSource:
    """One image at the model's shape, what it is called, and how it was converted."""

    name: str
    image: np.ndarray  # float32 (C, H, W) in [−1, 1]
    conversion: str  # a sentence for the user; "" when nothing had to change

    def display_rgb(self) -> np.ndarray:
        """uint8 (H, W, 3) for the mask painter."""
        u8 = np.clip((self.image + 1.0) * 127.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        return np.repeat(u8, 3, axis=2) if u8.shape[2] == 1 else u8


def _convert_channels(image: torch.Tensor, channels: int) -> tuple[torch.Tensor, str]:
    """(C, H, W) → (channels, H, W): RGB → grey by Rec. 601 luma, grey → RGB by repetition."""
    have = image.shape[0]
    if have == channels:
        return image, ""
    if have == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).reshape(3, 1, 1)
        return (image * weights).sum(0, keepdim=True), "grey"
    if have == 1 and channels == 3:
        return image.repeat(3, 1, 1), "grey copied to RGB"
    raise ValueError(f"Cannot turn an image with {have} channels into one with {channels}.")


def fit_to_model(pixels: np.ndarray, shape: tuple[int, int, int], fashion: bool) -> tuple[np.ndarray, list[str]]:
    """uint8 (H, W) or (H, W, 3) of any size → float32 ``shape`` in [−1, 1], and the steps taken."""
    channels, height, width = shape
    chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    image = torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32)) / 127.5 - 1.0
    steps = []
    image, how = _convert_channels(image, channels)
    if how:
        steps.append(how)
    h, w = image.shape[1:]
    border = torch.cat([image[:, 0], image[:, -1], image[:, :, 0], image[:, :, -1]], dim=1)
    background = float(border.mean())
    if h != w:  # centre on a square of the background colour, so the shape is not stretched
        side = max(h, w)
        square = torch.full((channels, side, side), background)
        top, left = (side - h) // 2, (side - w) // 2
        square[:, top : top + h, left : left + w] = image
        image = square
        steps.append("centred on a square")
    if fashion and background > 0.0:
        image = -image
        steps.append("inverted (Fashion-MNIST has light clothes on black)")
    inner = FASHION_CONTENT if (fashion and height == 32 and width == 32) else height
    if image.shape[1] != inner:
        resized = functional.interpolate(
            image[None], size=(inner, inner), mode="area" if image.shape[1] > inner else "bicubic"
        )
        image = resized[0].clamp(-1.0, 1.0)
        steps.append(f"resized to {inner}×{inner}")
    if inner != height:
        pad = (height - inner) // 2
        image = functional.pad(image[None], (pad, width - inner - pad, pad, height - inner - pad), value=-1.0)[0]
        steps.append(f"padded to {height}×{width} like the training images")
    return image.numpy().astype(np.float32), steps


def file_source(path: str | Path, shape: tuple[int, int, int], fashion: bool) -> EditSource:
    """Any image file Pillow reads (ImageFileError, a ValueError, names the file when it cannot)."""
    path = Path(path)
    picture = open_image_file(path, draft_side=4 * max(shape[1:]))
    original = f"{picture.width}×{picture.height} {'grey' if picture.mode == 'L' else 'RGB'}"
    image, steps = fit_to_model(np.asarray(picture, dtype=np.uint8), shape, fashion)
    return EditSource(path.name, image, f"{path.name}: {original} → " + ", ".join(steps or ["used as it is"]))


@functools.lru_cache(maxsize=2)
def _builtin_images(kind: str):
    """The first ``BUILTIN_COUNT`` images of a shipped set, loaded once (changing the number is then instant)."""
    if kind == SOURCE_FASHION:
        from core.data import load_fashion_mnist

        return load_fashion_mnist("test", limit=BUILTIN_COUNT)
    if kind == SOURCE_SHAPES:
        from core.data import make_shapes

        return make_shapes(BUILTIN_COUNT, seed=1)
    raise ValueError(f"Unknown built-in source '{kind}'.")


def builtin_source(kind: str, index: int, shape: tuple[int, int, int], fashion: bool) -> EditSource:
    """Test image ``index`` of Fashion-MNIST, or coloured shape ``index``, at the model's shape."""
    data = _builtin_images(kind)
    if not 0 <= int(index) < BUILTIN_COUNT:
        raise ValueError(f"Choose an image number from 0 to {BUILTIN_COUNT - 1}.")
    if kind == SOURCE_FASHION:
        name = f"Fashion-MNIST test image {index} ({data.class_names[int(data.labels[index])]})"
    else:
        name = f"coloured shape {index}"
    image = data.images[index]
    if tuple(image.shape) == tuple(shape):
        return EditSource(name, image.numpy().astype(np.float32), "")
    pixels = np.clip((image.numpy().transpose(1, 2, 0) + 1.0) * 127.5, 0, 255).astype(np.uint8)
    fitted, steps = fit_to_model(pixels[..., 0] if pixels.shape[2] == 1 else pixels, shape, fashion)
    return EditSource(name, fitted, f"{name}: {'×'.join(map(str, image.shape))} → " + ", ".join(steps))


def drawing_source(ink: np.ndarray, shape: tuple[int, int, int]) -> EditSource:
    """A drawing (H, W) of 0/1 ink at the model's size: white ink on black, in every channel."""
    ink = np.asarray(ink, dtype=np.float32)
    if ink.shape != tuple(shape[1:]):
        raise ValueError(f"The drawing is {ink.shape[1]}×{ink.shape[0]} but the model needs {shape[2]}×{shape[1]}.")
    image = np.repeat((ink * 2.0 - 1.0)[None], shape[0], axis=0).astype(np.float32)
    return EditSource("my drawing", image, "")
