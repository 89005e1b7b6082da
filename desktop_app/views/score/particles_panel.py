"""Langevin dynamics as an animation: particles from N(0, I) following the score (Song & Ermon 2019).

"Langevin at t" runs x ← x + (η/2) s_θ(x, t) + √η z at the scrubbed noise level only; "annealed"
runs it over ten levels from t = T−1 down to the scrubbed t (Alg. 1 of the paper). The frames are
computed by a ``CallWorker`` and then played with the shared ``TimelineScrubber``.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.diffusion.score import annealed_langevin_dynamics, langevin_dynamics, run_particles
from desktop_app.widgets.point_cloud import PointCloudPlot
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, CallWorker

PARTICLES = 400
LEVELS = 10  # annealed Langevin's noise levels (the paper uses L = 10)
CONTROLS_WIDTH = 230  # the controls' column beside the plot
STEP_FRACTION = 0.05  # η = STEP_FRACTION · σ_t², small against the variance at that level


def langevin_frames(model, schedule, t: int, steps: int, annealed: bool, seed: int = 0) -> np.ndarray:
    """Positions (F, N, 2) of ``PARTICLES`` particles started from N(0, I)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(PARTICLES, 2, generator=g)
    if annealed:
        levels = list(dict.fromkeys(np.linspace(schedule.num_timesteps - 1, t, LEVELS).round().astype(int).tolist()))
        epsilon = STEP_FRACTION * float(1.0 - schedule.alphas_cumprod[t])
        per_level = max(1, steps // len(levels))
        frames = annealed_langevin_dynamics(
            model, x, schedule, levels, steps_per_level=per_level, epsilon=epsilon, generator=g
        )
    else:
        eta = STEP_FRACTION * float(1.0 - schedule.alphas_cumprod[t])
        frames = langevin_dynamics(model, x, schedule, t, step_size=eta, steps=steps, generator=g)
    return torch.cat([x.unsqueeze(0), run_particles(frames)]).numpy()


class ParticlesPanel(QWidget):
    """Run Langevin or annealed Langevin and play the particles' motion."""

    run_finished = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._model = self._schedule = None
        self._t = 0
        self._frames: np.ndarray | None = None
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self.mode = QComboBox()
        self.mode.addItems(["Langevin at t", "Annealed Langevin"])
        self.mode.setToolTip("Annealed: ten noise levels from t = T−1 down to the chosen t (Song & Ermon 2019, Alg. 1)")
        self.steps = QSpinBox()
        self.steps.setRange(10, 2000)
        self.steps.setValue(200)
        self.steps.setPrefix("steps ")
        self.steps.setToolTip("Langevin steps in all: x ← x + (δ/2)·s_θ(x, t) + √δ·z, with z ~ N(0, I)")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip("Start the particles from noise and let them follow the learned score")
        self.run_button.clicked.connect(self._on_run)
        self.message = QLabel("Particles start as N(0, I) noise and follow the score.")
        self.message.setWordWrap(True)
        self.plot = PointCloudPlot("Particles")
        self.scrubber = TimelineScrubber()
        self.scrubber.setRange(0, 0)
        self.scrubber.valueChanged.connect(self._on_frame)
        controls = QVBoxLayout()
        for w in (self.mode, self.steps, self.run_button, self.message):
            controls.addWidget(w)
        controls.addStretch(1)
        side = QWidget()
        side.setLayout(controls)
        side.setMaximumWidth(CONTROLS_WIDTH)
        right = QVBoxLayout()
        right.addWidget(self.plot, 1)
        right.addWidget(self.scrubber)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side)
        layout.addLayout(right, 1)

    def set_model(self, model, schedule, data: np.ndarray | None) -> None:
        self._model, self._schedule = model, schedule
        self.plot.set_reference(data)
        self.run_button.setEnabled(model is not None and not self._job.running)

    def set_t(self, t: int) -> None:
        self._t = int(t)

    @property
    def frames(self) -> np.ndarray | None:
        return self._frames

    @Slot()
    def _on_run(self) -> None:
        if self._model is None or self._job.running:
            return
        annealed = self.mode.currentIndex() == 1
        model, schedule, t, steps = self._model, self._schedule, max(self._t, 0), self.steps.value()
        worker = CallWorker(partial(langevin_frames, model, schedule, t, steps, annealed))
        worker.result.connect(self._on_result)
        worker.errored.connect(self._on_error)
        self.run_button.setEnabled(False)
        self.message.setText(f"Running {steps} Langevin steps…")
        self._job.start(worker)

    @Slot(object)
    def _on_result(self, frames: np.ndarray) -> None:
        self._frames = frames
        self.scrubber.setRange(0, frames.shape[0] - 1)
        self.scrubber.setValue(0)
        self._on_frame(0)
        self.message.setText(f"{frames.shape[1]} particles, {frames.shape[0] - 1} steps: press ▶ to play.")

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.message.setText(text)

    @Slot()
    def _on_job_finished(self) -> None:
        self.run_button.setEnabled(self._model is not None)
        self.run_finished.emit()

    @Slot(int)
    def _on_frame(self, index: int) -> None:
        if self._frames is not None and 0 <= index < self._frames.shape[0]:
            self.plot.set_points(self._frames[index])

    def shutdown(self) -> None:
        self.scrubber.pause()
        self._job.stop()
