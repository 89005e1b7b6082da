"""The main window's menu bar: File (open an image or a checkpoint, Export, Quit), View, Help.

``WindowMenus`` is a child ``QObject`` of the window and reaches it through ``parent()``; it keeps
no Python reference to the window, so closing the window frees it at once (a cycle would leave it to
the garbage collector, which destroys pyqtgraph's menus in an order that crashes Qt).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from desktop_app import APP_NAME
from desktop_app.window.exporting import default_checkpoint_dir, run_export
from desktop_app.window.help_texts import ABOUT_TEXT, shortcuts_help

CHECKPOINT_FILTER = "Diffusion Lab checkpoints (*.safetensors);;All files (*)"


class WindowMenus(QObject):
    """Builds the window's menus and answers them. The window must have ``appearance``, ``settings``,
    ``titles``, ``stack``, ``show_view``, ``open_path`` and ``views``."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.view_actions: list[QAction] = []
        file_menu = window.menuBar().addMenu("&File")
        self._add_action(file_menu, "Open &image…", QKeySequence.StandardKey.Open, self._on_open_image)
        self._add_action(file_menu, "Open &checkpoint…", QKeySequence("Ctrl+Shift+O"), self._on_open_checkpoint)
        file_menu.addSeparator()
        self.export_menu = file_menu.addMenu("&Export")
        self.export_menu.aboutToShow.connect(self._on_export_menu_about_to_show)
        self.export_action = self.export_menu.menuAction()
        export_shortcut = QAction("Export…", window)  # Ctrl+E opens the same menu where the window is
        export_shortcut.setShortcut(QKeySequence("Ctrl+E"))
        export_shortcut.triggered.connect(self._on_export)
        window.addAction(export_shortcut)
        file_menu.addSeparator()
        self._add_action(file_menu, "&Quit", QKeySequence("Ctrl+Q"), window.close)

        view_menu = window.menuBar().addMenu("&View")
        for i, name in enumerate(window.titles):
            action = self._add_action(view_menu, name, QKeySequence(f"Ctrl+{i + 1}"), self._on_view_action)
            action.setData(name)
            self.view_actions.append(action)
        view_menu.addSeparator()
        window.appearance.build_menus(view_menu)

        help_menu = window.menuBar().addMenu("&Help")
        self._add_action(help_menu, "&Keyboard shortcuts", QKeySequence("F1"), self._on_shortcuts)
        self._add_action(help_menu, f"&About {APP_NAME}", None, self._on_about)

    def window(self) -> QMainWindow:
        return self.parent()

    # --- export ---------------------------------------------------------------------------------

    def export_actions(self) -> list:
        """The ``ExportAction``s the view on screen offers (none while it is loading)."""
        provider = getattr(self.window().stack.currentWidget(), "export_actions", None)
        return list(provider()) if provider is not None else []

    def run_export(self, export_action, path: str | Path | None = None) -> Path | None:
        """Ask where to save (unless ``path`` is given), write the file, report success or the error."""
        window = self.window()
        return run_export(window, window.settings, export_action, path)

    def update_export_enabled(self) -> None:
        self.export_action.setEnabled(bool(self.export_actions()))

    @Slot()
    def _on_export_menu_about_to_show(self) -> None:
        self.export_menu.clear()
        actions = self.export_actions()
        if not actions:
            self.export_menu.addAction("Nothing to export in this view").setEnabled(False)
        for export_action in actions:
            action = self.export_menu.addAction(export_action.label)
            action.triggered.connect(lambda _checked=False, e=export_action: self.run_export(e))

    @Slot()
    def _on_export(self) -> None:
        window = self.window()
        if not self.export_actions():
            QMessageBox.information(window, "Export", "This view has nothing to export yet.")
            return
        self.export_menu.exec(window.mapToGlobal(window.rect().center()))

    # --- opening files --------------------------------------------------------------------------

    @Slot()
    def _on_open_image(self) -> None:
        window = self.window()
        folder = str(window.settings.value("main/last_image_dir", str(Path.home())))
        from desktop_app.views.forward_view import IMAGE_FILE_FILTER

        path, _ = QFileDialog.getOpenFileName(window, "Open an image as x₀", folder, IMAGE_FILE_FILTER)
        if path:
            window.show_view("Forward process")
            if window.views["Forward process"].open_image(path):
                window.settings.setValue("main/last_image_dir", str(Path(path).parent))

    @Slot()
    def _on_open_checkpoint(self) -> None:
        window = self.window()
        folder = str(window.settings.value("main/last_checkpoint_dir", default_checkpoint_dir()))
        path, _ = QFileDialog.getOpenFileName(window, "Open a checkpoint", folder, CHECKPOINT_FILTER)
        if path:
            window.open_path(path)

    # --- views and help -------------------------------------------------------------------------

    @Slot()
    def _on_view_action(self) -> None:
        self.window().show_view(self.sender().data())

    @Slot()
    def _on_shortcuts(self) -> None:
        window = self.window()
        QMessageBox.information(window, "Keyboard shortcuts", shortcuts_help(window.titles))

    @Slot()
    def _on_about(self) -> None:
        QMessageBox.about(self.window(), f"About {APP_NAME}", ABOUT_TEXT)

    def _add_action(self, menu: QMenu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self.window())
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action
