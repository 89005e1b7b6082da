"""Learn a log-SNR schedule (VDM) on a 2-D toy and hand it to the log-SNR editor as control points.

The work is ``core.training.learned_schedule.train_vdm`` (a monotone γ_η(t) trained with the continuous-time
VLB, Kingma et al. 2021) in an ``EventStreamWorker``; the learned λ(t) = −γ(t) at the editor's positions
comes back through ``learned``.
"""

from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from core.diffusion.learned_schedule import log_snr_at
from core.training.learned_schedule import VDMConfig, VDMFinished, VDMStep, train_vdm
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads

LEARN_STEPS = 400  # about half a minute on a loaded 2-core machine
BUTTON_TEXT = "Learn log-SNR"  # short: the Schedules row must fit 1024 px at 150 % text


class ScheduleLearningWorker(EventStreamWorker):
    FREQUENT = ("VDMStep",)


class LearnSchedulePanel(QWidget):
    """A button that learns a schedule on two moons, and a line saying how far it got."""

    learned = Signal(object)  # np.ndarray: λ at the editor's control-point positions

    def __init__(self, positions, parent: QWidget | None = None):
        super().__init__(parent)
        self.positions = np.asarray(positions, dtype=np.float64)
        self.steps = LEARN_STEPS
        self.button = QPushButton(BUTTON_TEXT)
        self.button.setToolTip(
            "VDM (Kingma et al. 2021): train a 2-D model on two moons with a monotone log-SNR network and the\n"
            "continuous-time VLB, then draw the learned schedule as the 'drawn log-SNR' column"
        )
        self.button.clicked.connect(self._on_clicked)
        self.button.setMinimumWidth(self.button.sizeHint().width())  # the progress text never narrows it
        self.status = QLabel("")
        self.status.setToolTip("Progress of the learned schedule: the VLB estimate in bits per dimension")
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the row
        self.status.setMinimumWidth(0)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.button)
        layout.addWidget(self.status, 1)
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)

    def shutdown(self) -> None:
        self._job.stop()

    @Slot()
    def _on_clicked(self) -> None:
        config = VDMConfig(
            learned=True, steps=self.steps, log_every=max(1, self.steps // 20), threads=default_worker_threads()
        )
        worker = ScheduleLearningWorker(functools.partial(train_vdm, config))
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        self.button.setEnabled(False)
        self.status.setText("learning …")
        self._job.start(worker)

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, VDMStep):
                self.status.setText(f"{event.step}/{event.total_steps} · VLB {event.bits_per_dim:.2f}")
                self.button.setText(f"{event.step}/{event.total_steps}")  # seen even where the status has no room
            elif isinstance(event, VDMFinished) and event.reason == "completed":
                self.status.setText(f"learned ({event.step} steps)")
                self.learned.emit(log_snr_at(event.gamma, self.positions))

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status.setText(f"Could not learn a schedule: {message}")

    @Slot()
    def _on_job_finished(self) -> None:
        self.button.setText(BUTTON_TEXT)
        self.button.setEnabled(True)
