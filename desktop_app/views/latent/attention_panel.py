"""Which words the cross-attention looks at, for each region of one image at one step.

The text U-Net's cross-attention gives, at every latent position, a distribution over the prompt's
tokens (``TextToImageStep.attention``: (B, L, 8, 8), summing to 1 over the tokens). This panel
shows, for the chosen image, one small picture per token of its prompt (``<start>`` first, as the
model reads it): the image's x̂₀ preview, dimmed, under a yellow heat where that token gets the
attention, with the token's share of the whole image in its caption. The panels are created once
for the longest prompt the model reads and only their pictures change while the scrubber moves.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from desktop_app.widgets.image_panel import ImagePanel

IMAGE_WEIGHT = 0.45  # how much of the image shows under the heat (enough to see the shape)
HEAT_RGB = np.array([1.0, 0.8, 0.1], dtype=np.float32)  # yellow: visible on the dark background and on colours
COLUMNS = 4  # up to 12 tokens in 3 rows: larger pictures than 6 a row in the same room


def attention_overlay(image: np.ndarray, attention: np.ndarray, peak: float) -> np.ndarray:
    """(3, H, W) in [−1, 1]: the image dimmed to IMAGE_WEIGHT, plus yellow heat where ``attention`` (h, w),
    nearest-upsampled, is large. ``peak`` is the weight shown at full heat (the largest over all tokens at
    this step), so the pictures of one step compare with each other.
    """
    _, height, width = image.shape
    h, w = attention.shape
    weight = np.repeat(np.repeat(attention, height // h, axis=0), width // w, axis=1) / max(peak, 1e-8)
    heat = np.clip(weight, 0.0, 1.0)[None] * HEAT_RGB[:, None, None]
    pixels = IMAGE_WEIGHT * (np.clip(image, -1, 1) + 1.0) / 2.0 + (1.0 - IMAGE_WEIGHT) * heat
    return (2.0 * np.clip(pixels, 0.0, 1.0) - 1.0).astype(np.float32)


class TokenAttentionPanel(QWidget):
    """The chosen image's x̂₀ and one attention picture per token (module docstring)."""

    def __init__(self, max_tokens: int = 12, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel("Attention per word: yellow where the word is looked at")
        self.heading.setWordWrap(True)
        self.token_panels: list[ImagePanel] = []
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i in range(max_tokens):
            panel = ImagePanel("", "")
            panel.canvas.setMinimumSize(48, 48)  # (the canvas's own 120 px minimum would crop 4 in a row)
            panel.setMinimumSize(56, 80)
            panel.setVisible(False)
            self.token_panels.append(panel)
            grid.addWidget(panel, i // COLUMNS, i % COLUMNS)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(grid, 1)
        self.tokens: list[str] = []

    def set_tokens(self, tokens: list[str]) -> None:
        """Show one panel per token of the prompt (``<start>`` first), titled with the word."""
        self.tokens = list(tokens)[: len(self.token_panels)]
        for i, panel in enumerate(self.token_panels):
            panel.setVisible(i < len(self.tokens))
            panel.clear()
            if i < len(self.tokens):
                panel.set_title(self.tokens[i])
                panel.setToolTip(f"Where the image's regions attend to the token '{self.tokens[i]}'")

    def show_maps(self, image: np.ndarray, attention: np.ndarray | None, label: str = "") -> None:
        """``image`` (3, H, W) x̂₀ of the chosen image, ``attention`` (L, h, w) its maps (None: not recorded)."""
        if attention is None:
            self.heading.setText("No attention was recorded for this step.")
            return
        n = len(self.tokens)
        maps = attention[:n]
        peak = float(maps.max()) if n else 1.0
        for panel, token_map in zip(self.token_panels, maps, strict=False):
            panel.set_batch(attention_overlay(image, token_map, peak)[None])
            panel.set_caption(f"{100.0 * float(token_map.mean()):.0f} %")
        self.heading.setText(
            f"Attention per word{label}: yellow where the image looks at the word; the % is the word's share "
            "of all the attention."
        )
