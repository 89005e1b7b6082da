"""File ▸ Export: ask where, write the file with the view's ``ExportAction``, say what happened."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMessageBox


def run_export(window: QMainWindow, settings: QSettings, export_action, path: str | Path | None = None) -> Path | None:
    """Ask where to save (unless ``path`` is given), write the file, report success or the error."""
    if path is None:
        folder = Path(str(settings.value("main/last_export_dir", default_export_dir())))
        chosen, _ = QFileDialog.getSaveFileName(
            window,
            export_action.label.rstrip("…"),
            str(folder / export_action.default_name),
            export_action.file_filter,
        )
        if not chosen:
            return None
        path = chosen
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(Path(export_action.default_name).suffix)
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        written = export_action.write(path)
    except (OSError, ValueError) as error:
        QApplication.restoreOverrideCursor()
        QMessageBox.warning(window, "Export failed", f"Could not write {path.name}:\n{error}")
        return None
    QApplication.restoreOverrideCursor()
    settings.setValue("main/last_export_dir", str(path.parent))
    window.statusBar().showMessage(f"Saved {written}", 8000)
    return written


def default_export_dir() -> str:
    try:
        from desktop_app.paths import exports_dir

        return str(exports_dir())
    except OSError:
        return str(Path.home())


def default_checkpoint_dir() -> str:
    try:
        from desktop_app.paths import checkpoints_dir

        return str(checkpoints_dir())
    except OSError:
        return str(Path.home())
