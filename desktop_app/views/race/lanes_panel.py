"""The lanes: one picture per sampler at the scrubbed step, titled with its name, NFE and error.

Images show the first few samples of the lane as a grid; 2-D models show the whole cloud over a
faint cloud of the real data. ``show_step(k)`` moves every lane to its state after k steps.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QWidget

from core.evaluation.sampler_race import LaneRun
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import PointCloudPlot

COLUMNS = 3


class RaceLanesPanel(QWidget):
    """A grid of lane pictures kept in step with the timeline."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(4)
        self.setMinimumWidth(240)
        self.runs: list[LaneRun] = []
        self.views: list[QWidget] = []
        self._points = False
        self._reference: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    def set_mode(self, points: bool, reference: np.ndarray | None = None, labels: np.ndarray | None = None) -> None:
        self._points, self._reference, self._labels = points, reference, labels
        self.clear()

    def clear(self) -> None:
        for view in self.views:
            self._grid.removeWidget(view)
            view.deleteLater()
        self.views, self.runs = [], []

    def add_run(self, run: LaneRun) -> None:
        """A new lane (a sampler that has finished), shown at its last step."""
        if self._points:
            view = PointCloudPlot(run.label, point_size=3.0)
            view.setAspectLocked(False)  # a narrow lane shows the whole cloud rather than a cropped square
            view.set_reference(self._reference)
        else:
            view = ImagePanel(run.label)
        view.setMinimumSize(100, 120)
        view.setToolTip(f"{run.label}: {run.nfe} network evaluations, {len(run.timesteps)} steps")
        index = len(self.views)
        self._grid.addWidget(view, index // COLUMNS, index % COLUMNS)
        self.views.append(view)
        self.runs.append(run)
        self._show(index, len(run.timesteps))

    def show_step(self, step: int) -> None:
        for index in range(len(self.runs)):
            self._show(index, step)

    def _show(self, index: int, step: int) -> None:
        run, view = self.runs[index], self.views[index]
        k = max(0, min(int(step), len(run.timesteps)))
        state = run.states[k]
        error = "x_T" if k == 0 else f"error {run.errors[k - 1]:.3g}"
        title = f"{run.label}<br>NFE {run.nfe} · {error}"
        if self._points:
            labels = None if self._labels is None else self._labels[: len(state)]
            view.set_points(state, labels)
            view.setTitle(title)
        else:
            view.set_batch(np.clip(state, -1.0, 1.0).astype(np.float32), ncols=2)
            view.set_title(title)

    def titles(self) -> list[str]:
        return [v.title() if hasattr(v, "title") and callable(v.title) and not self._points
                else v.getPlotItem().titleLabel.text for v in self.views]  # fmt: skip
