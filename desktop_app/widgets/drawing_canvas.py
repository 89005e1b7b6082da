"""Draw your own 2-D data: a square canvas for mouse strokes, and the dialog the Train view opens.

``DrawingCanvas`` records strokes in data coordinates, not pixels: the square drawing area maps to
[−1, 1]² with y up (screen y grows downwards, so it is flipped), which is what
``core.data.toys.points_from_drawing`` expects. Keeping data coordinates means a resized window
redraws the same shape. Each press of the left button starts a new stroke; positions closer than
``MIN_STEP_PX`` to the previous one are skipped, so holding the mouse still adds nothing.

``DrawingDialog`` puts the canvas next to a preview of the points the model will learn from (the
drawing resampled by ``points_from_drawing``: spread evenly along the lines, standardised, with a
little jitter), and enables OK only when that resampling succeeds, i.e. the drawing has some extent.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal, Slot
from PySide6.QtGui import QColor, QKeySequence, QMouseEvent, QPainter, QPaintEvent, QPen, QPolygonF, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.data import PointCloudError, points_from_drawing
from desktop_app.widgets.point_cloud import PointCloudPlot

MARGIN_PX = 8  # space around the square drawing area
MIN_STEP_PX = 1.5  # mouse moves shorter than this (in pixels) add no point
GRID_STEPS = 8  # grid lines divide each axis into this many cells
STROKE_COLOR = QColor(30, 90, 200)
LAST_STROKE_COLOR = QColor(0, 60, 160)
PREVIEW_POINTS = 1500  # points in the dialog's preview (the training set has many more)


class DrawingCanvas(QWidget):
    """A square area to draw strokes on with the left mouse button; ``strokes()`` gives them in [−1, 1]², y up."""

    changed = Signal()  # a stroke was finished, undone or cleared

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._strokes: list[list[tuple[float, float]]] = []
        self._drawing = False  # the left button is down and the last stroke is growing
        self.setMinimumSize(240, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip("Hold the left mouse button and draw; each press starts a new stroke")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(440, 440)

    # --- the drawing ----------------------------------------------------------------------------

    def strokes(self) -> list[np.ndarray]:
        """The strokes as float64 (M, 2) arrays of (x, y) in [−1, 1], y up, oldest first."""
        return [np.array(stroke, dtype=np.float64).reshape(-1, 2) for stroke in self._strokes]

    def set_strokes(self, strokes: list[np.ndarray]) -> None:
        """Replace the drawing (points outside [−1, 1]² are moved to the edge)."""
        self._strokes = [
            [(float(x), float(y)) for x, y in np.clip(np.asarray(s, dtype=np.float64).reshape(-1, 2), -1.0, 1.0)]
            for s in strokes
            if len(s)
        ]
        self._drawing = False
        self.update()
        self.changed.emit()

    def stroke_count(self) -> int:
        return len(self._strokes)

    def is_empty(self) -> bool:
        return not self._strokes

    @Slot()
    def undo(self) -> None:
        """Remove the last stroke (nothing happens on an empty canvas)."""
        if self._strokes:
            self._strokes.pop()
            self._drawing = False
            self.update()
            self.changed.emit()

    @Slot()
    def clear(self) -> None:
        """Remove every stroke."""
        if self._strokes:
            self._strokes = []
            self._drawing = False
            self.update()
            self.changed.emit()

    # --- pixels ↔ data coordinates --------------------------------------------------------------

    def drawing_rect(self) -> QRectF:
        """The square area (in widget pixels) that maps to [−1, 1]²."""
        side = max(1.0, min(self.width(), self.height()) - 2.0 * MARGIN_PX)
        return QRectF((self.width() - side) / 2.0, (self.height() - side) / 2.0, side, side)

    def to_data(self, position: QPointF) -> tuple[float, float]:
        """Widget pixels → (x, y) in [−1, 1]², y up; positions outside the square stick to its edge."""
        rect = self.drawing_rect()
        x = (position.x() - rect.left()) / rect.width() * 2.0 - 1.0
        y = 1.0 - (position.y() - rect.top()) / rect.height() * 2.0
        return min(1.0, max(-1.0, x)), min(1.0, max(-1.0, y))

    def to_pixels(self, x: float, y: float) -> QPointF:
        """(x, y) in data coordinates → widget pixels (the inverse of ``to_data``)."""
        rect = self.drawing_rect()
        return QPointF(rect.left() + (x + 1.0) / 2.0 * rect.width(), rect.top() + (1.0 - y) / 2.0 * rect.height())

    # --- mouse --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._strokes.append([self.to_data(event.position())])
        self._drawing = True
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if not self._drawing:  # between a left press and its release (Qt grabs the mouse meanwhile)
            super().mouseMoveEvent(event)
            return
        stroke = self._strokes[-1]
        x, y = self.to_data(event.position())
        last = self.to_pixels(*stroke[-1])
        here = self.to_pixels(x, y)
        if abs(here.x() - last.x()) + abs(here.y() - last.y()) >= MIN_STEP_PX:
            stroke.append((x, y))
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt's name
        if event.button() != Qt.MouseButton.LeftButton or not self._drawing:
            super().mouseReleaseEvent(event)
            return
        self._drawing = False
        x, y = self.to_data(event.position())
        if self._strokes[-1][-1] != (x, y):
            self._strokes[-1].append((x, y))
        self.update()
        self.changed.emit()

    # --- painting ------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().window())
        rect = self.drawing_rect()
        painter.fillRect(rect, QColor("white"))
        for k in range(1, GRID_STEPS):  # light grid; the axes through 0 a little darker
            f = k / GRID_STEPS
            painter.setPen(QPen(QColor(200, 200, 200) if 2 * k == GRID_STEPS else QColor(232, 232, 232), 1))
            x = rect.left() + f * rect.width()
            y = rect.top() + f * rect.height()
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
            painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))
        painter.setPen(QPen(QColor(170, 170, 170), 1))
        painter.drawRect(rect)

        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        width = max(2.5, rect.width() / 150.0)
        for index, stroke in enumerate(self._strokes):
            color = LAST_STROKE_COLOR if index == len(self._strokes) - 1 else STROKE_COLOR
            pen = QPen(color, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            points = [self.to_pixels(x, y) for x, y in stroke]
            if len(points) == 1:
                painter.drawPoint(points[0])
            else:
                painter.drawPolyline(QPolygonF(points))
        if not self._strokes:
            painter.setPen(QColor(150, 150, 150))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "Draw here")
        painter.end()


class DrawingDialog(QDialog):
    """Draw a shape for a 2-D model to learn: canvas, Clear / Undo, a preview of the points, OK / Cancel."""

    def __init__(self, parent: QWidget | None = None, strokes: list[np.ndarray] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Draw your own 2-D data")
        self.canvas = DrawingCanvas()
        self.preview = PointCloudPlot("Points the model learns from", point_size=2.5)
        self.preview.setMinimumSize(220, 220)
        self.preview.hideAxis("left")
        self.preview.hideAxis("bottom")

        hint = QLabel(
            "Hold the left mouse button and draw. Each press starts a new stroke; lines, curves, letters "
            "and separate pieces all work. The model learns points spread evenly along your lines "
            "(right), rescaled to the size of its noise."
        )
        hint.setWordWrap(True)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)

        self.undo_button = QPushButton("Undo stroke")
        self.undo_button.setToolTip("Remove the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every stroke")
        self.clear_button.clicked.connect(self.canvas.clear)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.canvas.undo)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Use this drawing")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        pictures = QHBoxLayout()
        pictures.addWidget(self.canvas, 3)
        pictures.addWidget(self.preview, 2)
        tools = QHBoxLayout()
        tools.addWidget(self.undo_button)
        tools.addWidget(self.clear_button)
        tools.addWidget(self.status_label, 1)
        tools.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addLayout(pictures, 1)
        layout.addLayout(tools)
        self.resize(820, 560)

        self.canvas.changed.connect(self._on_changed)
        if strokes:
            self.canvas.set_strokes(strokes)
        self._on_changed()

    def strokes(self) -> list[np.ndarray]:
        """The drawing: float64 (M, 2) arrays in [−1, 1]², y up, one per stroke."""
        return self.canvas.strokes()

    @Slot()
    def _on_changed(self) -> None:
        has_strokes = not self.canvas.is_empty()
        self.undo_button.setEnabled(has_strokes)
        self.clear_button.setEnabled(has_strokes)
        try:
            points = points_from_drawing(self.canvas.strokes(), PREVIEW_POINTS, seed=0).points.numpy()
        except PointCloudError as error:
            self.ok_button.setEnabled(False)
            self.preview.set_points(np.zeros((0, 2), np.float32))
            self.status_label.setText(str(error) if has_strokes else "Draw a shape on the left.")
            return
        self.ok_button.setEnabled(True)
        self.preview.set_points(points)
        count = self.canvas.stroke_count()
        self.status_label.setText(f"{count} stroke{'s' if count != 1 else ''}")
