"""View ▸ Teacher mode: the layout for a projector, one check mark away.

Turning it on sets the text size to ``TEACHER_ZOOM`` (the largest step at which every view still fits
a 1280×720 projector without scrolling sideways: tests/test_app_teacher.py), the high-contrast theme
with curves drawn ``TEACHER_CURVE_WIDTH`` px thick, and hides the controls a lesson does not need.
Turning it off brings back the text size, theme and controls of before. The choice is kept in the
settings, so the app opens in teacher mode the next time too. F11 (View ▸ Full screen) is separate.

Advanced controls are marked where they are made, with a dynamic property::

    widget.setProperty("advanced", True)   # hidden in teacher mode

The caption of a form row (``QFormLayout.labelForField``) and a label whose buddy is the control go
with it. A control the view shows again while teacher mode is on (the η box when DDIM is chosen) is
hidden again, and shown on leaving teacher mode.

The sidebar names each view by its first word, and steps aside while the lesson panel is shown
(the guided tour, Ctrl+1…9 and the View menu switch views), so that every tour step fits 1280×720
beside the lesson. Labels whose style sheet sets a grey made for the light theme (too faint on black)
take the palette's text colour while teacher mode is on.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFormLayout, QLabel, QMainWindow, QMenu, QWidget

from desktop_app.window import themes, zoom

ADVANCED_PROPERTY = "advanced"
TEACHER_ZOOM = 1.5
TEACHER_CURVE_WIDTH = 4.5
TEACHER_THEME = replace(themes.HIGH_CONTRAST, curve_width=TEACHER_CURVE_WIDTH)
SETTING = "teacher/mode"
PREVIOUS_ZOOM, PREVIOUS_THEME = "teacher/previous_zoom", "teacher/previous_theme"
WCAG_AA_TEXT = 4.5  # contrast ratio of normal text (WCAG 2.1 AA)
_SHEET_COLOUR = re.compile(r"color:\s*(#[0-9a-fA-F]{3,8});?")
LESSON_DOCK = "lesson_dock"  # the lesson panel's dock (desktop_app/lessons/install.py)
_TITLE_ROLE = Qt.ItemDataRole.UserRole + 7  # a sidebar item's whole title while teacher mode shows a short one
_OWN_SHEET = "_teacher_own_sheet"  # the sheet set aside while teacher mode shows the palette's colour


def advanced_widgets(root: QWidget) -> list[QWidget]:
    """Every control under ``root`` marked advanced, with the labels that name it."""
    marked = [w for w in root.findChildren(QWidget) if w.property(ADVANCED_PROPERTY) is True]
    result = list(marked)
    for widget in marked:
        parent = widget.parentWidget()
        form = parent.layout() if parent is not None else None
        forms = [form] if isinstance(form, QFormLayout) else []
        forms += parent.findChildren(QFormLayout) if parent is not None else []
        for layout in forms:
            label = layout.labelForField(widget)
            if label is not None and label not in result:
                result.append(label)
    for label in root.findChildren(QLabel):
        if label.buddy() in marked and label not in result:
            result.append(label)
    return result


class TeacherMode(QObject):
    """Large text, high contrast, thick curves, fewer controls: on and off as one checkable action."""

    toggled = Signal(bool)

    def __init__(self, window: QMainWindow, settings: QSettings):
        super().__init__(window)
        self.settings = settings
        self._on = False
        self._hidden: list[QWidget] = []  # controls we hid, to show again on leaving
        self._hiding = False
        self._watching_dock = False
        self.action = QAction("&Teacher mode", window)
        self.action.setCheckable(True)
        self.action.setShortcut(QKeySequence("Ctrl+Shift+T"))
        self.action.setToolTip("Large text, high contrast, thick curves and only the controls a lesson needs")
        self.action.toggled.connect(self.set_on)
        self.full_screen_action = QAction("&Full screen", window)
        self.full_screen_action.setCheckable(True)
        self.full_screen_action.setShortcut(QKeySequence("F11"))
        self.full_screen_action.toggled.connect(self._on_full_screen)
        window.appearance.applied.connect(self._on_appearance_applied)
        window.views_ready.connect(self._on_views_ready)

    @property
    def window(self):
        """The window this belongs to: its Qt parent (no Python reference, so no cycle keeps a closed window
        alive until the garbage collector destroys its widgets in an arbitrary order)."""
        return self.parent()

    def add_to(self, menu: QMenu) -> None:
        menu.addSeparator()
        menu.addAction(self.action)
        menu.addAction(self.full_screen_action)

    def is_on(self) -> bool:
        return self._on

    def restore(self) -> None:
        """Back to teacher mode if the app was closed in it."""
        if self.settings.value(SETTING, False, type=bool):
            self.set_on(True, remember=False)  # the text size and theme of before were saved when it was turned on

    @Slot(bool)
    def set_on(self, on: bool, remember: bool = True) -> None:
        """Turn teacher mode on or off; ``remember``: keep the text size and theme now in use for "off"."""
        on = bool(on)
        if on == self._on:
            self.action.setChecked(on)
            return
        self._on = on
        self.action.setChecked(on)
        self.settings.setValue(SETTING, on)
        window = self.window
        if on and remember:
            self.settings.setValue(PREVIOUS_ZOOM, window.zoom_factor())
            self.settings.setValue(PREVIOUS_THEME, window.theme_name())
        if on:
            self._apply(TEACHER_ZOOM, TEACHER_THEME.name)
            self.hide_advanced()
        else:
            self.show_advanced()
            self._apply(self.settings.value(PREVIOUS_ZOOM, zoom.DEFAULT_ZOOM), self.settings.value(PREVIOUS_THEME, ""))
        window.statusBar().showMessage("Teacher mode on (Ctrl+Shift+T: off)" if on else "Teacher mode off", 4000)
        self.toggled.emit(on)

    def hide_advanced(self) -> None:
        self._hiding = True
        try:
            for widget in advanced_widgets(self.window):
                if widget in self._hidden:
                    continue
                widget.installEventFilter(self)
                self._hidden.append(widget)
                if not widget.isHidden():
                    widget.setProperty("_teacher_was_shown", True)
                    widget.hide()
        finally:
            self._hiding = False

    def show_advanced(self) -> None:
        self._hiding = True
        try:
            for widget in self._hidden:
                widget.removeEventFilter(self)
                if widget.property("_teacher_was_shown"):
                    widget.setProperty("_teacher_was_shown", None)
                    widget.show()
        finally:
            self._hiding = False
            self._hidden = []

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if self._on and not self._hiding and isinstance(watched, QWidget):
            if event.type() == QEvent.Type.ShowToParent:  # the view showed it: remember, and hide it again
                watched.setProperty("_teacher_was_shown", True)
                QTimer.singleShot(0, self._rehide)
            elif event.type() == QEvent.Type.HideToParent:  # the view hid it: leave it hidden on leaving
                watched.setProperty("_teacher_was_shown", None)
        return False

    @Slot()
    def _rehide(self) -> None:
        if not self._on:
            return
        self._hiding = True
        try:
            for widget in self._hidden:
                if not widget.isHidden():
                    widget.hide()
        finally:
            self._hiding = False

    @Slot(float, str)
    def _on_appearance_applied(self, _factor: float, theme: str) -> None:
        """Teacher mode's curves are thicker than the high-contrast theme's own; widgets with a style
        sheet take the new font and palette only when polished again (in or out of teacher mode)."""
        if self._on and theme == TEACHER_THEME.name:
            themes.apply_theme(TEACHER_THEME, [])  # curves made from now on; the plots restyled are thickened here
            self._thicken_curves()
        self._restyle_sheets()
        self._compact_sidebar(self._on)

    def _compact_sidebar(self, compact: bool) -> None:
        """In teacher mode the sidebar names each view by its first word ("Forward", "Schedules"; the
        whole title is in its tooltip), leaving about 120 px more to the view and the lesson panel."""
        sidebar = self.window.sidebar
        items = [sidebar.item(row) for row in range(sidebar.count())]
        if compact:
            for item in items:
                if item.data(_TITLE_ROLE) is None:
                    item.setData(_TITLE_ROLE, item.text())
                    item.setText(item.text().split()[0])
            widest = max((sidebar.fontMetrics().horizontalAdvance(item.text()) for item in items), default=0)
            sidebar.setFixedWidth(widest + sidebar.iconSize().width() + 44)
        else:  # the window has already sized the sidebar to its whole titles again
            for item in items:
                if item.data(_TITLE_ROLE) is not None:
                    item.setText(item.data(_TITLE_ROLE))
                    item.setData(_TITLE_ROLE, None)
        dock = self.window.findChild(QDockWidget, LESSON_DOCK)
        if dock is not None and not self._watching_dock:
            dock.visibilityChanged.connect(self._on_lesson_visibility)
            self._watching_dock = True
        self._on_lesson_visibility(dock is not None and dock.isVisibleTo(self.window))

    @Slot(bool)
    def _on_lesson_visibility(self, lesson_shown: bool) -> None:
        """With the lesson panel beside the view, the tour switches views: the sidebar makes room."""
        self.window.sidebar.setVisible(not (self._on and lesson_shown))

    def _apply(self, factor, theme_name) -> None:
        """Text size and theme in one go (one restyle of every plot, not one each)."""
        self.settings.setValue(zoom.ZOOM_SETTING, zoom.clamp_zoom(factor))
        self.settings.setValue(themes.THEME_SETTING, themes.theme_named(theme_name).name)
        self.window.appearance.apply()

    def _thicken_curves(self) -> None:
        if "pyqtgraph" not in sys.modules:  # no plot exists yet
            return
        import pyqtgraph as pg

        for view in self.window.findChildren(pg.GraphicsView):
            for item in view.scene().items():
                if isinstance(item, pg.PlotDataItem):
                    pen = pg.mkPen(item.opts.get("pen"))
                    if pen.style() != Qt.PenStyle.NoPen and pen.widthF() < TEACHER_CURVE_WIDTH:
                        pen.setWidthF(TEACHER_CURVE_WIDTH)
                        item.setPen(pen)

    def _restyle_sheets(self) -> None:
        """Polish widgets with a style sheet again; in teacher mode, a sheet whose text colour is too
        faint on the theme's background (grey hints made for the light theme) gives way to the palette."""
        background = self.window.palette().window().color()
        for widget in self.window.findChildren(QWidget):
            sheet = widget.property(_OWN_SHEET) or widget.styleSheet()
            if not sheet:
                continue
            colour = _SHEET_COLOUR.fullmatch(sheet.strip())
            faint = colour is not None and themes.contrast_ratio(colour.group(1), background) < WCAG_AA_TEXT
            if self._on and faint:
                widget.setProperty(_OWN_SHEET, sheet)
                widget.setStyleSheet("")
            else:
                widget.setProperty(_OWN_SHEET, None)
                widget.setStyleSheet(sheet)  # the same sheet again: Qt re-resolves font and palette

    @Slot()
    def _on_views_ready(self) -> None:
        if self._on:
            self.hide_advanced()
            themes.apply_theme(TEACHER_THEME, [])
            self._thicken_curves()
            self._restyle_sheets()
        self._compact_sidebar(self._on)  # the lesson dock exists by now: watch it

    @Slot(bool)
    def _on_full_screen(self, full: bool) -> None:
        if full:
            self.window.showFullScreen()
        else:
            self.window.showNormal()
