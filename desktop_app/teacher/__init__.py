"""Teacher tools: teacher mode for a projector, session files, export for slides, the U-Net diagram.

``install(window)`` adds them to the main window's menus (File ▸ Save session… / Open session… /
Export view for slides…; View ▸ Teacher mode, Full screen, Pipeline and U-Net diagram…) and returns
the ``TeacherTools`` that owns them (``window.teacher``). Each part lives in its own module:
``teacher_mode``, ``session`` (+ ``view_state``), ``slide_export``, ``unet_diagram``.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMainWindow, QMenu, QMessageBox

from desktop_app.teacher import session
from desktop_app.teacher.teacher_mode import TeacherMode

SESSION_DIR_SETTING = "teacher/last_session_dir"
SLIDES_DIR_SETTING = "teacher/last_slides_dir"


def presets_dir() -> Path:
    """resources/sessions: the shipped lesson presets."""
    from core.runtime.resources import resources_dir

    return resources_dir() / "sessions"


def _menu(window: QMainWindow, title: str) -> QMenu:
    for action in window.menuBar().actions():
        if action.menu() is not None and action.text().replace("&", "") == title:
            return action.menu()
    raise LookupError(f"the window has no {title} menu")


class TeacherTools(QObject):
    """The teacher's menu entries and what they do."""

    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.settings = window.settings
        self.mode = TeacherMode(window, self.settings)
        file_menu, view_menu = _menu(window, "File"), _menu(window, "View")
        quit_action = file_menu.actions()[-1]
        self.save_session_action = self._action("&Save session…", "Ctrl+Shift+S", self._on_save_session)
        self.open_session_action = self._action("Open &session…", "Ctrl+Shift+L", self._on_open_session)
        self.slides_action = self._action("Export view for &slides…", "Ctrl+Shift+E", self._on_export_slides)
        self.slides_action.setToolTip("The view as a 2× PNG and an SVG, and its timeline as an animated WebP")
        for action in (self.save_session_action, self.open_session_action, self.slides_action):
            file_menu.insertAction(quit_action, action)
        file_menu.insertSeparator(quit_action)
        self.mode.add_to(view_menu)
        self.diagram_action = self._action("Pipeline and &U-Net diagram…", "Ctrl+Shift+U", self._on_diagram)
        view_menu.addAction(self.diagram_action)
        self.mode.restore()

    @property
    def window(self):
        """The window this belongs to: its Qt parent (no Python reference, so no cycle keeps a closed window
        alive until the garbage collector destroys its widgets in an arbitrary order)."""
        return self.parent()

    def _action(self, text: str, shortcut: str, slot) -> QAction:
        action = QAction(text, self.window)
        action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        return action

    def _folder(self, setting: str, default: Path) -> str:
        return str(self.settings.value(setting, str(default)))

    # --- sessions -------------------------------------------------------------------------------

    def save_session(self, path: str | Path) -> Path:
        written = session.save_session(self.window, path)
        self.settings.setValue(SESSION_DIR_SETTING, str(written.parent))
        self.window.statusBar().showMessage(f"Saved the session to {written}", 8000)
        return written

    def open_session(self, path: str | Path) -> bool:
        """Open a session file; a bad one gets a message and changes nothing. Returns success."""
        if not self.window.views_loaded():
            QMessageBox.information(
                self.window, "Still starting", "The views are still loading: open the session again in a moment."
            )
            return False
        try:
            skipped = session.open_session(self.window, path)
        except session.SessionError as error:
            QMessageBox.warning(self.window, "Cannot open this session", str(error))
            return False
        self.settings.setValue(SESSION_DIR_SETTING, str(Path(path).parent))
        self.window.statusBar().showMessage(f"Opened the session {Path(path).name}", 8000)
        if skipped:
            QMessageBox.information(
                self.window,
                "Session opened, with differences",
                "Some settings could not be restored:\n" + "\n".join(skipped[:10]),
            )
        return True

    @Slot()
    def _on_save_session(self) -> None:
        from desktop_app.window.exporting import default_export_dir

        folder = Path(self._folder(SESSION_DIR_SETTING, Path(default_export_dir())))
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save session", str(folder / f"lesson{session.SUFFIX}"), session.FILE_FILTER
        )
        if path:
            try:
                self.save_session(path)
            except OSError as error:
                QMessageBox.warning(self.window, "Could not save the session", f"{Path(path).name}: {error}")

    @Slot()
    def _on_open_session(self) -> None:
        folder = self._folder(SESSION_DIR_SETTING, presets_dir())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open session", folder, session.FILE_FILTER)
        if path:
            self.open_session(path)

    # --- slides ---------------------------------------------------------------------------------

    def export_slides(self, base: str | Path, frames: int | None = None):
        from desktop_app.teacher.slide_export import FRAMES, export_for_slides

        window = self.window
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            files = export_for_slides(window.stack.currentWidget(), base, window.current_view_name(), frames or FRAMES)
        finally:
            QApplication.restoreOverrideCursor()
        self.settings.setValue(SLIDES_DIR_SETTING, str(files.png.parent))
        names = ", ".join(p.name for p in (files.png, files.svg, files.webp) if p is not None)
        window.statusBar().showMessage(f"Saved {names} in {files.png.parent}", 8000)
        return files

    @Slot()
    def _on_export_slides(self) -> None:
        from desktop_app.window.exporting import default_export_dir

        window = self.window
        folder = Path(self._folder(SLIDES_DIR_SETTING, Path(default_export_dir())))
        name = window.current_view_name().lower().replace(" ", "_").replace("&", "and")
        path, _ = QFileDialog.getSaveFileName(
            window, "Export view for slides (PNG, SVG and WebP)", str(folder / f"{name}.png"), "PNG image (*.png)"
        )
        if path:
            try:
                self.export_slides(path)
            except (OSError, ValueError) as error:
                QMessageBox.warning(window, "Export failed", str(error))

    # --- diagram --------------------------------------------------------------------------------

    @Slot()
    def _on_diagram(self) -> None:
        from desktop_app.teacher.unet_diagram import diagram_for_window

        self.diagram = diagram_for_window(self.window)
        self.diagram.show()


def install(window: QMainWindow) -> TeacherTools:
    """Add the teacher tools to ``window``'s menus; the window keeps the result as ``window.teacher``."""
    return TeacherTools(window)
