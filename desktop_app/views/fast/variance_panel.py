"""Learned variances (Improved DDPM): the reverse σ_t over t and DDPM's quality at few steps, per variance.

Draws a ``core.training.learned_variance.VarianceComparison``: one trained mean sampled with its learned
Σ_θ, with the fixed β̃_t ("fixed small") and with β_t ("fixed large"), and the variational bound of each.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.training.learned_variance import VARIANCE_TITLES
from desktop_app.window import themes

STYLES = {"learned": Qt.PenStyle.SolidLine, "posterior": Qt.PenStyle.DashLine, "beta": Qt.PenStyle.DotLine}
COLOURS = {"learned": 3, "posterior": 0, "beta": 1}  # series colour indices, shared by both plots


def _plot(title: str, tooltip: str, bottom: str, left: str) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setBackground(themes.current().plot_background)
    plot.setTitle(title, **themes.title_style())
    plot.setToolTip(tooltip)
    plot.setLabel("bottom", bottom)
    plot.setLabel("left", left)
    plot.setLogMode(x=True, y=True)
    plot.setMenuEnabled(False)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setMinimumSize(180, 150)
    for side in ("left", "bottom"):
        plot.getAxis(side).enableAutoSIPrefix(False)
    plot.getAxis("left").setTicks([_decades(-5, 1)])
    return plot


def _decades(lo: int, hi: int) -> list[tuple[float, str]]:
    """Ticks at powers of ten, labelled plainly (log mode: the axis position is log10 of the value)."""
    return [(float(k), f"{10.0**k:g}") for k in range(lo, hi + 1)]


class VariancePanel(QWidget):
    """σ_t against t and MMD² against DDPM steps, one curve per reverse variance, and the VLB of each."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.sigma_plot = _plot(
            "Reverse σ_t",
            "The standard deviation of each reverse step p(x_{t−1} | x_t): the learned Σ_θ (averaged over x_t)\n"
            "lies between β̃_t and β_t, the two fixed choices of DDPM; they differ most near t = 0.",
            "t + 1",
            "σ_t",
        )
        self.mmd_plot = _plot(
            "DDPM at few steps",
            "MMD² of ancestral samples (same mean, same noise) with respaced steps, lower is better:\n"
            "Improved DDPM §4 — with few steps the fixed β̃_t adds too little noise and the samples shrink.",
            "sampling steps",
            "MMD²",
        )
        self.sigma_plot.getAxis("bottom").setTicks([_decades(0, 4)])
        self.sigma_curves: dict[str, pg.PlotDataItem] = {}
        self.mmd_curves: dict[str, pg.PlotDataItem] = {}
        keys = []
        for kind, title in VARIANCE_TITLES.items():
            colour = themes.series_colour(COLOURS[kind])
            pen = pg.mkPen(colour, width=2, style=STYLES[kind])
            self.sigma_curves[kind] = self.sigma_plot.plot([], [], pen=pen)
            self.mmd_curves[kind] = self.mmd_plot.plot([], [], pen=pen, symbol="o", symbolSize=6, symbolBrush=colour)
            keys.append(f'<span style="color:{colour}">●&nbsp;{title.replace(" ", "&nbsp;")}</span>')
        self.key = QLabel("&nbsp;&nbsp;&nbsp;".join(keys))
        self.key.setWordWrap(True)
        self.summary = QLabel("Press “Train with learned Σ” to train a model whose second output chooses the variance.")
        self.summary.setWordWrap(True)
        self.summary.setToolTip(
            "Variational bound L_vlb = L_0 + … + L_T on held-out points, in bits per dimension (lower is better);\n"
            "the same trained mean with each of the three reverse variances."
        )
        plots = QHBoxLayout()
        plots.setContentsMargins(0, 0, 0, 0)
        plots.addWidget(self.sigma_plot, 1)
        plots.addWidget(self.mmd_plot, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(plots, 1)
        layout.addWidget(self.key)
        layout.addWidget(self.summary)
        self._comparison = None

    def show_comparison(self, comparison) -> None:
        """A core.training.learned_variance.VarianceComparison."""
        self._comparison = comparison
        t = np.asarray(comparison.timesteps, dtype=np.float64) + 1.0
        for kind, curve in self.sigma_curves.items():
            curve.setData(t, np.asarray(comparison.sigma[kind], dtype=np.float64))
        steps = np.asarray(comparison.steps, dtype=np.float64)
        self.mmd_plot.getAxis("bottom").setTicks([[(math.log10(n), str(int(n))) for n in steps]])
        for kind, curve in self.mmd_curves.items():
            curve.setData(steps, np.maximum(np.asarray(comparison.mmd[kind], dtype=np.float64), 1e-5))
        bits = comparison.vlb_bits_per_dim
        parts = [f"{VARIANCE_TITLES[k]} {bits[k]:.3f}" for k in VARIANCE_TITLES]
        self.summary.setText("VLB (bits/dim, lower is better): " + " · ".join(parts))

    def comparison(self):
        return self._comparison

    def clear(self) -> None:
        self._comparison = None
        for curve in (*self.sigma_curves.values(), *self.mmd_curves.values()):
            curve.setData([], [])
        self.summary.setText("Press “Train with learned Σ” to train a model whose second output chooses the variance.")
