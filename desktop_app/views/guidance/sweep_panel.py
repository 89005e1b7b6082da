"""The guidance sweep: a class × scale grid from one x_T and the fidelity/diversity curves against w.

The form (scales, samples per class, steps) and the Run / Cancel buttons are signals for the view,
which runs ``core.evaluation.guidance_sweep`` in a worker. ``show_result`` draws a ``SweepResult``:
the grid (one row per class, one column per scale, the first sample of each class) and a pyqtgraph
plot of class accuracy, precision, recall and per-class feature spread against the scale, with the
real held-out images' values as dashed lines (the floor a model can reach at that sample count).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.evaluation.guidance_sweep import DEFAULT_SCALES
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel

# (metric, legend, colour, what it measures)
CURVES = (
    ("class_accuracy", "class accuracy (fidelity)", (0, 114, 178)),
    ("precision", "precision (fidelity)", (86, 180, 233)),
    ("recall", "recall (diversity)", (0, 158, 115)),
    ("feature_spread", "per-class spread ÷ real (diversity)", (213, 94, 0)),
)


def parse_scales(text: str) -> tuple[float, ...]:
    """ "0, 1, 2.5" → (0.0, 1.0, 2.5); ValueError in words for anything else."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        scales = tuple(float(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"Write the guidance scales as numbers separated by commas, like 0, 1, 3; not '{text}'."
        ) from None
    if not 1 <= len(scales) <= 12:
        raise ValueError("Give between 1 and 12 guidance scales, separated by commas.")
    return scales


class GuidanceSweepPanel(QWidget):
    """Sweep form, progress, the class × scale grid and the trade-off plot."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.scales_edit = QLineEdit(", ".join(f"{s:g}" for s in DEFAULT_SCALES))
        self.scales_edit.setToolTip("Guidance scales w to sample at, all from the same x_T")
        self.scales_edit.setMinimumWidth(120)
        self.per_class_spin = QSpinBox()
        self.per_class_spin.setRange(2, 100)
        self.per_class_spin.setValue(4)
        self.per_class_spin.setToolTip("Samples of each class at every scale (more: steadier numbers, slower)")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 250)
        self.steps_spin.setValue(15)
        self.run_button = QPushButton("Run sweep")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setMinimumWidth(120)
        controls = QWidget()
        row = FlowRow(controls)  # wraps at 1024×768 rather than widening the window
        for label, widget in (("Scales w", self.scales_edit), ("Per class", self.per_class_spin),
                              ("Steps", self.steps_spin)):  # fmt: skip
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress)

        self.grid = ImagePanel("Same x_T, one row per class, one column per scale")
        self.grid.setMinimumSize(160, 160)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "guidance scale w")
        self.plot.setYRange(0, 1.6)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        self.curves = {}
        self.floors = {}
        for key, name, rgb in CURVES:
            self.curves[key] = self.plot.plot([], [], name=name, pen=pg.mkPen(*rgb, width=2), symbol="o",
                                              symbolSize=6, symbolBrush=pg.mkBrush(*rgb))  # fmt: skip
            floor = pg.InfiniteLine(angle=0, pen=pg.mkPen(*rgb, width=1, style=Qt.PenStyle.DashLine))
            floor.setVisible(False)
            self.plot.addItem(floor)
            self.floors[key] = floor
        self.summary = QLabel("Run a sweep: the same x_T at each scale, scored by the project's classifier.")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.grid)
        splitter.addWidget(self.plot)
        splitter.setSizes([400, 500])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(controls)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.summary)

    def scales(self) -> tuple[float, ...]:
        return parse_scales(self.scales_edit.text())

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"step {done} / {total}")

    def show_result(self, result) -> None:
        """Draw a ``SweepResult``: the grid and one curve per metric, with the real floor dashed."""
        classes = sorted(set(result.labels.tolist()))
        first = [int(np.flatnonzero(result.labels == c)[0]) for c in classes]
        cells = result.images[:, first]  # (S, classes, C, H, W) → rows = classes, columns = scales
        grid = np.ascontiguousarray(cells.transpose(1, 0, 2, 3, 4).reshape(-1, *cells.shape[2:]))
        self.grid.set_batch(grid, ncols=len(result.scales))
        self.grid.set_caption("columns: w = " + ", ".join(f"{s:g}" for s in result.scales))
        x = np.array(result.scales)
        for key, _, _ in CURVES:
            self.curves[key].setData(x, result.column(key))
            floor = getattr(result.floor, key)
            self.floors[key].setVisible(bool(np.isfinite(floor)))
            if np.isfinite(floor):
                self.floors[key].setValue(floor)
        rows = [
            f"w = {m.scale:g}: accuracy {m.class_accuracy:.2f}, precision {m.precision:.2f}, "
            f"recall {m.recall:.2f}, spread {m.feature_spread:.2f}"
            for m in result.metrics
        ]
        f = result.floor
        self.summary.setText(
            f"{len(result.labels)} samples per scale, {result.steps} DDIM steps, {result.seconds:.1f} s. "
            + " · ".join(rows)
            + f" · real held-out images (dashed): accuracy {f.class_accuracy:.2f}, precision {f.precision:.2f}, "
            f"recall {f.recall:.2f}, spread {f.feature_spread:.2f}."
        )
