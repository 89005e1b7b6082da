"""The sampling form of the Generate view: sampler, steps, η, seed, batch, class, guidance, compare.

Two rows: the sampler and its knobs, then the optional second sampler of compare mode (run from
the same x_T), the device and the Generate / Cancel / Export buttons. ``settings()`` returns what
the form says as a ``SamplingSettings``; the buttons are signals the view connects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QMenu,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.diffusion import DEFAULT_STEPS, SAMPLER_LABELS, SAMPLERS
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.form_helpers import device_combo
from desktop_app.workers import SamplingJob

log = logging.getLogger(__name__)

MAX_IMAGE_BATCH = 256
MAX_POINT_BATCH = 20_000
DEFAULT_IMAGE_BATCH = 16
DEFAULT_POINT_BATCH = 1000
DEFAULT_TIMESTEPS = 1000  # T assumed for the default step counts while no model is chosen


@dataclass(frozen=True)
class SamplingSettings:
    """What the form asks for."""

    jobs: list[SamplingJob]  # the sampler, then the compared one (same x_T) in compare mode
    seed: int  # of the initial noise x_T (and of the sampler's own noise)
    batch: int  # how many samples
    class_choice: int | None  # the class to generate; None: all classes in turn (conditional models)
    guidance: float  # classifier-free guidance scale w (1: plain conditional)
    clip_x0: bool  # clamp the predicted x̂₀ to [−1, 1] at every step
    device: str  # "auto", "cpu", "cuda" or "mps"


def sampler_combo() -> QComboBox:
    combo = QComboBox()
    for name in SAMPLERS:
        combo.addItem(SAMPLER_LABELS.get(name, name), name)
    return combo


class SamplerPanel(QWidget):
    """The two form rows above the results. Feed it the model with ``set_model``."""

    generate_requested = Signal()
    cancel_requested = Signal()
    export_requested = Signal(int)  # the index of the chosen export (see ``set_exports``)
    compare_toggled = Signal(bool)
    sync_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._num_timesteps = DEFAULT_TIMESTEPS
        self.sampler_combo = sampler_combo()
        self.sampler_combo.setToolTip("How x_T is turned into an image: the rule of each denoising step")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4000)
        self.steps_spin.setToolTip("Number of sampling steps (at most T)")
        self.sampler_combo.currentIndexChanged.connect(self._on_sampler_changed)
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM's η: 0 is deterministic, 1 is as random as DDPM")
        self.eta_label = QLabel("η")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("The seed of the initial noise x_T (and of the sampler's own noise)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, MAX_IMAGE_BATCH)
        self.batch_spin.setValue(DEFAULT_IMAGE_BATCH)
        self.batch_spin.setToolTip("How many samples; the timeline records the first 16 images (or 2,048 points)")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Which class to generate (conditional models)")
        self.class_label = QLabel("Class")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(3.0)
        self.guidance_spin.setToolTip("Classifier-free guidance scale w: 1 = plain conditional, larger = more typical")
        self.guidance_label = QLabel("Guidance")
        self.device_combo = device_combo("Where to sample: auto takes the GPU when there is one, else the CPU")
        self.clip_check = QCheckBox("clip x̂₀")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clamp the predicted x̂₀ to [−1, 1] at every step (images)")
        self.generate_button = QPushButton("▶ Generate")
        self.generate_button.setToolTip("Sample with these settings (Ctrl+G)")
        self.generate_button.setShortcut("Ctrl+G")
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sampling (Esc)")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.clicked.connect(self.cancel_requested)
        sample_row = FlowRow()  # wraps on a narrow window (projector)
        for label, widget in (
            ("Sampler", self.sampler_combo), ("Steps", self.steps_spin), (self.eta_label, self.eta_spin),
            ("Seed", self.seed_spin), ("Batch", self.batch_spin), (self.class_label, self.class_combo),
            (self.guidance_label, self.guidance_spin),
        ):  # fmt: skip
            sample_row.addWidget(label if isinstance(label, QLabel) else QLabel(label))
            sample_row.addWidget(widget)
        sample_row.addWidget(self.clip_check)
        sample_row.addStretch(1)

        self.compare_check = QCheckBox("Compare with")
        self.compare_check.setToolTip("Run a second sampler from the same initial noise and scrub both together")
        self.compare_check.toggled.connect(self._on_compare_toggled)
        self.sampler_b_combo = sampler_combo()
        self.sampler_b_combo.setToolTip("The second sampler, run from the same x_T for comparison")
        self.steps_b_spin = QSpinBox()
        self.steps_b_spin.setRange(1, 4000)
        self.sampler_b_combo.currentIndexChanged.connect(self._on_sampler_b_changed)
        self.sync_check = QCheckBox("sync timelines by noise level")
        self.sync_check.setChecked(True)
        self.sync_check.setToolTip("Moving one timeline moves the other to the step with the nearest t")
        self.sync_check.toggled.connect(self.sync_toggled)
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.triggered.connect(self._on_export_chosen)
        self.export_button.setMenu(export_menu)
        compare_row = FlowRow()
        for widget in (self.compare_check, self.sampler_b_combo, QLabel("Steps"), self.steps_b_spin, self.sync_check):
            compare_row.addWidget(widget)
        compare_row.addStretch(1)
        for widget in (
            QLabel("Device"),
            self.device_combo,
            self.generate_button,
            self.cancel_button,
            self.export_button,
        ):
            compare_row.addWidget(widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(sample_row)
        layout.addLayout(compare_row)
        self.sampler_combo.setCurrentIndex(self.sampler_combo.findData("ddim"))
        self.sampler_b_combo.setCurrentIndex(self.sampler_b_combo.findData("ddpm"))
        self._on_sampler_changed()
        self._on_sampler_b_changed()
        self._on_compare_toggled(False)

    def settings(self) -> SamplingSettings:
        def job(sampler: str, steps: int) -> SamplingJob:
            options = {"eta": self.eta_spin.value()} if sampler == "ddim" else {}
            return SamplingJob(sampler, steps, options)

        jobs = [job(self.sampler_combo.currentData(), self.steps_spin.value())]
        if self.compare_check.isChecked():
            jobs.append(job(self.sampler_b_combo.currentData(), self.steps_b_spin.value()))
        chosen = self.class_combo.currentData()
        return SamplingSettings(
            jobs=jobs,
            seed=self.seed_spin.value(),
            batch=self.batch_spin.value(),
            class_choice=None if chosen is None or int(chosen) < 0 else int(chosen),
            guidance=self.guidance_spin.value(),
            clip_x0=self.clip_check.isChecked(),
            device=str(self.device_combo.currentData()),
        )

    def set_exports(self, labels: list[str]) -> None:
        """The entries of the Export menu; choosing the i-th emits ``export_requested(i)``."""
        menu = self.export_button.menu()
        menu.clear()
        for index, label in enumerate(labels):
            action = menu.addAction(label)
            action.setData(index)

    @Slot(QAction)
    def _on_export_chosen(self, action: QAction) -> None:
        self.export_requested.emit(int(action.data()))

    # --- fed by the view ----------------------------------------------------------------------

    def set_model(
        self, num_timesteps: int | None, points: bool = False, classes: list[str] | None = None, native=None
    ) -> None:
        """Fit the form to a model: T, 2-D points or images, its class names (none: unconditional).

        ``num_timesteps`` None (no model) only resets the T the default step counts assume. ``native``
        (``core.evaluation.distilled_student.NativeSampling``): the sampler and steps a distilled
        student was made for, chosen in the form (deterministic DDIM, η = 0).
        """
        if num_timesteps is None:
            self._num_timesteps = DEFAULT_TIMESTEPS
            return
        self._num_timesteps = num_timesteps
        self.batch_spin.setRange(1, MAX_POINT_BATCH if points else MAX_IMAGE_BATCH)
        self.batch_spin.setValue(DEFAULT_POINT_BATCH if points else DEFAULT_IMAGE_BATCH)
        self.clip_check.setChecked(not points)
        for spin in (self.steps_spin, self.steps_b_spin):
            spin.setMaximum(num_timesteps)
        self._on_sampler_changed()
        self._on_sampler_b_changed()
        if native is not None and self.sampler_combo.findData(native.sampler) >= 0:
            self.sampler_combo.setCurrentIndex(self.sampler_combo.findData(native.sampler))
            self.steps_spin.setValue(native.steps)
            self.eta_spin.setValue(0.0)
        self.class_combo.clear()
        if classes:
            self.class_combo.addItem("all classes, in turn", -1)
            for i, name in enumerate(classes):
                self.class_combo.addItem(name, i)

    def update_controls(self, *, has_model: bool, conditional: bool, sampling: bool, can_export: bool) -> None:
        for widget in (self.class_combo, self.class_label, self.guidance_spin, self.guidance_label):
            widget.setVisible(conditional)
        self.generate_button.setEnabled(has_model and not sampling)
        self.cancel_button.setEnabled(sampling)
        for widget in (
            self.sampler_combo,
            self.steps_spin,
            self.seed_spin,
            self.batch_spin,
            self.class_combo,
            self.guidance_spin,
            self.compare_check,
            self.clip_check,
            self.device_combo,
        ):
            widget.setEnabled(not sampling)
        self.eta_spin.setEnabled(not sampling and self.sampler_combo.currentData() == "ddim")
        compare = self.compare_check.isChecked() and not sampling
        for widget in (self.sampler_b_combo, self.steps_b_spin):
            widget.setEnabled(compare)
        self.export_button.setEnabled(not sampling and can_export)

    # --- form reactions -----------------------------------------------------------------------

    def _default_steps(self, sampler: str) -> int:
        T = self._num_timesteps
        return T if sampler == "ddpm" else min(T, DEFAULT_STEPS.get(sampler, 50))

    @Slot()
    def _on_sampler_changed(self) -> None:
        sampler = self.sampler_combo.currentData()
        self.steps_spin.setValue(self._default_steps(sampler))
        is_ddim = sampler == "ddim"
        self.eta_spin.setEnabled(is_ddim)
        self.eta_label.setEnabled(is_ddim)

    @Slot()
    def _on_sampler_b_changed(self) -> None:
        self.steps_b_spin.setValue(self._default_steps(self.sampler_b_combo.currentData()))

    @Slot(bool)
    def _on_compare_toggled(self, on: bool) -> None:
        for widget in (self.sampler_b_combo, self.steps_b_spin, self.sync_check):
            widget.setEnabled(on)
        self.compare_toggled.emit(on)

    # --- settings -----------------------------------------------------------------------------

    def save_settings(self, s: QSettings) -> None:
        s.setValue("generate/sampler", self.sampler_combo.currentData())
        s.setValue("generate/sampler_b", self.sampler_b_combo.currentData())
        s.setValue("generate/compare", self.compare_check.isChecked())
        s.setValue("generate/seed", self.seed_spin.value())
        s.setValue("generate/eta", self.eta_spin.value())
        s.setValue("generate/guidance", self.guidance_spin.value())
        s.setValue("generate/device", self.device_combo.currentData())

    def restore_settings(self, s: QSettings) -> None:
        for combo, key in (
            (self.sampler_combo, "generate/sampler"),
            (self.sampler_b_combo, "generate/sampler_b"),
            (self.device_combo, "generate/device"),  # a GPU that is gone since stays unselected: auto
        ):
            index = combo.findData(s.value(key))
            if index >= 0:
                combo.setCurrentIndex(index)
        try:
            self.compare_check.setChecked(s.value("generate/compare", False) in (True, "true"))
            self.seed_spin.setValue(int(s.value("generate/seed", 0)))
            self.eta_spin.setValue(float(s.value("generate/eta", 0.0)))
            self.guidance_spin.setValue(float(s.value("generate/guidance", 3.0)))
        except (TypeError, ValueError):
            log.warning("Ignoring unreadable Generate settings")
