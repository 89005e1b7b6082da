"""What one recorded Stable Diffusion step holds, as pictures.

For the step under the scrubber: the latent z_t's channels (a 2-column block per image, on the Latent
view's unit-variance scale: black −3, white +3), the latent decoded as it is, 𝒟(z_t / s), the x̂₀ preview
𝒟(ẑ₀ / s) (where the step is heading), and the final images once the run has ended. The panels are tall and narrow, so the images of a batch
are stacked in one column.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QWidget

from desktop_app.views.latent.autoencoder_panel import LATENT_LEVELS
from desktop_app.views.stable_diffusion.generation import SDFrame
from desktop_app.widgets.image_panel import ImagePanel


class StepPictures(QWidget):
    """Four image panels side by side (module docstring)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.latent_panel = ImagePanel("Latent z_t", "each image's channels, 2 a row: black −3, white +3")
        self.noisy_panel = ImagePanel("Decoded z_t", "𝒟(z_t / s): the noisy latent seen as pixels")
        self.preview_panel = ImagePanel("x̂₀ preview", "𝒟(ẑ₀ / s): where this step is heading")
        self.final_panel = ImagePanel("Result", "the decoded z₀ after the last step")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for panel in (self.latent_panel, self.noisy_panel, self.preview_panel, self.final_panel):
            panel.setMinimumSize(120, 140)
            row.addWidget(panel, 1)

    def show_frame(self, frame: SDFrame) -> None:
        z = frame.z_t
        n, c, h, w = z.shape
        self.latent_panel.set_batch(z.reshape(n * c, 1, h, w), LATENT_LEVELS, ncols=min(c, 2))
        self.latent_panel.set_title(f"z_t at t = {frame.t}")
        self.latent_panel.setToolTip(f"The {c} channels of each {c}×{h}×{w} latent at this step")
        self.noisy_panel.set_batch(frame.decoded_z_t, ncols=1)
        self.preview_panel.set_batch(frame.decoded_x0, ncols=1)

    def show_result(self, images: np.ndarray) -> None:
        self.final_panel.set_batch(np.clip(images, -1, 1), ncols=1)

    def clear(self) -> None:
        for panel in (self.latent_panel, self.noisy_panel, self.preview_panel, self.final_panel):
            panel.clear()
        self.latent_panel.set_title("Latent z_t")
