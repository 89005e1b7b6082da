"""Load & resume's question: continue the loaded run into a new file, or overwrite the loaded one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_overwrite(parent: QWidget, path: Path) -> bool | None:
    """Where the resumed run saves: False a new file (the default), True over ``path``; None: cancelled."""
    box = QMessageBox(
        QMessageBox.Icon.Question, "Resume a training run", f"Continue the run saved in {path.name}.", parent=parent
    )
    box.setInformativeText(
        "The continued run is saved to a new file, so the loaded checkpoint stays as it is. "
        "Overwrite replaces the loaded file with the longer run."
    )
    new_file = box.addButton("Continue in a new file", QMessageBox.ButtonRole.AcceptRole)
    overwrite = box.addButton("Overwrite this file", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(new_file)
    box.exec()
    clicked = box.clickedButton()
    return None if clicked not in (new_file, overwrite) else clicked is overwrite
