"""IDX files, the MNIST format: big-endian magic 00 00 <type> <ndim>, ndim uint32 sizes, then the data.

Every size is checked before anything is allocated, so a damaged or hostile header gives a
``DatasetError`` naming the file instead of a crash.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np
import torch

from core.data.base import DatasetError, ImageDataset, uint8_to_unit_range

MAX_IDX_BYTES = 2_000_000_000  # refuse IDX files whose header promises more than 2 GB of data


_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
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


def pad_images(images: np.ndarray, pad_to: int | None, path: Path) -> np.ndarray:
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
    padded = pad_images(images, pad_to, path)
    return uint8_to_unit_range(np.ascontiguousarray(padded.transpose(0, 3, 1, 2)))


def labels_from_idx_array(labels: np.ndarray, num_images: int, path: Path) -> torch.Tensor:
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
    images = _images_from_idx_array(read_idx(images_path), pad_to, images_path)
    labels, class_names = None, []
    if labels_path is not None:
        labels_path = Path(labels_path)
        labels = labels_from_idx_array(read_idx(labels_path), images.shape[0], labels_path)
        class_names = [str(k) for k in range(int(labels.max()) + 1)]
    return ImageDataset(images=images, labels=labels, class_names=class_names, name=f"idx:{images_path.name}")
