"""The source chooser of the Forward process view: a built-in dataset, a 2-D point cloud, or an opened image."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QLabel, QPushButton, QWidget

from desktop_app.views.forward.sources import (
    BUILTIN_SOURCES,
    IMAGE_COUNTS,
    SOURCE_FASHION,
    SOURCE_POINTS,
    SOURCE_SHAPES,
)
from desktop_app.widgets.flow_row import FlowRow

OPENED_PREFIX = "Image: "  # the combo item of an opened image reads "Image: photo.jpg"
OPENED_INDEX = len(BUILTIN_SOURCES)  # that item comes after the built-in sources


@dataclass(frozen=True)
class SourceChoice:
    """What the chooser shows: a source name (built-in or "Image: …"), an image count, a toy cloud."""

    name: str = SOURCE_FASHION
    count: int = 8
    toy: str = "two_moons"

    @property
    def is_opened_image(self) -> bool:
        return self.name.startswith(OPENED_PREFIX.strip())

    @property
    def builtin_name(self) -> str:
        """The name to remember between sessions: an opened image is not reopened, Fashion-MNIST is."""
        return self.name if self.name in BUILTIN_SOURCES else SOURCE_FASHION


class SourcePanel(QWidget):
    """The "Source:" combo, the image count or toy cloud (whichever applies) and "Open image…", in one row."""

    source_chosen = Signal(object)  # SourceChoice: the user picked another source, count or cloud
    open_requested = Signal()  # the user pressed "Open image…"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source_combo = QComboBox()
        self.source_combo.addItems(list(BUILTIN_SOURCES))
        self.source_combo.setToolTip("What the forward process starts from (x_0)")
        self.count_combo = QComboBox()
        for n in IMAGE_COUNTS:
            self.count_combo.addItem(f"{n} image{'s' if n > 1 else ''}", n)
        self.count_combo.setCurrentIndex(IMAGE_COUNTS.index(8))
        self.count_combo.setToolTip("How many images are noised side by side (each gets its own ε)")
        self.toy_combo = QComboBox()
        from core.data import TOY_DATASETS

        for name in TOY_DATASETS:
            self.toy_combo.addItem(name.replace("_", " "), name)
        self.toy_combo.setToolTip("Which 2-D point cloud is noised: each point is one x_0")
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Use any image file as x_0 (you can also drop one onto the window)")

        row = FlowRow(self)  # wraps on a narrow window (projector)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Source:"))
        row.addWidget(self.source_combo)
        row.addWidget(self.count_combo)
        row.addWidget(self.toy_combo)
        row.addWidget(self.open_button)

        self.source_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.count_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.toy_combo.currentIndexChanged.connect(self._on_choice_changed)
        self.open_button.clicked.connect(self._on_open_clicked)

    def choice(self) -> SourceChoice:
        return SourceChoice(
            self.source_combo.currentText(), int(self.count_combo.currentData()), str(self.toy_combo.currentData())
        )

    def set_choice(self, choice: SourceChoice) -> None:
        """Show ``choice`` without emitting ``source_chosen`` (a count or cloud not offered is left as is)."""
        combos = (self.source_combo, self.count_combo, self.toy_combo)
        for combo in combos:
            combo.blockSignals(True)
        self.source_combo.setCurrentText(choice.name)
        if choice.count in IMAGE_COUNTS:
            self.count_combo.setCurrentIndex(IMAGE_COUNTS.index(choice.count))
        self.toy_combo.setCurrentIndex(max(self.toy_combo.findData(choice.toy), 0))
        for combo in combos:
            combo.blockSignals(False)
        self._update_visibility()

    def show_opened(self, file_name: str) -> None:
        """Select the "Image: ``file_name``" item (added once, renamed for the next image) silently."""
        label = f"{OPENED_PREFIX}{file_name}"
        self.source_combo.blockSignals(True)
        if self.source_combo.count() > OPENED_INDEX:
            self.source_combo.setItemText(OPENED_INDEX, label)
        else:
            self.source_combo.addItem(label)
        self.source_combo.setCurrentIndex(OPENED_INDEX)
        self.source_combo.blockSignals(False)
        self._update_visibility()

    def _update_visibility(self) -> None:
        name = self.source_combo.currentText()
        self.count_combo.setVisible(name in (SOURCE_FASHION, SOURCE_SHAPES))
        self.toy_combo.setVisible(name == SOURCE_POINTS)

    @Slot()
    def _on_choice_changed(self) -> None:
        self._update_visibility()
        self.source_chosen.emit(self.choice())

    @Slot()
    def _on_open_clicked(self) -> None:
        self.open_requested.emit()
