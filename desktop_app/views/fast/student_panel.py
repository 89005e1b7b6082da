"""The Fast sampling view's Fashion-MNIST student tab: the shipped distilled student beside its teacher.

Three rows from the same x_T and labels: the teacher with the student's few DDIM steps, the student
with those steps, and the teacher with 50 (``core.evaluation.distilled_student.compare_with_teacher``,
run by a ``CallWorker``), and the FID / class accuracy measured when the student was shipped (from
its file's metadata, written by ``scripts/distil_fmnist.py ship``). No maths here.
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.evaluation.distilled_student import compare_with_teacher, shipped_students
from core.io import CheckpointError, read_metadata
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.workers import BackgroundJob, CallWorker

DEFAULT_SAMPLES = 8


def measured_text(metadata: dict) -> str:
    """One paragraph with the FIDs stored in a shipped student's metadata ("" when it has none)."""
    evaluation = metadata.get("evaluation") or {}
    rows = evaluation.get("rows") or []
    if not rows:
        return ""
    parts = [
        f"{row['row']}: FID {row['fid']:.2f}"
        + (f", class accuracy {row['class_accuracy']:.0%}" if row.get("class_accuracy") is not None else "")
        for row in rows
    ]
    head = f"Measured on {evaluation.get('samples', '?')} samples (seed {evaluation.get('seed', 0)}, lower FID is better): "
    return head + "; ".join(parts) + "."


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
        self.measured = QLabel()
        self.measured.setWordWrap(True)
        self.measured.setToolTip("Numbers from docs/quality.md, stored in the student's file when it was shipped")
        self.rows = [ImagePanel() for _ in range(3)]
        self.batches: list = []
        for panel, tip in zip(
            self.rows,
            ("The teacher with as few DDIM steps as the student", "The distilled student with its own steps",
             "The teacher with 50 DDIM steps: what both try to reach"),
            strict=True,
        ):  # fmt: skip
            panel.setToolTip(tip)
            panel.setMinimumHeight(60)

        controls = FlowRow()
        for widget in (QLabel("Student"), self.student_combo, QLabel("Samples"), self.samples_spin,
                       QLabel("Seed"), self.seed_spin, self.sample_button):  # fmt: skip
            controls.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.measured)
        for panel in self.rows:
            layout.addWidget(panel, 1)
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
            self.measured.setText(measured_text(read_metadata(path)))
        except (CheckpointError, OSError) as error:
            self.measured.setText(str(error))
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
        self.batches = [row.images.numpy() for row in rows]  # what is on screen, (n, C, H, W) per row
        for panel, row, batch in zip(self.rows, rows, self.batches, strict=True):
            panel.set_batch(batch, ncols=batch.shape[0])
            panel.set_title(row.label)
        self.status.setText("Same x_T and labels in every column. Press Sample with another seed for new noise.")
        self.sampled.emit()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status.setText(f"Could not sample: {message}")

    @Slot()
    def _on_job_finished(self) -> None:
        self._job.finished.disconnect(self._on_job_finished)
        self._on_student_chosen_enable()

    def _on_student_chosen_enable(self) -> None:
        self.sample_button.setEnabled(self.student_path() is not None)
