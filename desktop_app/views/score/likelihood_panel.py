"""The exact likelihood of a 2-D model: the NLL of held-out points and the density over the plane.

Both come from one probability-flow ODE solve with the instantaneous change of variables
(``core.diffusion.likelihood``), run by an ``EventStreamWorker`` with progress and a Cancel button.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.diffusion.likelihood import DEFAULT_ODE_STEPS, LikelihoodProgress, LikelihoodResult, iterate_log_likelihood
from core.diffusion.score import grid_points
from desktop_app.views.score.field_plot import FieldPlot
from desktop_app.views.score.particles_panel import CONTROLS_WIDTH
from desktop_app.workers import BackgroundJob, EventStreamWorker

GRID = 24  # density heat map resolution (GRID² points)
EXTENT = 3.0
HUTCHINSON_PROBES = 4


class LikelihoodWorker(EventStreamWorker):
    FREQUENT = ("LikelihoodProgress",)


def likelihood_events(model, schedule, held_out: torch.Tensor, steps: int, divergence: str):
    """One ODE solve for the held-out points and the grid together (the events of ``iterate_log_likelihood``)."""
    _, grid = grid_points(EXTENT, GRID)
    points = torch.cat([held_out, grid])
    probes = HUTCHINSON_PROBES if divergence == "hutchinson" else 1
    g = torch.Generator().manual_seed(0)
    return iterate_log_likelihood(
        model, points, schedule, steps=steps, divergence=divergence, probes=probes, generator=g
    )


class LikelihoodPanel(QWidget):
    """Run / Cancel, progress, the NLL number and the density heat map."""

    run_finished = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._model = self._schedule = None
        self._held_out: torch.Tensor | None = None
        self._run_points = 0
        self.result: LikelihoodResult | None = None
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self.divergence = QComboBox()
        self.divergence.addItems(["Exact divergence", f"Hutchinson, {HUTCHINSON_PROBES} probes"])
        self.steps = QSpinBox()
        self.steps.setRange(1, 200)
        self.steps.setValue(DEFAULT_ODE_STEPS)
        self.steps.setPrefix("RK4 steps ")
        self.steps.setToolTip("Steps of the ODE solver in log σ (4 network passes each): more is slower and more exact")
        self.divergence.setToolTip(
            "∇·f exactly (one backward pass per dimension) or Hutchinson's unbiased estimate with random ±1 probes"
        )
        self.run_button = QPushButton("Compute")
        self.run_button.setToolTip("Solve the probability-flow ODE for the held-out points and the density grid")
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current ODE step")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.message = QLabel("log p(x) by the probability-flow ODE and the instantaneous change of variables.")
        self.message.setWordWrap(True)
        self.plot = FieldPlot("log density (nats)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        controls = QVBoxLayout()
        controls.addWidget(self.divergence)
        controls.addWidget(self.steps)
        controls.addLayout(buttons)
        controls.addWidget(self.progress)
        controls.addWidget(self.message)
        controls.addStretch(1)
        side = QWidget()
        side.setLayout(controls)
        side.setMaximumWidth(CONTROLS_WIDTH)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side)
        layout.addWidget(self.plot, 1)

    def set_model(self, model, schedule, data: np.ndarray | None, held_out: torch.Tensor | None) -> None:
        if self._job.running:
            self._job.request_stop()
        self._model, self._schedule, self._held_out = model, schedule, held_out
        self.plot.set_cloud(data)
        self.plot.set_heat(None, EXTENT)
        self.run_button.setEnabled(model is not None and held_out is not None and not self._job.running)

    @Slot()
    def _on_run(self) -> None:
        if self._model is None or self._job.running:
            return
        divergence = "hutchinson" if self.divergence.currentIndex() == 1 else "exact"
        self._run_points = len(self._held_out)  # the results are split by the count of this run, not of a later model
        make = partial(likelihood_events, self._model, self._schedule, self._held_out, self.steps.value(), divergence)
        worker = LikelihoodWorker(make)
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        self.progress.setRange(0, self.steps.value())
        self.progress.setValue(0)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message.setText(f"Solving the ODE for {len(self._held_out)} held-out points and a {GRID}×{GRID} grid…")
        self._job.start(worker)

    @Slot()
    def _on_cancel(self) -> None:
        self._job.request_stop()

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, LikelihoodProgress):
                self.progress.setValue(event.step)
            elif isinstance(event, LikelihoodResult):
                self._show(event)

    def _show(self, result: LikelihoodResult) -> None:
        n = self._run_points
        log_p = result.log_likelihood.numpy()
        held, grid = log_p[:n], log_p[n:].reshape(GRID, GRID)
        self.result = result
        nll = float(-held.mean())
        text = f"NLL of {n} held-out points: {nll:.3f} nats ({nll / (2 * np.log(2)):.3f} bits/dim), {result.nfe} evaluations."
        if result.log_likelihood_std is not None:
            spread = float(result.log_likelihood_std[:n].mean())
            text += f" Hutchinson: per-point spread over {result.probes} probes ±{spread:.3f} nats."
        self.message.setText(text)
        self.plot.set_heat(np.maximum(grid, -12.0), EXTENT)

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.message.setText(text)

    @Slot()
    def _on_cancelled(self) -> None:
        self.message.setText("Cancelled.")

    @Slot()
    def _on_job_finished(self) -> None:
        self.cancel_button.setEnabled(False)
        self.run_button.setEnabled(self._model is not None)
        self.run_finished.emit()

    def shutdown(self) -> None:
        self._job.stop()
