"""Samples improving while it trains: every few hundred steps core draws samples from the EMA weights
with fixed noise, shown as an image grid, or for 2-D data as a point cloud over the training points
in grey (loaded off the GUI thread when the run starts). Each preview is scored (``scored_training``):
its MMD² or FID and class accuracy join the title, the run's history of scores is in the tooltip.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from core.data import get_dataset, make_grid
from core.training import TrainConfig
from desktop_app.export import grid_picture, scatter_picture
from desktop_app.widgets.point_cloud import PointCloudPlot
from desktop_app.window import themes
from desktop_app.workers import BackgroundJob, CallWorker

POINT_DATA_PREFIXES = ("toy:", "word:", "drawing:")  # dataset specs of 2-D points


def reference_points(spec: str, n: int = 2000) -> np.ndarray:
    """``n`` points of a 2-D dataset (the grey background of the preview)."""
    return get_dataset(spec, n=n).points.numpy()


def scored_training(config: TrainConfig, control=None, **options):
    """``core.training.train`` with every preview scored after it is drawn (``PreviewScore`` events:
    MMD² for 2-D toys, FID and class accuracy for Fashion-MNIST), on the training worker's thread.
    Scoring only reads the preview samples, so the run's weights are those of plain ``train``."""
    from core.evaluation.training_quality import with_preview_scores
    from core.training import train

    return with_preview_scores(train(config, control, **options), config.dataset, config.dataset_options)


def preview_picture(event) -> np.ndarray:
    """A Preview event as a picture to save: a scatter plot of 2-D samples, or the image grid."""
    samples = np.asarray(event.images)
    return scatter_picture(samples, event.labels) if samples.ndim == 2 else grid_picture(samples)


class PreviewPanel(QWidget):
    """The latest preview: an image grid or a 2-D point cloud (one of the two is shown)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.preview_images = pg.GraphicsLayoutWidget()
        self.preview_images.setBackground(themes.current().plot_background)
        self._preview_title = self.preview_images.addLabel("Preview (EMA weights)", **themes.title_style())
        self.preview_images.nextRow()
        self._preview_box = self.preview_images.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.preview_image_item = pg.ImageItem()
        self._preview_box.addItem(self.preview_image_item)
        self.preview_points = PointCloudPlot("Preview (EMA weights)")
        self.preview_points.setVisible(False)
        for widget in (self.preview_images, self.preview_points):
            widget.setToolTip("Samples drawn from the EMA weights with the same fixed noise at every preview")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.preview_images, self.preview_points):  # sized like the charts around them
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            widget.setMinimumSize(180, 140)
            layout.addWidget(widget)
        self._reference = BackgroundJob(self)  # loads the grey training points
        self.scores: list = []  # core's PreviewScore events of this run
        self._preview_count = 0

    def show_kind(self, points: bool) -> None:
        """Show the point cloud (2-D data) or the image grid."""
        self.preview_points.setVisible(points)
        self.preview_images.setVisible(not points)

    def start_run(self, config: TrainConfig) -> None:
        """A new run: empty previews, titles saying when the first one comes, the grey data for 2-D sets."""
        self.preview_image_item.clear()
        self.scores, self._preview_count = [], config.preview_count
        self.preview_points.set_points(np.zeros((0, 2), np.float32))
        self._preview_box.autoRange()
        self.preview_points.set_reference(None)
        first = f"first at step {config.preview_every:,}" if config.preview_every else "off"
        self.preview_points.setTitle(f"Preview ({first}) · grey: data", **themes.title_style())
        self._preview_title.setText(f"Preview ({first})", **themes.title_style())
        if not config.dataset.startswith(POINT_DATA_PREFIXES) or self._reference.running:
            return
        worker = CallWorker(partial(reference_points, config.dataset))
        worker.result.connect(self._on_reference_points)
        self._reference.start(worker)

    @Slot(object)
    def _on_reference_points(self, points) -> None:
        self.preview_points.set_reference(points)

    def show_samples(self, event) -> None:
        """Core's Preview event: (N, 2) points with their labels, or a batch of images (shown as one grid)."""
        samples = np.asarray(event.images)
        if samples.ndim == 2:
            self.preview_points.set_points(samples, event.labels)
            self.preview_points.setTitle(f"Samples at step {event.step:,} · grey: data", **themes.title_style())
            return
        grid = make_grid(samples, padding=2)
        self.preview_image_item.setImage(np.ascontiguousarray(grid), autoLevels=False, levels=(0, 255))
        self._preview_box.autoRange(padding=0.02)
        self._preview_title.setText(f"Samples at step {event.step:,} (EMA weights)", **themes.title_style())

    def show_score(self, event) -> None:
        """Core's PreviewScore of the preview just shown: its headline number joins the title, the whole
        history of scores goes into the tooltip (``core.evaluation.training_quality``)."""
        self.scores.append(event)
        names = {"mmd": "MMD²", "fid": f"FID (n={self._preview_count})", "class_accuracy": "class acc."}
        headline = f"{names[event.headline]} {event.metrics[event.headline]:.3g}"
        if "class_accuracy" in event.metrics:
            headline += f", {event.metrics['class_accuracy']:.0%} right class"
        history = "\n".join(
            f"step {s.step:,}: "
            + ", ".join(f"{names.get(k, k)} {v:.3g}" for k, v in s.metrics.items())
            + f" (scored in {s.seconds:.2f} s)"
            for s in self.scores[-12:]
        )
        tip = "Quality of the preview samples (EMA weights), scored after each preview:\n" + history
        if event.headline == "mmd":  # 2-D points
            self.preview_points.setTitle(f"Step {event.step:,} · {headline} · grey: data", **themes.title_style())
            self.preview_points.setToolTip(tip)
        else:
            self._preview_title.setText(f"Step {event.step:,} (EMA) · {headline}", **themes.title_style())
            self.preview_images.setToolTip(tip)

    def shutdown(self) -> None:
        """Wait for the grey points still loading."""
        self._reference.stop()
