"""Quality vs NFE: the chosen samplers scored at 5, 10, 20 and 50 network evaluations, with the floor.

The metric box picks what is plotted (FID, class accuracy, precision, recall or seconds for image
models; MMD² or seconds for 2-D models); the real-vs-real floor is a dashed horizontal line. A table
measured by ``benchmarks/bench_sampler_race.py`` for the chosen model is shown until the user scores
their own (``show_measured``), its provenance under the plot. Run and Cancel are
signals; the view runs the sweep in a worker and feeds ``add_point`` / ``show_result``.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QLineEdit, QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.evaluation.sampler_quality import QualityPoint, QualityResult
from core.evaluation.sampler_race import DEFAULT_NFES
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.window import themes

METRICS = {
    "images": ("fid", "class_accuracy", "precision", "recall", "seconds"),
    "points": ("mmd", "seconds"),
}
METRIC_LABELS = {"fid": "FID (lower is better)", "class_accuracy": "class accuracy", "precision": "precision", "recall": "recall",
                 "mmd": "MMD² (lower is better)", "seconds": "seconds to sample"}  # fmt: skip


class QualityPanel(QWidget):
    """Form, progress and the quality-vs-NFE plot."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.points: list[QualityPoint] = []
        self.result: QualityResult | None = None
        self.measured: dict | None = None  # provenance of a table shown by ``show_measured``
        self._kind = "points"
        self.nfe_edit = QLineEdit(", ".join(str(n) for n in DEFAULT_NFES))
        self.nfe_edit.setToolTip("NFE budgets to score, separated by commas (Heun runs ⌈n/2⌉ steps)")
        self.nfe_edit.setMaximumWidth(120)
        self.samples_spin = QSpinBox()
        self.samples_spin.setRange(10, 5000)
        self.samples_spin.setValue(500)
        self.samples_spin.setToolTip("Samples per point: more gives steadier numbers and takes longer")
        self.metric_combo = QComboBox()
        self.metric_combo.setToolTip("What the plot shows")
        self.metric_combo.currentIndexChanged.connect(self._on_metric)
        self.run_button = QPushButton("Score quality vs NFE")
        self.run_button.setToolTip("Sample and score the checked samplers at every budget (same x_T)")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop scoring after the current sampler step")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.floor_label = QLabel("")
        self.floor_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.floor_label.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(themes.current().plot_background)
        self.plot.setLabel("bottom", "NFE (network evaluations per sample)")
        self.plot.setLogMode(x=True)
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(offset=(-8, 8))
        self.floor_line = pg.InfiniteLine(angle=0, pen=themes.thick_pen("#777777", style=Qt.PenStyle.DashLine),
                                          label="real vs real", labelOpts={"position": 0.1})  # fmt: skip
        self.floor_line.setVisible(False)
        self.plot.addItem(self.floor_line)
        self.curves: dict[str, pg.PlotDataItem] = {}

        row = FlowRow()
        for label, widget in (("NFE", self.nfe_edit), ("Samples", self.samples_spin), ("Plot", self.metric_combo)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.floor_label)
        self.set_kind("points")

    def set_kind(self, kind: str) -> None:
        """ "images" or "points": which metrics can be plotted."""
        self._kind = kind
        self.metric_combo.blockSignals(True)
        self.metric_combo.clear()
        for name in METRICS[kind]:
            self.metric_combo.addItem(METRIC_LABELS[name], name)
        self.metric_combo.blockSignals(False)
        self.samples_spin.setValue(200 if kind == "images" else 500)
        self.clear()

    def nfes(self) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in self.nfe_edit.text().replace(";", ",").split(",") if part.strip())
        except ValueError:
            raise ValueError(
                "Write the NFE budgets as whole numbers separated by commas, e.g. 5, 10, 20, 50."
            ) from None
        if not values:
            raise ValueError("Give at least one NFE budget, e.g. 5, 10, 20, 50.")
        return values

    def chosen_metric(self) -> str:
        return self.metric_combo.currentData() or METRICS[self._kind][0]

    def clear(self) -> None:
        self.points, self.result, self.measured = [], None, None
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves = {}
        self.floor_line.setVisible(False)
        self.floor_label.setText("")

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def add_point(self, point: QualityPoint) -> None:
        self.points.append(point)
        self._redraw()

    def show_result(self, result: QualityResult) -> None:
        self.result = result
        self.points = list(result.points)
        self._redraw()
        floor = ", ".join(f"{METRIC_LABELS.get(k, k).split(' (')[0]} {v:.4g}" for k, v in result.floor.items()
                          if k in METRICS[result.kind])  # fmt: skip
        self.floor_label.setText(f"Real vs real at {result.num_samples} samples (the floor): {floor}")

    def show_measured(self, result: QualityResult, provenance: dict) -> None:
        """A table measured earlier (by the benchmark): drawn like a fresh result, and said so."""
        if result.kind != self._kind:
            self.set_kind(result.kind)
        self.clear()
        self.show_result(result)
        self.measured = provenance
        when = provenance.get("date", "an earlier run")
        self.floor_label.setText(
            f"Measured on {when} by benchmarks/bench_sampler_race.py ({result.num_samples} samples per point, "
            f"{provenance.get('threads', '?')} thread(s), commit {provenance.get('commit', '?')}); "
            + self.floor_label.text()[0].lower()
            + self.floor_label.text()[1:]
            + ". Press Score to measure your own."
        )

    def value(self, point: QualityPoint, metric: str) -> float:
        return point.seconds if metric == "seconds" else float(point.metrics.get(metric, np.nan))

    @Slot(int)
    def _on_metric(self, _index: int) -> None:
        self._redraw()

    def _redraw(self) -> None:
        metric = self.chosen_metric()
        self.plot.setLabel("left", METRIC_LABELS[metric])
        lanes = list(dict.fromkeys(p.lane for p in self.points))
        for key in list(self.curves):
            if key not in lanes:
                self.plot.removeItem(self.curves.pop(key))
        for index, key in enumerate(lanes):
            mine = [p for p in self.points if p.lane == key]
            x = np.array([p.nfe for p in mine], dtype=float)
            y = np.array([self.value(p, metric) for p in mine], dtype=float)
            if key not in self.curves:
                colour = themes.series_colour(index)
                symbol = ("o", "t", "s", "d")[index // 4 % 4]  # the palette repeats: the markers tell lanes apart
                self.curves[key] = self.plot.plot(pen=themes.thick_pen(colour), symbol=symbol, symbolSize=7,
                                                  symbolBrush=colour, name=mine[0].label)  # fmt: skip
            self.curves[key].setData(x, y)
        floor = None if self.result is None or metric == "seconds" else self.result.floor.get(metric)
        self.floor_line.setVisible(floor is not None)
        if floor is not None:
            self.floor_line.setValue(float(floor))
