"""The autoencoder taken apart: an image, its latent channels, the reconstruction and what was lost.

One image goes through the shipped autoencoder (``core.models.autoencoder.reconstruct``): the four
8×8 latent channels are shown as grey images on the scale diffusion sees them (z · s, so ±3 is
three standard deviations), next to 𝒟(z), the error map |x − 𝒟(z)| and the numbers. A 32×32 image
through a tiny network takes a few milliseconds, so it runs right here on the GUI thread.
Images come from the held-out set by number, from Open image…, or dropped on the panel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.data.image_file import ImageFileError
from core.io import CheckpointError
from core.io.autoencoder_file import load_autoencoder
from core.models.autoencoder import Autoencoder, reconstruct
from desktop_app.views.latent.files import EXAMPLE_IMAGES, available_autoencoders, example_images, image_from_file
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel

LATENT_LEVELS = (-3.0, 3.0)  # scaled latents have unit variance: black = −3σ, grey = 0, white = +3σ
ERROR_LEVELS = (0.0, 0.25)  # |x − x̃| in [−1, 1] units: white = an eighth of the range or more
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff)"


class AutoencoderPanel(QWidget):
    """Choose an autoencoder and an image; see its latent, reconstruction and error (module docstring)."""

    status_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.autoencoder: Autoencoder | None = None
        self.info: dict = {}
        self._dataset = ""
        self._images: torch.Tensor | None = None
        self._names: list[str] = []
        self.result = None

        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("Which shipped autoencoder (resources/models/latent) to look inside")
        for dataset, label, _ in available_autoencoders():
            self.dataset_combo.addItem(label, dataset)
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, EXAMPLE_IMAGES - 1)
        self.index_spin.setToolTip("Which held-out image (one the autoencoder never trained on)")
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Encode an image file of your own (or drop one on this panel)")
        controls = FlowRow()
        controls.addWidget(QLabel("Autoencoder"))
        controls.addWidget(self.dataset_combo)
        controls.addWidget(QLabel("Held-out image"))
        controls.addWidget(self.index_spin)
        controls.addWidget(self.open_button)

        self.image_panel = ImagePanel("Image x", "32×32 pixels")
        self.latent_panel = ImagePanel("Latent z · s", "4 channels of 8×8, black −3, grey 0, white +3")
        self.reconstruction_panel = ImagePanel("Reconstruction 𝒟(z)", "decoded from the latent alone")
        self.error_panel = ImagePanel("Error |x − 𝒟(z)|", "black 0, white ≥ 0.25")
        panels = QHBoxLayout()
        for panel in (self.image_panel, self.latent_panel, self.reconstruction_panel, self.error_panel):
            panel.setMinimumSize(120, 140)
            panels.addWidget(panel, 1)
        self.numbers = QLabel()
        self.numbers.setWordWrap(True)
        self.numbers.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(panels, 1)
        layout.addWidget(self.numbers)

        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_chosen)
        self.index_spin.valueChanged.connect(self._on_index_changed)
        self.open_button.clicked.connect(self._on_open_clicked)
        if self.dataset_combo.count():
            self._on_dataset_chosen(0)
        else:
            self.numbers.setText(
                "No autoencoder is shipped in resources/models/latent; run scripts/train_autoencoder.py to make one."
            )

    # --- choosing -------------------------------------------------------------------------------

    @Slot(int)
    def _on_dataset_chosen(self, index: int) -> None:
        found = {dataset: path for dataset, _, path in available_autoencoders()}
        dataset = self.dataset_combo.itemData(index)
        if dataset not in found:
            return
        try:
            self.autoencoder, self.info = load_autoencoder(found[dataset])
            self._images, self._names = example_images(dataset)
        except (CheckpointError, OSError, ValueError) as error:
            self.autoencoder = None
            self.numbers.setText(f"Cannot use this autoencoder: {error}")
            return
        self._dataset = dataset
        self.status_changed.emit(f"Autoencoder: {self.dataset_combo.currentText()}")
        self._on_index_changed(self.index_spin.value())

    @Slot(int)
    def _on_index_changed(self, index: int) -> None:
        if self.autoencoder is not None and self._images is not None:
            self.show_image(self._images[index : index + 1], f"held-out image {index}: {self._names[index]}")

    @Slot()
    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Encode an image", "", IMAGE_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Encode an image file (its centre square at 32×32); a clear message instead when it cannot."""
        if self.autoencoder is None:
            self.numbers.setText("Choose an autoencoder first.")
            return False
        config = self.autoencoder.config
        try:
            x = image_from_file(path, config.in_channels, config.image_size)
        except ImageFileError as error:
            self.numbers.setText(str(error))
            return False
        self.show_image(x, f"“{Path(path).name}” (its centre square at {config.image_size}×{config.image_size})")
        return True

    # --- drag and drop --------------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            self.open_image(files[0])
            event.acceptProposedAction()

    # --- showing --------------------------------------------------------------------------------

    def show_image(self, x: torch.Tensor, source: str) -> None:
        """Run (1, C, H, W) ``x`` through the autoencoder and show every stage."""
        result = reconstruct(self.autoencoder, x)
        self.result = result
        c, h, w = result.latent.shape[1:]
        self.image_panel.set_batch(x.numpy().copy())
        self.latent_panel.set_batch(result.latent[0].numpy().reshape(c, 1, h, w).copy(), LATENT_LEVELS, ncols=2)
        self.reconstruction_panel.set_batch(result.reconstruction.clamp(-1, 1).numpy().copy())
        self.error_panel.set_batch(result.error_map[:, None].numpy().copy(), ERROR_LEVELS)
        pixels = int(np.prod(x.shape[1:]))
        numbers = c * h * w
        held_out = self.info.get("held_out_mse")
        self.numbers.setText(
            f"{source}. The latent holds {numbers} numbers ({c}×{h}×{w}) for {pixels} pixel values: "
            f"{pixels / numbers:.0f}× fewer. Reconstruction error of this image: MSE {float(result.mse[0]):.4f} "
            f"(PSNR {float(result.psnr_db[0]):.1f} dB)"
            + (f"; held-out average MSE {held_out:.4f}." if isinstance(held_out, float) else ".")
            + f" Scale factor s = {float(self.autoencoder.scale_factor):.4f} = 1 / std of the training latents, "
            "so diffusion sees latents of unit variance (Stable Diffusion's is 0.18215)."
        )

    def dataset(self) -> str:
        return self._dataset
