"""The page that stands in for a view while torch loads and the view is built."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget


class LoadingPage(QWidget):
    """Stands in for a view until it is built: says what is happening, with a busy bar."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        heading = QLabel(f"<h2>{title}</h2>")
        heading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message = QLabel("Starting PyTorch and loading the bundled models…")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: Qt animates it without Python, so it moves while torch loads
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(280)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(heading)
        layout.addWidget(self.message)
        layout.addWidget(self.bar, alignment=Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)

    def show_error(self, text: str) -> None:
        self.bar.hide()
        self.message.setText(text)
