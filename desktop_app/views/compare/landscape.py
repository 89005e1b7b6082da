"""GAN Lab's picture (Kahng et al. 2019) and the VAE's latent space, for 2-D models.

``LandscapePanel``: the discriminator's probability "real" as a heat map over the plane (purple =
fake, green = real), the training data, and where the generator sends a regular grid of latent
points (the grid's lines, bent by G). A collapsed generator folds the whole grid onto one spot.
``LatentPanel``: the VAE's encoder means μ_φ(x) of data points coloured by mixture component (is the
latent space organised, does it fill N(0, I)?). The decoded latent grid is drawn on the samples plot,
in data space, by the column (``ModelColumn.show_latents``).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from desktop_app.widgets.point_cloud import PointCloudPlot

# sigmoid(D) = 0 → purple (fake), 1 → green (real), as in GAN Lab
D_COLORMAP = pg.ColorMap([0.0, 0.5, 1.0], [(118, 42, 131), (247, 247, 247), (27, 120, 55)])


def grid_lines(mapped: np.ndarray) -> np.ndarray:
    """(L, L, 2) grid points → one polyline per row and per column, separated by NaN (connect="finite")."""
    rows = [np.vstack([line, [np.nan, np.nan]]) for line in mapped]
    cols = [np.vstack([line, [np.nan, np.nan]]) for line in mapped.transpose(1, 0, 2)]
    return np.vstack(rows + cols).astype(np.float32)


class LandscapePanel(PointCloudPlot):
    """D(x) over the plane and G's image of a latent grid, on top of the data."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("D(x) and G(latent grid)", parent=parent)
        self.setToolTip(
            "Heat map: the discriminator's probability that a point is real (green) or generated (purple). "
            "Lines: a square grid of latent points z mapped through the generator G"
        )
        self.setMinimumHeight(130)
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setLookupTable(D_COLORMAP.getLookupTable(nPts=256))
        self.heat.setOpacity(0.75)
        self.heat.setZValue(-10)
        self.addItem(self.heat)
        self.grid = pg.PlotCurveItem(pen=pg.mkPen(30, 30, 30, 200, width=1), connect="finite")
        self.addItem(self.grid)
        self.last = None

    def show_landscape(self, event) -> None:
        """``event``: a ``core.training.generative.GANLandscape``."""
        e = float(event.extent)
        self.heat.setImage(np.ascontiguousarray(event.d_prob, dtype=np.float32), levels=(0.0, 1.0), autoLevels=False)
        self.heat.setRect(-e, -e, 2 * e, 2 * e)
        lines = grid_lines(np.asarray(event.mapped_grid, dtype=np.float32))
        self.grid.setData(lines[:, 0], lines[:, 1])
        self.last = event

    def clear_panel(self) -> None:
        """Forget the landscape (not ``clear``: pyqtgraph's PlotWidget binds that name to PlotItem.clear,
        which removes every item)."""
        self.heat.clear()
        self.grid.setData([], [])
        self.last = None


class LatentPanel(PointCloudPlot):
    """Encoder means in latent space, coloured by mixture component, with the prior's 2σ circle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Latent space: μ(x)", parent=parent)
        self.setToolTip(
            "Where the encoder puts data points in the 2-D latent space, coloured by mixture component; "
            "the grey circle is 2σ of the prior N(0, I) that samples are drawn from"
        )
        self.setMinimumHeight(130)
        circle = np.linspace(0, 2 * np.pi, 100)
        self.addItem(pg.PlotCurveItem(2 * np.cos(circle), 2 * np.sin(circle), pen=pg.mkPen(150, 150, 150, width=1)))
        self.last = None

    def set_reference(self, points) -> None:
        """The data is not drawn here: this panel's dots are latent codes."""

    def show_latents(self, event) -> None:
        """``event``: a ``core.training.generative.VAELatents``."""
        means = np.asarray(event.means, dtype=np.float32)
        if means.shape[1] >= 2:
            self.set_points(means[:, :2], event.labels)
        self.last = event

    def clear_panel(self) -> None:
        self.set_points(np.zeros((0, 2), np.float32))
        self.last = None
