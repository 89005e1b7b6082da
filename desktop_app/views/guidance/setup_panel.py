"""The Guidance view's form: which class-conditional model, class, scale w, interval, steps and seed.

Only models trained with classes are offered (guidance needs ε(x_t, ∅) and ε(x_t, c)): the bundled
Fashion-MNIST U-Net and the 2-D toys with one class per mode, plus the user's own conditional
checkpoints. ``settings()`` reads the form as a ``GuidanceSettings``; the buttons are signals.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QPushButton, QSpinBox, QWidget

from core.diffusion.guidance import MAX_GUIDANCE_SCALE
from core.diffusion.guided_sampling import MAX_TRACE_STEPS
from desktop_app.model_library import ModelEntry, list_models
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.model_picker import ModelPicker

DEFAULT_MODEL = "fmnist_unet"
DEFAULT_INTERVAL = (200, 800)


@dataclass(frozen=True)
class GuidanceSettings:
    class_index: int
    scale: float
    interval: tuple[int, int] | None  # None: guide at every step
    steps: int
    seed: int


def conditional_models() -> list[ModelEntry]:
    """Bundled and saved models that were trained with class labels (the only ones guidance can use)."""
    return [
        e for e in list_models() if e.usable and int((e.metadata.get("model_config") or {}).get("num_classes") or 0)
    ]


class GuidanceSetupPanel(QWidget):
    """Model, class, w, interval, steps, seed and the Run / Cancel buttons of the step-by-step run."""

    model_chosen = Signal(object)  # the ModelEntry, or None
    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = ModelPicker(
            conditional_models, DEFAULT_MODEL, "Class-conditional models: guidance needs ε(x_t, ∅) and ε(x_t, c)", 22
        )
        self.model_combo.entry_chosen.connect(self._on_entry_chosen)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class c the samples are guided towards")
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.0, MAX_GUIDANCE_SCALE)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(3.0)
        self.scale_spin.setToolTip("w = 0: unconditional, w = 1: conditional, w > 1: pushed further towards c")
        self.interval_check = QCheckBox("only for t in")
        self.interval_check.setToolTip("Guidance interval (Kynkäänniemi et al. 2024): outside it, w = 1")
        self.t_lo_spin, self.t_hi_spin = QSpinBox(), QSpinBox()
        for spin, value in zip((self.t_lo_spin, self.t_hi_spin), DEFAULT_INTERVAL, strict=True):
            spin.setRange(0, 999)
            spin.setValue(value)
            spin.setEnabled(False)
        self.interval_check.toggled.connect(self.t_lo_spin.setEnabled)
        self.interval_check.toggled.connect(self.t_hi_spin.setEnabled)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, MAX_TRACE_STEPS)
        self.steps_spin.setValue(25)
        self.steps_spin.setToolTip("Deterministic DDIM steps (η = 0): the same seed gives the same x_T and path")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of x_T: the same seed starts every run from the same noise")
        self.run_button = QPushButton("Run step by step")
        self.run_button.setToolTip("Sample with guidance and record ε_u, ε_c and ε̃ at every step")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the run at the next step")
        self.cancel_button.clicked.connect(self.cancel_requested)

        row = FlowRow(self)
        for label, widget in (
            ("Model", self.model_combo), ("Class", self.class_combo), ("w", self.scale_spin),
            (None, self.interval_check), (None, self.t_lo_spin), ("…", self.t_hi_spin),
            ("Steps", self.steps_spin), ("Seed", self.seed_spin),
        ):  # fmt: skip
            if label:
                row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)

    def refresh(self) -> None:
        """List the conditional models again, keeping the choice (the first time: the Fashion-MNIST U-Net)."""
        self.model_combo.refresh()

    def current_entry(self) -> ModelEntry | None:
        return self.model_combo.current_entry()

    @Slot(object)
    def _on_entry_chosen(self, entry: ModelEntry | None) -> None:
        self.class_combo.clear()
        if entry is not None:
            self.class_combo.addItems([str(n) for n in entry.metadata.get("class_names", [])])
        self.model_chosen.emit(entry)

    def set_num_timesteps(self, num_timesteps: int) -> None:
        for spin in (self.t_lo_spin, self.t_hi_spin):
            spin.setRange(0, num_timesteps - 1)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.model_combo, self.run_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def settings(self) -> GuidanceSettings:
        interval = None
        if self.interval_check.isChecked():
            lo, hi = self.t_lo_spin.value(), self.t_hi_spin.value()
            if lo > hi:
                raise ValueError(f"The guidance interval must start before it ends: t from {lo} to {hi} is empty.")
            interval = (lo, hi)
        return GuidanceSettings(
            class_index=max(0, self.class_combo.currentIndex()),
            scale=self.scale_spin.value(),
            interval=interval,
            steps=self.steps_spin.value(),
            seed=self.seed_spin.value(),
        )
