"""The Edit view's form: model, method, strength, steps, RePaint's resampling, samples, seed, Run/Cancel."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QSlider,
    QSpinBox,
    QWidget,
)

from desktop_app.model_library import ModelEntry, describe_metadata, list_models

TASKS = (
    ("inpaint", "Inpainting: RePaint vs replace"),
    ("sdedit", "SDEdit (noise to t₀, denoise)"),
    ("super_resolution", "Super-resolution 16×16 → 32×32"),
    ("colourise", "Colourise a grey picture (colour models)"),
)
ANY_CLASS = -1


@dataclass(frozen=True)
class EditForm:
    task: str
    model_key: str | None  # a checkpoint file's path, or "memory:N" for a model trained in this session
    steps: int
    strength: float
    jump_length: int
    resamplings: int
    samples: int
    seed: int
    class_choice: int  # ANY_CLASS: unconditional


def image_models() -> list[ModelEntry]:
    """The bundled and saved denoisers of images (2-D point models cannot edit pictures)."""
    return [e for e in list_models() if e.usable and len(e.metadata.get("image_shape") or []) == 3]


class MethodPanel(QGroupBox):
    """The form; ``run_requested`` / ``cancel_requested`` / ``export_requested`` are the buttons."""

    run_requested = Signal()
    cancel_requested = Signal()
    export_requested = Signal()
    task_changed = Signal(str)
    model_chosen = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("3 · Method", parent)
        self._session_models: dict[str, str] = {}  # "memory:N" -> label, models trained in this session
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(12)
        self.model_combo.setToolTip("The shipped Fashion-MNIST model, or an image model you trained and saved")
        self.task_combo = QComboBox()
        self.task_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.task_combo.setMinimumContentsLength(12)
        for key, label in TASKS:
            self.task_combo.addItem(label, key)
        self.task_combo.setToolTip(
            "Inpainting fills the masked part; SDEdit noises the whole image to t₀ and denoises it; "
            "super-resolution upscales 16×16 to 32×32"
        )
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Ask a class-conditional model for one class, or for any")
        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(0, 100)
        self.strength_spin = QDoubleSpinBox()
        self.strength_spin.setRange(0.0, 1.0)
        self.strength_spin.setSingleStep(0.05)
        self.strength_spin.setToolTip("SDEdit's t₀ / T: 0 keeps the input, 1 starts from pure noise")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(2, 1000)
        self.steps_spin.setValue(50)
        self.steps_spin.setToolTip("Sampler steps of a full run (SDEdit uses t₀/T of them)")
        self.resample_spin = QSpinBox()
        self.resample_spin.setRange(1, 10)
        self.resample_spin.setValue(3)
        self.resample_spin.setToolTip(
            "RePaint's resampling U: each jump segment is denoised this many times (1 = replace)"
        )
        self.jump_spin = QSpinBox()
        self.jump_spin.setRange(1, 50)
        self.jump_spin.setValue(5)
        self.jump_spin.setToolTip("RePaint's jump length, in sampler steps")
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(1, 16)
        self.samples_spin.setValue(4)
        self.samples_spin.setToolTip("How many different fills of the same image (different noise)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setToolTip("Seed of the noise: the same seed and settings give the same result")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Run the chosen edit with the chosen model (Ctrl+R)")
        self.run_button.setDefault(True)
        self.run_button.setShortcut("Ctrl+R")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running edit at the next step")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Before / mask / after strip as a PNG (also File ▸ Export…)")

        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_slider, 1)
        strength_row.addWidget(self.strength_spin)
        resample_row = QHBoxLayout()
        resample_row.addWidget(self.resample_spin)
        resample_row.addWidget(self.jump_spin)
        sample_row = QHBoxLayout()
        sample_row.addWidget(self.samples_spin)
        sample_row.addWidget(self.seed_spin)
        buttons = QHBoxLayout()
        for button in (self.run_button, self.cancel_button, self.export_button):
            buttons.addWidget(button)
        form = QFormLayout(self)
        form.setContentsMargins(6, 6, 6, 6)
        form.addRow("Model", self.model_combo)
        form.addRow("Method", self.task_combo)
        form.addRow("Class", self.class_combo)
        form.addRow("Strength", strength_row)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Resampling", resample_row)
        form.addRow("Samples", sample_row)
        form.addRow(buttons)
        self._form = form

        self.strength_slider.valueChanged.connect(self._on_slider)
        self.strength_spin.valueChanged.connect(self._on_strength_spin)
        self.strength_spin.setValue(0.5)
        self.task_combo.currentIndexChanged.connect(self._on_task_changed)
        self.model_combo.currentIndexChanged.connect(self._on_model_changed)
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button.clicked.connect(self.export_requested)
        self.refresh_models()
        self._on_task_changed()

    def task(self) -> str:
        return self.task_combo.currentData()

    def refresh_models(self) -> None:
        keep = self.model_combo.currentData()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for entry in image_models():
            self.model_combo.addItem(entry.label, str(entry.path))
        for key, label in self._session_models.items():
            self.model_combo.insertItem(1, label, key)
        index = self.model_combo.findData(keep) if keep else -1
        self.model_combo.setCurrentIndex(max(index, 0) if self.model_combo.count() else -1)
        self.model_combo.blockSignals(False)

    def select_colour_model(self) -> bool:
        """Choose the first listed model of colour images (for colourisation); False when there is none."""
        colour = {str(e.path) for e in image_models() if (e.metadata.get("image_shape") or [0])[0] == 3}
        for i in range(self.model_combo.count()):
            if self.model_combo.itemData(i) in colour:
                self.model_combo.setCurrentIndex(i)
                return True
        return False

    def add_session_model(self, metadata: dict, select: bool) -> str:
        """List a model trained in this session (not necessarily saved); returns its key."""
        key = f"memory:{len(self._session_models)}"
        details = describe_metadata(metadata)
        self._session_models[key] = f"Just trained: {details}" if details else "Just trained"
        self.model_combo.blockSignals(True)
        self.model_combo.insertItem(1, self._session_models[key], key)
        self.model_combo.blockSignals(False)
        if select:
            self.model_combo.setCurrentIndex(1)
        return key

    def set_classes(self, names: list[str]) -> None:
        self.class_combo.clear()
        self.class_combo.addItem("any (unconditional)", ANY_CLASS)
        for i, name in enumerate(names):
            self.class_combo.addItem(name, i)
        self._form.setRowVisible(self.class_combo, bool(names))

    def form(self) -> EditForm:
        return EditForm(
            self.task(), self.model_combo.currentData() or None, self.steps_spin.value(), self.strength_spin.value(),
            self.jump_spin.value(), self.resample_spin.value(), self.samples_spin.value(), self.seed_spin.value(),
            self.class_combo.currentData() if self.class_combo.count() else ANY_CLASS,
        )  # fmt: skip

    def update_controls(self, running: bool, can_export: bool) -> None:
        for widget in (self.model_combo, self.task_combo, self.class_combo, self.steps_spin, self.samples_spin,
                       self.seed_spin, self.strength_slider, self.strength_spin, self.resample_spin, self.jump_spin):  # fmt: skip
            widget.setEnabled(not running)
        self.run_button.setEnabled(not running and self.model_combo.count() > 0)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(can_export and not running)

    @Slot()
    def _on_task_changed(self) -> None:
        task = self.task()
        self._form.setRowVisible(3, task == "sdedit")  # Strength
        self._form.setRowVisible(5, task == "inpaint")  # Resampling (U × jump length)
        self.task_changed.emit(task)

    @Slot()
    def _on_model_changed(self) -> None:
        self.model_chosen.emit()

    @Slot(int)
    def _on_slider(self, value: int) -> None:
        self.strength_spin.setValue(value / 100.0)

    @Slot(float)
    def _on_strength_spin(self, value: float) -> None:
        self.strength_slider.blockSignals(True)
        self.strength_slider.setValue(round(value * 100))
        self.strength_slider.blockSignals(False)
