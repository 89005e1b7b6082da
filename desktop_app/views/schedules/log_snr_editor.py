"""A log-SNR schedule drawn by hand: control points dragged up and down on the Schedules view's log-SNR plot.

The points sit at fixed t/T positions; a drag moves one vertically, clamped between its neighbours so that
log-SNR never rises with t (the forward process only adds noise). ``core.diffusion.learned_schedule.
log_snr_schedule`` turns them into a discrete schedule (ᾱ_t = sigmoid(log-SNR), β_t from ᾱ), which a column
of kind "drawn log-SNR" shows: its ᾱ_t and β_t curves and its forward images follow every drag.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal

from core.diffusion import make_schedule
from core.diffusion.learned_schedule import knots_of, log_snr_schedule, monotone_knots

DRAWN_KIND = "drawn log-SNR"
KNOT_POSITIONS = np.linspace(0.0, 1.0, 6)  # t/T of the control points
LOG_SNR_RANGE = (-20.0, 20.0)  # how far a point can be dragged


def default_knots() -> np.ndarray:
    """Start from the cosine schedule (T = 1000), so the first drag changes a schedule the student knows."""
    return np.clip(knots_of(make_schedule("cosine", 1000), KNOT_POSITIONS), *LOG_SNR_RANGE)


def drawn_schedule(knots, num_timesteps: int):
    return log_snr_schedule(KNOT_POSITIONS, knots, num_timesteps)


class KnotHandles(pg.GraphItem):
    """The control points as a draggable polyline (vertical drags only, monotone kept); calls ``on_moved``."""

    def __init__(self, on_moved):
        super().__init__()
        self._on_moved = on_moved
        self._dragged: int | None = None
        self._offset = 0.0
        self.values = default_knots()

    def set_values(self, values, colour: str) -> None:
        self.values = np.clip(monotone_knots(values), *LOG_SNR_RANGE)
        pos = np.column_stack([KNOT_POSITIONS, self.values])
        adj = np.array([[i, i + 1] for i in range(len(pos) - 1)])
        self.setData(
            pos=pos, adj=adj, size=13, symbol="s", pxMode=True,
            symbolBrush=pg.mkBrush(colour), symbolPen=pg.mkPen("w", width=1.5),
            pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine),
        )  # fmt: skip

    def move_knot(self, index: int, log_snr: float) -> None:
        """Set one point's log-SNR, clamped between its neighbours (the drag and the tests both use this)."""
        values = self.values.copy()
        hi = values[index - 1] if index > 0 else LOG_SNR_RANGE[1]
        lo = values[index + 1] if index + 1 < len(values) else LOG_SNR_RANGE[0]
        values[index] = float(np.clip(log_snr, lo, hi))
        self.values = values
        self._on_moved(values)

    def hoverEvent(self, ev):  # noqa: N802 - pyqtgraph's name
        """Claim left-button drags while the mouse is over a point (else the plot would pan)."""
        if not ev.isExit() and len(self.scatter.pointsAt(ev.pos())) > 0:
            ev.acceptDrags(Qt.MouseButton.LeftButton)

    def mouseDragEvent(self, ev):  # noqa: N802 - Qt's name
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            points = self.scatter.pointsAt(ev.buttonDownPos())
            if len(points) == 0:
                ev.ignore()
                return
            self._dragged = int(points[0].index())
            self._offset = float(self.values[self._dragged]) - float(ev.buttonDownPos().y())
        elif ev.isFinish():
            self._dragged = None
            return
        elif self._dragged is None:
            ev.ignore()
            return
        self.move_knot(self._dragged, float(ev.pos().y()) + self._offset)
        ev.accept()


class LogSnrEditor(QObject):
    """Owns the handles on a log-SNR plot; ``changed`` carries the new control-point values."""

    changed = Signal(object)  # np.ndarray of log-SNR values at KNOT_POSITIONS

    def __init__(self, plot: pg.PlotWidget, values=None, parent: QObject | None = None):
        super().__init__(parent)
        self.plot = plot
        self.handles = KnotHandles(self._on_moved)
        self.handles.setToolTip(
            "Drag a square up or down to redraw log-SNR(t); a point cannot rise above the one on its left"
        )
        self.colour = "#888888"
        self.handles.set_values(default_knots() if values is None else values, self.colour)
        self.handles.setZValue(10)
        self.plot.addItem(self.handles)
        self.handles.setVisible(False)

    def values(self) -> np.ndarray:
        return self.handles.values.copy()

    def set_values(self, values) -> None:
        """Replace every control point (e.g. by a learned schedule's log-SNR); monotone and range enforced."""
        self._on_moved(np.clip(monotone_knots(values), *LOG_SNR_RANGE))

    def show_for(self, colour: str | None) -> None:
        """Show the handles in the drawn column's colour, or hide them when no column is drawn."""
        if colour is not None:
            self.colour = colour
            self.handles.set_values(self.handles.values, colour)
        self.handles.setVisible(colour is not None)

    def _on_moved(self, values: np.ndarray) -> None:
        self.handles.set_values(values, self.colour)
        self.changed.emit(values.copy())
