"""What the image-model panels of the Score & likelihood view share: the shipped model and a controls column."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QVBoxLayout, QWidget

from core.runtime.resources import resource_path
from desktop_app.views.score.particles_panel import CONTROLS_WIDTH

IMAGE_MODEL_FILE = "fmnist_unet.safetensors"  # the shipped Fashion-MNIST U-Net


def image_model_path() -> Path:
    return resource_path("models", IMAGE_MODEL_FILE)


def missing_model_text() -> str:
    return f"The shipped Fashion-MNIST model ({image_model_path()}) is missing, so there is nothing to measure."


def controls_column(*widgets: QWidget) -> QWidget:
    """The widgets stacked at the top of a column as wide as the other panels' controls."""
    column = QWidget()
    layout = QVBoxLayout(column)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    layout.addStretch(1)
    column.setMaximumWidth(CONTROLS_WIDTH)
    return column
