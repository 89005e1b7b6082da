"""Offline datasets: Fashion-MNIST, coloured shapes, image folders, IDX files, 2-D toys, words and drawings; image helpers.

Every image dataset is an ``ImageDataset`` (float32 (N, C, H, W) in [−1, 1]); the 2-D ones are ``PointDataset``\\ s.
``get_dataset(spec)`` builds any of them from one string. Nothing here downloads.
"""

from core.data.base import (
    DatasetError,
    ImageDataset,
    uint8_to_unit_range,
)
from core.data.batches import (
    MinibatchSampler,
    iterate_minibatches,
)
from core.data.drawings import (
    DRAWING_FORMAT,
    DRAWING_VERSION,
    MAX_DRAWING_BYTES,
    as_strokes,
    load_drawing,
    points_from_drawing,
    save_drawing,
)
from core.data.fashion_mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    load_fashion_mnist,
)
from core.data.idx import (
    MAX_IDX_BYTES,
    labels_from_idx_array,
    load_idx,
    pad_images,
    read_idx,
)
from core.data.image_file import (
    IMAGE_EXTENSIONS,
    IMAGE_FILE_FILTER,
    MAX_IMAGE_PIXELS,
    ImageFileError,
    load_fitted_image,
    load_square_image,
    open_image_file,
)
from core.data.image_folder import load_image_folder
from core.data.images import (
    PALETTE,
    make_grid,
    save_png,
    save_samples_npz,
    scatter_image,
    to_uint8,
)
from core.data.points import (
    PointCloudError,
    PointDataset,
    check_count,
    standardise,
)
from core.data.registry import (
    DATASET_CHOICES,
    DEFAULT_SHAPES,
    DEFAULT_TOY_POINTS,
    DatasetChoice,
    get_dataset,
)
from core.data.shapes import (
    SHAPE_COLORS,
    SHAPE_LABEL_MODES,
    SHAPE_NAMES,
    make_shapes,
)
from core.data.toys import (
    TOY_CLASS_NAMES,
    TOY_DATASETS,
    TOY_LABELS,
    make_toy_2d,
)
from core.data.words import (
    MAX_WORD_LENGTH,
    WORD_FONT_SIZE,
    points_from_word,
    render_word,
)

__all__ = [
    "DATASET_CHOICES",
    "DEFAULT_SHAPES",
    "DEFAULT_TOY_POINTS",
    "DRAWING_FORMAT",
    "DRAWING_VERSION",
    "DatasetChoice",
    "DatasetError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "IMAGE_EXTENSIONS",
    "IMAGE_FILE_FILTER",
    "ImageFileError",
    "load_fitted_image",
    "load_square_image",
    "open_image_file",
    "ImageDataset",
    "MAX_DRAWING_BYTES",
    "MAX_IDX_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_WORD_LENGTH",
    "MinibatchSampler",
    "PALETTE",
    "PointCloudError",
    "PointDataset",
    "SHAPE_COLORS",
    "SHAPE_LABEL_MODES",
    "SHAPE_NAMES",
    "TOY_CLASS_NAMES",
    "TOY_DATASETS",
    "TOY_LABELS",
    "WORD_FONT_SIZE",
    "as_strokes",
    "check_count",
    "get_dataset",
    "iterate_minibatches",
    "labels_from_idx_array",
    "load_drawing",
    "load_fashion_mnist",
    "load_idx",
    "load_image_folder",
    "make_grid",
    "make_shapes",
    "make_toy_2d",
    "pad_images",
    "points_from_drawing",
    "points_from_word",
    "read_idx",
    "render_word",
    "save_drawing",
    "save_png",
    "save_samples_npz",
    "scatter_image",
    "standardise",
    "to_uint8",
    "uint8_to_unit_range",
]
