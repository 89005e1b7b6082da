"""One column of the Compare view: a model's live loss curves, its samples from fixed noise, and one
picture of its insides (the GAN Lab landscape, the VAE's latent space, or the diffusion data)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.views.compare.landscape import LandscapePanel, LatentPanel, grid_lines
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import PointCloudPlot
from desktop_app.window import themes

CURVES = {  # kind → the curves of its loss plot: (attribute of the step event, legend)
    "diffusion": (("loss", "denoising MSE"),),
    "gan": (("loss", "D loss"), ("g_loss", "G loss")),
    "vae": (("loss", "−ELBO (nats)"), ("kl", "KL")),
}
TITLES = {"diffusion": "Diffusion", "gan": "GAN", "vae": "VAE"}


class CurvesPlot(pg.PlotWidget):
    """A few named curves of a value per step (GAN: both losses), appended as events arrive."""

    def __init__(self, curves: tuple, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.setBackground(themes.current().plot_background)
        self.setMenuEnabled(False)
        self.setMinimumHeight(90)
        self.setLabel("bottom", "step")
        if len(curves) > 1:
            self.addLegend(offset=(-2, 2), verSpacing=-6, **themes.legend_style())
        else:
            self.setLabel("left", curves[0][1])
        self._names = [name for name, _ in curves]
        self._steps: list[int] = []
        self._values: dict[str, list[float]] = {name: [] for name in self._names}
        self._items = {}
        for i, (name, label) in enumerate(curves):
            item = self.plot([], [], name=label, pen=themes.thick_pen(themes.series_colour(i)))
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self._items[name] = item

    def append(self, events: list) -> None:
        for event in events:
            self._steps.append(event.step)
            for name in self._names:
                self._values[name].append(float(getattr(event, name)))
        if events:
            steps = np.asarray(self._steps)
            for name, item in self._items.items():
                item.setData(steps, np.asarray(self._values[name]))

    def clear_curves(self) -> None:
        self._steps.clear()
        for name, item in self._items.items():
            self._values[name].clear()
            item.setData([], [])

    def values(self, name: str) -> list[float]:
        return list(self._values[name])

    def steps(self) -> list[int]:
        return list(self._steps)


class ModelColumn(QWidget):
    """Everything the view shows of one kind of model; 2-D (points) and image pages."""

    def __init__(self, kind: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.title = QLabel(f"<b>{TITLES[kind]}</b>")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setToolTip(
            {
                "diffusion": "Learns to remove noise; samples by many small denoising steps (DDIM)",
                "gan": "A generator and a discriminator trained against each other; one network call per sample",
                "vae": "An encoder and a decoder trained on the evidence lower bound (ELBO)",
            }[kind]
        )
        self.status = QLabel("not trained yet")
        self.status.setWordWrap(True)
        self.status.setToolTip("The last step's numbers of this model's training")
        self.curves = CurvesPlot(CURVES[kind])
        self.curves.setToolTip("Training losses as they come in" + (": D's and G's" if kind == "gan" else ""))
        self.samples = PointCloudPlot("Samples (fixed noise)")
        self.samples.setToolTip("Samples drawn from the same noise at every preview, over the training data (grey)")
        self.samples.setMinimumHeight(130)
        self.decoded_grid = pg.PlotCurveItem(pen=pg.mkPen(200, 80, 20, 150, width=1), connect="finite")
        self.samples.addItem(self.decoded_grid)  # the VAE's decoder manifold, in data space
        if kind == "gan":
            self.inside = LandscapePanel()
        elif kind == "vae":
            self.inside = LatentPanel()
        else:
            self.inside = None
        self.image_samples = ImagePanel("Samples (fixed noise)")
        self.image_samples.setToolTip("16 samples of the shipped model from a fixed seed")
        self.image_path = ImagePanel("Interpolation")
        self.image_path.setToolTip(
            "Samples along a path between two latents: z for GAN and VAE, the starting noise x_T for DDIM"
        )
        points_page, image_page = QWidget(), QWidget()
        points_layout = QVBoxLayout(points_page)
        points_layout.setContentsMargins(0, 0, 0, 0)
        points_layout.addWidget(self.curves, 2)
        points_layout.addWidget(self.samples, 3)
        if self.inside is not None:
            points_layout.addWidget(self.inside, 3)
        image_layout = QVBoxLayout(image_page)
        image_layout.setContentsMargins(0, 0, 0, 0)
        image_layout.addWidget(self.image_samples, 3)
        image_layout.addWidget(self.image_path, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(points_page)
        self.pages.addWidget(image_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.title)
        layout.addWidget(self.status)
        layout.addWidget(self.pages, 1)

    def show_images(self, images: bool) -> None:
        self.pages.setCurrentIndex(1 if images else 0)

    def set_reference(self, points: np.ndarray | None) -> None:
        self.samples.set_reference(points)
        if self.inside is not None:
            self.inside.set_reference(points)

    def show_latents(self, event) -> None:
        """A VAE's ``VAELatents``: the means in the latent panel, the decoded grid over the samples."""
        self.inside.show_latents(event)
        if event.mapped_grid is not None:
            lines = grid_lines(np.asarray(event.mapped_grid, dtype=np.float32))
            self.decoded_grid.setData(lines[:, 0], lines[:, 1])

    def clear(self) -> None:
        self.decoded_grid.setData([], [])
        self.curves.clear_curves()
        self.samples.set_points(np.zeros((0, 2), np.float32))
        if self.inside is not None:
            self.inside.clear_panel()
        self.status.setText("not trained yet")


def step_text(event) -> str:
    """A column's status line for its latest step event (the GAN's two losses, the VAE's ELBO terms)."""
    if hasattr(event, "g_loss"):
        return f"step {event.step}: D {event.loss:.3f}, G {event.g_loss:.3f}, D(real) {event.d_real:.2f}, D(fake) {event.d_fake:.2f}"
    if hasattr(event, "kl"):
        return f"step {event.step}: −ELBO {event.loss:.3f} = recon {event.recon:.3f} + KL {event.kl:.3f}"
    return f"step {event.step}: loss {event.loss:.4f}"
