"""Nearest training images of generated Fashion-MNIST samples: memorisation or generalisation, with evidence.

A ``CallWorker`` draws a few class-balanced samples from the shipped model with DDIM, then finds each one's
k closest training images in pixel space and in the classifier's feature space
(``core.evaluation.nearest_neighbours``), and the same distances for held-out test images as the yardstick.
The grid shows every sample beside its neighbours with their distances.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox, QWidget

from core.data import get_dataset
from core.data.fashion_mnist import FASHION_MNIST_CLASSES
from core.evaluation import load_feature_network, sample_images
from core.evaluation.held_out_vlb import held_out_images
from core.evaluation.nearest_neighbours import NeighbourStudy, classifier_features, neighbour_study
from core.io import load_denoiser
from desktop_app.views.score.image_common import controls_column, image_model_path, missing_model_text
from desktop_app.workers import BackgroundJob, CallWorker

HELD_OUT = 50  # test images measured the same way: the yardstick
TILE = 52  # screen pixels per image


@dataclass
class NeighbourRun:
    """What the worker hands back: the samples, the study, and the training images it searched."""

    generated: np.ndarray  # (G, 1, 32, 32) in [−1, 1]
    labels: list[int]
    study: NeighbourStudy
    training: torch.Tensor  # the searched training images (N, 1, 32, 32)
    training_labels: torch.Tensor
    training_features: torch.Tensor  # kept by the panel so the next run skips the classifier pass


def neighbour_run(count: int, k: int, searched: int, steps: int, seed: int, features: torch.Tensor | None):
    """Generate with DDIM, then search ``searched`` training images (runs on the worker thread)."""
    checkpoint = load_denoiser(image_model_path())
    generated, labels = sample_images(checkpoint.model, checkpoint.schedule, count, sampler="ddim", steps=steps,
                                      seed=seed)  # fmt: skip
    training = get_dataset("fashion_mnist", split="train", pad_to=32, limit=searched)
    network = load_feature_network()
    if features is None or features.shape[0] != searched:
        features = classifier_features(training.images, network)
    study = neighbour_study(generated, held_out_images(HELD_OUT), training.images, network, k,
                            training_features=features)  # fmt: skip
    label_list = [] if labels is None else labels.tolist()
    return NeighbourRun(generated.numpy(), label_list, study, training.images, training.labels, features)


def _pixmap(image: np.ndarray) -> QPixmap:
    """A (1, H, W) image in [−1, 1] as a grey pixmap TILE pixels wide."""
    grey = np.ascontiguousarray(np.clip((image[0] + 1.0) * 127.5, 0, 255).round().astype(np.uint8))
    qimage = QImage(grey.data, grey.shape[1], grey.shape[0], grey.strides[0], QImage.Format.Format_Grayscale8)
    return QPixmap.fromImage(qimage.copy()).scaled(TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio)


class NeighbourGrid(QWidget):
    """Rows: a generated image, its k nearest training images by pixels, then by features (distances below)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setSpacing(3)
        self.cells: list[QWidget] = []

    def _cell(self, image: np.ndarray, text: str, tip: str, row: int, column: int) -> None:
        picture = QLabel()
        picture.setPixmap(_pixmap(image))
        picture.setToolTip(tip)
        caption = QLabel(text)
        caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        caption.setToolTip(tip)
        for widget, r in ((picture, 2 * row + 1), (caption, 2 * row + 2)):
            self.grid.addWidget(widget, r, column, Qt.AlignmentFlag.AlignCenter)
            self.cells.append(widget)

    def show_run(self, run: NeighbourRun) -> None:
        for widget in self.cells:
            self.grid.removeWidget(widget)
            widget.deleteLater()
        self.cells = []
        study, k = run.study, run.study.generated_pixel.indices.shape[1]
        headers = (
            ("sample", 0, 1),
            ("nearest by pixels (distance)", 1, k),
            ("nearest by features (distance)", 1 + k, k),
        )
        for text, column, span in headers:
            header = QLabel(f"<b>{text}</b>")
            header.setToolTip("Nearest training images, nearest first, and their Euclidean distance")
            self.grid.addWidget(header, 0, column, 1, span, Qt.AlignmentFlag.AlignCenter)
            self.cells.append(header)
        for row, image in enumerate(run.generated):
            label = FASHION_MNIST_CLASSES[run.labels[row]] if run.labels else "sample"
            self._cell(image, label, f"Generated with DDIM, class '{label}'", row, 0)
            for space, found, offset in (
                ("pixels", study.generated_pixel, 1),
                ("features", study.generated_feature, 1 + k),
            ):
                for j in range(k):
                    index = int(found.indices[row, j])
                    name = FASHION_MNIST_CLASSES[int(run.training_labels[index])]
                    distance = float(found.distances[row, j])
                    tip = f"Training image {index} ({name}), distance {distance:.3f} in {space}"
                    self._cell(run.training[index].numpy(), f"{distance:.2f}", tip, row, offset + j)
        for r in range(self.grid.rowCount()):
            self.grid.setRowStretch(r, 0)
        self.grid.setRowStretch(2 * len(run.generated) + 1, 1)  # rows packed at the top
        self.grid.setColumnStretch(1 + 2 * k, 1)


class NeighboursPanel(QWidget):
    """Samples, k and the searched training images; Generate & search; the grid and the medians."""

    run_finished = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run: NeighbourRun | None = None
        self._features: torch.Tensor | None = None
        self._seed = 0
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self.count = QSpinBox()
        self.count.setRange(1, 8)
        self.count.setValue(4)
        self.count.setPrefix("samples ")
        self.count.setToolTip("Images generated with DDIM (classes in turn: T-shirt, Trouser, Pullover, …)")
        self.k = QSpinBox()
        self.k.setRange(1, 4)
        self.k.setValue(3)
        self.k.setPrefix("neighbours k = ")
        self.k.setToolTip("How many of the closest training images to show in each space")
        self.searched = QSpinBox()
        self.searched.setRange(100, 60_000)
        self.searched.setSingleStep(5000)
        self.searched.setValue(10_000)
        self.searched.setPrefix("training images ")
        self.searched.setToolTip(
            "Training images searched (the first ones; all 60,000 is the whole training set). The classifier "
            "features of these are computed once, about 5 s per 10,000 on one core, then reused."
        )
        self.steps = QSpinBox()
        self.steps.setRange(2, 200)
        self.steps.setValue(20)
        self.steps.setPrefix("DDIM steps ")
        self.steps.setToolTip("Sampling steps for the generated images (DDIM, η = 0)")
        self.run_button = QPushButton("Generate and search")
        self.run_button.setToolTip("Draw new samples and find their nearest training images")
        self.run_button.clicked.connect(self._on_run)
        self.message = QLabel(
            "Does the model copy its training images? A copy sits at distance ≈ 0 from one; test images that "
            "the model never saw give the yardstick."
        )
        self.message.setWordWrap(True)
        self.grid = NeighbourGrid()
        scroll = QScrollArea()
        scroll.setWidget(self.grid)
        scroll.setWidgetResizable(True)
        scroll.setToolTip("Each row: a generated image, then its nearest training images by pixels and by features")
        side = controls_column(self.count, self.k, self.searched, self.steps, self.run_button, self.message)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side)
        layout.addWidget(scroll, 1)
        if not image_model_path().is_file():
            self.run_button.setEnabled(False)
            self.message.setText(missing_model_text())

    @Slot()
    def _on_run(self) -> None:
        if self._job.running:
            return
        self._seed += 1  # new samples each press
        make = partial(neighbour_run, self.count.value(), self.k.value(), self.searched.value(), self.steps.value(),
                       self._seed, self._features)  # fmt: skip
        worker = CallWorker(make)
        worker.result.connect(self._on_result)
        worker.errored.connect(self._on_error)
        self.run_button.setEnabled(False)
        self.message.setText(
            f"Generating {self.count.value()} images and searching {self.searched.value()} training images…"
        )
        self._job.start(worker)

    @Slot(object)
    def _on_result(self, run: NeighbourRun) -> None:
        self.run, self._features = run, run.training_features
        self.grid.show_run(run)
        m = run.study.median_nearest()
        pixels, features = run.study.closeness("pixels"), run.study.closeness("features")
        verdict = (
            "The samples are much closer to training images than unseen images are: look for copies."
            if min(pixels, features) < 0.5
            else "The samples are about as far from the training set as unseen test images: no sign of copying."
        )
        self.message.setText(
            f"Median distance to the nearest of {len(run.training):,} training images. Pixels: samples "
            f"{m['generated, pixels']:.2f}, {HELD_OUT} test images {m['test, pixels']:.2f}. Features: samples "
            f"{m['generated, features']:.2f}, test {m['test, features']:.2f}. {verdict}"
        )

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.message.setText(text)

    @Slot()
    def _on_job_finished(self) -> None:
        self.run_button.setEnabled(True)
        self.run_finished.emit()

    def shutdown(self) -> None:
        self._job.stop()
