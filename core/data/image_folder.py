"""A folder of the user's own images (any common format; class subfolders become classes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.data.base import DatasetError, ImageDataset, uint8_to_unit_range
from core.data.image_file import IMAGE_EXTENSIONS, load_square_image


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
            pixels.append(load_square_image(file, size, channels))
        except DatasetError as error:
            if strict:
                raise
            skipped.append((str(file), str(error)))
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
    images = uint8_to_unit_range(np.ascontiguousarray(np.stack(pixels).transpose(0, 3, 1, 2)))
    return ImageDataset(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=class_names,
        name=f"folder:{root.name}",
        skipped=skipped,
    )
