"""The Edit view's source: a shipped image, the user's image file, or a drawing made here.

The panel only chooses; the view turns the choice into an image of the model's shape
(``sources.py``) and shows the conversion sentence under it (``show_conversion``).
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop_app.views.edit.pixel_painter import PixelPainter
from desktop_app.views.edit.sources import BUILTIN_COUNT, SOURCE_DRAWING, SOURCE_FILE, SOURCES


class SourcePanel(QGroupBox):
    """Source combo, image number, Open…, and the drawing canvas (shown for "My drawing")."""

    source_changed = Signal()  # the kind, the index or the drawing changed
    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__("1 · Image", parent)
        self.source_combo = QComboBox()
        self.source_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_combo.setMinimumContentsLength(10)
        self.source_combo.addItems(SOURCES[:-1])  # "Opened image" is added once a file was opened
        self.source_combo.setToolTip("What to edit: a shipped image, your drawing, or an image file")
        self.index_spin = QSpinBox()
        self.index_spin.setRange(0, BUILTIN_COUNT - 1)
        self.index_spin.setPrefix("#")
        self.index_spin.setToolTip("Which image of the set")
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open any image file (or drop one on the view); it is resized to the model's size")
        self.drawing = PixelPainter(look="ink")
        self.drawing.brush_radius = 1.2
        self.drawing.setToolTip("Draw with the left mouse button: white ink on black, like Fashion-MNIST")
        self.clear_drawing_button = QPushButton("Clear drawing")
        self.conversion_label = QLabel("")
        self.conversion_label.setWordWrap(True)
        self.conversion_label.setStyleSheet("color: #555")

        row = QHBoxLayout()
        row.addWidget(self.index_spin, 1)
        row.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.source_combo)
        layout.addLayout(row)
        layout.addWidget(self.drawing, 1)
        layout.addWidget(self.clear_drawing_button)
        layout.addWidget(self.conversion_label)
        layout.addStretch(0)

        self.source_combo.currentIndexChanged.connect(self._on_kind_changed)
        self.index_spin.valueChanged.connect(self._on_changed)
        self.open_button.clicked.connect(self.open_requested)
        self.drawing.changed.connect(self._on_changed)
        self.clear_drawing_button.clicked.connect(self.drawing.clear)
        self._update_visibility()

    def kind(self) -> str:
        return self.source_combo.currentText()

    def index(self) -> int:
        return self.index_spin.value()

    def show_opened(self, file_name: str) -> None:
        """Offer (and select) the opened file as the source."""
        if self.source_combo.findText(SOURCE_FILE) < 0:
            self.source_combo.addItem(SOURCE_FILE)
        self.source_combo.setItemData(self.source_combo.findText(SOURCE_FILE), file_name)
        self.source_combo.setCurrentText(SOURCE_FILE)
        self._update_visibility()

    def show_conversion(self, text: str) -> None:
        self.conversion_label.setText(text)
        self.conversion_label.setVisible(bool(text))

    def set_busy(self, busy: bool) -> None:
        for widget in (self.source_combo, self.index_spin, self.open_button, self.drawing, self.clear_drawing_button):
            widget.setEnabled(not busy)

    def _update_visibility(self) -> None:
        kind = self.kind()
        self.index_spin.setVisible(kind not in (SOURCE_DRAWING, SOURCE_FILE))
        self.drawing.setVisible(kind == SOURCE_DRAWING)
        self.clear_drawing_button.setVisible(kind == SOURCE_DRAWING)

    @Slot()
    def _on_kind_changed(self) -> None:
        self._update_visibility()
        self.source_changed.emit()

    @Slot()
    def _on_changed(self) -> None:
        self.source_changed.emit()
