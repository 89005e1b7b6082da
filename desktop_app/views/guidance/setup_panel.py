"""The Guidance view's form: model, kind of guidance, class, scale, interval, steps and seed.

Two kinds of guidance: classifier-free (needs a model trained with classes: ε(x_t, ∅) and ε(x_t, c))
and classifier guidance (any model, used without its class, plus a noise-conditional classifier
p(c | x_t) trained for its data: the bundled Fashion-MNIST U-Net and the labelled 2-D toys have one).
Every usable model is listed, so that choosing one that cannot be guided the chosen way says why.
``settings()`` reads the form as a ``GuidanceSettings``; the buttons are signals.
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
    mode: str  # "cfg" (classifier-free) or "classifier"
    class_index: int
    scale: float
    interval: tuple[int, int] | None  # None: guide at every step
    steps: int
    seed: int


MODES = (("cfg", "Classifier-free"), ("classifier", "Classifier ∇log p"))


def is_conditional(entry: ModelEntry) -> bool:
    return bool(int((entry.metadata.get("model_config") or {}).get("num_classes") or 0))


def conditional_models() -> list[ModelEntry]:
    """Bundled and saved models that were trained with class labels (what classifier-free guidance needs)."""
    return [e for e in list_models() if e.usable and is_conditional(e)]


def guidable_models() -> list[ModelEntry]:
    """Every usable model: conditional ones first (both kinds of guidance), then unconditional ones."""
    usable = [e for e in list_models() if e.usable]
    return [e for e in usable if is_conditional(e)] + [e for e in usable if not is_conditional(e)]


class GuidanceSetupPanel(QWidget):
    """Model, class, w, interval, steps, seed and the Run / Cancel buttons of the step-by-step run."""

    model_chosen = Signal(object)  # the ModelEntry, or None
    mode_changed = Signal(str)  # "cfg" or "classifier"
    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = ModelPicker(
            guidable_models, DEFAULT_MODEL,
            "Classifier-free guidance needs a model trained with classes; classifier guidance a classifier for its data",
            22,
        )  # fmt: skip
        self.model_combo.entry_chosen.connect(self._on_entry_chosen)
        self.mode_combo = QComboBox()
        for key, label in MODES:
            self.mode_combo.addItem(label, key)
        self.mode_combo.setToolTip(
            "Classifier-free: ε_u + w(ε_c − ε_u) from one class-conditional model. Classifier (Dhariwal & Nichol "
            "2021): ε(x_t) − s√(1−ᾱ)∇log p(c|x_t) with a classifier trained on noisy images"
        )
        self.mode_combo.currentIndexChanged.connect(self._on_mode_changed)
        self.scale_label = QLabel("w")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class c the samples are guided towards")
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.0, MAX_GUIDANCE_SCALE)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(3.0)
        self.scale_spin.setToolTip("w = 0: unconditional, w = 1: conditional, w > 1: pushed further towards c")
        self.interval_check = QCheckBox("only for t in")
        self.interval_check.setToolTip(
            "Guidance interval (Kynkäänniemi et al. 2024): guide only these timesteps; outside them w = 1 (classifier-free) or s = 0 (classifier)"
        )
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
        self.run_button.setToolTip("Sample with guidance and record ε_u, ε_c and the guided ε at every step")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the run at the next step")
        self.cancel_button.clicked.connect(self.cancel_requested)

        row = FlowRow(self)
        for label, widget in (
            ("Model", self.model_combo), ("Guidance", self.mode_combo), ("Class", self.class_combo),
            (None, self.scale_label), (None, self.scale_spin),
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

    def mode(self) -> str:
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        self.mode_combo.setCurrentIndex(next(i for i, (key, _) in enumerate(MODES) if key == mode))

    @Slot(int)
    def _on_mode_changed(self, _index: int) -> None:
        classifier = self.mode() == "classifier"
        self.scale_label.setText("s" if classifier else "w")
        self.scale_spin.setToolTip(
            "s = 0: unguided, s = 1: p(x) p(c|x), s > 1: p(c|x) sharpened to the power s" if classifier
            else "w = 0: unconditional, w = 1: conditional, w > 1: pushed further towards c"
        )  # fmt: skip
        self.mode_changed.emit(self.mode())

    def set_class_names(self, names: list[str]) -> None:
        """The classes the chosen guidance can aim at (the model's, or its classifier's)."""
        current = self.class_combo.currentIndex()
        self.class_combo.clear()
        self.class_combo.addItems([str(n) for n in names])
        if 0 <= current < len(names):
            self.class_combo.setCurrentIndex(current)

    def set_num_timesteps(self, num_timesteps: int) -> None:
        for spin in (self.t_lo_spin, self.t_hi_spin):
            spin.setRange(0, num_timesteps - 1)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.model_combo, self.mode_combo, self.run_button):
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
            mode=self.mode(),
            class_index=max(0, self.class_combo.currentIndex()),
            scale=self.scale_spin.value(),
            interval=interval,
            steps=self.steps_spin.value(),
            seed=self.seed_spin.value(),
        )
