"""A painter over a small model-sized image: the Edit view's mask brush and its drawing canvas.

The layer is a float32 (H, W) array of 0/1 at the model's resolution (32×32 for Fashion-MNIST), so
what is painted is exactly what the model gets. A stroke stamps discs of ``brush_radius`` image
pixels along the mouse path (segments between two mouse positions are filled, so fast strokes have
no gaps); the eraser stamps zeros. Two looks:

- ``"mask"``: the base image with the layer as a translucent red overlay (the hole to fill);
- ``"ink"``: the layer itself, white on black (a drawing to SDEdit into a garment).

A stroke update costs a few numpy operations on 32×32 pixels and one scaled ``drawImage``
(measured p95 well under the 16 ms budget of the issue; see benchmarks/bench_editing.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

MASK_RGB = np.array([230, 40, 40], dtype=np.float32)
MASK_OPACITY = 0.55
MARGIN_PX = 4


class PixelPainter(QWidget):
    """Paint a 0/1 layer of shape (H, W) with the left mouse button. See the module docstring."""

    changed = Signal()  # a stroke ended, or the layer was cleared / inverted / replaced
    stroke_updated = Signal()  # the layer changed during a stroke (every mouse move that painted)

    def __init__(self, size: tuple[int, int] = (32, 32), look: str = "mask", parent: QWidget | None = None):
        super().__init__(parent)
        self.look = look
        self.brush_radius = 2.0
        self.erasing = False
        self.layer = np.zeros(size, dtype=np.float32)
        self._base = np.zeros((*size, 3), dtype=np.uint8)  # what "mask" paints over (RGB)
        self._image: QImage | None = None
        self._rgb: np.ndarray | None = None
        self._last: tuple[float, float] | None = None  # image coordinates of the previous mouse position
        self.setMinimumSize(130, 130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self._compose()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(220, 220)

    # --- the layer and the base image -----------------------------------------------------------

    def set_base(self, rgb: np.ndarray) -> None:
        """The picture under the mask: uint8 (H, W, 3) or (H, W); a new size clears the layer."""
        rgb = np.asarray(rgb, dtype=np.uint8)
        if rgb.ndim == 2:
            rgb = np.repeat(rgb[..., None], 3, axis=2)
        if rgb.shape[:2] != self.layer.shape:
            self.layer = np.zeros(rgb.shape[:2], dtype=np.float32)
        self._base = np.ascontiguousarray(rgb[..., :3])
        self._compose()

    def set_layer(self, layer: np.ndarray) -> None:
        self.layer = (np.asarray(layer, dtype=np.float32) > 0.5).astype(np.float32)
        self._compose()
        self.changed.emit()

    def clear(self) -> None:
        self.layer[:] = 0.0
        self._compose()
        self.changed.emit()

    def invert(self) -> None:
        self.layer = 1.0 - self.layer
        self._compose()
        self.changed.emit()

    def painted_fraction(self) -> float:
        return float(self.layer.mean())

    # --- coordinates --------------------------------------------------------------------------

    def image_rect(self) -> QRectF:
        """The square (in widget pixels) the layer is drawn into."""
        h, w = self.layer.shape
        scale = max(1e-6, min((self.width() - 2 * MARGIN_PX) / w, (self.height() - 2 * MARGIN_PX) / h))
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def to_image(self, position: QPointF) -> tuple[float, float]:
        """Widget pixels → (row, column) in image pixels (pixel centres at .5)."""
        rect = self.image_rect()
        h, w = self.layer.shape
        return (position.y() - rect.top()) / rect.height() * h, (position.x() - rect.left()) / rect.width() * w

    def to_widget(self, row: float, col: float) -> QPointF:
        rect = self.image_rect()
        h, w = self.layer.shape
        return QPointF(rect.left() + col / w * rect.width(), rect.top() + row / h * rect.height())

    # --- painting -----------------------------------------------------------------------------

    def stamp_segment(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """Stamp the brush along the segment start → end (image coordinates)."""
        h, w = self.layer.shape
        rows = np.arange(h, dtype=np.float32)[:, None] + 0.5
        cols = np.arange(w, dtype=np.float32)[None, :] + 0.5
        (r0, c0), (r1, c1) = start, end
        dr, dc = r1 - r0, c1 - c0
        length2 = dr * dr + dc * dc
        # Distance of every pixel centre to the segment (projection clamped to its ends).
        u = np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        dist2 = (rows - (r0 + u * dr)) ** 2 + (cols - (c0 + u * dc)) ** 2
        hit = dist2 <= max(self.brush_radius, 0.5) ** 2
        self.layer[hit] = 0.0 if self.erasing else 1.0
        self._compose()
        self.stroke_updated.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._last = self.to_image(event.position())
        self.stamp_segment(self._last, self._last)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if self._last is None:
            super().mouseMoveEvent(event)
            return
        here = self.to_image(event.position())
        self.stamp_segment(self._last, here)
        self._last = here

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() != Qt.MouseButton.LeftButton or self._last is None:
            super().mouseReleaseEvent(event)
            return
        self.stamp_segment(self._last, self.to_image(event.position()))
        self._last = None
        self.changed.emit()

    # --- drawing ------------------------------------------------------------------------------

    def _compose(self) -> None:
        layer = self.layer[..., None]
        if self.look == "ink":
            rgb = np.repeat(layer * 255.0, 3, axis=2)
        else:
            alpha = layer * MASK_OPACITY
            rgb = self._base.astype(np.float32) * (1.0 - alpha) + MASK_RGB * alpha
        h, w = self.layer.shape
        self._rgb = np.empty((h, w, 4), dtype=np.uint8)  # BGRA bytes of Format_RGB32
        self._rgb[..., 0] = rgb[..., 2]
        self._rgb[..., 1] = rgb[..., 1]
        self._rgb[..., 2] = rgb[..., 0]
        self._rgb[..., 3] = 255
        self._image = QImage(self._rgb.data, w, h, 4 * w, QImage.Format.Format_RGB32)
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#1b1d23"))
        rect = self.image_rect()
        if self._image is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(rect, self._image)
        painter.setPen(QPen(QColor(120, 120, 130), 1))
        painter.drawRect(rect)
        painter.end()
