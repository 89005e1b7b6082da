"""A vector field over the plane drawn as arrows (a quiver plot), over an optional heat map and point clouds.

pyqtgraph has no quiver item, so every arrow is three line segments (shaft and two barbs) in one
``PlotCurveItem`` with ``connect="pairs"``: one item, one array push per redraw, fast enough to follow
a slider. Arrow lengths are normalised per frame (the score's size changes by orders of magnitude with
t): the 95th percentile of the lengths fills one grid cell, so the picture shows direction and relative size.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QWidget

from desktop_app.widgets.point_cloud import VIEW_LIMIT

BARB_ANGLE = np.deg2rad(28.0)
BARB_FRACTION = 0.35  # barb length relative to the shaft
HEAT_OPACITY = 0.75  # how strongly the heat map covers the white background


def _faded(name: str, opacity: float) -> pg.ColorMap:
    """A colour map blended with the white background in advance: the look of an item at ``opacity`` without
    compositing a translucent image at every paint (that cost ~3 ms of each redraw)."""
    cmap = pg.colormap.get(name)
    colors = cmap.getColors(mode="float")[:, :3]
    faded = opacity * colors + (1.0 - opacity)
    return pg.ColorMap(cmap.pos, np.round(faded * 255).astype(np.uint8))


def quiver_segments(points: np.ndarray, vectors: np.ndarray, cell: float) -> np.ndarray:
    """Line-segment endpoints (6·N, 2) for arrows at ``points`` along ``vectors``, scaled to the grid ``cell``."""
    length = np.linalg.norm(vectors, axis=1)
    finite = np.isfinite(length)
    scale = np.percentile(length[finite], 95) if finite.any() else 0.0
    if not scale > 0:
        scale = 1.0
    v = vectors * (0.9 * cell / scale)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    v = np.where(norm > cell, v * (cell / np.maximum(norm, 1e-12)), v)  # the largest arrows are clipped to a cell
    tips = points + v
    back = -v * BARB_FRACTION
    c, s = np.cos(BARB_ANGLE), np.sin(BARB_ANGLE)
    barb1 = tips + np.stack([c * back[:, 0] - s * back[:, 1], s * back[:, 0] + c * back[:, 1]], axis=1)
    barb2 = tips + np.stack([c * back[:, 0] + s * back[:, 1], -s * back[:, 0] + c * back[:, 1]], axis=1)
    seg = np.stack([points, tips, tips, barb1, tips, barb2], axis=1)  # (N, 6, 2)
    return np.ascontiguousarray(seg.reshape(-1, 2), dtype=np.float32)


class FieldPlot(pg.PlotWidget):
    """Arrows of a 2-D vector field, with a heat map, a faint data cloud and x_t samples underneath."""

    def __init__(self, title: str, arrow_color=(20, 60, 140), parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setTitle(title, color="#333", size="10pt")
        self.setMenuEnabled(False)
        self.setAspectLocked(True)
        self.setRange(xRange=(-VIEW_LIMIT, VIEW_LIMIT), yRange=(-VIEW_LIMIT, VIEW_LIMIT), padding=0)
        self.heat = pg.ImageItem()
        self.heat.setColorMap(_faded("viridis", HEAT_OPACITY))
        self.cloud = pg.ScatterPlotItem(size=2.5, pen=None, brush=pg.mkBrush(70, 70, 70, 110))
        self.samples = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(230, 120, 0, 150))
        self.arrows = pg.PlotCurveItem(pen=pg.mkPen(*arrow_color, width=1), connect="pairs")
        for item in (self.heat, self.cloud, self.samples, self.arrows):
            self.addItem(item)
        self.segment_count = 0

    def set_field(self, points: np.ndarray, vectors: np.ndarray, cell: float) -> None:
        self.set_segments(quiver_segments(np.asarray(points, np.float64), np.asarray(vectors, np.float64), cell))

    def set_segments(self, seg: np.ndarray) -> None:
        """Arrows already turned into line segments (``quiver_segments``), e.g. on a worker thread."""
        self.segment_count = seg.shape[0] // 2
        self.arrows.setData(seg[:, 0], seg[:, 1])

    def set_heat(self, values: np.ndarray | None, extent: float, levels: tuple[float, float] | None = None) -> None:
        """A (rows = y, cols = x) heat map over [−extent, extent]², or none."""
        if values is None:
            self.heat.clear()
            return
        values = np.ascontiguousarray(values, dtype=np.float32)
        if levels is None:
            levels = (float(np.nanmin(values)), float(np.nanmax(values)) + 1e-12)
        self.heat.setImage(values, autoLevels=False, levels=levels)
        self.heat.setRect(QRectF(-extent, -extent, 2 * extent, 2 * extent))

    def set_cloud(self, points: np.ndarray | None) -> None:
        if points is None:
            self.cloud.setData([], [])
        else:
            self.cloud.setData(points[:, 0], points[:, 1])

    def set_samples(self, points: np.ndarray | None) -> None:
        if points is None:
            self.samples.setData([], [])
        else:
            self.samples.setData(points[:, 0], points[:, 1])
