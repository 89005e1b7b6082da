"""The Fast sampling view's controls: which toy, train a flow-matching model, reflow, distil, learn Σ, stop."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.data import TOY_DATASETS

TOY_TITLES = {
    "swiss_roll": "Swiss roll",
    "two_moons": "Two moons",
    "eight_gaussians": "8 Gaussians",
    "checkerboard": "Checkerboard",
    "spiral": "Spiral",
    "rings": "Rings",
}


class FastControls(QWidget):
    """Buttons and a few knobs; every press is a signal, ``set_busy`` enables what makes sense."""

    train_requested = Signal()
    reflow_requested = Signal()
    distill_requested = Signal()
    variance_requested = Signal()
    consistency_requested = Signal()
    stop_requested = Signal()
    dataset_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset_combo = QComboBox()
        for name in TOY_DATASETS:
            self.dataset_combo.addItem(TOY_TITLES.get(name, name), name)
        self.dataset_combo.setCurrentIndex(TOY_DATASETS.index("two_moons"))
        self.dataset_combo.setToolTip("The 2-D toy: the shipped diffusion model of it is the one compared")
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_index)

        flow_box = QGroupBox("Flow matching")
        self.train_steps = QSpinBox()
        self.train_steps.setRange(20, 5000)
        self.train_steps.setSingleStep(100)
        self.train_steps.setValue(600)
        self.train_steps.setToolTip("Optimizer steps of the flow-matching run (about 1 s per 100 on a CPU)")
        self.train_button = QPushButton("▶ Train flow model")
        self.train_button.setToolTip("Train the 2-D MLP on straight paths x_t = (1−t)x₀ + tε, then compare it")
        self.train_button.clicked.connect(self.train_requested)
        self.reflow_button = QPushButton("Reflow (straighten)")
        self.reflow_button.setToolTip(
            "Liu et al. 2023: sample pairs (ε, x̂₀) with the trained ODE and train on them, so paths stop crossing"
        )
        self.reflow_button.clicked.connect(self.reflow_requested)
        flow_form = QFormLayout(flow_box)
        flow_form.addRow("Steps", self.train_steps)
        flow_form.addRow(self.train_button)
        flow_form.addRow(self.reflow_button)

        distill_box = QGroupBox("Distillation")
        self.teacher_steps = QComboBox()
        for n in (4, 8, 16, 32):
            self.teacher_steps.addItem(f"{n} → {n // 2} → … → 1", n)
        self.teacher_steps.setCurrentIndex(2)
        self.teacher_steps.setToolTip("Salimans & Ho 2022: each round halves the steps, 2N → N")
        self.round_steps = QSpinBox()
        self.round_steps.setRange(20, 3000)
        self.round_steps.setSingleStep(50)
        self.round_steps.setValue(150)
        self.round_steps.setToolTip("Optimizer steps per distillation round")
        self.distill_button = QPushButton("▶ Distil the diffusion model")
        self.distill_button.setToolTip("Teach a student to do in N DDIM steps what the shipped model does in 2N")
        self.distill_button.clicked.connect(self.distill_requested)
        self.consistency_steps = QSpinBox()
        self.consistency_steps.setRange(20, 5000)
        self.consistency_steps.setSingleStep(100)
        self.consistency_steps.setValue(400)
        self.consistency_steps.setToolTip("Optimizer steps of consistency distillation (about 4 s per 100 on a CPU)")
        self.consistency_button = QPushButton("▶ Consistency model")
        self.consistency_button.setToolTip(
            "Song et al. 2023: teach a student to map every point of the teacher's ODE path to its end, "
            "then sample in 1–8 steps"
        )
        self.consistency_button.clicked.connect(self.consistency_requested)
        distill_form = QFormLayout(distill_box)
        distill_form.addRow("Rounds", self.teacher_steps)
        distill_form.addRow("Steps/round", self.round_steps)
        distill_form.addRow(self.distill_button)
        distill_form.addRow("CD steps", self.consistency_steps)
        distill_form.addRow(self.consistency_button)

        variance_box = QGroupBox("Learned variance")
        variance_box.setToolTip("Nichol & Dhariwal 2021 (Improved DDPM): the network also chooses each step's variance")
        self.variance_steps = QSpinBox()
        self.variance_steps.setRange(50, 5000)
        self.variance_steps.setSingleStep(100)
        self.variance_steps.setValue(800)
        self.variance_steps.setToolTip("Optimizer steps of the L_hybrid run (about 2 s per 100 on a CPU)")
        self.variance_button = QPushButton("▶ Train with learned Σ")
        self.variance_button.setToolTip(
            "Train ε and v with L_simple + 0.001·L_vlb, then compare Σ_θ with fixed β̃_t and β_t: σ_t, VLB, few-step DDPM"
        )
        self.variance_button.clicked.connect(self.variance_requested)
        variance_form = QFormLayout(variance_box)
        variance_form.addRow("Steps", self.variance_steps)
        variance_form.addRow(self.variance_button)

        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop the running job after its current step")
        self.stop_button.clicked.connect(self.stop_requested)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.status = QLabel("Train a flow-matching model to compare it with the shipped diffusion model.")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.addRow("Toy data", self.dataset_combo)
        layout.addLayout(form)
        layout.addWidget(flow_box)
        layout.addWidget(distill_box)
        layout.addWidget(variance_box)
        layout.addWidget(self.stop_button)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        self.set_busy(False, has_flow=False)

    def dataset(self) -> str:
        return str(self.dataset_combo.currentData())

    def set_busy(self, busy: bool, *, has_flow: bool) -> None:
        for widget in (
            self.dataset_combo, self.train_button, self.distill_button, self.train_steps, self.variance_steps,
            self.variance_button, self.consistency_steps, self.consistency_button,
        ):  # fmt: skip
            widget.setEnabled(not busy)
        self.teacher_steps.setEnabled(not busy)
        self.round_steps.setEnabled(not busy)
        self.reflow_button.setEnabled(not busy and has_flow)
        self.stop_button.setEnabled(busy)

    def show_progress(self, done: int, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(text)

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    @Slot(int)
    def _on_dataset_index(self, _index: int) -> None:
        self.dataset_changed.emit(self.dataset())
