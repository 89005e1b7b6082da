"""The Train view's charts of how training goes, around the preview: the loss per step (top left), the
loss per timestep bucket (bottom left: which noise levels the network still finds hard) and the
gradient norm per step (bottom right). The plots are built once; events push arrays into them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QWidget

from desktop_app.export import save_loss_history_csv
from desktop_app.widgets.loss_plot import LossPlot
from desktop_app.window import themes


class LossCurves(QWidget):
    """A 2 × 2 grid: loss | ``preview``, loss per timestep | gradient norm; fed with core's events."""

    def __init__(self, preview: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.loss_plot = LossPlot("Training loss", "loss")
        self.grad_plot = LossPlot("Gradient norm", "‖g‖ before clipping", smoothing=0.95, legend=False)
        self.bucket_plot = pg.PlotWidget()
        self.bucket_plot.setBackground(themes.current().plot_background)
        self.bucket_plot.setTitle("Loss per timestep t", **themes.title_style())
        self.bucket_plot.setLabel("bottom", "timestep t")
        self.bucket_plot.setLabel("left", "mean loss")
        self.bucket_plot.setMenuEnabled(False)
        self.bucket_plot.setToolTip("Mean loss in ten bands of t over the last 50 steps: which noise levels are hard")
        self.bucket_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=(30, 90, 200, 170), pen=None)
        self.bucket_plot.addItem(self.bucket_bars)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(preview, 0, 1)
        grid.addWidget(self.bucket_plot, 1, 0)
        grid.addWidget(self.grad_plot, 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        for widget in (self.loss_plot, self.grad_plot, self.bucket_plot, preview):
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            widget.setMinimumSize(180, 140)

    def clear(self) -> None:
        self.loss_plot.clear_data()
        self.grad_plot.clear_data()
        self.bucket_bars.setOpts(x=[], height=[])

    def append(self, steps: list[int], losses: list[float], grad_norms: list[float]) -> None:
        """The StepEvents of one batch."""
        self.loss_plot.append(steps, losses)
        self.grad_plot.append(steps, grad_norms)

    def show_timestep_losses(self, event) -> None:
        """Core's TimestepLosses event: one bar per bucket of timesteps, centred on it."""
        edges = np.asarray(event.bucket_edges, dtype=np.float64)
        heights = np.nan_to_num(np.asarray(event.losses, dtype=np.float64), nan=0.0)
        centers = 0.5 * (edges[:-1] + edges[1:])
        self.bucket_bars.setOpts(x=centers, height=heights, width=0.85 * float(np.diff(edges).min()))

    @Slot(bool)
    def set_log_y(self, log_y: bool) -> None:
        self.loss_plot.set_log_y(log_y)
        self.grad_plot.set_log_y(log_y)

    def write_csv(self, path: str | Path) -> Path:
        """step, loss, smoothed loss and gradient norm of every step of the current (or last) run."""
        steps, losses, smoothed = self.loss_plot.data()
        if len(steps) == 0:
            raise ValueError("There is no loss history yet: start a training run first.")
        grad_steps, grads, _ = self.grad_plot.data()
        columns = {"smoothed_loss": smoothed}
        if np.array_equal(grad_steps, steps):
            columns["grad_norm"] = grads
        return save_loss_history_csv(path, steps.astype(np.int64).tolist(), losses, **columns)
