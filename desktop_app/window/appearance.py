"""View ▸ Text size and View ▸ Theme: the menus, the saved choice, and applying both to the window.

``Appearance`` owns the actions (Ctrl++ / Ctrl+= larger, Ctrl+- smaller, Ctrl+0 normal; one checkable
action per theme) and the two settings; the window calls ``apply()`` once at start and gets
``applied(factor, theme_name)`` after every change, to resize what depends on the font.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSettings, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from desktop_app.window import themes, zoom


class Appearance(QObject):
    """Text size and theme of one window, kept in ``settings``."""

    applied = Signal(float, str)  # the zoom factor and the theme name now in use

    def __init__(self, settings: QSettings, window: QWidget):
        super().__init__(window)
        self.settings = settings
        self.theme_actions: dict[str, QAction] = {}

    @property
    def window(self):
        """The window this belongs to: its Qt parent (no Python reference, so no cycle keeps a closed window
        alive until the garbage collector destroys its widgets in an arbitrary order)."""
        return self.parent()

    def build_menus(self, view_menu: QMenu) -> None:
        size_menu = view_menu.addMenu("Text &size")
        self.zoom_in_action = self._action(size_menu, "&Larger", self._on_zoom_in)
        self.zoom_in_action.setShortcuts([QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")])
        self.zoom_in_action.setToolTip("Larger text everywhere (for a projector)")
        self.zoom_out_action = self._action(size_menu, "&Smaller", self._on_zoom_out)
        self.zoom_out_action.setShortcut(QKeySequence.StandardKey.ZoomOut)
        self.zoom_reset_action = self._action(size_menu, "&Normal", self._on_zoom_reset)
        self.zoom_reset_action.setShortcut(QKeySequence("Ctrl+0"))
        theme_menu = view_menu.addMenu("&Theme")
        self.theme_group = QActionGroup(self)
        for name in themes.THEMES:
            action = self._action(theme_menu, name, self._on_theme_chosen)
            action.setCheckable(True)
            action.setData(name)
            self.theme_group.addAction(action)
            self.theme_actions[name] = action

    def zoom_factor(self) -> float:
        return zoom.clamp_zoom(self.settings.value(zoom.ZOOM_SETTING, zoom.DEFAULT_ZOOM))

    def theme_name(self) -> str:
        return themes.theme_named(self.settings.value(themes.THEME_SETTING, themes.DEFAULT_THEME)).name

    def set_zoom(self, factor: float) -> float:
        """Scale every text of the window by ``factor`` (clamped to ``zoom.ZOOM_STEPS``); returns the factor used."""
        self.settings.setValue(zoom.ZOOM_SETTING, zoom.clamp_zoom(factor))
        return self.apply()[0]

    def set_theme(self, name: str) -> str:
        """Use the theme called ``name`` (see ``themes.THEMES``); returns the theme's name."""
        self.settings.setValue(themes.THEME_SETTING, themes.theme_named(name).name)
        return self.apply()[1].name

    def apply(self) -> tuple[float, themes.Theme]:
        factor = zoom.apply_zoom(self.zoom_factor())
        theme = themes.theme_named(self.theme_name())
        themes.apply_theme(theme, [self.window])
        if theme.name in self.theme_actions:
            self.theme_actions[theme.name].setChecked(True)
        self.applied.emit(factor, theme.name)
        return factor, theme

    def _action(self, menu: QMenu, text: str, slot) -> QAction:
        action = QAction(text, self.window)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    @Slot()
    def _on_zoom_in(self) -> None:
        self.set_zoom(zoom.zoom_in(self.zoom_factor()))

    @Slot()
    def _on_zoom_out(self) -> None:
        self.set_zoom(zoom.zoom_out(self.zoom_factor()))

    @Slot()
    def _on_zoom_reset(self) -> None:
        self.set_zoom(zoom.DEFAULT_ZOOM)

    @Slot()
    def _on_theme_chosen(self) -> None:
        self.set_theme(self.sender().data())
