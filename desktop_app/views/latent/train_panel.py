"""Training a latent model live: the project's own loop on the shipped autoencoder's latents.

A short form (steps, batch), Start / Stop, the loss curve and the loop's preview samples, decoded
from latents to pictures (``core.training.latent.train_latent``). The view runs it in a
``TrainingWorker`` (the Train view's worker, so Stop ends between steps and keeps what was learned);
a finished model joins the Sample tab's list.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.training.events import Finished, Preview, Started, StepEvent
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.loss_plot import LossPlot


class LatentTrainPanel(QWidget):
    """The live latent-training form, loss curve and previews (module docstring)."""

    start_requested = Signal()
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(10, 100_000)
        self.steps_spin.setValue(400)
        self.steps_spin.setToolTip("Optimizer steps; a step on 8×8×4 latents costs a fraction of a pixel step")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(4, 512)
        self.batch_spin.setValue(64)
        self.batch_spin.setToolTip("Latents per step")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Encode the coloured shapes once, then train a U-Net on their latents")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop after the current step; the model so far can be sampled")
        self.stop_button.setEnabled(False)
        form = FlowRow()
        for widget in (QLabel("Steps"), self.steps_spin, QLabel("Batch"), self.batch_spin, self.start_button,
                       self.stop_button):  # fmt: skip
            form.addWidget(widget)
        self.loss_plot = LossPlot("Loss on latents", "loss")
        self.loss_plot.setToolTip("The v-prediction loss of the latent U-Net, per step (raw and smoothed)")
        self.preview = ImagePanel("Preview", "DDIM samples from the EMA weights, decoded to pixels")
        self.preview.setMinimumSize(160, 160)
        row = QHBoxLayout()
        row.addWidget(self.loss_plot, 3)
        row.addWidget(self.preview, 2)
        self.progress_label = QLabel("Press Start to train a latent model on the shipped shapes autoencoder.")
        self.progress_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(form)
        layout.addLayout(row, 1)
        layout.addWidget(self.progress_label)
        self.start_button.clicked.connect(self.start_requested)
        self.stop_button.clicked.connect(self.stop_requested)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.start_button, self.steps_spin, self.batch_spin):
            widget.setEnabled(not busy)
        self.stop_button.setEnabled(busy)

    def show_events(self, events: list) -> None:
        steps = [e for e in events if isinstance(e, StepEvent)]
        if steps:
            self.loss_plot.append([e.step for e in steps], [e.loss for e in steps])
            last = steps[-1]
            self.progress_label.setText(
                f"step {last.step} / {last.total_steps} · loss {last.loss:.4f} · {last.images_per_s:.0f} latents/s"
            )
        for event in events:
            if isinstance(event, Started):
                self.loss_plot.clear_data()
                self.progress_label.setText(
                    f"Training a {event.num_parameters:,}-parameter U-Net on {event.dataset_size:,} latents "
                    f"of shape {'×'.join(map(str, event.image_shape))}…"
                )
            elif isinstance(event, Preview):
                self.preview.set_batch(np.ascontiguousarray(event.images, dtype=np.float32))
                self.preview.set_title(f"Preview at step {event.step}")
            elif isinstance(event, Finished):
                self.progress_label.setText(
                    f"Finished at step {event.step} ({event.reason}, {event.elapsed_s:.0f} s). "
                    "The model is now in the Sample tab's list as 'trained here'."
                )
