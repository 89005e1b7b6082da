"""A live training curve: the raw values, a smoothed line, and a log-y switch.

Training yields one loss per step, so a long run has tens of thousands of points. The curve is
created once and fed with ``setData`` on growing numpy buffers; pyqtgraph's peak downsampling and
clip-to-view keep redraws cheap however long the run gets.

Smoothing is an exponential moving average with bias correction (TensorBoard's smoothing), so the
first points are not dragged towards zero: s_n = (Σ w^{n−k} (1−w) y_k) / (1 − w^{n+1}).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

RAW_COLOR = (120, 160, 220, 90)  # faint: the raw values are noisy
SMOOTH_COLOR = (30, 90, 200)


class LossPlot(pg.PlotWidget):
    """A pyqtgraph plot of a value per training step, raw and smoothed (``smoothing`` = EMA weight)."""

    def __init__(
        self, title: str = "Loss", y_label: str = "loss", smoothing: float = 0.98, parent: QWidget | None = None
    ):
        super().__init__(parent=parent)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"The smoothing weight must lie in [0, 1), not {smoothing}.")
        self.smoothing = float(smoothing)
        self.setBackground("w")
        self.setTitle(title, color="#333", size="10pt")
        self.setLabel("bottom", "step")
        self.setLabel("left", y_label)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.setMenuEnabled(False)
        self.addLegend(offset=(-10, 10), labelTextColor="#333")
        self._raw = self.plot([], [], pen=pg.mkPen(RAW_COLOR, width=1), name="raw")
        self._smooth = self.plot([], [], pen=pg.mkPen(SMOOTH_COLOR, width=2), name="smoothed")
        for curve in (self._raw, self._smooth):
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
        self._steps = np.zeros(1024, dtype=np.float64)
        self._values = np.zeros(1024, dtype=np.float64)
        self._smoothed = np.zeros(1024, dtype=np.float64)
        self._count = 0
        self._ema = 0.0  # un-normalised running average
        self._ema_weight = 0.0  # 1 − w^{n}: the bias correction denominator

    def __len__(self) -> int:
        return self._count

    def clear_data(self) -> None:
        self._count = 0
        self._ema = 0.0
        self._ema_weight = 0.0
        self._raw.setData([], [])
        self._smooth.setData([], [])

    def _grow(self, needed: int) -> None:
        size = len(self._steps)
        if needed <= size:
            return
        new_size = max(needed, 2 * size)
        for name in ("_steps", "_values", "_smoothed"):
            old = getattr(self, name)
            new = np.zeros(new_size, dtype=np.float64)
            new[: self._count] = old[: self._count]
            setattr(self, name, new)

    def append(self, steps, values) -> None:
        """Add points (steps and values of equal length) and redraw once. Non-finite values are skipped."""
        steps = np.asarray(steps, dtype=np.float64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        if steps.shape != values.shape:
            raise ValueError(f"{steps.size} steps do not match {values.size} values.")
        keep = np.isfinite(values)
        steps, values = steps[keep], values[keep]
        if steps.size == 0:
            return
        self._grow(self._count + steps.size)
        w = self.smoothing
        smoothed = np.empty_like(values)
        ema, norm = self._ema, self._ema_weight
        for i, y in enumerate(values):  # a few dozen values per call at 30 Hz: a plain loop is fine
            ema = w * ema + (1.0 - w) * y
            norm = w * norm + (1.0 - w)
            smoothed[i] = ema / norm
        self._ema, self._ema_weight = ema, norm
        n0, n1 = self._count, self._count + steps.size
        self._steps[n0:n1] = steps
        self._values[n0:n1] = values
        self._smoothed[n0:n1] = smoothed
        self._count = n1
        self._raw.setData(self._steps[:n1], self._values[:n1])
        self._smooth.setData(self._steps[:n1], self._smoothed[:n1])

    def set_log_y(self, log_y: bool) -> None:
        self.setLogMode(x=False, y=bool(log_y))

    def is_log_y(self) -> bool:
        return bool(self.getPlotItem().ctrl.logYCheck.isChecked())

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (steps, raw values, smoothed values): for the CSV export."""
        n = self._count
        return self._steps[:n].copy(), self._values[:n].copy(), self._smoothed[:n].copy()

    def last_smoothed(self) -> float:
        return float(self._smoothed[self._count - 1]) if self._count else math.nan
