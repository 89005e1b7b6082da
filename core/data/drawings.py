"""Drawings saved as JSON pen strokes, so that a run trained on one can name it in its spec and be resumed."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.data.base import DatasetError
from core.data.points import PointCloudError, PointDataset, check_count, standardise

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
    arrays = as_strokes(strokes)  # PointCloudError (a ValueError) for no points or a bad shape
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
# From pen strokes to a point cloud.


def as_strokes(xy: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Accept one (M, 2) array or a list of them (one per pen stroke); check shapes and values."""
    if isinstance(xy, (np.ndarray, torch.Tensor)):
        strokes = [xy]
    else:
        strokes = list(xy)
        # A flat list of (x, y) pairs is one stroke, not many one-point strokes.
        if strokes and np.ndim(strokes[0]) == 1:
            strokes = [np.asarray(strokes)]
    arrays = []
    for stroke in strokes:
        array = np.asarray(stroke.detach().cpu() if isinstance(stroke, torch.Tensor) else stroke, dtype=np.float64)
        if array.size == 0:
            continue
        if array.ndim != 2 or array.shape[1] != 2:
            raise PointCloudError(f"A drawing must be points with two coordinates, shape (M, 2); got {array.shape}.")
        if not np.isfinite(array).all():
            raise PointCloudError("The drawing contains coordinates that are not finite numbers.")
        arrays.append(array)
    if not arrays:
        raise PointCloudError("Draw something first: the drawing has no points.")
    return arrays


def points_from_drawing(
    xy: np.ndarray | Sequence[np.ndarray],
    n: int,
    seed: int = 0,
    jitter: float = 0.03,
    connect: bool = True,
) -> PointDataset:
    """Resample a user's drawing to ``n`` standardised points with Gaussian ``jitter``.

    ``xy`` is an (M, 2) array of pen positions in data coordinates (y up: flip screen coordinates
    before calling), or a list of such arrays, one per pen stroke. With ``connect=True`` the points
    of a stroke are joined by straight segments and the ``n`` points are spread uniformly along the
    total length (so a slow mouse, which records many nearby positions, does not make dense blobs);
    a stroke of a single point counts as a dot. With ``connect=False`` the pen positions are treated
    as a point cloud and drawn with replacement. ``jitter`` is the standard deviation of the noise,
    added after standardisation, in the standardised units (the whole drawing has std 1).
    """
    n = check_count(n)
    if not (isinstance(jitter, (int, float)) and 0.0 <= jitter <= 1.0):
        raise ValueError(f"jitter must be a number between 0 and 1 (in standard deviations); got {jitter!r}.")
    strokes = as_strokes(xy)
    vertices = np.concatenate(strokes)
    if np.ptp(vertices, axis=0).max() == 0.0:
        raise PointCloudError("The drawing is a single dot; draw a shape with some extent.")
    rng = np.random.default_rng(seed)
    if connect:
        starts = np.concatenate([s[:-1] if len(s) > 1 else s for s in strokes])
        ends = np.concatenate([s[1:] if len(s) > 1 else s for s in strokes])
        lengths = np.linalg.norm(ends - starts, axis=1)
        # Dots (zero-length segments) get the weight of a short segment so they are not lost.
        weights = np.where(lengths > 0, lengths, 0.1 * lengths.sum() / len(lengths))
        weights = weights / weights.sum()
        segment = rng.choice(len(weights), size=n, p=weights)
        along = rng.random(n)[:, None]
        points = starts[segment] + along * (ends[segment] - starts[segment])
        # Exact moments of "uniform along the segments": a point a + u (b − a), u ~ U(0, 1), has
        # mean (a + b)/2 and second moment (a² + ab + b²)/3 per axis.
        mean = weights @ ((starts + ends) / 2.0)
        second = weights @ ((starts**2 + starts * ends + ends**2) / 3.0)
        variance = second - mean**2
    else:
        points = vertices[rng.integers(0, len(vertices), n)]
        mean, variance = vertices.mean(axis=0), vertices.var(axis=0)
    points = standardise(points, mean, variance) + jitter * rng.standard_normal((n, 2))
    return PointDataset(points=torch.from_numpy(points.astype(np.float32)), name="drawing")
