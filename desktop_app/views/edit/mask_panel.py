"""The mask painter: paint the hole to fill over the source image (brush / eraser, size, invert, clear)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from desktop_app.views.edit.pixel_painter import PixelPainter

DEFAULT_BRUSH = 3


class MaskPanel(QGroupBox):
    """The source image with the painted hole in red, and the brush tools under it."""

    mask_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("2 · Mask (inpainting)", parent)
        self.painter = PixelPainter(look="mask")
        self.painter.setToolTip("Paint the part the model should fill in (red). Right side: brush size, eraser")
        self.brush_spin = QSpinBox()
        self.brush_spin.setRange(1, 12)
        self.brush_spin.setValue(DEFAULT_BRUSH)
        self.brush_spin.setSuffix(" px")
        self.brush_spin.setToolTip("Brush radius in image pixels (the image is the model's size, e.g. 32×32)")
        self.eraser_check = QCheckBox("Eraser")
        self.eraser_check.setToolTip("Paint to remove the mask instead")
        self.invert_button = QPushButton("Invert")
        self.invert_button.setToolTip("Swap the mask: fill what was kept and keep what was to be filled")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove the whole mask")
        self.coverage_label = QLabel("")
        self.coverage_label.setStyleSheet("color: #555")
        self.coverage_label.setWordWrap(True)

        brush = QHBoxLayout()
        brush.addWidget(QLabel("Brush"))
        brush.addWidget(self.brush_spin)
        tools = QVBoxLayout()
        tools.addLayout(brush)
        for widget in (self.eraser_check, self.invert_button, self.clear_button):
            tools.addWidget(widget)
        tools.addStretch(1)
        tools.addWidget(self.coverage_label)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.painter, 1)
        layout.addLayout(tools)

        self.brush_spin.valueChanged.connect(self._on_brush_changed)
        self.eraser_check.toggled.connect(self._on_eraser_toggled)
        self.invert_button.clicked.connect(self.painter.invert)
        self.clear_button.clicked.connect(self.painter.clear)
        self.painter.changed.connect(self._on_mask_changed)
        self._on_brush_changed(self.brush_spin.value())
        self._on_mask_changed()

    def hole(self) -> np.ndarray:
        """The mask (H, W) float32: 1 where the model fills in."""
        return self.painter.layer.copy()

    def set_base(self, rgb: np.ndarray) -> None:
        self.painter.set_base(rgb)
        self._on_mask_changed()

    def set_default_hole(self) -> None:
        """A centred square over a third of the image, so Run works at once."""
        h, w = self.painter.layer.shape
        hole = np.zeros((h, w), dtype=np.float32)
        hole[h // 3 : 2 * h // 3 + 1, w // 3 : 2 * w // 3 + 1] = 1.0
        self.painter.set_layer(hole)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.painter, self.brush_spin, self.eraser_check, self.invert_button, self.clear_button):
            widget.setEnabled(not busy)

    @Slot(int)
    def _on_brush_changed(self, radius: int) -> None:
        self.painter.brush_radius = float(radius)

    @Slot(bool)
    def _on_eraser_toggled(self, on: bool) -> None:
        self.painter.erasing = on

    @Slot()
    def _on_mask_changed(self) -> None:
        layer = self.painter.layer
        self.coverage_label.setText(
            f"{int(layer.sum())} of {layer.size} pixels to fill ({layer.mean():.0%})"
            if layer.any()
            else "Nothing painted: paint the part to fill in"
        )
        self.mask_changed.emit()
