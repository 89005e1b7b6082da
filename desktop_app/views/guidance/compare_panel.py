"""Classifier-free vs classifier guidance from the same x_T, and the classifier's gradient.

The view runs ``core.diffusion.classifier_guidance.side_by_side`` in a worker (Run / Cancel and a
progress bar here) and hands the ``SideBySide`` result to ``show_result``:

- image models: the classifier-free samples (scale w), the classifier-guided samples (scale s), and
  ∇log p(c | x_t) of the classifier-guided run half-way through, as an image on ± its largest value
  (bright: pixels the classifier wants brighter for class c);
- 2-D models: both sets of samples on one cloud (blue: classifier-free, orange: classifier) and the
  gradient as green arrows from the mid-run x_t, each pointing up the classifier's log-probability.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.views.guidance.components_panel import symmetric_levels
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import PointCloudPlot

CFG_BRUSH = (0, 114, 178, 170)
CLASSIFIER_BRUSH = (230, 159, 0, 170)
ARROW_PEN = (0, 158, 115, 220)
MAX_ARROWS = 96
ARROW_LENGTH = 0.3  # the longest arrow, in data units


class GuidanceComparePanel(QWidget):
    """Run / Cancel / progress, then the two guidances' samples and the classifier's gradient."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_button = QPushButton("Compare from the same x_T")
        self.run_button.setToolTip(
            "Sample the chosen class with classifier-free guidance (w) and with classifier guidance (s) "
            "from the same starting noise (the form's seed, steps and scale)"
        )
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the comparison at the next step")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setMinimumWidth(120)
        controls = QWidget()
        row = FlowRow(controls)
        for widget in (self.run_button, self.cancel_button, self.progress):
            row.addWidget(widget)

        self.cfg_panel = ImagePanel("classifier-free, w")
        self.classifier_panel = ImagePanel("classifier guidance, s")
        self.gradient_panel = ImagePanel("∇log p(c|x_t) mid-run")
        images = QWidget()
        images_row = QHBoxLayout(images)
        images_row.setContentsMargins(0, 0, 0, 0)
        for panel in (self.cfg_panel, self.classifier_panel, self.gradient_panel):
            panel.setMinimumSize(120, 120)
            images_row.addWidget(panel)

        self.cloud = PointCloudPlot("blue: classifier-free · orange: classifier · green: ∇log p(c|x_t)")
        self.cfg_points = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*CFG_BRUSH))
        self.classifier_points = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*CLASSIFIER_BRUSH))
        self.arrows = pg.PlotCurveItem(pen=pg.mkPen(*ARROW_PEN, width=1.5), connect="pairs")
        for item in (self.cfg_points, self.classifier_points, self.arrows):
            self.cloud.addItem(item)

        self.stack = QStackedWidget()
        self.stack.addWidget(images)
        self.stack.addWidget(self.cloud)
        self.summary = QLabel("Compare both kinds of guidance on the chosen class, from one x_T.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(controls)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.summary)

    def set_points_mode(self, points: bool, reference: np.ndarray | None = None) -> None:
        self.stack.setCurrentIndex(1 if points else 0)
        self.cloud.set_reference(reference if points else None)

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"step {done} / {total}")

    def clear(self, message: str) -> None:
        for panel in (self.cfg_panel, self.classifier_panel, self.gradient_panel):
            panel.clear()
        for item in (self.cfg_points, self.classifier_points, self.arrows):
            item.setData([], [])
        self.summary.setText(message)

    def show_result(self, result, class_name: str) -> None:
        """Draw a ``SideBySide``: both sample sets and the classifier's gradient at ``result.gradient_t``."""
        self.cfg_panel.set_title(f"classifier-free, w = {result.cfg_scale:g}")
        self.classifier_panel.set_title(f"classifier guidance, s = {result.classifier_scale:g}")
        self.gradient_panel.set_title(f"∇log p(c|x_t) at t = {result.gradient_t}")
        gradient = np.ascontiguousarray(result.gradient, dtype=np.float32)
        if self.stack.currentIndex() == 0:
            self.cfg_panel.set_batch(np.ascontiguousarray(result.cfg_samples, dtype=np.float32))
            self.classifier_panel.set_batch(np.ascontiguousarray(result.classifier_samples, dtype=np.float32))
            levels = symmetric_levels(gradient)
            self.gradient_panel.set_batch(gradient, levels=levels)
            self.gradient_panel.set_caption(f"±{levels[1]:.3g}: bright = more {class_name}")
        else:
            cfg, cls = result.cfg_samples, result.classifier_samples
            self.cfg_points.setData(cfg[:, 0], cfg[:, 1])
            self.classifier_points.setData(cls[:, 0], cls[:, 1])
            start = np.asarray(result.gradient_x_t[:MAX_ARROWS], dtype=np.float32)
            direction = gradient[:MAX_ARROWS]
            longest = float(np.linalg.norm(direction, axis=1).max()) if len(direction) else 0.0
            pairs = np.empty((2 * len(start), 2), dtype=np.float32)
            pairs[0::2] = start
            pairs[1::2] = start + direction * (ARROW_LENGTH / longest if longest > 0 else 0.0)
            self.arrows.setData(pairs[:, 0], pairs[:, 1])
        self.summary.setText(
            f"Class {class_name}: classifier-free guidance at w = {result.cfg_scale:g} (left; blue dots) and "
            f"classifier guidance at s = {result.classifier_scale:g} (middle; orange dots), from the same x_T. The gradient "
            f"∇log p(c|x_t) is the classifier's, taken at t = {result.gradient_t} of the classifier-guided run."
        )

    def arrow_data(self) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.arrows.getData()
        return (np.asarray(x), np.asarray(y)) if x is not None else (np.zeros(0), np.zeros(0))
