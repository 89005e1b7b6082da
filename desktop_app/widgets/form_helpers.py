"""Small form pieces several views build the same way."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QWidget


def device_combo(tooltip: str) -> QComboBox:
    """auto / CPU, plus the GPUs this computer has (CUDA, Apple MPS); item data is the device name."""
    import torch

    from core.runtime import mps_available

    combo = QComboBox()
    combo.addItem("auto", "auto")
    combo.addItem("CPU", "cpu")
    if torch.cuda.is_available():
        combo.addItem("CUDA GPU", "cuda")
    if mps_available():
        combo.addItem("Apple GPU (MPS)", "mps")
    combo.setToolTip(tooltip)
    return combo


def widget_row(main: QWidget, side: QWidget) -> QWidget:
    """``main`` stretching beside ``side`` (a button), as one widget for a form row."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(main, 1)
    layout.addWidget(side)
    return row
