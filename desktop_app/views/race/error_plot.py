"""Error vs step: each lane's RMS distance to the reference ODE solve after every step, on a log scale.

The x axis is the fraction of the run done (step k of n is k/n), so lanes of any length share it;
a vertical line follows the timeline scrubber.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.evaluation.sampler_race import LaneRun
from desktop_app.window import themes


class ErrorPlotPanel(QWidget):
    """One curve per lane, drawn when the lane finishes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(themes.current().plot_background)
        self.plot.setTitle("Error to the reference", **themes.title_style())
        self.plot.setLabel("bottom", "fraction of the run (step / steps)")
        self.plot.setLabel("left", "RMS error")
        self.plot.setLogMode(y=True)
        self.plot.setMenuEnabled(False)
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.setXRange(0.0, 1.0, padding=0.02)
        self.plot.setMinimumWidth(200)
        self.legend = self.plot.addLegend(offset=(-8, -40))  # bottom right: where the curves are not
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen(150, 150, 150, width=1))
        self.plot.addItem(self.cursor)
        self.plot.setToolTip(
            "RMS distance to a reference ODE solve (DPM-Solver++(3M) over every timestep) at the same t after "
            "each step: deterministic ODE samplers approach the reference; stochastic ones end elsewhere"
        )
        self.curves: dict[str, pg.PlotDataItem] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)

    def clear(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves = {}

    def add_run(self, run: LaneRun) -> None:
        n = len(run.timesteps)
        x = np.arange(1, n + 1) / n
        y = np.maximum(run.errors, 1e-12)
        colour = themes.series_colour(len(self.curves))
        curve = self.plot.plot(x, y, pen=themes.thick_pen(colour), symbol="o", symbolSize=4, symbolBrush=colour,
                               name=f"{run.label} (NFE {run.nfe})")  # fmt: skip
        self.curves[run.key] = curve

    def set_position(self, fraction: float) -> None:
        self.cursor.setValue(float(fraction))
