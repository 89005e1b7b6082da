"""MMD against the number of sampling steps: diffusion (DDIM), flow matching, reflow, distilled and consistency students."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from desktop_app.window import themes

SERIES = {
    "diffusion": "Diffusion, DDIM",
    "flow": "Flow matching, Euler",
    "reflow": "Reflow, Euler",
    "distilled": "Distilled students",
    "consistency": "Consistency",
}
MMD_FLOOR = 1e-4  # MMD² can dip below 0 for two samples of one distribution; a log axis needs > 0
MMD_CEILING = 10.0  # one-step samples of the toys reach ≈ 3


class FewStepQuality(QWidget):
    """One plot (steps against log MMD²), one curve per method; lower is better."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(themes.current().plot_background)
        self.plot.setTitle("Quality against steps (MMD², lower is better)", **themes.title_style())
        self.plot.setLabel("bottom", "sampling steps")
        self.plot.setLabel("left", "MMD²")
        self.plot.setLogMode(x=False, y=True)
        self.plot.getAxis("bottom").setTicks([[(n, str(n)) for n in range(1, 17)]])
        # Fixed decades (log10 units), so nothing jumps as points arrive.
        self.plot.setYRange(math.log10(MMD_FLOOR), math.log10(MMD_CEILING), padding=0)
        self.plot.enableAutoRange(y=False)
        self.plot.setMenuEnabled(False)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.curves: dict[str, pg.PlotDataItem] = {}
        keys = []
        for index, (key, title) in enumerate(SERIES.items()):
            # the themes have four series colours; the fifth curve is the text colour, dashed, with triangles
            extra = index >= 4
            colour = themes.current().plot_text if extra else themes.series_colour(index)
            style = Qt.PenStyle.DashLine if extra else Qt.PenStyle.SolidLine
            self.curves[key] = self.plot.plot(
                [], [], name=title, pen=pg.mkPen(colour, width=2, style=style), symbol="t" if extra else "o",
                symbolSize=8 if extra else 7, symbolBrush=colour,
            )  # fmt: skip
            mark = "▼" if extra else "●"
            keys.append(f'<span style="color:{colour}">{mark}&nbsp;{title.replace(" ", "&nbsp;")}</span>')
        # The key as a line of text under the plot: a legend inside would hide the few-step points.
        self.key = QLabel("&nbsp;&nbsp;&nbsp;".join(keys))
        self.key.setWordWrap(True)
        self.key.setMinimumWidth(120)  # wraps between entries instead of widening the view
        self.key.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.key.setMinimumHeight(2 * self.key.fontMetrics().lineSpacing() + 2)  # room for a wrapped second line
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.key)
        self._data: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in SERIES}

    def set_series(self, key: str, steps, mmd) -> None:
        steps = [float(s) for s in steps]
        mmd = [max(float(m), MMD_FLOOR) for m in mmd]
        self._data[key] = (steps, mmd)
        self.curves[key].setData(np.asarray(steps), np.asarray(mmd))

    def add_point(self, key: str, steps: int, mmd: float) -> None:
        xs, ys = self._data[key]
        self.set_series(key, [*xs, steps], [*ys, mmd])

    def series(self, key: str) -> tuple[list[float], list[float]]:
        return self._data[key]

    def clear(self, *keys: str) -> None:
        for key in keys or tuple(SERIES):
            self.set_series(key, [], [])
