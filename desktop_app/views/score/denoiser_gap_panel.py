"""Ideal vs learned denoiser for images: ‖x̂₀_θ − x̂₀_ideal‖ over t for the shipped Fashion-MNIST model.

``core.evaluation.denoiser_gap`` run by an ``EventStreamWorker`` with progress and Cancel. The ideal (exact)
denoiser is the posterior mean over a subset of the training images; the curves are for x_0 from that
subset and for held-out test images.
"""

from __future__ import annotations

from functools import partial

import pyqtgraph as pg
import torch
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QHBoxLayout, QSpinBox, QWidget

from core.data import get_dataset
from core.evaluation.denoiser_gap import DenoiserGap, DenoiserGapProgress, gap_timesteps, iterate_denoiser_gap
from core.evaluation.held_out_vlb import held_out_images
from core.io import load_denoiser
from desktop_app.views.score.compute_panel import ComputePanel
from desktop_app.views.score.image_common import controls_column, image_model_path
from desktop_app.workers import EventStreamWorker

TRAIN_SET = "training images (in the subset)"
TEST_SET = "test images (never seen)"
COLORS = {TRAIN_SET: (0, 114, 178), TEST_SET: (213, 94, 0)}


class DenoiserGapWorker(EventStreamWorker):
    FREQUENT = ("DenoiserGapProgress",)


def denoiser_gap_events(images: int, subset: int, timesteps: int, seed: int = 0):
    """Load the model, the training subset and test images on the worker thread, then stream the gap's events."""
    checkpoint = load_denoiser(image_model_path())
    reference = get_dataset("fashion_mnist", split="train", pad_to=32, limit=subset).images
    pick = torch.randperm(subset, generator=torch.Generator().manual_seed(seed))[:images]
    sets = {TRAIN_SET: reference[pick], TEST_SET: held_out_images(images)}
    ts = gap_timesteps(checkpoint.schedule, timesteps)
    yield from iterate_denoiser_gap(checkpoint.model, reference, sets, checkpoint.schedule, ts, seed=seed)


class DenoiserGapPanel(ComputePanel):
    """Images, training subset and timesteps; Compute / Cancel; the gap over t for both sets of images."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(
            "Compare denoisers", "Noise the images to each t and compare the network's x̂₀ with the exact one",
            "Stop after the current timestep", "Timesteps done (for both sets of images)",
            "The best possible denoiser of a finite training set is known exactly (the posterior mean). "
            "How far is the network from it?",
            parent,
        )  # fmt: skip
        self.result: DenoiserGap | None = None
        self.images = QSpinBox()
        self.images.setRange(1, 500)
        self.images.setValue(8)
        self.images.setPrefix("images ")
        self.images.setToolTip("How many training and how many test images are noised at each t")
        self.subset = QSpinBox()
        self.subset.setRange(10, 60_000)
        self.subset.setSingleStep(1000)
        self.subset.setValue(5000)
        self.subset.setPrefix("training subset ")
        self.subset.setToolTip(
            "The ideal denoiser is the exact posterior mean over this many training images "
            "(its cost grows with the count; the network saw all 60,000)"
        )
        self.timesteps = QSpinBox()
        self.timesteps.setRange(2, 200)
        self.timesteps.setValue(12)
        self.timesteps.setPrefix("timesteps ")
        self.timesteps.setToolTip("Points on the curve, from t = 0 to T−1, closer together at small t")
        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setMenuEnabled(False)
        self.plot.setTitle("‖x̂₀_θ − x̂₀_ideal‖ over t (RMS/pixel)", color="#333", size="10pt")
        self.plot.setToolTip(
            "RMS per pixel of the network's x̂₀ minus the ideal denoiser's, mean over the images, "
            "for x_0 from the ideal denoiser's training subset and from the test set"
        )
        self.plot.setLabel("bottom", "t")
        self.plot.setLabel("left", "RMS per pixel")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(-10, -10))
        self.curves = {
            name: self.plot.plot(
                [], [], pen=pg.mkPen(*color, width=2), symbol="o", symbolSize=5, symbolBrush=color, name=name
            )  # fmt: skip
            for name, color in COLORS.items()
        }
        side = controls_column(self.images, self.subset, self.timesteps, self.run_button, self.cancel_button,
                               self.progress, self.message)  # fmt: skip
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(side)
        layout.addWidget(self.plot, 1)
        self.disable_without_model()

    @Slot()
    def _on_run(self) -> None:
        if self._job.running:
            return
        if self.images.value() > self.subset.value():
            self.message.setText("Choose at most as many images as the training subset holds.")
            return
        self.result = None
        make = partial(denoiser_gap_events, self.images.value(), self.subset.value(), self.timesteps.value())
        self.start(DenoiserGapWorker(make), f"Loading {self.subset.value()} training images and the model…")

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, DenoiserGapProgress):
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
            elif isinstance(event, DenoiserGap):
                self._show(event)

    def _show(self, result: DenoiserGap) -> None:
        self.result = result
        ts = result.timesteps.numpy()
        for name, curve in self.curves.items():
            curve.setData(ts, result.gap[name].numpy())
        mid = int(ts[len(ts) // 2])
        self.message.setText(
            f"Ideal denoiser over {result.reference_size} training images. At t = 0 a test image comes back from "
            f"the network {result.learned_error[TEST_SET][0]:.3f} from itself, from the ideal denoiser "
            f"{result.ideal_error[TEST_SET][0]:.3f} (it returns the nearest training image: memorising). "
            f"Gap at t = {mid}: training {result.at(TRAIN_SET, mid):.3f}, test {result.at(TEST_SET, mid):.3f}."
        )
