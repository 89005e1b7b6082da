"""Themes for a projector: a light one and a high-contrast one, for Qt's palette and for pyqtgraph.

A ``Theme`` holds every colour the app paints text and curves with. ``apply_theme`` sets the
application palette, pyqtgraph's defaults (for plots made later) and restyles the plots that exist:
background, axes, tick labels, titles, legends (larger font, an opaque box so the legend never sits
on top of a curve unreadably), thicker curves, and the "reference" points (x₀ in Forward 2-D, the
training data behind Train's preview) that must stay visible on the background.

Text colours are chosen so that every text/background pair passes WCAG 2.1 AA (contrast ratio
≥ 4.5:1, https://www.w3.org/TR/WCAG21/#contrast-minimum); ``contrast_ratio`` is that formula, and
tests/test_app_projector.py checks it on the real palettes and plot settings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QWidget

THEME_SETTING = "view/theme"
REFERENCE_ROLE = "_theme_role"  # attribute set on plot items that show reference points


@dataclass(frozen=True)
class Theme:
    """The colours of one theme (hex strings) and how much larger plot text and curves are drawn."""

    name: str
    window: str  # panels and dialogs
    base: str  # text fields, lists, tables
    text: str  # text on window and base
    button: str
    disabled_text: str
    highlight: str
    highlighted_text: str
    tooltip_base: str
    tooltip_text: str
    link: str
    plot_background: str
    plot_text: str  # axis numbers, axis labels, titles, legend entries
    plot_axis: str
    legend_background: str  # an opaque box behind the legend entries
    reference_points: tuple[int, int, int, int]  # RGBA of x₀ / training data drawn behind samples
    series: tuple[str, ...]  # curve colours in order (≥ 3:1 against the plot background)
    curve_width: float  # the thinnest curve
    title_scale: float  # plot title size relative to the application font
    legend_scale: float  # legend text size relative to the application font


LIGHT = Theme(
    name="Light",
    window="#f3f3f3",
    base="#ffffff",
    text="#111111",
    button="#e6e6e6",
    disabled_text="#5f5f5f",
    highlight="#1c5db5",
    highlighted_text="#ffffff",
    tooltip_base="#ffffe6",
    tooltip_text="#111111",
    link="#0b4fa8",
    plot_background="#ffffff",
    plot_text="#1a1a1a",
    plot_axis="#404040",
    legend_background="#ffffffe6",
    reference_points=(60, 60, 60, 190),
    series=("#1f5fae", "#b34d00", "#1d7a43", "#a8286a"),
    curve_width=2.0,
    title_scale=1.25,
    legend_scale=1.1,
)
HIGH_CONTRAST = Theme(
    name="High contrast",
    window="#000000",
    base="#000000",
    text="#ffffff",
    button="#1c1c1c",
    disabled_text="#a6a6a6",
    highlight="#ffd400",
    highlighted_text="#000000",
    tooltip_base="#ffffff",
    tooltip_text="#000000",
    link="#7fd4ff",
    plot_background="#000000",
    plot_text="#ffffff",
    plot_axis="#e0e0e0",
    legend_background="#000000e6",
    reference_points=(215, 215, 215, 190),
    series=("#4fc3ff", "#ffd23f", "#5cf08a", "#ff7ac0"),
    curve_width=3.0,
    title_scale=1.35,
    legend_scale=1.2,
)
THEMES: dict[str, Theme] = {theme.name: theme for theme in (LIGHT, HIGH_CONTRAST)}
DEFAULT_THEME = LIGHT.name

_current: Theme = LIGHT


def current() -> Theme:
    """The theme in use (panels read it when they create curves and titles)."""
    return _current


def theme_named(name: str) -> Theme:
    """The theme called ``name``; the default theme for an unknown name (e.g. an old settings file)."""
    return THEMES.get(str(name), THEMES[DEFAULT_THEME])


def series_colour(index: int) -> str:
    """The colour of the ``index``-th curve (schedule, run) in the current theme."""
    return _current.series[index % len(_current.series)]


def title_style() -> dict:
    """Keyword arguments for ``PlotItem.setTitle`` / ``LabelItem.setText`` in the current theme."""
    return {"color": _current.plot_text, "size": f"{_point_size() * _current.title_scale:.0f}pt"}


def legend_style() -> dict:
    """Keyword arguments for ``PlotItem.addLegend``: readable text on an opaque box."""
    import pyqtgraph as pg

    return {
        "labelTextColor": _current.plot_text,
        "labelTextSize": f"{_point_size() * _current.legend_scale:.0f}pt",
        "brush": pg.mkBrush(_current.legend_background),
        "pen": pg.mkPen(_current.plot_axis),
    }


def reference_brush():
    """The brush of reference points (x₀, training data): visible on the plot background."""
    import pyqtgraph as pg

    return pg.mkBrush(*_current.reference_points)


def mark_reference(item) -> None:
    """Mark a scatter item as "reference points", so a theme change recolours it."""
    setattr(item, REFERENCE_ROLE, "reference")


def palette(theme: Theme) -> QPalette:
    """Qt's palette for ``theme`` (active and inactive groups alike; disabled text dimmed)."""
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.window,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.button,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.BrightText: theme.highlight,
        QPalette.ColorRole.Highlight: theme.highlight,
        QPalette.ColorRole.HighlightedText: theme.highlighted_text,
        QPalette.ColorRole.ToolTipBase: theme.tooltip_base,
        QPalette.ColorRole.ToolTipText: theme.tooltip_text,
        QPalette.ColorRole.Link: theme.link,
        QPalette.ColorRole.PlaceholderText: theme.disabled_text,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.disabled_text))
    return pal


def apply_theme(theme: Theme, roots: list[QWidget] | None = None) -> None:
    """Use ``theme`` from now on: the application palette, pyqtgraph's defaults and every existing plot."""
    global _current
    _current = theme
    app = QApplication.instance()
    if app is not None:
        app.setPalette(palette(theme))
    if "pyqtgraph" in sys.modules:  # else configure_pyqtgraph() runs before the first view is built
        configure_pyqtgraph()
    for root in roots if roots is not None else (QApplication.topLevelWidgets() if app else []):
        restyle_plots(root)


def configure_pyqtgraph() -> None:
    """pyqtgraph's defaults for plots created from now on. Separate from ``apply_theme`` so the main
    window can show itself without importing pyqtgraph (0.35 s); the window calls it before building views."""
    import pyqtgraph as pg

    pg.setConfigOptions(background=_current.plot_background, foreground=_current.plot_text)


def restyle_plots(root: QWidget) -> None:
    """Apply the current theme to every pyqtgraph plot inside ``root`` (plots drawn with QPainter,
    such as the histogram, read their colours themselves). Without pyqtgraph loaded there is no plot
    yet, and importing it here would delay the first window by its import time."""
    if "pyqtgraph" not in sys.modules:
        return
    import pyqtgraph as pg

    for view in root.findChildren(pg.GraphicsView):
        plots = [item for item in view.scene().items() if isinstance(item, pg.PlotItem)]
        labels = [item for item in view.scene().items() if isinstance(item, pg.LabelItem)]
        if plots:
            view.setBackground(_current.plot_background)
        for plot in plots:
            _restyle_plot(plot)
        for label in labels:
            if label.text:
                label.setText(label.text, **title_style())


def _restyle_plot(plot) -> None:  # a pyqtgraph PlotItem
    import pyqtgraph as pg

    theme = _current
    tick_font = QFont(QApplication.font())
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        axis.setPen(pg.mkPen(theme.plot_axis))
        axis.setTextPen(pg.mkPen(theme.plot_text))
        axis.setStyle(tickFont=tick_font)
        if axis.labelText:
            axis.labelStyle = {"color": theme.plot_text, "font-size": f"{_point_size():.0f}pt"}
            axis._updateLabel()
    legend = plot.legend
    if legend is not None:
        style = legend_style()
        legend.setLabelTextColor(style["labelTextColor"])
        legend.setLabelTextSize(style["labelTextSize"])
        legend.setBrush(style["brush"])
        legend.setPen(style["pen"])
    for item in plot.items:
        if getattr(item, REFERENCE_ROLE, None) == "reference" and isinstance(item, pg.ScatterPlotItem):
            item.setBrush(reference_brush())
        elif isinstance(item, pg.PlotDataItem):
            pen = pg.mkPen(item.opts.get("pen"))
            if pen.style() != 0 and pen.widthF() < theme.curve_width:
                pen.setWidthF(theme.curve_width)
                item.setPen(pen)


def thick_pen(colour, width: float = 0.0, **kwargs):
    """A curve pen at least as thick as the current theme's thinnest curve."""
    import pyqtgraph as pg

    return pg.mkPen(colour, width=max(width, _current.curve_width), **kwargs)


def _point_size() -> float:
    app = QApplication.instance()
    size = QApplication.font().pointSizeF() if app is not None else 9.0
    return size if size > 0 else 9.0


def relative_luminance(colour: QColor) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""

    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())


def contrast_ratio(foreground, background) -> float:
    """WCAG 2.1 contrast ratio (L1 + 0.05) / (L2 + 0.05), from 1 (none) to 21 (black on white).

    A translucent foreground is first blended over the background, as it is seen on screen.
    """
    import pyqtgraph as pg

    fg, bg = pg.mkColor(foreground), pg.mkColor(background)  # "#rrggbbaa" as pyqtgraph reads it
    if fg.alphaF() < 1.0:
        a = fg.alphaF()
        fg = QColor.fromRgbF(
            fg.redF() * a + bg.redF() * (1 - a),
            fg.greenF() * a + bg.greenF() * (1 - a),
            fg.blueF() * a + bg.blueF() * (1 - a),
        )
    lighter, darker = sorted((relative_luminance(fg), relative_luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
