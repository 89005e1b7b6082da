"""View ▸ Text size: one zoom factor for the whole window (Ctrl++ / Ctrl+- / Ctrl+0), kept in QSettings.

Zooming scales the application font; layouts follow the font, so the controls, the sidebar and the
plot text (restyled by ``themes.restyle_plots``) grow with it. A factor of 1.5 on a 1280×720
window is what ``QT_SCALE_FACTOR=1.5`` gives on a 1920×1080 projector, and every view must still fit.
"""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

ZOOM_SETTING = "view/zoom"
ZOOM_STEPS = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 1.75, 2.0)
DEFAULT_ZOOM = 1.0

_base_font: QFont | None = None  # the application font at zoom 1 (taken the first time we zoom)


def clamp_zoom(factor) -> float:
    """The nearest of ``ZOOM_STEPS`` (a saved value from an older version, or typed by hand)."""
    try:
        value = float(factor)
    except (TypeError, ValueError):
        return DEFAULT_ZOOM
    return min(ZOOM_STEPS, key=lambda step: abs(step - value))


def zoom_in(factor: float) -> float:
    """The next larger step (the largest stays)."""
    larger = [step for step in ZOOM_STEPS if step > clamp_zoom(factor)]
    return larger[0] if larger else ZOOM_STEPS[-1]


def zoom_out(factor: float) -> float:
    """The next smaller step (the smallest stays)."""
    smaller = [step for step in ZOOM_STEPS if step < clamp_zoom(factor)]
    return smaller[-1] if smaller else ZOOM_STEPS[0]


def base_font() -> QFont:
    global _base_font
    if _base_font is None:
        _base_font = QFont(QApplication.font())
    return QFont(_base_font)


def apply_zoom(factor: float) -> float:
    """Set the application font to ``factor`` × its size at zoom 1; returns the factor used."""
    factor = clamp_zoom(factor)
    font = base_font()
    if font.pointSizeF() > 0:
        font.setPointSizeF(font.pointSizeF() * factor)
    else:
        font.setPixelSize(max(1, round(font.pixelSize() * factor)))
    QApplication.setFont(font)
    return factor
