"""The Fast sampling view's Fashion-MNIST student tab: the shipped distilled student beside its teacher.

Three rows from the same x_T and labels: the teacher with the student's few DDIM steps, the student
with those steps, and the teacher with 50 (``core.evaluation.distilled_student.compare_with_teacher``,
run by a ``CallWorker``), and the FID / class accuracy measured when the student was shipped (from
its file's metadata, written by ``scripts/distil_fmnist.py ship``). No maths here.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.evaluation.distilled_student import compare_with_teacher, native_sampling, shipped_students
from core.io import CheckpointError, read_metadata
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.workers import BackgroundJob, CallWorker

DEFAULT_SAMPLES = 8


def measured_text(metadata: dict) -> str:
    """Two lines with the FIDs and class accuracies stored in a shipped student's metadata ("" when none)."""
    evaluation = metadata.get("evaluation") or {}
    rows = evaluation.get("rows") or []
    if not rows:
        return ""
    fids = " · ".join(f"{row['row'].replace(' (floor)', '')} {row['fid']:.2f}" for row in rows)
    accuracies = " · ".join(
        f"{row['row'].replace(' (floor)', '')} {row['class_accuracy']:.0%}"
        for row in rows
        if row.get("class_accuracy") is not None
    )
    head = f"FID on {evaluation.get('samples', '?')} samples, seed {evaluation.get('seed', 0)} (lower is better): "
    return head + fids + (f"\nClass accuracy: {accuracies}" if accuracies else "")


class StudentPanel(QWidget):
    """Pick a shipped student, press Sample, see it beside its teacher from the same noise."""

    sampled = Signal()  # the three rows are drawn

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._job = BackgroundJob(self)
        self.student_combo = QComboBox()
        self.student_combo.setToolTip("A few-step student distilled from the shipped Fashion-MNIST model")
        for path in shipped_students():
            self.student_combo.addItem(path.stem, str(path))
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(2, 16)
        self.samples_spin.setValue(DEFAULT_SAMPLES)
        self.samples_spin.setToolTip("How many images per row (one per class, in turn)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 99_999)
        self.seed_spin.setToolTip("Seed of the noise x_T that all three rows share")
        self.sample_button = QPushButton("▶ Sample side by side")
        self.sample_button.setToolTip("Sample the teacher with few steps, the student, and the teacher with 50 steps")
        self.sample_button.clicked.connect(self._on_sample)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setToolTip("What the tab is doing, or what went wrong")
        self.measured = QLabel()
        self.measured.setWordWrap(True)
        self.measured.setToolTip("Numbers from docs/quality.md, stored in the student's file when it was shipped")
        self.grid = ImagePanel("Same x_T and class in every column")
        self.grid.setToolTip("Top row: the teacher with the student's few steps; middle: the student; "
                             "bottom: the teacher with 50 steps, what both try to reach")  # fmt: skip
        self.row_labels: list[str] = []
        self.batches: list = []  # what is on screen, (n, C, H, W) per row

        controls = FlowRow()
        for widget in (QLabel("Student"), self.student_combo, QLabel("Samples"), self.samples_spin,
                       QLabel("Seed"), self.seed_spin, self.sample_button):  # fmt: skip
            controls.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.measured)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)
        self.student_combo.currentIndexChanged.connect(self._on_student_chosen)
        self._on_student_chosen()

    def student_path(self) -> Path | None:
        data = self.student_combo.currentData()
        return Path(data) if data else None

    def shutdown(self) -> None:
        self._job.stop()

    @Slot()
    def _on_student_chosen(self) -> None:
        path = self.student_path()
        has_student = path is not None
        self.sample_button.setEnabled(has_student and not self._job.running)
        if not has_student:
            self.measured.setText("")
            self.status.setText("No distilled student is shipped; run scripts/distil_fmnist.py to make one.")
            return
        try:
            metadata = read_metadata(path)
        except (CheckpointError, OSError) as error:
            self.measured.setText(str(error))
            return
        self.measured.setText(measured_text(metadata))
        native = native_sampling(metadata)
        steps = native.steps if native else "?"
        self._show_row_labels([f"teacher, DDIM-{steps}", f"student, {steps} steps", "teacher, DDIM-50"])
        self.grid.clear()
        self.status.setText("Press Sample: the same noise goes through all three rows.")

    @Slot()
    def _on_sample(self) -> None:
        path = self.student_path()
        if path is None or self._job.running:
            return
        function = functools.partial(
            compare_with_teacher, path, n=self.samples_spin.value(), seed=self.seed_spin.value()
        )
        worker = CallWorker(function)
        worker.result.connect(self._on_rows)
        worker.errored.connect(self._on_error)
        self._job.finished.connect(self._on_job_finished)
        self.sample_button.setEnabled(False)
        self.status.setText("Sampling the teacher and the student from the same x_T …")
        self._job.start(worker)

    @Slot(object)
    def _on_rows(self, rows) -> None:
        self.batches = [row.images.numpy() for row in rows]
        n = self.batches[0].shape[0]
        self.grid.set_batch(np.concatenate(self.batches), ncols=n)
        self._show_row_labels([row.label for row in rows])
        self.status.setText("Press Sample with another seed for new noise.")
        self.sampled.emit()

    def _show_row_labels(self, labels: list[str]) -> None:
        self.row_labels = labels
        self.grid.set_caption("Rows, top to bottom: " + " · ".join(labels))

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status.setText(f"Could not sample: {message}")

    @Slot()
    def _on_job_finished(self) -> None:
        self._job.finished.disconnect(self._on_job_finished)
        self._on_student_chosen_enable()

    def _on_student_chosen_enable(self) -> None:
        self.sample_button.setEnabled(self.student_path() is not None)
