"""The pictures of the Forward process view: x_t, ε and √ᾱ_t·x_0 side by side on one stated grey scale,
or a scatter of points."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.window import themes

# One grey scale for x_t, ε and √ᾱ_t·x_0, so that equal values look equal: at t = T−1, x_t ≈ ε and the two
# pictures must match. It is the data's range: ε (σ = 1) saturates beyond ±1, as the caption says.
IMAGE_LEVELS = (-1.0, 1.0)
NOISE_LEVELS = IMAGE_LEVELS
LEVELS_CAPTION = "All three on one grey scale: −1 black, 0 grey, +1 white (values beyond ±1 show as black or white)."
NOISE_TITLES = {  # the middle panel's title and tooltip in each mode
    False: ("noise ε", "One draw ε ~ N(0, I), the same for every t (closed form, DDPM eq. 4)"),
    True: (
        "chain noise (x_t − √ᾱ_t·x_0)/√(1−ᾱ_t)",
        "The fresh noises z_1 … z_t of the Markov chain, accumulated in x_t and rescaled: again N(0, I)",
    ),
}
IMAGES_PAGE, POINTS_PAGE = 0, 1


class FramePanel(QStackedWidget):
    """Two pages: three image panels (x_t, noise ε, signal part) for images, one plot for 2-D points.

    Items are created once; ``show_frame`` only pushes arrays. A fixed ε (closed form) is uploaded
    once per source and seed; the chain's ε changes with t and is uploaded every frame.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.xt_panel = ImagePanel("x_t  (what the model sees)")
        self.noise_panel = ImagePanel(NOISE_TITLES[False][0])
        self.noise_panel.setToolTip(NOISE_TITLES[False][1])
        self.signal_panel = ImagePanel("signal part √ᾱ_t · x_0")
        images = QWidget()
        image_row = QHBoxLayout(images)
        image_row.setContentsMargins(0, 0, 0, 0)
        for panel in (self.xt_panel, self.noise_panel, self.signal_panel):
            image_row.addWidget(panel, stretch=1)
        self.levels_label = QLabel(LEVELS_CAPTION)
        self.levels_label.setWordWrap(True)
        self.levels_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        image_page = QWidget()
        image_column = QVBoxLayout(image_page)
        image_column.setContentsMargins(0, 0, 0, 0)
        image_column.setSpacing(2)
        image_column.addWidget(images, stretch=1)
        image_column.addWidget(self.levels_label)

        self.points_plot = pg.PlotWidget()
        self.points_plot.setAspectLocked(True)
        self.points_plot.setMenuEnabled(False)
        self.points_plot.showGrid(x=True, y=True, alpha=0.2)
        self.points_plot.setXRange(-3.5, 3.5)
        self.points_plot.setYRange(-3.5, 3.5)
        self.points_plot.addLegend(offset=(-8, 8), **themes.legend_style())
        self.points_x0_item = pg.ScatterPlotItem(size=4, pen=None, brush=themes.reference_brush(), name="x_0")
        themes.mark_reference(self.points_x0_item)  # x_0 stays visible on the light and the dark theme
        self.points_xt_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(90, 160, 230, 200), name="x_t")
        self.points_plot.addItem(self.points_x0_item)
        self.points_plot.addItem(self.points_xt_item)
        self.addWidget(image_page)
        self.addWidget(self.points_plot)
        self._points = False
        self._noise_uploaded = False

    def show_source(self, x0: np.ndarray, is_points: bool) -> None:
        """A new source or seed: show the points of x_0 (or none), and upload ε again on the next frame."""
        self._points = is_points
        if is_points:
            self.points_x0_item.setData(pos=x0)
        else:
            self._noise_uploaded = False
            self.points_x0_item.setData(pos=np.zeros((0, 2)))

    def show_page(self) -> None:
        self.setCurrentIndex(POINTS_PAGE if self._points else IMAGES_PAGE)

    def set_chain_mode(self, chain: bool) -> None:
        """Name the middle picture for the mode: the fixed ε, or the chain's accumulated noise."""
        self.noise_panel.set_title(NOISE_TITLES[chain][0])
        self.noise_panel.setToolTip(NOISE_TITLES[chain][1])

    def invalidate_noise(self) -> None:
        """Upload ε again on the next frame (the mode changed)."""
        self._noise_uploaded = False

    def show_frame(self, x_t: np.ndarray, eps: np.ndarray, signal: np.ndarray, fixed_noise: bool) -> None:
        """Push one frame; ``fixed_noise`` when ε is the same for every t (closed form)."""
        if self._points:
            self.points_xt_item.setData(pos=x_t)
            return
        self.xt_panel.set_batch(x_t, IMAGE_LEVELS)  # a square grid: the biggest tiles in a square-ish panel
        self.signal_panel.set_batch(signal, IMAGE_LEVELS)
        if not fixed_noise or not self._noise_uploaded:  # a fixed ε is uploaded once
            self.noise_panel.set_batch(eps, NOISE_LEVELS)
            self._noise_uploaded = fixed_noise
