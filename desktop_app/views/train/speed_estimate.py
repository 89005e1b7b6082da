"""The "Size / speed" line of the Train view's form: parameters, and the time 1,000 steps take here.

The time is measured, not guessed: a few real training steps of the form's settings run off the GUI
thread (``probe_training_speed``), once per combination of the settings that change the speed (the
form's ``speed_key``), and the answer is kept in QSettings under ``train_speed/<key>``. The probe
waits until the settings stop changing, the view is shown and no training runs; a run started
before any measurement exists times itself instead.
"""

from __future__ import annotations

import dataclasses
import math
import time
from functools import partial
from typing import Protocol

from PySide6.QtCore import QSettings, QTimer, Slot
from PySide6.QtWidgets import QLabel, QWidget

from core.training import TrainConfig, train
from desktop_app.views.train.formatting import format_count, format_duration
from desktop_app.workers import BackgroundJob, CallWorker

SPEED_PROBE_STEPS = 3  # timed training steps (after one warm-up step) for the time estimate
SPEED_PROBE_DELAY_MS = 800  # wait for the settings to stop changing before measuring
RUN_TIMING_STEPS = 20  # a run that times itself shows its speed from this many steps on
UNMEASURED = ("measuring", "measured when")  # how the line starts while no measurement is known


def probe_training_speed(config: TrainConfig) -> tuple[int, float]:
    """(number of parameters, seconds per step) of ``config`` on this machine, from a few real steps."""
    probe = dataclasses.replace(
        config, steps=SPEED_PROBE_STEPS + 1, preview_every=0, checkpoint_every=0, checkpoint_path=None, warmup_steps=0
    )
    num_parameters, times = 0, []
    for event in train(probe):
        kind = type(event).__name__
        if kind == "Started":
            num_parameters = event.num_parameters
        elif kind == "StepEvent":
            times.append(time.perf_counter())
    seconds = (times[-1] - times[0]) / max(1, len(times) - 1) if len(times) > 1 else math.nan
    return num_parameters, seconds


class SpeedSource(Protocol):
    """What the estimate reads from the form."""

    def speed_key(self) -> str:
        """The settings that change the time per step, as one string."""

    def probe_config(self) -> TrainConfig:
        """The settings to measure (ValueError: a short reason, shown instead of a time)."""

    def total_steps(self) -> int:
        """The run's number of steps (for "this run ≈ …")."""


class SpeedEstimateLabel(QLabel):
    """Parameters and the measured time per 1,000 steps of the form's settings (see the module docstring)."""

    def __init__(self, settings: QSettings, source: SpeedSource, probe: bool = True, parent: QWidget | None = None):
        super().__init__("–", parent)
        self.setWordWrap(True)
        self.setToolTip("Parameters, and the time 1,000 training steps take on this machine (measured)")
        self._settings = settings
        self._source = source
        self._probe_enabled = probe  # False: never measure (benchmarks)
        self._busy = False  # a training run has the machine
        self._probe_key: str | None = None  # the settings the running probe measures
        self._probe = BackgroundJob(self)
        self._timing_run = False  # no measurement when the run started: show the run's own speed
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SPEED_PROBE_DELAY_MS)
        self._timer.timeout.connect(self._on_probe_timer)

    def set_busy(self, busy: bool) -> None:
        """While training runs no probe starts (the timer tries again later)."""
        self._busy = busy

    @Slot()
    def schedule(self) -> None:
        """The settings changed: show the known estimate, or measure it once they stop changing."""
        key = self._source.speed_key()
        cached = self._settings.value(f"train_speed/{key}")
        if cached:
            try:
                num_parameters, seconds = (float(v) for v in str(cached).split(","))
                self.show_estimate(int(num_parameters), seconds)
                return
            except ValueError:
                pass
        self.setText("measuring…" if self.isVisible() else "measured when this view is shown")
        self._timer.start()

    def cancel(self) -> None:
        """Forget a pending measurement (a run starts, or the window closes)."""
        self._timer.stop()

    def shutdown(self) -> None:
        """Wait for a running probe to end (it stops within one step)."""
        self._timer.stop()
        self._probe.stop()

    @Slot()
    def _on_probe_timer(self) -> None:
        if not self._probe_enabled:
            self.setText("–")
            return
        if not self.isVisible() or self._busy or self._probe.running:
            if self._probe.running or self._busy:
                self._timer.start()  # try again when the machine is free
            return
        try:
            config = self._source.probe_config()
        except ValueError as error:
            self.setText(str(error))
            return
        self._probe_key = self._source.speed_key()
        worker = CallWorker(partial(probe_training_speed, config))
        worker.result.connect(self._on_measured)
        worker.errored.connect(self._on_failed)
        self._probe.start(worker)

    @Slot(object)
    def _on_measured(self, value) -> None:
        num_parameters, seconds = value
        if self._probe_key:
            self._settings.setValue(f"train_speed/{self._probe_key}", f"{num_parameters},{seconds}")
        if self._probe_key == self._source.speed_key():
            self.show_estimate(num_parameters, seconds)
        else:
            self.schedule()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.setText(f"could not measure: {message}")

    def show_estimate(self, num_parameters: int, seconds_per_step: float) -> None:
        per_thousand = format_duration(1000 * seconds_per_step)
        total = format_duration(self._source.total_steps() * seconds_per_step)
        self.setText(
            f"{format_count(num_parameters)} parameters · {per_thousand} per 1,000 steps here (this run ≈ {total})"
        )

    def time_run(self, num_parameters: int) -> None:
        """A run started: with no measurement yet, this run is the measurement."""
        self._timing_run = self.text().startswith(UNMEASURED)
        if self._timing_run:
            self.setText(f"{format_count(num_parameters)} parameters · timing this run…")

    def show_run_speed(self, num_parameters: int, seconds_per_step: float, steps_timed: int) -> None:
        """The running run's smoothed time per step (NaN: not known yet), when it is the measurement."""
        if self._timing_run and seconds_per_step > 0 and steps_timed >= RUN_TIMING_STEPS:
            self.show_estimate(num_parameters, seconds_per_step)
