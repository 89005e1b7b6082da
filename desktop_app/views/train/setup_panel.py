"""The Train view's settings column: data, model, diffusion, optimisation and run settings.

The form reads as a ``core.training.TrainConfig`` (``config()``) and shows one (``set_config()``,
for Load & resume). Choosing 2-D points or images swaps the networks on offer and resets the
settings that differ between the two (``KIND_DEFAULTS``). Every field is stored in QSettings under
``train/`` and restored at start-up.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QPushButton, QScrollArea, QVBoxLayout, QWidget

from core.diffusion import MAX_TIMESTEPS, MIN_TIMESTEPS, SCHEDULE_KINDS
from core.runtime import cpu_count
from core.training import TrainConfig
from core.training.lesson import LESSON_PRESET, lesson_config
from desktop_app.views.train.data_picker import DEFAULT_DATASET, DRAWING_SPEC, FOLDER_SPEC, DataPicker, has_classes
from desktop_app.views.train.form_parts import compact_combo, field_value, group, select, show_field_value, spin
from desktop_app.views.train.speed_estimate import SpeedEstimateLabel
from desktop_app.widgets.form_helpers import device_combo
from desktop_app.workers import default_worker_threads

log = logging.getLogger(__name__)

OBJECTIVES = {"eps": "ε: the noise (DDPM)", "x0": "x₀: the clean data", "v": "v: velocity (Salimans & Ho)"}
MODELS_FOR_POINTS = {"mlp": "MLP (for 2-D points)"}
MODELS_FOR_IMAGES = {"tiny": "U-Net tiny", "small": "U-Net small", "base": "U-Net base"}

# Defaults that differ between 2-D points and images: both visibly learn within minutes on a CPU.
# 2-D points predict v: with the cosine schedule ᾱ_{T−1} ≈ 2e-9, so an ε-model's x̂_0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ
# amplifies any error in ε̂ ~20,000× at the first sampling step, and unlike images, points are not clipped
# to [−1, 1] (measured: every sampler gave |x| up to 2·10⁴ after 1,500 steps of ε-training).
# v-prediction's x̂_0 = √ᾱ x_t − √(1−ᾱ) v̂ stays bounded (Salimans & Ho 2022).
KIND_DEFAULTS = {
    "points": {"model": "mlp", "batch": 128, "steps": 2000, "lr": 1e-3, "preview_every": 100, "objective": "v"},
    "images": {"model": "tiny", "batch": 64, "steps": 3000, "lr": 1e-3, "preview_every": 100, "objective": "eps"},
}


def network_label(model: str, points: bool) -> str:
    """What the form calls the network ``model`` of a TrainConfig ("auto" as TrainConfig resolves it)."""
    if model == "auto":
        model = "mlp" if points else "small"
    return {**MODELS_FOR_POINTS, **MODELS_FOR_IMAGES}.get(model, model)


def default_training_threads() -> int:
    """All CPU cores but one (see ``desktop_app.workers.default_worker_threads``)."""
    return default_worker_threads()


def lesson_subset_text() -> str:
    """What the lesson preset trains on, e.g. "4 classes (T-shirt/top, Trouser, Sneaker, Bag) at 16×16"."""
    options = LESSON_PRESET["dataset_options"]
    classes = options.get("classes") or []
    size = options.get("pad_to")
    return f"{len(classes)} classes ({', '.join(classes)})" + (f" at {size}×{size}" if size else "")


class SetupPanel(QScrollArea):
    """The settings column (scrollable): Data, Model, Diffusion, Optimisation and Run boxes, and Reset."""

    dataset_changed = Signal(str)  # another dataset was chosen: "points" or "images"

    def __init__(self, settings: QSettings, speed_probe: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._kind = "points"

        self.data = DataPicker(settings)
        self.data.dataset_changed.connect(self._on_dataset_changed)

        # Model
        self.model_combo = compact_combo()
        self.model_combo.setToolTip("The denoising network: an MLP for 2-D points, a U-Net for images")
        self.estimate_label = SpeedEstimateLabel(settings, source=self, probe=speed_probe)
        model_box, model_form = group("Model")
        model_form.addRow("Network", self.model_combo)
        model_form.addRow("Size / speed", self.estimate_label)

        # Diffusion
        self.schedule_combo = QComboBox()
        for kind in SCHEDULE_KINDS:
            self.schedule_combo.addItem(kind, kind)
        self.schedule_combo.setCurrentIndex(self.schedule_combo.findData("cosine"))
        self.schedule_combo.setToolTip("How the noise variance β_t grows from t = 0 to T (ᾱ_t = ∏ (1 − β_s))")
        self.timesteps_spin = spin(MIN_TIMESTEPS, MAX_TIMESTEPS, 1000, "T: number of noising steps")
        self.objective_combo = compact_combo()
        for key, label in OBJECTIVES.items():
            self.objective_combo.addItem(label, key)
        self.objective_combo.setToolTip("What the network is trained to predict from x_t")
        diffusion_box, diffusion_form = group("Diffusion")
        diffusion_form.addRow("Noise schedule", self.schedule_combo)
        diffusion_form.addRow("Timesteps T", self.timesteps_spin)
        diffusion_form.addRow("Objective", self.objective_combo)

        # Optimisation
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 0.1)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setValue(1e-3)
        self.lr_spin.setToolTip("Peak AdamW learning rate (after a 100-step warm-up)")
        self.batch_spin = spin(1, 4096, 128, "Examples per optimisation step")
        self.steps_spin = spin(1, 10_000_000, 2000, "Optimisation steps in total")
        self.steps_spin.setSingleStep(500)
        self.ema_spin = QDoubleSpinBox()
        self.ema_spin.setDecimals(4)
        self.ema_spin.setRange(0.0, 0.9999)
        self.ema_spin.setSingleStep(0.001)
        self.ema_spin.setValue(0.999)
        self.ema_spin.setToolTip("Exponential moving average of the weights (what previews and checkpoints use)")
        self.clip_spin = QDoubleSpinBox()
        self.clip_spin.setRange(0.0, 100.0)
        self.clip_spin.setSingleStep(0.5)
        self.clip_spin.setValue(1.0)
        self.clip_spin.setToolTip("Clip the gradient norm to this value (0 turns clipping off)")
        self.precision_combo = QComboBox()
        for key in ("auto", "fp32", "bf16") + (("fp16",) if torch.cuda.is_available() else ()):
            self.precision_combo.addItem(key, key)
        self.precision_combo.setToolTip("auto: bf16 on GPUs that support it, fp32 on the CPU (measured fastest here)")
        optim_box, optim_form = group("Optimisation")
        optim_form.addRow("Learning rate", self.lr_spin)
        optim_form.addRow("Batch size", self.batch_spin)
        optim_form.addRow("Steps", self.steps_spin)
        optim_form.addRow("EMA decay", self.ema_spin)
        optim_form.addRow("Gradient clipping", self.clip_spin)
        optim_form.addRow("Precision", self.precision_combo)

        # Run
        self.seed_spin = spin(0, 2**31 - 1, 0, "Same seed, same settings: the same run (on the CPU)")
        self.device_combo = device_combo("Where to train: auto takes the GPU when there is one, else the CPU")
        self.threads_spin = spin(
            1, max(1, cpu_count()), default_training_threads(), "CPU threads for training (the window keeps the rest)"
        )
        self.autosave_spin = spin(
            0, 1_000_000, 1000, "Save a resumable checkpoint every this many steps (0: only at the end)"
        )
        self.autosave_spin.setSingleStep(500)
        self.autosave_spin.setSpecialValueText("only at the end")
        self.preview_spin = spin(0, 1_000_000, 100, "Sample a preview from the EMA weights every this many steps")
        self.preview_spin.setSpecialValueText("never")
        run_box, run_form = group("Run")
        run_form.addRow("Seed", self.seed_spin)
        run_form.addRow("Device", self.device_combo)
        run_form.addRow("CPU threads", self.threads_spin)
        run_form.addRow("Autosave every", self.autosave_spin)
        run_form.addRow("Preview every", self.preview_spin)

        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip(
            "Back to the 2-D swiss roll, which visibly learns within a minute on a CPU. "
            "For pictures that learn within minutes, use the lesson preset."
        )
        self.reset_button.clicked.connect(self._on_reset_defaults)
        self.lesson_button = QPushButton("Lesson: garments in 3 minutes")
        self.lesson_button.setCheckable(True)
        self.lesson_button.setToolTip(
            "Fashion-MNIST made quick: 4 classes (T-shirt, trouser, sneaker, bag) at 16×16, U-Net tiny, "
            "500 steps. Previews show recognisable garments after a few CPU-minutes; "
            "Generate's gallery shows the same run at 50 to 500 steps."
        )
        self.lesson_button.toggled.connect(self._on_lesson_toggled)

        column_widget = QWidget()
        column = QVBoxLayout(column_widget)
        column.setContentsMargins(0, 0, 6, 0)
        for box in (self.data, model_box, diffusion_box, optim_box, run_box):
            column.addWidget(box)
        column.addWidget(self.lesson_button)
        column.addWidget(self.reset_button)
        column.addStretch(1)
        self.setWidget(column_widget)
        self.setWidgetResizable(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(300)
        data = self.data
        self._setting_widgets = [
            data.dataset_combo, data.word_edit, data.folder_row, data.drawing_row, data.color_check,
            data.conditional_check,
            self.model_combo, self.schedule_combo, self.timesteps_spin, self.objective_combo, self.lr_spin,
            self.batch_spin, self.steps_spin, self.ema_spin, self.clip_spin, self.precision_combo, self.seed_spin,
            self.device_combo, self.threads_spin, self.autosave_spin, self.preview_spin, self.reset_button,
            self.lesson_button,
        ]  # fmt: skip

        self._restore_settings()
        self._on_dataset_changed()
        # Connected last: restoring the form would otherwise look the speed up once per field.
        for combo in (self.model_combo, self.precision_combo, self.device_combo):
            combo.currentIndexChanged.connect(self.estimate_label.schedule)
        self.batch_spin.valueChanged.connect(self.estimate_label.schedule)
        self.threads_spin.valueChanged.connect(self.estimate_label.schedule)
        data.conditional_check.toggled.connect(self.estimate_label.schedule)
        data.color_check.toggled.connect(self.estimate_label.schedule)
        data.drawing_changed.connect(self.estimate_label.schedule)

    # ------------------------------------------------------------------------------------------
    # The form ↔ TrainConfig
    # ------------------------------------------------------------------------------------------

    def dataset_kind(self) -> str:
        """ "points" or "images"."""
        return self.data.kind()

    def config(self) -> TrainConfig:
        """The TrainConfig the form describes (ValueError with a readable message when it is not valid).

        With the lesson preset on, the preset's hidden settings (classes, image size, network shape,
        warm-up, loss weighting) stay and the form's fields override the rest."""
        lesson = self.lesson_button.isChecked()
        return (lesson_config if lesson else TrainConfig)(
            dataset=self.data.spec(),
            dataset_options=LESSON_PRESET["dataset_options"] if lesson else self.data.options(),
            model=str(self.model_combo.currentData()),
            schedule=str(self.schedule_combo.currentData()),
            num_timesteps=self.timesteps_spin.value(),
            prediction_type=str(self.objective_combo.currentData()),
            class_conditional=self.data.class_conditional(),
            learning_rate=self.lr_spin.value(),
            batch_size=self.batch_spin.value(),
            steps=self.steps_spin.value(),
            ema_decay=self.ema_spin.value(),
            grad_clip=self.clip_spin.value(),
            precision=str(self.precision_combo.currentData()),
            device=str(self.device_combo.currentData()),
            threads=self.threads_spin.value(),
            seed=self.seed_spin.value(),
            preview_every=self.preview_spin.value(),
            checkpoint_every=self.autosave_spin.value(),
            recipe="Diffusion Lab app, Train view" + (" (lesson preset)" if lesson else ""),
        )

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (used by Load & resume)."""
        self.lesson_button.setChecked(
            config.dataset_options == LESSON_PRESET["dataset_options"]
            and config.model_options == LESSON_PRESET["model_options"]
        )
        self.data.show_dataset(config)
        select(
            self.model_combo, "small" if config.model == "auto" and self.dataset_kind() == "images" else config.model
        )
        select(self.schedule_combo, config.schedule)
        self.timesteps_spin.setValue(config.num_timesteps)
        select(self.objective_combo, config.prediction_type)
        if has_classes(self.data.choice()):  # elsewhere the box is the user's wish for data with classes: keep it
            self.data.conditional_check.setChecked(config.class_conditional)
        self.lr_spin.setValue(config.learning_rate)
        self.batch_spin.setValue(config.batch_size)
        self.steps_spin.setValue(config.steps)
        self.ema_spin.setValue(config.ema_decay)
        self.clip_spin.setValue(config.grad_clip)
        select(self.precision_combo, config.precision)
        self.seed_spin.setValue(config.seed)
        self.preview_spin.setValue(config.preview_every)
        self.autosave_spin.setValue(config.checkpoint_every)

    def snapshot(self) -> dict:
        """Every field's value (as stored in QSettings), to put back with ``restore``."""
        values = {key: field_value(widget, kind) for key, (widget, kind) in self._settings_fields().items()}
        return values | {"drawing": str(self.data.drawing_path) if self.data.drawing_path else ""}

    def restore(self, values: dict) -> None:
        """Show a ``snapshot`` again (a resumed run's settings must not stay in the form for the next run)."""
        self._show_fields(values.get)

    def set_locked(self, locked: bool) -> None:
        """Lock the form while a run trains with it (and measure no speed meanwhile)."""
        for widget in self._setting_widgets:
            widget.setEnabled(not locked)
        self.estimate_label.set_busy(locked)

    def shutdown(self) -> None:
        """The window closes: end a running speed measurement."""
        self.estimate_label.shutdown()

    # The speed estimate's questions (SpeedSource)

    def speed_key(self) -> str:
        parts = (
            self.data.speed_family(),
            self.model_combo.currentData(),
            self.batch_spin.value(),
            self.precision_combo.currentData(),
            self.device_combo.currentData(),
            self.threads_spin.value(),
            self.data.class_conditional(),
            self.lesson_button.isChecked(),
        )
        return "|".join(str(x) for x in parts)

    def probe_config(self) -> TrainConfig:
        if self.data.choice() == FOLDER_SPEC and not self.data.folder_edit.text().strip():
            raise ValueError("choose a folder to measure")
        if self.data.choice() == DRAWING_SPEC and self.data.drawing_path is None:
            raise ValueError("draw a shape to measure")
        return self.config()

    def total_steps(self) -> int:
        return self.steps_spin.value()

    # ------------------------------------------------------------------------------------------
    # Stored settings
    # ------------------------------------------------------------------------------------------

    def _settings_fields(self) -> dict:
        return self.data.settings_fields() | {
            "model": (self.model_combo, "combo"),
            "schedule": (self.schedule_combo, "combo"), "timesteps": (self.timesteps_spin, "spin"),
            "objective": (self.objective_combo, "combo"), "lr": (self.lr_spin, "spin"),
            "batch": (self.batch_spin, "spin"), "steps": (self.steps_spin, "spin"), "ema": (self.ema_spin, "spin"),
            "clip": (self.clip_spin, "spin"), "precision": (self.precision_combo, "combo"),
            "seed": (self.seed_spin, "spin"), "device": (self.device_combo, "combo"),
            "threads": (self.threads_spin, "spin"),
            "autosave": (self.autosave_spin, "spin"), "preview": (self.preview_spin, "spin"),
        }  # fmt: skip

    def save_settings(self) -> None:
        """Store every field under ``train/``."""
        s = self._settings
        s.beginGroup("train")
        for key, (widget, kind) in self._settings_fields().items():
            s.setValue(key, field_value(widget, kind))
        s.setValue("drawing", str(self.data.drawing_path) if self.data.drawing_path else "")
        s.endGroup()

    def _restore_settings(self) -> None:
        s = self._settings
        s.beginGroup("train")
        try:
            self._show_fields(s.value)
        finally:
            s.endGroup()

    def _show_fields(self, value_of) -> None:
        """Show the stored value ``value_of(key)`` (None: leave the field) of every field."""
        # The dataset first: choosing it resets the kind-specific defaults the other fields override.
        dataset = value_of("dataset")
        if dataset is not None:
            select(self.data.dataset_combo, dataset)
            self._on_dataset_changed()
        for key, (widget, kind) in self._settings_fields().items():
            value = value_of(key)
            if value is None or key == "dataset":
                continue
            try:
                show_field_value(widget, kind, value)
            except (TypeError, ValueError):
                log.warning("Ignoring the stored Train setting %s=%r", key, value)
        drawing = value_of("drawing")
        if drawing and Path(str(drawing)).is_file():
            self.data.show_drawing(Path(str(drawing)))

    # ------------------------------------------------------------------------------------------
    # Reactions
    # ------------------------------------------------------------------------------------------

    @Slot()
    def _on_dataset_changed(self) -> None:
        if self.data.dataset_combo.currentData() != LESSON_PRESET["dataset"]:
            self.lesson_button.setChecked(False)  # the preset is Fashion-MNIST's
        kind = self.dataset_kind()
        models = MODELS_FOR_POINTS if kind == "points" else MODELS_FOR_IMAGES
        if kind != self._kind or self.model_combo.count() == 0:
            self.model_combo.blockSignals(True)
            self.model_combo.clear()
            for key, label in models.items():
                self.model_combo.addItem(label, key)
            self.model_combo.blockSignals(False)
            self._apply_kind_defaults(kind)
        self._kind = kind
        self.dataset_changed.emit(kind)
        self.estimate_label.schedule()

    def _apply_kind_defaults(self, kind: str) -> None:
        defaults = KIND_DEFAULTS[kind]
        select(self.model_combo, defaults["model"])
        self.batch_spin.setValue(defaults["batch"])
        self.steps_spin.setValue(defaults["steps"])
        self.lr_spin.setValue(defaults["lr"])
        self.preview_spin.setValue(defaults["preview_every"])
        select(self.objective_combo, defaults["objective"])

    @Slot(bool)
    def _on_lesson_toggled(self, on: bool) -> None:
        """Show the lesson preset's visible settings in the form (its hidden ones go into ``config()``)."""
        self.data.set_subset(lesson_subset_text() if on else "")
        if not on:
            return
        preset = lesson_config()
        select(self.data.dataset_combo, preset.dataset)
        self._on_dataset_changed()
        self.data.conditional_check.setChecked(True)
        select(self.model_combo, preset.model)
        select(self.schedule_combo, preset.schedule)
        self.timesteps_spin.setValue(preset.num_timesteps)
        select(self.objective_combo, preset.prediction_type)
        self.lr_spin.setValue(preset.learning_rate)
        self.batch_spin.setValue(preset.batch_size)
        self.steps_spin.setValue(preset.steps)
        self.ema_spin.setValue(preset.ema_decay)
        self.clip_spin.setValue(preset.grad_clip)
        self.preview_spin.setValue(preset.preview_every)
        self.estimate_label.schedule()

    @Slot()
    def _on_reset_defaults(self) -> None:
        self.lesson_button.setChecked(False)
        defaults = TrainConfig()
        select(self.data.dataset_combo, DEFAULT_DATASET)
        self._on_dataset_changed()
        self._apply_kind_defaults("points")
        select(self.schedule_combo, defaults.schedule)
        self.timesteps_spin.setValue(defaults.num_timesteps)
        self.data.conditional_check.setChecked(True)
        self.ema_spin.setValue(defaults.ema_decay)
        self.clip_spin.setValue(defaults.grad_clip)
        select(self.precision_combo, "auto")
        select(self.device_combo, "auto")
        self.threads_spin.setValue(default_training_threads())
        self.seed_spin.setValue(0)
        self.autosave_spin.setValue(1000)
