"""Sampling in latent space: the settings, and what each step of the reverse process holds.

Shows, for the step under the scrubber, the latent z_t of each sample (its four 8×8 channels in a
row, on the unit-variance scale) beside the image its prediction decodes to, 𝒟(ẑ₀ / s), and the
final decoded samples. The view runs the sampler (``core.diffusion.latent.trace_latent_ddim``) in a
worker and hands this panel the recorded steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.diffusion.latent import LatentStep
from desktop_app.views.latent.autoencoder_panel import LATENT_LEVELS
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel

SAMPLES = 4  # images per run: a 2×2 grid of decodings, four rows of latent channels


@dataclass
class SampleSettings:
    model_index: int
    class_index: int | None  # None: unconditional ("no class")
    steps: int
    seed: int


class LatentSamplePanel(QWidget):
    """The sampling form and the latent / decoded pictures of one step (module docstring)."""

    run_requested = Signal()
    cancel_requested = Signal()
    model_chosen = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("A shipped latent-diffusion model (resources/models/latent) and its autoencoder")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("What to draw: the model was trained with the shapes' names as classes")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(25)
        self.steps_spin.setToolTip("DDIM steps (deterministic, η = 0); each step is one U-Net call on 8×8×4 latents")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("The seed of the starting noise z_T: the same seed gives the same samples")
        self.run_button = QPushButton("Sample")
        self.run_button.setToolTip("Sample 4 latents with DDIM, decoding every step's prediction")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step; the steps so far can still be scrubbed")
        self.cancel_button.setEnabled(False)
        form = FlowRow()
        for widget in (QLabel("Model"), self.model_combo, QLabel("Class"), self.class_combo, QLabel("Steps"),
                       self.steps_spin, QLabel("Seed"), self.seed_spin, self.run_button, self.cancel_button):  # fmt: skip
            form.addWidget(widget)

        self.latent_panel = ImagePanel("Latent z_t", "one row per sample: its 4 channels, black −3, white +3")
        self.decoded_panel = ImagePanel("Decoded x̂₀ = 𝒟(ẑ₀ / s)", "where this step is heading, in pixels")
        self.final_panel = ImagePanel("Samples", "the decoded z₀ after the last step")
        row = QHBoxLayout()
        for panel in (self.latent_panel, self.decoded_panel, self.final_panel):
            panel.setMinimumSize(140, 160)
            row.addWidget(panel, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(form)
        layout.addLayout(row, 1)

        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.model_combo.currentIndexChanged.connect(self._on_model_index)

    @Slot(int)
    def _on_model_index(self, index: int) -> None:
        self.model_chosen.emit(index)

    def set_models(self, labels: list[str]) -> None:
        self.model_combo.clear()
        self.model_combo.addItems(labels)
        self.run_button.setEnabled(bool(labels))

    def set_classes(self, names: list[str]) -> None:
        self.class_combo.clear()
        self.class_combo.addItems(names)
        self.class_combo.addItem("any (no class)")
        self.class_combo.setEnabled(True)

    def settings(self) -> SampleSettings:
        index = self.class_combo.currentIndex()
        class_index = index if 0 <= index < self.class_combo.count() - 1 else None
        return SampleSettings(
            self.model_combo.currentIndex(), class_index, self.steps_spin.value(), self.seed_spin.value()
        )

    def set_busy(self, busy: bool) -> None:
        for widget in (self.run_button, self.model_combo, self.class_combo, self.steps_spin, self.seed_spin):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def show_step(self, step: LatentStep) -> None:
        z = step.z_t.numpy()
        n, c, h, w = z.shape
        self.latent_panel.set_batch(z.reshape(n * c, 1, h, w).copy(), LATENT_LEVELS, ncols=c)
        self.latent_panel.set_title(f"Latent z_t at t = {step.t}")
        self.decoded_panel.set_batch(np.clip(step.decoded_x0.numpy(), -1, 1))

    def show_samples(self, images: np.ndarray) -> None:
        self.final_panel.set_batch(np.clip(images, -1, 1))

    def clear(self) -> None:
        for panel in (self.latent_panel, self.decoded_panel, self.final_panel):
            panel.clear()
