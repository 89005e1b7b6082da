"""The stack of views inside the main window's scroll area, and the window's default size."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QApplication, QStackedWidget, QWidget

DEFAULT_SIZE = QSize(1280, 800)


class ViewStack(QStackedWidget):
    """The views, one at a time, inside the window's scroll area.

    Rows that wrap (``FlowRow``) make a view's height depend on its width. ``QScrollArea`` asks for
    ``heightForWidth``, which a box layout answers with its *preferred* height (the image grids' full
    size); the scroll area needs the *smallest* height the current view can take at that width, so
    that a view scrolls only when it truly cannot fit.
    """

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        view = self.currentWidget()
        if view is None:
            return super().heightForWidth(width)
        smallest = view.minimumSizeHint().height()
        layout = view.layout()
        if layout is not None and layout.hasHeightForWidth():
            smallest = max(smallest, layout.totalMinimumHeightForWidth(width))
        return smallest


def default_size(widget: QWidget) -> QSize:
    """1280×800, or 95 % of the available screen where that is smaller (small laptops, projectors)."""
    screen = widget.screen() or QApplication.primaryScreen()
    if screen is None:
        return DEFAULT_SIZE
    available = screen.availableGeometry().size() * 0.95
    return DEFAULT_SIZE.boundedTo(available)
