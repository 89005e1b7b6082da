"""A live training curve: the raw values, a smoothed line, and a log-y switch.

Training yields one loss per step, so a long run has tens of thousands of points, and pushing them
all to pyqtgraph 30 times a second measured 68 ms per update at 100,000 points. So the full history
is kept in numpy buffers (for export), while the curves show at most ``MAX_BINS`` bins built
incrementally: each bin keeps the minimum and maximum of its raw values (pyqtgraph's "peak"
decimation, so spikes stay visible) and the last smoothed value; when the bins run out, neighbours
are merged pairwise. Redraw cost stays constant however long the run gets, and redraws are coalesced
to at most 5 per second (no grid lines either: they doubled the paint time).

The axes move in steps, not with every new point: x ends at a 1-2-5 number beyond the last step,
y at 1-2-5 multiples around the data, kept while the data still fills most of them. pyqtgraph's
auto-range moved both at every redraw, and every move re-lays out every tick label: measured as the
GUI thread's longest stalls while a 2-D toy trained (p99 24 ms, in AxisItem.generateDrawSpecs).
Zooming or panning with the mouse hands the axes to the user; the "A" button hands them back.

Smoothing is an exponential moving average with bias correction (TensorBoard's smoothing), so the
first points are not dragged towards zero: s_n = (Σ w^{n−k} (1−w) y_k) / (1 − w^{n+1}). Its window
grows with the run (1 + n/10 points at step n, up to 1/(1−w)), so it follows the loss's fast fall
in the first hundreds of steps and is smooth later.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QWidget

from desktop_app.window import themes

RAMP_STEPS_PER_POINT = 10.0  # the smoothing window grows by one point every this many steps
RAW_COLOR = (120, 160, 220, 90)  # faint: the raw values are noisy
SMOOTH_COLOR = (30, 90, 200)
MAX_BINS = 2048  # displayed bins; the curve never holds more than 2 × MAX_BINS points
REDRAW_INTERVAL_MS = 200  # curves are redrawn at most 5 times a second (a redraw costs ~5-10 ms of CPU)


class LossPlot(pg.PlotWidget):
    """A pyqtgraph plot of a value per training step, raw and smoothed (``smoothing`` = EMA weight)."""

    def __init__(
        self,
        title: str = "Loss",
        y_label: str = "loss",
        smoothing: float = 0.98,
        legend: bool = True,
        parent: QWidget | None = None,
    ):
        super().__init__(parent=parent)
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"The smoothing weight must lie in [0, 1), not {smoothing}.")
        self.smoothing = float(smoothing)
        self.setBackground(themes.current().plot_background)
        self.setTitle(title, **themes.title_style())
        self.setLabel("bottom", "step")
        self.setLabel("left", y_label)
        self.setMenuEnabled(False)
        if legend:
            self.addLegend(offset=(-10, 10), **themes.legend_style())
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
        self._clear_bins()
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_INTERVAL_MS)
        self._redraw_timer.timeout.connect(self._redraw)
        self._auto_axes = True  # False while the user has zoomed or panned
        self._view_box = self.getPlotItem().getViewBox()
        self._view_box.disableAutoRange()
        self._view_box.sigRangeChangedManually.connect(self._on_range_changed_by_user)

    def _clear_bins(self) -> None:
        capacity = 2 * MAX_BINS
        self._bin_size = 1  # values per bin
        self._bins = 0
        self._bin_x = np.zeros(capacity)  # step of the bin's first value
        self._bin_last_x = np.zeros(capacity)  # step of its last value
        self._bin_min = np.zeros(capacity)
        self._bin_max = np.zeros(capacity)
        self._bin_smooth = np.zeros(capacity)  # smoothed value at its last step
        self._bin_count = np.zeros(capacity, dtype=np.int64)

    def _merge_bins(self) -> None:
        """All 2·MAX_BINS bins are full: merge neighbours pairwise, doubling the bin size."""
        half = MAX_BINS
        self._bin_x[:half] = self._bin_x[0::2].copy()
        self._bin_last_x[:half] = self._bin_last_x[1::2].copy()
        self._bin_min[:half] = np.minimum(self._bin_min[0::2], self._bin_min[1::2])
        self._bin_max[:half] = np.maximum(self._bin_max[0::2], self._bin_max[1::2])
        self._bin_smooth[:half] = self._bin_smooth[1::2].copy()
        self._bin_count[:half] = self._bin_count[0::2] + self._bin_count[1::2]
        self._bins = half
        self._bin_size *= 2

    def _add_to_bins(self, steps: np.ndarray, values: np.ndarray, smoothed: np.ndarray) -> None:
        for x, y, s in zip(steps.tolist(), values.tolist(), smoothed.tolist(), strict=True):
            i = self._bins - 1
            if i < 0 or self._bin_count[i] >= self._bin_size:  # open a new bin
                if self._bins == len(self._bin_x):
                    self._merge_bins()
                i = self._bins
                self._bins += 1
                self._bin_x[i], self._bin_min[i], self._bin_max[i], self._bin_count[i] = x, y, y, 0
            if y < self._bin_min[i]:
                self._bin_min[i] = y
            if y > self._bin_max[i]:
                self._bin_max[i] = y
            self._bin_last_x[i], self._bin_smooth[i] = x, s
            self._bin_count[i] += 1

    @Slot()
    def _redraw(self) -> None:
        if self.getPlotItem() is None:  # the plot is being destroyed (its view closed): nothing to draw on
            return
        n = self._bins
        if self._bin_size == 1:
            self._raw.setData(self._bin_x[:n], self._bin_min[:n])
        else:  # a vertical stroke from min to max per bin, like pyqtgraph's peak downsampling
            x = np.repeat(self._bin_x[:n], 2)
            y = np.empty(2 * n)
            y[0::2], y[1::2] = self._bin_min[:n], self._bin_max[:n]
            self._raw.setData(x, y)
        self._smooth.setData(self._bin_last_x[:n], self._bin_smooth[:n])
        self._update_axes()

    @Slot(object)
    def _on_range_changed_by_user(self, _mask) -> None:
        self._auto_axes = False

    def _update_axes(self, reframe: bool = False) -> None:
        """Move the axes only when the data leaves them or shrinks well inside (see the module doc)."""
        if not self._auto_axes:
            if not any(self._view_box.state["autoRange"]):  # the user zoomed: leave the axes alone
                return
            self._auto_axes = True  # the "A" button: ranges are ours again
            self._view_box.disableAutoRange()
            reframe = True
        n = self._bins
        if n == 0:
            return
        (x_lo, x_hi), (y_lo, y_hi) = self._view_box.viewRange()
        last_step = float(self._bin_last_x[n - 1])
        first_step = float(self._bin_x[0])
        new_x = (x_lo, x_hi)
        if reframe or last_step > x_hi or x_hi > 4 * max(last_step, 1.0) or first_step < x_lo:
            new_x = (min(0.0, first_step), _nice_ceiling(1.1 * max(last_step, 10.0)))
        low, high = float(self._bin_min[:n].min()), float(self._bin_max[:n].max())
        if self.is_log_y():
            positive = self._bin_min[:n][self._bin_min[:n] > 0]
            if positive.size == 0:
                return
            low, high = math.log10(float(positive.min())), math.log10(max(high, float(positive.min())))
        new_y = _steady_bounds(low, high, (math.inf, -math.inf) if reframe else (y_lo, y_hi))
        if new_x != (x_lo, x_hi):
            self._view_box.setXRange(*new_x, padding=0)
        if new_y != (y_lo, y_hi):
            self._view_box.setYRange(*new_y, padding=0)

    def displayed_points(self) -> int:
        """How many points the raw curve holds now (bounded by 2 × MAX_BINS)."""
        return len(self._raw.xData) if self._raw.xData is not None else 0

    def __len__(self) -> int:
        return self._count

    def clear_data(self) -> None:
        self._count = 0
        self._ema = 0.0
        self._ema_weight = 0.0
        self._clear_bins()
        self._redraw_timer.stop()
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
        smoothed = np.empty_like(values)
        ema, norm = self._ema, self._ema_weight
        full_window = 1.0 / (1.0 - self.smoothing)
        for i, y in enumerate(values):  # a few dozen values per call at 30 Hz: a plain loop is fine
            # The averaging window grows with the run (1 + n/10 points, up to 1/(1−w)): a fixed 50-point
            # window trailed the fast early fall of the loss (0.35 shown against 0.10 after a minute).
            window = min(full_window, 1.0 + (self._count + i) / RAMP_STEPS_PER_POINT)
            w = 1.0 - 1.0 / window
            ema = w * ema + (1.0 - w) * y
            norm = w * norm + (1.0 - w)
            smoothed[i] = ema / norm
        self._ema, self._ema_weight = ema, norm
        n0, n1 = self._count, self._count + steps.size
        self._steps[n0:n1] = steps
        self._values[n0:n1] = values
        self._smoothed[n0:n1] = smoothed
        self._count = n1
        self._add_to_bins(steps, values, smoothed)
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def flush(self) -> None:
        """Redraw now instead of at the next coalesced redraw."""
        self._redraw_timer.stop()
        self._redraw()

    def set_log_y(self, log_y: bool) -> None:
        self.setLogMode(x=False, y=bool(log_y))
        if self._auto_axes:  # the y values are log10 now (or no longer): frame them afresh
            self._update_axes(reframe=True)

    def is_log_y(self) -> bool:
        return bool(self.getPlotItem().ctrl.logYCheck.isChecked())

    def data(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Copies of (steps, raw values, smoothed values): for the CSV export."""
        n = self._count
        return self._steps[:n].copy(), self._values[:n].copy(), self._smoothed[:n].copy()

    def last_smoothed(self) -> float:
        return float(self._smoothed[self._count - 1]) if self._count else math.nan


def _nice_step(span: float) -> float:
    """The smallest 1, 2 or 5 × 10^k that is at least ``span``."""
    if not math.isfinite(span) or span <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(span))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if factor * power >= span * (1 - 1e-12):
            return factor * power
    return 10.0 * power


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^k at least ``value`` (an axis end)."""
    return _nice_step(value)


def _steady_bounds(low: float, high: float, current: tuple[float, float]) -> tuple[float, float]:
    """Axis bounds for data in [low, high]: keep ``current`` while it holds the data and the data fills
    at least 40 % of it; otherwise round outwards to multiples of a 1-2-5 step (about 5 ticks)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return current
    cur_lo, cur_hi = current
    span = max(high - low, 1e-12 * max(1.0, abs(high)))
    if cur_lo <= low and high <= cur_hi and span >= 0.4 * (cur_hi - cur_lo):
        return current
    step = _nice_step(span / 5)
    return (math.floor(low / step) * step, math.ceil(high / step) * step if high > low else low + step)
