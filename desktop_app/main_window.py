"""PLACEHOLDER main window (written by the packaging owner; the views owner replaces this file).

It only honours the contract the bootstrap and the self-test rely on: ``MainWindow(QMainWindow)``
with ``view_names() -> list[str]`` and ``show_view(name)``; constructing it starts no torch work.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QTabWidget

from desktop_app import APP_NAME

_VIEW_NAMES = ["Forward process", "Schedules", "Train", "Generate"]


class MainWindow(QMainWindow):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.resize(1200, 800)
        self._tabs = QTabWidget()
        for name in _VIEW_NAMES:
            label = QLabel(f"{name} (coming soon)")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self._tabs.addTab(label, name)
        self.setCentralWidget(self._tabs)

    def view_names(self) -> list[str]:
        return list(_VIEW_NAMES)

    def show_view(self, name: str) -> None:
        if name not in _VIEW_NAMES:
            raise ValueError(f"There is no view called '{name}'. Views: {', '.join(_VIEW_NAMES)}.")
        self._tabs.setCurrentIndex(_VIEW_NAMES.index(name))
