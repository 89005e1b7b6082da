"""A 2-D particle cloud: samples of a 2-D toy model, optionally with the paths they travelled.

Used by the Train view (preview samples while a 2-D model trains) and the Generate view (the
particles moving along the reverse timeline). Items are created once; ``set_points`` and
``set_paths`` only push new arrays. The view range is fixed (standardised toy data lives in about
[−3, 3]², and so does N(0, I) noise), so nothing jumps while the timeline plays.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from desktop_app.window import themes

# Colours for class labels (colour-blind-friendly Okabe–Ito palette), then a neutral one.
LABEL_COLORS = [
    (0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167),
    (86, 180, 233), (213, 94, 0), (240, 228, 66), (0, 0, 0),
]  # fmt: skip
UNLABELLED_COLOR = (40, 90, 170)
VIEW_LIMIT = 3.5
MAX_PATHS = 96  # trajectories drawn as faint lines (more would hide the cloud)


class PointCloudPlot(pg.PlotWidget):
    """Scatter of (N, 2) points with faint trajectory lines and an optional faint reference cloud."""

    def __init__(self, title: str = "", parent: QWidget | None = None, point_size: float = 3.0):
        super().__init__(parent=parent)
        self.setBackground(themes.current().plot_background)
        if title:
            self.setTitle(title, **themes.title_style())
        self.setMenuEnabled(False)
        self.setAspectLocked(True)
        for angle in (0, 90):  # the axes through the origin (cheaper to paint than a grid)
            self.addItem(pg.InfiniteLine(pos=0, angle=angle, pen=pg.mkPen(215, 215, 215, width=1)))
        self.setRange(xRange=(-VIEW_LIMIT, VIEW_LIMIT), yRange=(-VIEW_LIMIT, VIEW_LIMIT), padding=0)
        self._reference = pg.ScatterPlotItem(size=3, pen=None, brush=themes.reference_brush())
        themes.mark_reference(self._reference)  # the training data stays visible on light and dark plots
        self._paths = pg.PlotCurveItem(pen=pg.mkPen(90, 90, 90, 45, width=1), connect="finite")
        self._scatter = pg.ScatterPlotItem(size=point_size, pen=None, brush=pg.mkBrush(*UNLABELLED_COLOR, 170))
        for item in (self._reference, self._paths, self._scatter):
            self.addItem(item)
        self._point_size = point_size
        self._points = np.zeros((0, 2), dtype=np.float32)
        self._brush_labels: np.ndarray | None = None
        self._brushes: list = []

    def set_reference(self, points: np.ndarray | None) -> None:
        """A faint grey cloud behind the samples (e.g. the training data)."""
        if points is None or len(points) == 0:
            self._reference.setData([], [])
            return
        points = np.asarray(points, dtype=np.float32)
        self._reference.setData(points[:, 0], points[:, 1])

    def set_points(self, points: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Show (N, 2) points, coloured by integer ``labels`` when given."""
        points = np.ascontiguousarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"A point cloud needs points of shape (N, 2), not {points.shape}.")
        self._points = points
        if labels is None:
            self._scatter.setData(points[:, 0], points[:, 1], brush=pg.mkBrush(*UNLABELLED_COLOR, 170))
            return
        labels = np.asarray(labels).astype(np.int64) % len(LABEL_COLORS)
        if self._brush_labels is None or not np.array_equal(labels, self._brush_labels):
            palette = [pg.mkBrush(*c, 190) for c in LABEL_COLORS]
            self._brushes = [palette[i] for i in labels]  # built once per labelling, reused every frame
            self._brush_labels = labels
        self._scatter.setData(points[:, 0], points[:, 1], brush=self._brushes)

    def set_paths(self, paths: np.ndarray | None) -> None:
        """Faint lines along ``paths`` (positions, N, 2) for the first ``MAX_PATHS`` particles."""
        if paths is None or len(paths) < 2:
            self._paths.setData([], [])
            return
        paths = np.asarray(paths[:, :MAX_PATHS], dtype=np.float32)  # (P, M, 2)
        steps, count = paths.shape[0], paths.shape[1]
        # One polyline per particle, separated by NaN so connect="finite" breaks the line there.
        lines = np.full((count, steps + 1, 2), np.nan, dtype=np.float32)
        lines[:, :steps] = paths.transpose(1, 0, 2)
        flat = lines.reshape(-1, 2)
        self._paths.setData(flat[:, 0], flat[:, 1])

    def points(self) -> np.ndarray:
        return self._points
