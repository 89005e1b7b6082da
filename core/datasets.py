"""Offline datasets: Fashion-MNIST, coloured shapes, the user's images and IDX files, 2-D toys.

Every image dataset is an ``ImageDataset`` holding float32 images (N, C, H, W) in [−1, 1] (pixel
0 ↦ −1, 255 ↦ +1, as DDPM scales its data) and optional long class labels. The 2-D toys, typed words
and drawings are ``PointDataset``\\ s, built in ``core/toy_data.py``; a drawing is kept as a small
JSON file of pen strokes (``save_drawing`` / ``load_drawing``) so a run's spec can name it. Nothing
here downloads.

``get_dataset(spec)`` builds any of them from one string (the CLI and the app's menus use it);
``DATASET_CHOICES`` lists the built-in ones with human labels. ``MinibatchSampler`` draws random
minibatches in the calling thread (the frozen app cannot start DataLoader worker processes).

A file that cannot be read raises ``DatasetError`` (a ``ValueError``) whose message names the file
and the problem.
"""

from __future__ import annotations

import functools
import gzip
import json
import math
import os
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from core.resources import resource_path
from core.toy_data import (
    TOY_DATASETS,
    TOY_LABELS,
    PointDataset,
    _as_strokes,
    make_toy_2d,
    points_from_drawing,
    points_from_word,
)

__all__ = [
    "DATASET_CHOICES",
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "SHAPE_COLORS",
    "SHAPE_NAMES",
    "TOY_DATASETS",
    "DatasetChoice",
    "DatasetError",
    "ImageDataset",
    "MinibatchSampler",
    "PointDataset",
    "get_dataset",
    "iterate_minibatches",
    "load_drawing",
    "load_fashion_mnist",
    "load_idx",
    "load_image_folder",
    "make_shapes",
    "make_toy_2d",
    "points_from_drawing",
    "points_from_word",
    "save_drawing",
]

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 120_000_000  # 120 megapixels: a 10000×10000 scan loads, a decompression bomb does not
MAX_IDX_BYTES = 2_000_000_000  # refuse IDX files whose header promises more than 2 GB of data


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


def _uint8_to_unit_range(pixels: np.ndarray) -> torch.Tensor:
    """uint8 pixels 0…255 → float32 in [−1, 1] (DDPM's data scaling)."""
    if not pixels.flags.writeable:  # e.g. a view of the cached, read-only Fashion-MNIST bytes
        pixels = pixels.copy()
    return torch.from_numpy(pixels).to(torch.float32).mul_(2.0 / 255.0).sub_(1.0)


# ---------------------------------------------------------------------------------------------
# IDX files (the MNIST format): big-endian magic 0x00 0x00 <type> <ndim>, ndim uint32 sizes, data.

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw) into a numpy array, checking every size."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == b"\x1f\x8b"  # the gzip magic, whatever the extension
        opener = gzip.open if compressed else open
        with opener(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4:
                raise DatasetError(f"{path}: file is too short to be an IDX file (no 4-byte header).")
            if header[0] != 0 or header[1] != 0 or header[2] not in _IDX_TYPES or not 1 <= header[3] <= 4:
                raise DatasetError(
                    f"{path}: not an IDX (MNIST-format) file: it starts with bytes {header.hex(' ')}, "
                    "expected 00 00 <type> <number of dimensions>."
                )
            dtype, ndim = _IDX_TYPES[header[2]], header[3]
            size_bytes = stream.read(4 * ndim)
            if len(size_bytes) < 4 * ndim:
                raise DatasetError(f"{path}: file ends inside its header (truncated).")
            shape = tuple(int(s) for s in np.frombuffer(size_bytes, dtype=">u4"))
            expected = math.prod(shape) * dtype.itemsize
            if expected > MAX_IDX_BYTES:
                raise DatasetError(
                    f"{path}: header promises {expected:,} bytes of data ({shape}), more than this app loads."
                )
            data = stream.read(expected)
            if len(data) < expected:
                raise DatasetError(
                    f"{path}: file is truncated: header says shape {shape} ({expected:,} bytes) "
                    f"but only {len(data):,} bytes follow."
                )
            if stream.read(1):
                raise DatasetError(f"{path}: file has extra bytes after the {shape} data its header describes.")
    except (EOFError, OSError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot be read ({error}); the file may be truncated or damaged.") from error
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _pad_images(images: np.ndarray, pad_to: int | None, path: Path) -> np.ndarray:
    """Pad uint8 (N, H, W[, C]) images with black (→ −1) to pad_to × pad_to, centred."""
    height, width = images.shape[1:3]
    if pad_to is None or (pad_to == height and pad_to == width):
        if height != width:
            raise DatasetError(f"{path}: images are {height}×{width}; only square images are supported (use pad_to).")
        return images
    if pad_to < max(height, width):
        raise ValueError(f"pad_to={pad_to} is smaller than the {height}×{width} images; it can only add a border.")
    top, left = (pad_to - height) // 2, (pad_to - width) // 2
    widths = [(0, 0), (top, pad_to - height - top), (left, pad_to - width - left)] + [(0, 0)] * (images.ndim - 3)
    return np.pad(images, widths, constant_values=0)


def _images_from_idx_array(images: np.ndarray, pad_to: int | None, path: Path) -> torch.Tensor:
    if images.dtype != np.uint8:
        raise DatasetError(
            f"{path}: pixels are stored as {images.dtype}; only 8-bit (unsigned byte) images are supported."
        )
    if images.ndim == 3:
        images = images[:, :, :, None]  # (N, H, W) grayscale
    elif not (images.ndim == 4 and images.shape[3] in (1, 3)):
        raise DatasetError(
            f"{path}: array of shape {images.shape} is not images; expected (N, H, W) or (N, H, W, 1|3)."
        )
    if images.shape[0] == 0:
        raise DatasetError(f"{path}: the file holds no images.")
    padded = _pad_images(images, pad_to, path)
    return _uint8_to_unit_range(np.ascontiguousarray(padded.transpose(0, 3, 1, 2)))


def _labels_from_idx_array(labels: np.ndarray, num_images: int, path: Path) -> torch.Tensor:
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path}: labels must be a 1-D array of whole numbers; got {labels.dtype} {labels.shape}.")
    if labels.shape[0] != num_images:
        raise DatasetError(f"{path}: holds {labels.shape[0]} labels but the image file holds {num_images} images.")
    if labels.size and (labels.min() < 0 or labels.max() > 999):
        raise DatasetError(f"{path}: labels range from {labels.min()} to {labels.max()}; expected 0 to 999.")
    return torch.from_numpy(labels.astype(np.int64))


def load_idx(images_path: str | Path, labels_path: str | Path | None = None, pad_to: int | None = None) -> ImageDataset:
    """Load user-supplied MNIST-format IDX files (gzip-compressed or raw).

    Images must be unsigned bytes of shape (N, H, W) or (N, H, W, C) with C = 1 or 3. ``pad_to``
    pads them with the background value −1 to a square of that size (28 → 32 for MNIST). Class
    names are "0", "1", … up to the largest label.
    """
    images_path = Path(images_path)
    images = _images_from_idx_array(_read_idx(images_path), pad_to, images_path)
    labels, class_names = None, []
    if labels_path is not None:
        labels_path = Path(labels_path)
        labels = _labels_from_idx_array(_read_idx(labels_path), images.shape[0], labels_path)
        class_names = [str(k) for k in range(int(labels.max()) + 1)]
    return ImageDataset(images=images, labels=labels, class_names=class_names, name=f"idx:{images_path.name}")


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), shipped in resources/fashion_mnist.


@functools.lru_cache(maxsize=2)
def _fashion_mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    """Decoded uint8 images (N, 28, 28) and labels (N,) of a split; decoded once per process."""
    images_name, labels_name = FASHION_MNIST_FILES[split]
    images_path = resource_path("fashion_mnist", images_name)
    labels_path = resource_path("fashion_mnist", labels_name)
    for path in (images_path, labels_path):
        if not path.is_file():
            raise DatasetError(f"{path}: Fashion-MNIST file is missing from the app's resources folder.")
    images, labels = _read_idx(images_path), _read_idx(labels_path)
    if images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise DatasetError(f"{images_path}: expected 28×28 uint8 images, found {images.dtype} {images.shape}.")
    _labels_from_idx_array(labels, images.shape[0], labels_path)  # validates
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
    tensor = _uint8_to_unit_range(np.ascontiguousarray(_pad_images(images, pad_to, path)[:, None]))
    return ImageDataset(
        images=tensor,
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=list(FASHION_MNIST_CLASSES),
        name="fashion_mnist" if split == "train" else "fashion_mnist_test",
    )


# ---------------------------------------------------------------------------------------------
# Procedural coloured shapes: an RGB dataset whose two labels (shape and colour) are known exactly.

SHAPE_NAMES = ["circle", "square", "triangle", "cross", "diamond"]
SHAPE_COLORS = {  # name → RGB in 0…255, saturated so colours are easy to tell apart
    "red": (230, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 40),
    "magenta": (220, 50, 220),
    "cyan": (40, 210, 230),
}
SHAPE_LABEL_MODES = ("shape", "color", "shape_and_color")


def _shape_distance(kind: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Signed distance in pixels from each pixel to the edge of a shape (negative inside).

    ``dx``, ``dy`` are pixel-centre offsets from the shape's centre (y grows downwards) and ``r`` its
    radius; all broadcast to (B, S, S). Exact for the circle, exact inside and ≤ 1 px off outside for
    the others, which is all the one-pixel anti-aliasing ramp needs.
    """
    ax, ay = np.abs(dx), np.abs(dy)
    if SHAPE_NAMES[kind] == "circle":
        return np.sqrt(dx**2 + dy**2) - r
    if SHAPE_NAMES[kind] == "square":
        return np.maximum(ax, ay) - 0.8 * r
    if SHAPE_NAMES[kind] == "triangle":
        # Apex up at (0, −r), base at dy = 0.7 r where the half-width reaches r: two slanted edges
        # |dx| = (dy + r) / 1.7 and the base, each a half-plane; inside all three = max of distances.
        slanted = (1.7 * ax - dy - r) / math.hypot(1.7, 1.0)
        return np.maximum(slanted, dy - 0.7 * r)
    if SHAPE_NAMES[kind] == "cross":
        arm = 0.3 * r
        bar = np.maximum(ax - arm, ay - r)
        beam = np.maximum(ay - arm, ax - r)
        return np.minimum(bar, beam)
    return (ax + ay - r) / math.sqrt(2.0)  # diamond


def make_shapes(n: int, seed: int = 0, size: int = 32, label_by: str = "shape") -> ImageDataset:
    """``n`` RGB images of one anti-aliased coloured shape on black, at a random place and size.

    ``labels`` are the shape (``SHAPE_NAMES``) by default; ``label_by="color"`` labels by colour
    and ``"shape_and_color"`` by the pair ("red circle" = shape · 6 + colour). Whatever the choice,
    ``color_labels`` holds the colour index (into ``color_names``). The same ``seed`` gives the same
    images. Edges are anti-aliased by a one-pixel ramp of the signed distance to the shape's edge;
    pixels wholly inside have exactly the palette colour (``2 c / 255 − 1``), pixels wholly outside
    are black (−1).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"The number of images must be a positive whole number; got {n!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 256:
        raise ValueError(f"size must be a whole number of pixels between 8 and 256; got {size!r}.")
    if label_by not in SHAPE_LABEL_MODES:
        raise ValueError(f"label_by must be one of {', '.join(SHAPE_LABEL_MODES)}; got {label_by!r}.")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, len(SHAPE_NAMES), n)
    color = rng.integers(0, len(SHAPE_COLORS), n)
    radius = (size * rng.uniform(0.2, 0.4, n)).astype(np.float32)
    cx = rng.uniform(radius + 1.0, size - radius - 1.0).astype(np.float32)
    cy = rng.uniform(radius + 1.0, size - radius - 1.0).astype(np.float32)

    palette = np.array(list(SHAPE_COLORS.values()), dtype=np.float32)  # (colours, 3)
    centres = np.arange(size, dtype=np.float32) + 0.5  # pixel centres in pixel units
    coverage = np.empty((n, size, size), dtype=np.float32)
    for kind in range(len(SHAPE_NAMES)):
        members = np.flatnonzero(shape == kind)
        dx = centres[None, None, :] - cx[members, None, None]
        dy = centres[None, :, None] - cy[members, None, None]
        distance = _shape_distance(kind, dx, dy, radius[members, None, None])
        coverage[members] = np.clip(0.5 - distance, 0.0, 1.0)
    # Blend black (−1) and the colour c ∈ [−1, 1] by the coverage: −1 + coverage · (c + 1).
    colour_height = torch.from_numpy(palette[color] * (2.0 / 255.0))[:, :, None, None]  # c + 1, (N, 3, 1, 1)
    images = torch.from_numpy(coverage)[:, None].mul(colour_height).sub_(1.0)  # (N, 3, S, S)

    if label_by == "shape":
        labels, class_names = shape, list(SHAPE_NAMES)
    elif label_by == "color":
        labels, class_names = color, list(SHAPE_COLORS)
    else:
        labels = shape * len(SHAPE_COLORS) + color
        class_names = [f"{c} {s}" for s in SHAPE_NAMES for c in SHAPE_COLORS]
    return ImageDataset(
        images=images,
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=class_names,
        name="shapes",
        color_labels=torch.from_numpy(color.astype(np.int64)),
        color_names=list(SHAPE_COLORS),
    )


# ---------------------------------------------------------------------------------------------
# A folder of the user's own images.


def _load_one_image(path: Path, size: int, channels: int) -> np.ndarray:
    """Open, centre-crop and resize one image to uint8 (size, size, channels); DatasetError if not possible."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we apply our own limit below
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise DatasetError(
                        f"{path}: image is {width}×{height} pixels ({width * height / 1e6:.0f} megapixels), "
                        f"over the {MAX_IMAGE_PIXELS / 1e6:.0f}-megapixel limit that protects memory "
                        "(a 'decompression bomb' guard); shrink it first."
                    )
                # JPEG can decode straight at 1/2, 1/4 or 1/8 scale: a 10000×10000 photo never
                # occupies full size in memory. draft() keeps both sides ≥ the requested size.
                image.draft("RGB" if channels == 3 else "L", (size, size))
                image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
                if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                    background = Image.new("RGBA", image.size, (255, 255, 255, 255))  # transparency → white
                    image = Image.alpha_composite(background, image.convert("RGBA"))
                image = image.convert("RGB" if channels == 3 else "L")
                width, height = image.size
                side = min(width, height)
                left, top = (width - side) // 2, (height - side) // 2
                # Crop first: resize(box=...) would let the filter reach pixels outside the crop.
                image = image.crop((left, top, left + side, top + side))
                image = image.resize((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
                pixels = np.asarray(image, dtype=np.uint8)
    except DatasetError:
        raise
    except Image.DecompressionBombError as error:
        raise DatasetError(
            f"{path}: image is far too large to open safely (a 'decompression bomb' guard): {error}"
        ) from error
    except UnidentifiedImageError as error:
        raise DatasetError(f"{path}: not an image Pillow can read (unknown or damaged format).") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise DatasetError(f"{path}: damaged or truncated image ({error}).") from error
    return pixels.reshape(size, size, channels)


def _list_folder(root: Path) -> tuple[list[tuple[Path, int]], list[str], list[tuple[str, str]]]:
    """(image file, class index) pairs, class names and skipped files for a folder."""
    skipped: list[tuple[str, str]] = []

    def images_in(folder: Path) -> list[Path]:
        found = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if any(part.startswith(".") for part in path.relative_to(folder).parts):
                skipped.append((str(path), "hidden file (its name or folder starts with a dot)"))
            elif path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path)
            else:
                skipped.append((str(path), f"not an image file type ({path.suffix or 'no extension'})"))
        return found

    subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subfolders:  # a flat folder: one class named after the folder
        return [(path, 0) for path in images_in(root)], [root.name], skipped
    files: list[tuple[Path, int]] = []
    class_names: list[str] = []
    for folder in subfolders:
        found = images_in(folder)
        if not found:
            skipped.append((str(folder), "subfolder has no images, so it is not a class"))
            continue
        files.extend((path, len(class_names)) for path in found)
        class_names.append(folder.name)
    for path in sorted(p for p in root.iterdir() if p.is_file()):
        skipped.append((str(path), "lies beside the class subfolders, not inside one"))
    return files, class_names, skipped


def load_image_folder(
    path: str | Path, size: int = 32, channels: int = 1, max_images: int | None = None, strict: bool = False
) -> ImageDataset:
    """Load a folder of images: each subfolder is a class, or a folder without subfolders is one class.

    Images of any size in PNG, JPEG, BMP, GIF (first frame), WebP or TIFF are centre-cropped to a
    square, resized to ``size`` × ``size`` and converted to grayscale (``channels=1``) or RGB (3);
    transparent areas become white. ``max_images`` keeps that many files spread evenly over the
    sorted list, so every class keeps its share.

    Nothing is skipped silently. Files that are not images (wrong extension) and, unless
    ``strict=True``, images that cannot be read (damaged, or over ``MAX_IMAGE_PIXELS``) are left
    out and listed with the reason in ``dataset.skipped``, which the app shows to the user: one
    broken photo among hundreds should not stop a class exercise. With ``strict=True`` the first
    unreadable image raises ``DatasetError``. A folder with no usable image raises ``DatasetError``.
    """
    root = Path(path)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB); got {channels!r}.")
    if not isinstance(size, int) or not 8 <= size <= 256:
        raise ValueError(f"size must be a whole number of pixels between 8 and 256; got {size!r}.")
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1):
        raise ValueError(f"max_images must be a positive whole number or None; got {max_images!r}.")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder.")
    files, class_names, skipped = _list_folder(root)
    if not files:
        raise DatasetError(
            f"no images found in {root} (looked for {', '.join(IMAGE_EXTENSIONS)} files, in class subfolders if any)."
        )
    if max_images is not None and len(files) > max_images:
        keep = np.linspace(0, len(files) - 1, max_images).round().astype(int)
        files = [files[i] for i in keep]

    pixels, labels = [], []
    for file, label in files:
        try:
            pixels.append(_load_one_image(file, size, channels))
        except DatasetError as error:
            if strict:
                raise
            skipped.append((str(file), str(error).removeprefix(f"{file}: ")))
            continue
        labels.append(label)
    if not pixels:
        reasons = "; ".join(f"{Path(f).name}: {why}" for f, why in skipped[:3])
        raise DatasetError(f"no readable images found in {root} ({reasons}).")
    used = sorted(set(labels))
    if len(used) < len(class_names):  # a class lost all its images: renumber the remaining ones
        remap = {old: new for new, old in enumerate(used)}
        labels = [remap[label] for label in labels]
        class_names = [class_names[old] for old in used]
    images = _uint8_to_unit_range(np.ascontiguousarray(np.stack(pixels).transpose(0, 3, 1, 2)))
    return ImageDataset(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=class_names,
        name=f"folder:{root.name}",
        skipped=skipped,
    )


# ---------------------------------------------------------------------------------------------
# Drawings saved as JSON, so that a run trained on one can name it in its spec and be resumed.

DRAWING_FORMAT = "diffusion-lab-drawing"
DRAWING_VERSION = 1
MAX_DRAWING_BYTES = 20_000_000  # a long freehand session is a few hundred kB; refuse anything absurd


def save_drawing(path: str | Path, strokes: np.ndarray | list[np.ndarray]) -> Path:
    """Write pen strokes (a list of (M, 2) arrays in data coordinates, y up) as a JSON file.

    The file reads ``{"format": "diffusion-lab-drawing", "version": 1, "strokes": [[[x, y], …], …]}``;
    empty strokes are dropped. The write is atomic (a temporary file in the same folder, then
    ``os.replace``), and the folder is created if needed. Returns the path written.
    """
    path = Path(path)
    arrays = _as_strokes(strokes)  # PointCloudError (a ValueError) for no points or a bad shape
    document = {
        "format": DRAWING_FORMAT,
        "version": DRAWING_VERSION,
        "strokes": [array.tolist() for array in arrays],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as stream:
            json.dump(document, stream, allow_nan=False, separators=(",", ":"))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def load_drawing(path: str | Path) -> list[np.ndarray]:
    """Read a drawing written by ``save_drawing``: a list of float64 (M, 2) stroke arrays, y up.

    A missing, unreadable, corrupt or empty file raises ``DatasetError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such drawing file (was it moved or deleted?).")
    try:
        if path.stat().st_size > MAX_DRAWING_BYTES:
            raise DatasetError(f"{path}: file is larger than {MAX_DRAWING_BYTES:,} bytes; it is not a drawing.")
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot be read ({error}).") from error
    except json.JSONDecodeError as error:
        raise DatasetError(
            f"{path}: not a drawing file: it is not valid JSON ({error.msg} at line {error.lineno})."
        ) from error
    if not isinstance(document, dict) or document.get("format") != DRAWING_FORMAT:
        raise DatasetError(f'{path}: not a drawing file (expected "format": "{DRAWING_FORMAT}").')
    version = document.get("version")
    if version != DRAWING_VERSION:
        raise DatasetError(
            f"{path}: drawing format version {version!r}; this version of Diffusion Lab reads version "
            f"{DRAWING_VERSION}."
        )
    raw_strokes = document.get("strokes")
    if not isinstance(raw_strokes, list):
        raise DatasetError(f'{path}: the drawing has no "strokes" list.')
    strokes = []
    for number, stroke in enumerate(raw_strokes, start=1):
        try:
            array = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise DatasetError(f"{path}: stroke {number} is not a list of [x, y] number pairs.") from error
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 2:
            raise DatasetError(f"{path}: stroke {number} is not a list of [x, y] number pairs.")
        if not np.isfinite(array).all():
            raise DatasetError(f"{path}: stroke {number} holds coordinates that are not finite numbers.")
        strokes.append(array)
    if not strokes:
        raise DatasetError(f"{path}: the drawing is empty (no strokes with points).")
    return strokes


# ---------------------------------------------------------------------------------------------
# One string names a dataset: the CLI and the menus use these specs.


class DatasetChoice(NamedTuple):
    spec: str  # what get_dataset takes
    label: str  # what a menu shows
    kind: str  # "image" or "points"


DATASET_CHOICES = [
    DatasetChoice("fashion_mnist", "Fashion-MNIST (60,000 clothing images, 10 classes)", "image"),
    DatasetChoice("shapes", "Coloured shapes (RGB, 5 shapes × 6 colours)", "image"),
    *(DatasetChoice(f"toy:{name}", f"2-D: {TOY_LABELS[name]}", "points") for name in TOY_DATASETS),
]
DEFAULT_TOY_POINTS = 8192
DEFAULT_SHAPES = 20_000


def get_dataset(spec: str, **kwargs) -> ImageDataset | PointDataset:
    """Build a dataset from a spec string; ``kwargs`` go to the loader it names.

    ====================  ==========================================================
    ``fashion_mnist``     ``load_fashion_mnist(split="train", pad_to=32, limit=None)``
    ``shapes``            ``make_shapes(n=20000, seed=0, size=32, label_by="shape")``
    ``toy:<name>``        ``make_toy_2d(name, n=8192, seed=0)``
    ``word:<text>``       ``points_from_word(text, n=8192, seed=0)``
    ``drawing``           ``points_from_drawing(xy, n=8192, seed=0, jitter=0.03)``
    ``drawing:<path>``    the same, with ``xy`` read from a JSON file by ``load_drawing(path)``
    ``folder:<path>``     ``load_image_folder(path, size=32, channels=1, max_images=None)``
    ``idx:<path>``        ``load_idx(path, labels_path=..., pad_to=None)``; when ``labels_path``
                          is not given, a sibling file named like the images file with
                          ``images-idx3`` → ``labels-idx1`` is used if it exists.
    ====================  ==========================================================
    """
    kind, _, argument = spec.partition(":")
    if kind == "fashion_mnist" and not argument:
        return load_fashion_mnist(**kwargs)
    if kind == "shapes" and not argument:
        kwargs.setdefault("n", DEFAULT_SHAPES)
        return make_shapes(**kwargs)
    if kind == "toy" and argument:
        kwargs.setdefault("n", DEFAULT_TOY_POINTS)
        return make_toy_2d(argument, **kwargs)
    if kind == "word" and argument:
        kwargs.setdefault("n", DEFAULT_TOY_POINTS)
        return points_from_word(argument, **kwargs)
    if kind == "drawing" and not argument:
        kwargs.setdefault("n", DEFAULT_TOY_POINTS)
        return points_from_drawing(**kwargs)
    if kind == "drawing" and argument:
        kwargs.setdefault("n", DEFAULT_TOY_POINTS)
        dataset = points_from_drawing(load_drawing(argument), **kwargs)
        dataset.name = f"drawing:{Path(argument).name}"
        return dataset
    if kind == "folder" and argument:
        return load_image_folder(argument, **kwargs)
    if kind == "idx" and argument:
        if "labels_path" not in kwargs:
            images_path = Path(argument)
            sibling = images_path.with_name(images_path.name.replace("images-idx3", "labels-idx1"))
            kwargs["labels_path"] = sibling if sibling != images_path and sibling.is_file() else None
        return load_idx(argument, **kwargs)
    raise ValueError(
        f"Unknown dataset {spec!r}; use fashion_mnist, shapes, toy:<{'|'.join(TOY_DATASETS)}>, "
        "word:<text>, drawing (with xy=…), drawing:<file.json>, folder:<path> or idx:<path>."
    )


# ---------------------------------------------------------------------------------------------
# Random minibatches without DataLoader workers.


def _seed_from(*words: int) -> int:
    """A well-mixed 63-bit seed from several integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class MinibatchSampler:
    """Random minibatches ``(x, labels)`` forever, in the calling thread, reproducible from a seed.

    Each epoch visits every example once in a fresh random order; batches run on across epoch
    boundaries so every batch has exactly ``batch_size`` examples. Batch ``k`` depends only on
    ``(seed, k)``: to resume a run, build the sampler with ``start_step`` = the number of batches
    already drawn (``sampler.step``), and it continues exactly where it stopped.

    ``data`` is an ``ImageDataset``, a ``PointDataset``, a tensor, or a ``(tensor, labels)`` pair.
    ``hflip=True`` mirrors each image left-right with probability ½ (a common augmentation for
    images whose mirror is as likely as the original; off by default because it changes the data).
    """

    def __init__(
        self,
        data: ImageDataset | PointDataset | torch.Tensor | tuple[torch.Tensor, torch.Tensor | None],
        batch_size: int,
        seed: int = 0,
        *,
        hflip: bool = False,
        start_step: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(data, ImageDataset):
            self.x, self.labels = data.images, data.labels
        elif isinstance(data, PointDataset):
            self.x, self.labels = data.points, data.labels
        elif isinstance(data, torch.Tensor):
            self.x, self.labels = data, None
        else:
            self.x, self.labels = data
        if self.x.shape[0] == 0:
            raise ValueError("The dataset is empty, so there is nothing to draw minibatches from.")
        if self.labels is not None and self.labels.shape[0] != self.x.shape[0]:
            raise ValueError(f"{self.labels.shape[0]} labels do not match {self.x.shape[0]} examples.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number; got {batch_size!r}.")
        if hflip and self.x.ndim != 4:
            raise ValueError("hflip mirrors images; it does not apply to 2-D points.")
        if start_step < 0:
            raise ValueError(f"start_step must be 0 or more; got {start_step!r}.")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.hflip = hflip
        self.step = int(start_step)  # number of batches drawn so far
        self.device = device
        self._epoch_cache: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def __len__(self) -> int:
        """Batches per epoch (rounded up)."""
        return math.ceil(self.x.shape[0] / self.batch_size)

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The example order of an epoch and its flip decisions, from (seed, epoch) alone."""
        if epoch not in self._epoch_cache:
            generator = torch.Generator().manual_seed(_seed_from(self.seed, epoch))
            order = torch.randperm(self.x.shape[0], generator=generator)
            flips = torch.rand(self.x.shape[0], generator=generator) < 0.5 if self.hflip else None
            self._epoch_cache = {e: v for e, v in self._epoch_cache.items() if e >= epoch - 1}
            self._epoch_cache[epoch] = (order, flips)
        return self._epoch_cache[epoch]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = self.x.shape[0]
        positions = torch.arange(self.step * self.batch_size, (self.step + 1) * self.batch_size)
        epochs, offsets = positions // n, positions % n
        index = torch.empty(self.batch_size, dtype=torch.int64)
        flip = torch.zeros(self.batch_size, dtype=torch.bool)
        for epoch in torch.unique(epochs).tolist():
            where = epochs == epoch
            order, flips = self._epoch(epoch)
            index[where] = order[offsets[where]]
            if flips is not None:
                flip[where] = flips[offsets[where]]
        x = self.x.index_select(0, index)
        if flip.any():
            x[flip] = x[flip].flip(-1)
        labels = None if self.labels is None else self.labels.index_select(0, index)
        self.step += 1
        if self.device is not None:
            x = x.to(self.device, non_blocking=True)
            labels = None if labels is None else labels.to(self.device, non_blocking=True)
        return x, labels

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        while True:
            yield self.next_batch()


def iterate_minibatches(
    data: ImageDataset | PointDataset | torch.Tensor | tuple[torch.Tensor, torch.Tensor | None],
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    hflip: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Endless ``(x, labels)`` minibatches; the sampler's seed is drawn once from ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return iter(MinibatchSampler(data, batch_size, seed, hflip=hflip))
