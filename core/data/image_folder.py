"""A folder of the user's own images (any common format; class subfolders become classes)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from core.data.base import DatasetError, ImageDataset, uint8_to_unit_range

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MAX_IMAGE_PIXELS = 120_000_000  # 120 megapixels: a 10000×10000 scan loads, a decompression bomb does not


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
    images = uint8_to_unit_range(np.ascontiguousarray(np.stack(pixels).transpose(0, 3, 1, 2)))
    return ImageDataset(
        images=images,
        labels=torch.tensor(labels, dtype=torch.int64),
        class_names=class_names,
        name=f"folder:{root.name}",
        skipped=skipped,
    )
