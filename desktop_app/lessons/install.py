"""``install_lessons(window)``: the lesson panel as a dock on the right of the main window.

Toggled by View ▸ Lesson panel (F2) and by the "Lesson" button in the status bar; shown or hidden as
it was last time (``QSettings`` "lessons/visible"; hidden the first time, so that every view keeps the
whole window at 1024×768 until a teacher asks for the panel).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QToolButton

from desktop_app.lessons.guesses import GuessLog
from desktop_app.lessons.lesson_format import load_lessons
from desktop_app.lessons.panel import LessonPanel

SHORTCUT = "F2"
PANEL_WIDTH = 300


@dataclass
class Lessons:
    dock: QDockWidget
    panel: LessonPanel
    action: QAction
    button: QToolButton

    def show(self) -> None:
        self.dock.show()


def install_lessons(window: QMainWindow, folder=None, guesses: GuessLog | None = None) -> Lessons:
    """Add the lesson dock, its View-menu action and status-bar button to ``window``; returns them."""
    panel = LessonPanel(window, load_lessons(folder), guesses)
    dock = QDockWidget("Lesson", window)
    dock.setObjectName("lesson_dock")
    dock.setWidget(panel)
    dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea | Qt.DockWidgetArea.RightDockWidgetArea)
    panel.setMinimumWidth(240)
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.resizeDocks([dock], [PANEL_WIDTH], Qt.Orientation.Horizontal)

    action = dock.toggleViewAction()
    action.setText("&Lesson panel")
    action.setShortcut(QKeySequence(SHORTCUT))
    action.setToolTip(f"Show or hide the lesson beside the view: the guided tour, live numbers, questions ({SHORTCUT})")
    view_menu = next((a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "View"), None)
    if view_menu is not None:
        view_menu.addSeparator()
        view_menu.addAction(action)
    else:
        window.addAction(action)
    button = QToolButton()
    button.setObjectName("lesson_button")
    button.setDefaultAction(action)
    button.setText("Lesson")
    button.setToolTip(action.toolTip())
    button.setAutoRaise(True)
    window.statusBar().insertPermanentWidget(0, button)

    settings = window.settings
    dock.setVisible(settings.value("lessons/visible", False, type=bool))
    dock.visibilityChanged.connect(_Remember(settings, dock).save)  # parented to the dock: lives as long
    window.views_ready.connect(panel.on_views_ready)
    window.sidebar.currentRowChanged.connect(panel.on_view_shown)
    if window.views_loaded():
        panel.on_views_ready()
    return Lessons(dock, panel, action, button)


class _Remember(QObject):
    """Keeps the dock's visibility in the settings while the window is on screen (closing the window
    hides the dock too, which must not count as the student hiding it)."""

    def __init__(self, settings, dock: QDockWidget):
        super().__init__(dock)
        self.settings, self.dock = settings, dock

    @Slot(bool)
    def save(self, visible: bool) -> None:
        if self.dock.window().isVisible() and not self.dock.window().isMinimized():
            self.settings.setValue("lessons/visible", visible)
