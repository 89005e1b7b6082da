"""The Score & likelihood view's "Image models" tab: the shipped Fashion-MNIST model measured three ways.

Variational bound (bits/dim and L_t over t); the learned denoiser against the ideal (exact) denoiser of a
training subset over t; and the nearest training images of generated samples (memorisation or not).
"""

from __future__ import annotations

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from desktop_app.views.score.denoiser_gap_panel import DenoiserGapPanel
from desktop_app.views.score.neighbours_panel import NeighboursPanel
from desktop_app.views.score.vlb_panel import VLBPanel


class ImageModelsPanel(QWidget):
    """Sub-tabs, one per measurement; each runs its own worker."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.vlb = VLBPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.vlb, "Variational bound")
        self.tabs.setTabToolTip(0, "The DDPM bound on −log p(x) of held-out test images, in bits/dim")
        self.gap = DenoiserGapPanel()
        self.tabs.addTab(self.gap, "Ideal vs learned")
        self.tabs.setTabToolTip(1, "The network's x̂₀ against the exact denoiser of a training subset, over t")
        self.neighbours = NeighboursPanel()
        self.tabs.addTab(self.neighbours, "Nearest neighbours")
        self.tabs.setTabToolTip(2, "Generated images beside their closest training images: copies or new?")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)

    def panels(self) -> list[QWidget]:
        return [self.vlb, self.gap, self.neighbours]

    def shutdown(self) -> None:
        for panel in self.panels():
            panel.shutdown()
