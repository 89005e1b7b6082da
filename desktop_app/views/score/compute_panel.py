"""The Run / Cancel / progress / message part that the Score view's image panels share.

A panel that computes something in a worker (the bound, the denoiser gap) derives from
``ComputePanel``: it lays ``run_button``, ``cancel_button``, ``progress`` and ``message`` out beside
its own controls and plot, implements ``_on_run`` (make the worker, then ``start(worker, text)``) and
``_on_events``; the buttons, the busy bar, errors, Cancel and the end of the run are handled here.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QWidget

from desktop_app.views.score.image_common import image_model_path, missing_model_text
from desktop_app.workers import BackgroundJob, EventStreamWorker


class ComputePanel(QWidget):
    """Run / Cancel buttons, a progress bar and a message for one computation at a time."""

    run_finished = Signal()

    def __init__(self, run_text: str, run_tip: str, cancel_tip: str, progress_tip: str, message: str,
                 parent: QWidget | None = None):  # fmt: skip
        super().__init__(parent)
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self.run_button = QPushButton(run_text)
        self.run_button.setToolTip(run_tip)
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(cancel_tip)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setToolTip(progress_tip)
        self.message = QLabel(message)
        self.message.setWordWrap(True)

    def disable_without_model(self) -> None:
        """Without the shipped image model there is nothing to compute: say so instead."""
        if not image_model_path().is_file():
            self.run_button.setEnabled(False)
            self.message.setText(missing_model_text())

    def start(self, worker: EventStreamWorker, text: str) -> None:
        """Run ``worker`` (its events go to ``_on_events``), the bar busy until the first progress event."""
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        self.progress.setRange(0, 0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message.setText(text)
        self._job.start(worker)

    @Slot()
    def _on_cancel(self) -> None:
        self._job.request_stop()

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.message.setText(text)

    @Slot()
    def _on_cancelled(self) -> None:
        self.message.setText("Cancelled.")

    @Slot()
    def _on_job_finished(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(True)
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self.run_finished.emit()

    def shutdown(self) -> None:
        self._job.stop()
