"""How far the run is: a progress bar and one line of numbers (step, loss, speed, elapsed time, ETA)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QVBoxLayout, QWidget

from desktop_app.views.train.formatting import format_count, format_duration

PROGRESS_TEXT_INTERVAL_S = 0.2  # progress bar and text refresh at most 5 times a second
IDLE_TEXT = "Press Start: the defaults train a 2-D swiss roll in about a minute."


@dataclass(frozen=True)
class StepReport:
    """What the line of numbers has just shown, for the status bar and the speed estimate."""

    step: int
    total_steps: int
    eta_s: float  # NaN while the speed is not known
    steps_this_run: int  # steps since this run (or its resumption) started
    seconds_per_step: float  # from the smoothed speed; NaN while not known


class ProgressPanel(QWidget):
    """The progress bar and the line under it; fed with core's Started and StepEvent events."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("no run yet")  # "%v / %m steps" once a run starts (not "0 / 1 steps")
        self.progress_label = QLabel(IDLE_TEXT)
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_label.setWordWrap(True)
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)
        self._batch_size = 1
        self._start_step = 0
        self._points = True  # 2-D data: "points/s", else "images/s"
        self._rate_ema = math.nan  # smoothed samples per second
        self._last_text = 0.0  # time.perf_counter() of the last refresh

    def show_message(self, text: str) -> None:
        self.progress_label.setText(text)

    def reset(self, batch_size: int) -> None:
        """A new run with ``batch_size`` examples per step: an empty bar, no speed yet."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self._rate_ema = math.nan
        self._batch_size = batch_size

    def show_started(self, event, points: bool) -> None:
        """The run has loaded its data and built its model (core's Started event)."""
        self._start_step = event.start_step
        self._points = points
        self.progress.setRange(0, max(1, event.config.steps))
        self.progress.setFormat("%v / %m steps")
        self.progress.setValue(event.start_step)
        unit = "points" if points else "images"
        resumed = f", resumed at step {event.start_step:,}" if event.start_step else ""
        self.progress_label.setText(
            f"{event.dataset_name}: {event.dataset_size:,} {unit} · {format_count(event.num_parameters)} parameters "
            f"· {event.device}{resumed}"
        )

    def show_step(self, event, paused: bool) -> StepReport | None:
        """The latest StepEvent of a batch; a report when the numbers were refreshed (None: not this time)."""
        rate = float(event.images_per_s)
        if math.isfinite(rate) and rate > 0:  # an exponential moving average, started at the first value
            self._rate_ema = rate if not math.isfinite(self._rate_ema) else 0.9 * self._rate_ema + 0.1 * rate
        now = time.perf_counter()
        if now - self._last_text < PROGRESS_TEXT_INTERVAL_S and event.step < event.total_steps:
            return None  # the numbers change faster than anyone reads them; each update costs a relayout
        self._last_text = now
        self.progress.setValue(min(event.step, self.progress.maximum()))
        known = self._rate_ema > 0
        remaining = (event.total_steps - event.step) * self._batch_size / self._rate_ema if known else math.nan
        seconds_per_step = self._batch_size / self._rate_ema if known else math.nan
        if paused:
            return None  # the line says "Paused at step …" until Resume
        unit = "points/s" if self._points else "images/s"
        self.progress_label.setText(
            f"Step {event.step:,} / {event.total_steps:,} · loss {event.loss:.4f} · {self._rate_ema:,.0f} {unit} "
            f"· elapsed {format_duration(event.elapsed_s)} · ETA {format_duration(remaining)}"
        )
        return StepReport(event.step, event.total_steps, remaining, event.step - self._start_step, seconds_per_step)
