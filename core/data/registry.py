"""One string names a dataset (``fashion_mnist``, ``toy:spiral``, ``folder:<path>`` …): the CLI and the menus use these specs."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from core.data.base import ImageDataset
from core.data.drawings import load_drawing, points_from_drawing
from core.data.fashion_mnist import load_fashion_mnist
from core.data.idx import load_idx
from core.data.image_folder import load_image_folder
from core.data.points import PointDataset
from core.data.shapes import make_shapes
from core.data.toys import TOY_DATASETS, TOY_LABELS, make_toy_2d
from core.data.words import points_from_word


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
