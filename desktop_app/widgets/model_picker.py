"""A combo box of the model library's models: the views that sample from a model choose it here.

``ModelPicker(select, default_stem)`` lists ``select()`` (a filtered ``desktop_app.model_library``
listing), starts on the model whose file stem is ``default_stem``, keeps the user's choice when
``refresh()`` lists the library again (a checkpoint was saved meanwhile), and emits
``entry_chosen(entry or None)`` whenever the chosen model changes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QWidget

from desktop_app.model_library import ModelEntry


def _stem(entry: ModelEntry) -> str:
    return entry.path.stem if entry.path else entry.label


class ModelPicker(QComboBox):
    """Chooses one model among ``select()``; long names are elided, the whole name is in the list."""

    entry_chosen = Signal(object)  # the ModelEntry, or None when the library offers none

    def __init__(
        self,
        select: Callable[[], list[ModelEntry]],
        default_stem: str,
        tooltip: str,
        min_chars: int = 20,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._select, self._default_stem = select, default_stem
        self.entries: list[ModelEntry] = []
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(min_chars)
        self.setToolTip(tooltip)
        self.currentIndexChanged.connect(self._on_index)

    def refresh(self) -> None:
        """List the models again, keeping the choice (the first time: the default model)."""
        current = self.current_entry()
        self.entries = list(self._select())
        self.blockSignals(True)
        self.clear()
        for entry in self.entries:
            self.addItem(entry.label)
        names = [_stem(e) for e in self.entries]
        wanted = _stem(current) if current is not None else self._default_stem
        self.setCurrentIndex(names.index(wanted) if wanted in names else (0 if names else -1))
        self.blockSignals(False)
        if self.current_entry() is not current:
            self._on_index(self.currentIndex())

    def select_model(self, stem: str) -> None:
        names = [_stem(e) for e in self.entries]
        if stem not in names:
            raise ValueError(f"No model named {stem} in the library.")
        self.setCurrentIndex(names.index(stem))

    def current_entry(self) -> ModelEntry | None:
        index = self.currentIndex()
        return self.entries[index] if 0 <= index < len(self.entries) else None

    @Slot(int)
    def _on_index(self, _index: int) -> None:
        self.entry_chosen.emit(self.current_entry())
