"""Reverse SDE vs probability-flow ODE: the same starting noise carried to data both ways (Song et al. 2021).

Orange: Euler–Maruyama on the reverse SDE (fresh noise every step: the paths wander). Blue: Heun on the
probability-flow ODE (deterministic: smooth paths, the same end for the same start).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.diffusion.sde import reverse_sde_and_ode_paths
from desktop_app.views.score.particles_panel import CONTROLS_WIDTH
from desktop_app.widgets.point_cloud import VIEW_LIMIT
from desktop_app.workers import BackgroundJob, CallWorker

STARTS = 24  # more SDE paths would hide the ODE's
SDE_COLOR = (213, 94, 0)
ODE_COLOR = (0, 114, 178)


def transport_paths(model, schedule, steps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    x_T = torch.randn(STARTS, 2, generator=g)
    paths = reverse_sde_and_ode_paths(model, x_T, schedule, steps, generator=g)
    return paths.sde.numpy(), paths.ode.numpy()


def _polylines(paths: np.ndarray) -> np.ndarray:
    """(steps, N, 2) → one array of the N polylines separated by NaN rows (for connect="finite")."""
    steps, count = paths.shape[0], paths.shape[1]
    lines = np.full((count, steps + 1, 2), np.nan, dtype=np.float32)
    lines[:, :steps] = paths.transpose(1, 0, 2)
    return lines.reshape(-1, 2)


class PathsPanel(QWidget):
    """Trajectories of the reverse SDE and the PF-ODE from the same noise."""

    run_finished = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._model = self._schedule = None
        self._seed = 0
        self.paths: tuple[np.ndarray, np.ndarray] | None = None
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self.steps = QSpinBox()
        self.steps.setRange(5, 1000)
        self.steps.setValue(100)
        self.steps.setPrefix("steps ")
        self.steps.setToolTip("Steps of both solvers from t = T−1 to 0 (Euler–Maruyama for the SDE, Heun for the ODE)")
        self.run_button = QPushButton("Draw paths")
        self.run_button.setToolTip(
            "New starting noise each press, carried to data by the reverse SDE and by the PF-ODE"
        )
        self.run_button.clicked.connect(self._on_run)
        self.message = QLabel("Orange: reverse SDE (random). Blue: probability-flow ODE (deterministic). Same starts.")
        self.message.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setMenuEnabled(False)
        self.plot.setAspectLocked(True)
        self.plot.setRange(xRange=(-VIEW_LIMIT, VIEW_LIMIT), yRange=(-VIEW_LIMIT, VIEW_LIMIT), padding=0)
        self._cloud = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(150, 150, 150, 60))
        self._sde = pg.PlotCurveItem(pen=pg.mkPen(*SDE_COLOR, 80, width=1), connect="finite")
        self._ode = pg.PlotCurveItem(pen=pg.mkPen(*ODE_COLOR, 220, width=2), connect="finite")
        self._starts = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(60, 60, 60, 220))
        self._sde_ends = pg.ScatterPlotItem(size=7, pen=pg.mkPen("w"), brush=pg.mkBrush(*SDE_COLOR))
        self._ode_ends = pg.ScatterPlotItem(size=7, pen=pg.mkPen("w"), brush=pg.mkBrush(*ODE_COLOR))
        for item in (self._cloud, self._sde, self._ode, self._starts, self._sde_ends, self._ode_ends):
            self.plot.addItem(item)
        controls = QVBoxLayout()
        for w in (self.steps, self.run_button, self.message):
            controls.addWidget(w)
        controls.addStretch(1)
        side = QWidget()
        side.setLayout(controls)
        side.setMaximumWidth(CONTROLS_WIDTH)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side)
        layout.addWidget(self.plot, 1)

    def set_model(self, model, schedule, data: np.ndarray | None) -> None:
        self._model, self._schedule = model, schedule
        if data is None:
            self._cloud.setData([], [])
        else:
            self._cloud.setData(data[:, 0], data[:, 1])
        self.run_button.setEnabled(model is not None and not self._job.running)

    @Slot()
    def _on_run(self) -> None:
        if self._model is None or self._job.running:
            return
        self._seed += 1  # new starts each press: the ODE's paths change with the start only
        worker = CallWorker(partial(transport_paths, self._model, self._schedule, self.steps.value(), self._seed))
        worker.result.connect(self._on_result)
        worker.errored.connect(self._on_error)
        self.run_button.setEnabled(False)
        self._job.start(worker)

    @Slot(object)
    def _on_result(self, paths: tuple[np.ndarray, np.ndarray]) -> None:
        self.paths = paths
        sde, ode = paths
        for item, p in ((self._sde, sde), (self._ode, ode)):
            flat = _polylines(p)
            item.setData(flat[:, 0], flat[:, 1])
        self._starts.setData(sde[0, :, 0], sde[0, :, 1])
        self._sde_ends.setData(sde[-1, :, 0], sde[-1, :, 1])
        self._ode_ends.setData(ode[-1, :, 0], ode[-1, :, 1])
        gap = float(np.linalg.norm(sde[-1] - ode[-1], axis=1).mean())
        self.message.setText(
            f"{sde.shape[1]} starts (grey dots), {sde.shape[0] - 1} steps. Orange: reverse SDE; blue: PF-ODE. "
            f"Mean distance between the two ends of a start: {gap:.2f}."
        )

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.message.setText(text)

    @Slot()
    def _on_job_finished(self) -> None:
        self.run_button.setEnabled(self._model is not None)
        self.run_finished.emit()

    def shutdown(self) -> None:
        self._job.stop()
