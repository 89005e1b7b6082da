"""The window on a projector: every view fits 1024×768 (and 150 % text on 1280×720, which is what
QT_SCALE_FACTOR=1.5 gives on 1920×1080), the themes pass WCAG AA contrast, and every control a
student meets says what it is in a tooltip.

The views are taken from ``VIEW_SPECS``, so a new view is checked as soon as it is listed there.
Screenshots of every view at both sizes are saved under the test's tmp_path (printed with ``-s``)
for a person to open.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pyqtgraph as pg  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QRect, QSettings  # noqa: E402
from PySide6.QtGui import QPalette  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QToolButton,
    QWidget,
)

from desktop_app.main_window import MainWindow  # noqa: E402
from desktop_app.window import themes, zoom  # noqa: E402
from desktop_app.window.view_specs import VIEW_SPECS  # noqa: E402

SIZES = [  # (window size, zoom factor, label)
    ((1024, 768), 1.0, "1024x768"),
    ((1280, 720), 1.5, "1920x1080-at-150pct"),
]
# Buttons a lesson cannot do without: each must be on screen wherever a view has it.
KEY_BUTTON_WORDS = ("Generate", "Export", "Start", "Open", "Add schedule", "New noise")
# (view title, objectName or class name) of controls allowed without a tooltip; keep it short.
TOOLTIP_EXEMPT: set[tuple[str, str]] = set()
AA_TEXT = 4.5  # WCAG 2.1 AA, normal text
AA_GRAPHICS = 3.0  # WCAG 2.1 non-text contrast: curves and points


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    settings = QSettings(str(tmp_path_factory.mktemp("projector") / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.show()
    yield window
    window.set_zoom(zoom.DEFAULT_ZOOM)
    window.set_theme(themes.DEFAULT_THEME)
    window.close()
    window.deleteLater()


def _settle(window, size):
    window.resize(*size)
    for _ in range(3):
        QApplication.processEvents()


def _rect_in_window(widget: QWidget, window: QWidget) -> QRect:
    return QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())


def _visible_area(window: MainWindow) -> QRect:
    """The part of the window where the current view is seen (the scroll area's viewport)."""
    viewport = window.scroll.viewport()
    return QRect(viewport.mapTo(window, viewport.rect().topLeft()), viewport.size())


def test_views_come_from_view_specs(window):
    assert window.view_names() == [title for title, _module, _cls in VIEW_SPECS]


@pytest.mark.parametrize(("size", "factor", "label"), SIZES, ids=[label for _s, _f, label in SIZES])
def test_every_view_fits_the_screen(window, size, factor, label, tmp_path):
    window.set_zoom(factor)
    _settle(window, size)
    assert window.width() <= size[0] and window.height() <= size[1], "the window is larger than the screen"
    hint = window.minimumSizeHint()
    assert hint.width() <= size[0] and hint.height() <= size[1], f"minimum size {hint.toTuple()} exceeds {size}"
    problems = []
    for title in window.view_names():
        window.show_view(title)
        _settle(window, size)
        view = window.view(title)
        area = _visible_area(window)
        needed = view.minimumSizeHint()
        if needed.width() > area.width():  # never a horizontal scroll bar
            problems.append(f"{title}: needs {needed.width()} px wide, has {area.width()}")
        if factor == 1.0 and needed.height() > area.height():  # at zoom 1 no vertical scrolling either
            problems.append(f"{title}: needs {needed.height()} px high, has {area.height()}")
        for button in view.findChildren(QAbstractButton):
            if not button.isVisibleTo(window) or not isinstance(button, (QPushButton, QToolButton)):
                continue
            key = any(word in button.text() for word in KEY_BUTTON_WORDS)
            rect = _rect_in_window(button, window)
            inside = area.left() <= rect.left() and rect.right() <= area.right()
            if key or factor == 1.0:
                inside = inside and area.top() <= rect.top() and rect.bottom() <= area.bottom()
            if not inside:
                problems.append(f"{title}: button {button.text()!r} at {rect.getRect()} is outside {area.getRect()}")
        shot = tmp_path / f"{label}-{title.replace(' ', '_')}.png"
        assert window.grab().save(str(shot)), f"could not save {shot}"
    print(f"screenshots at {label}: {tmp_path}")
    window.set_zoom(zoom.DEFAULT_ZOOM)
    assert not problems, "\n".join(problems)


def test_zoom_scales_the_font_and_is_remembered(window):
    window.set_zoom(zoom.DEFAULT_ZOOM)
    normal = QApplication.font().pointSizeF()
    window.zoom_in_action.trigger()
    assert window.zoom_factor() > 1.0
    assert QApplication.font().pointSizeF() == pytest.approx(normal * window.zoom_factor(), rel=0.01)
    assert zoom.clamp_zoom(window.settings.value(zoom.ZOOM_SETTING)) == window.zoom_factor()
    window.zoom_out_action.trigger()
    window.zoom_out_action.trigger()
    assert window.zoom_factor() < 1.0
    window.zoom_reset_action.trigger()
    assert QApplication.font().pointSizeF() == pytest.approx(normal)


def _palette_pairs(palette: QPalette):
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    return {
        "window text": (palette.color(role.WindowText), palette.color(role.Window)),
        "text in fields": (palette.color(role.Text), palette.color(role.Base)),
        "button text": (palette.color(role.ButtonText), palette.color(role.Button)),
        "selected text": (palette.color(role.HighlightedText), palette.color(role.Highlight)),
        "tooltip": (palette.color(role.ToolTipText), palette.color(role.ToolTipBase)),
        "disabled text": (palette.color(group.Disabled, role.Text), palette.color(role.Base)),
        "placeholder": (palette.color(role.PlaceholderText), palette.color(role.Base)),
    }


def _plot_pairs(window: MainWindow):
    """(what, text colour, background) of every plot title, axis text and legend in the built views."""
    pairs = []
    for title in window.view_names():
        for view in window.view(title).findChildren(pg.GraphicsView):
            background = view.backgroundBrush().color()
            for item in view.scene().items():
                if isinstance(item, pg.PlotItem):
                    name = f"{title}/{item.titleLabel.text or 'plot'}"
                    if item.titleLabel.text:
                        pairs.append((f"{name} title", item.titleLabel.opts["color"], background))
                    for axis_name in ("left", "bottom"):
                        axis = item.getAxis(axis_name)
                        if axis.isVisible():
                            pairs.append((f"{name} {axis_name} axis", axis.textPen().color(), background))
                    if item.legend is not None:
                        box = pg.mkColor(item.legend.opts["brush"].color())
                        pairs.append((f"{name} legend", item.legend.opts["labelTextColor"], _over(box, background)))
    return pairs


def _over(colour, background):
    """``colour`` blended over an opaque ``background``."""
    a = colour.alphaF()
    return pg.mkColor(
        [
            round(255 * (c * a + b * (1 - a)))
            for c, b in zip(colour.getRgbF()[:3], background.getRgbF()[:3], strict=True)
        ]
    )


@pytest.mark.parametrize("name", list(themes.THEMES))
def test_theme_text_passes_wcag_aa(window, name):
    window.set_theme(name)
    QApplication.processEvents()
    assert themes.current().name == name
    failures = []
    for what, (text, background) in _palette_pairs(QApplication.palette()).items():
        ratio = themes.contrast_ratio(text, background)
        if ratio < AA_TEXT:
            failures.append(f"{what}: {ratio:.2f}:1")
    plot_pairs = _plot_pairs(window)
    assert len(plot_pairs) >= 10, "the views should have plots with titles, axes and legends to check"
    for what, text, background in plot_pairs:
        ratio = themes.contrast_ratio(text, background)
        if ratio < AA_TEXT:
            failures.append(f"{what}: {ratio:.2f}:1")
    theme = themes.current()
    for colour in (*theme.series, theme.reference_points):
        ratio = themes.contrast_ratio(colour, theme.plot_background)
        if ratio < AA_GRAPHICS:
            failures.append(f"curve/point colour {colour}: {ratio:.2f}:1")
    window.set_theme(themes.DEFAULT_THEME)
    assert not failures, f"{name} theme below WCAG AA:\n" + "\n".join(failures)


def test_contrast_ratio_matches_wcag_examples():
    assert themes.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert themes.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near-miss
    assert themes.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)


def test_theme_is_remembered(window, tmp_path):
    window.set_theme("High contrast")
    assert window.settings.value(themes.THEME_SETTING) == "High contrast"
    assert window.theme_actions["High contrast"].isChecked()
    assert QApplication.palette().color(QPalette.ColorRole.Window).name() == "#000000"
    window.set_theme(themes.DEFAULT_THEME)


CONTROL_TYPES = (QAbstractButton, QComboBox, QAbstractSpinBox, QSlider, QLineEdit)


def _readouts(view: QWidget) -> list[QLabel]:
    """Value labels: the labels in the value column of a form (the caption column names them)."""
    found = []
    for form in view.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            if item is not None and isinstance(item.widget(), QLabel):
                found.append(item.widget())
    return found


def test_every_control_has_a_tooltip(window):
    """Views covered: every title in VIEW_SPECS; exemptions only through TOOLTIP_EXEMPT."""
    _settle(window, (1280, 800))
    missing = []
    for title in window.view_names():
        window.show_view(title)
        QApplication.processEvents()
        view = window.view(title)
        controls = [w for w in view.findChildren(QWidget) if isinstance(w, CONTROL_TYPES)] + _readouts(view)
        for widget in controls:
            if isinstance(widget.parent(), (QAbstractSpinBox, QComboBox)):  # the line edit inside a spin box
                continue
            if not widget.isVisibleTo(window) or not widget.isEnabled() or widget.toolTip().strip():
                continue
            if (title, widget.objectName()) in TOOLTIP_EXEMPT or (title, type(widget).__name__) in TOOLTIP_EXEMPT:
                continue
            text = widget.text() if hasattr(widget, "text") else ""
            missing.append(f"{title}: {type(widget).__name__} {text!r} in {type(widget.parent()).__name__}")
    assert not missing, "controls without a tooltip:\n" + "\n".join(missing)
