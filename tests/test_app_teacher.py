"""Teacher mode on a 1280×720 projector, export for slides, and the pipeline / U-Net diagram.

Teacher mode is driven through its menu action, as a teacher would; screenshots of every view in
teacher mode are saved under the test's tmp_path (printed with ``-s``) for a person to open.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import xml.etree.ElementTree as ET  # noqa: E402

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QRect, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QPushButton, QToolButton  # noqa: E402

from core.models import UNet, preset_config  # noqa: E402
from core.models.inspection import trace_shapes  # noqa: E402
from desktop_app.main_window import MainWindow  # noqa: E402
from desktop_app.teacher import teacher_mode  # noqa: E402
from desktop_app.teacher.unet_diagram import UNetDiagramDialog, diagram_for_window  # noqa: E402
from desktop_app.window import themes, zoom  # noqa: E402

PROJECTOR = (1280, 720)
# Stated size of text in teacher mode: every label and button a student reads is at least this large.
MIN_TEXT_PT = 13.0
KEY_BUTTON_WORDS = ("Generate", "Start", "Open", "Add schedule", "New noise", "Run")


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    settings = QSettings(str(tmp_path_factory.mktemp("teacher") / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.show()
    yield window
    window.teacher.mode.set_on(False)
    window.set_zoom(zoom.DEFAULT_ZOOM)
    window.set_theme(themes.DEFAULT_THEME)
    window.close()
    window.deleteLater()


def _settle(window, size=PROJECTOR):
    window.resize(*size)
    for _ in range(3):
        QApplication.processEvents()


def _visible_area(window) -> QRect:
    viewport = window.scroll.viewport()
    return QRect(viewport.mapTo(window, viewport.rect().topLeft()), viewport.size())


def _thickest_curve(window) -> float:
    widths = [
        pg.mkPen(item.opts.get("pen")).widthF()
        for view in window.findChildren(pg.GraphicsView)
        for item in view.scene().items()
        if isinstance(item, pg.PlotDataItem) and pg.mkPen(item.opts.get("pen")).style() != Qt.PenStyle.NoPen
    ]
    return min(widths) if widths else 0.0


def test_teacher_mode_sets_the_projector_layout_and_gives_it_back(window):
    window.set_zoom(1.1)
    window.set_theme("Light")
    generate, train = window.view("Generate"), window.view("Train")
    assert not generate.clip_check.isHidden() and not train.threads_spin.isHidden()
    menu_texts = [a.text() for a in window.menuBar().actions()[1].menu().actions()]  # the View menu
    assert "&Teacher mode" in menu_texts and "&Full screen" in menu_texts

    window.teacher.mode.action.trigger()
    assert window.teacher.mode.is_on()
    assert window.zoom_factor() == teacher_mode.TEACHER_ZOOM
    assert window.theme_name() == "High contrast"
    assert QApplication.font().pointSizeF() >= MIN_TEXT_PT
    assert _thickest_curve(window) >= teacher_mode.TEACHER_CURVE_WIDTH  # every drawn curve, in every view
    assert generate.clip_check.isHidden() and generate.eta_spin.isHidden() and generate.sync_check.isHidden()
    caption = train.setup_panel.findChildren(QLabel, options=Qt.FindChildOption.FindChildrenRecursively)
    threads_caption = [label for label in caption if label.text() == "CPU threads"]
    assert train.threads_spin.isHidden() and threads_caption and threads_caption[0].isHidden()
    # the view shows a hidden control again (choosing DDIM shows η): teacher mode keeps it hidden
    generate.sampler_combo.setCurrentIndex(generate.sampler_combo.findData("ddpm"))
    generate.sampler_combo.setCurrentIndex(generate.sampler_combo.findData("ddim"))
    QApplication.processEvents()
    assert generate.eta_spin.isHidden()
    assert window.settings.value(teacher_mode.SETTING, type=bool) is True

    window.teacher.mode.action.trigger()
    assert not window.teacher.mode.is_on()
    assert window.zoom_factor() == 1.1 and window.theme_name() == "Light"
    assert themes.current().curve_width == themes.LIGHT.curve_width
    assert not generate.clip_check.isHidden() and not train.threads_spin.isHidden() and not generate.eta_spin.isHidden()
    window.set_zoom(zoom.DEFAULT_ZOOM)


def test_the_app_reopens_in_teacher_mode_and_leaves_it_to_the_settings_of_before(qapp, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    first = MainWindow(settings, load_views=False)  # the window alone: no views are needed here
    first.set_zoom(1.1)
    first.teacher.mode.set_on(True)
    first.close()
    again = MainWindow(settings, load_views=False)
    try:
        assert again.teacher.mode.is_on() and again.teacher.mode.action.isChecked()
        assert again.zoom_factor() == teacher_mode.TEACHER_ZOOM and again.theme_name() == "High contrast"
        again.teacher.mode.set_on(False)
        assert again.zoom_factor() == 1.1 and again.theme_name() == "Light"
    finally:
        again.close()
        for w in (first, again):
            w.deleteLater()
        zoom.apply_zoom(zoom.DEFAULT_ZOOM)
        themes.apply_theme(themes.LIGHT)


def test_full_screen_is_f11_and_separate(window):
    action = window.teacher.mode.full_screen_action
    assert action.shortcut() == QKeySequence("F11")
    action.trigger()
    assert window.windowState() & Qt.WindowState.WindowFullScreen
    assert not window.teacher.mode.is_on()
    action.trigger()
    assert not window.windowState() & Qt.WindowState.WindowFullScreen


def _projector_problems(window, title: str) -> list[str]:
    """What a student at the back would miss in the view on screen: a view wider than its area, text
    under the stated size, a key button cut off, a plot title wider than its plot."""
    view, area = window.view(title), _visible_area(window)
    problems = []
    if view.minimumSizeHint().width() > area.width():
        problems.append(f"{title}: needs {view.minimumSizeHint().width()} px wide, has {area.width()}")
    for widget in view.findChildren(QLabel) + view.findChildren(QAbstractButton):
        if not widget.isVisibleTo(window) or not widget.text().strip():
            continue
        size = widget.font().pointSizeF()
        if 0 < size < MIN_TEXT_PT:
            problems.append(f"{title}: {type(widget).__name__} {widget.text()[:30]!r} is {size:.1f} pt")
        if isinstance(widget, (QPushButton, QToolButton)) and any(w in widget.text() for w in KEY_BUTTON_WORDS):
            rect = QRect(widget.mapTo(window, widget.rect().topLeft()), widget.size())
            if not area.contains(rect):
                problems.append(f"{title}: button {widget.text()!r} at {rect.getRect()} is cut off")
    for plot_view in view.findChildren(pg.GraphicsView):
        for item in plot_view.scene().items():
            if isinstance(item, pg.PlotItem) and item.titleLabel.text and item.isVisible():
                if item.titleLabel.item.boundingRect().width() > item.width() + 1:
                    problems.append(f"{title}: plot title {item.titleLabel.text!r} is wider than its plot")
    return problems


def test_every_view_reads_from_the_back_of_the_room_at_1280x720(window, tmp_path):
    """1280×720 at 150 % text; a 1920×1080 projector gives the same text more room."""
    window.teacher.mode.set_on(True)
    _settle(window)
    problems = []
    for title in window.view_names():
        window.show_view(title)
        _settle(window)
        problems += _projector_problems(window, title)
        assert window.grab().save(str(tmp_path / f"teacher-1280x720-{title.split()[0]}.png"))
    print(f"teacher-mode screenshots: {tmp_path}")
    assert window.sidebar.isVisible() and window.sidebar.item(0).text() == "Forward"  # short names
    window.teacher.mode.set_on(False)
    assert window.sidebar.item(0).text() == "Forward process"
    assert not problems, "\n".join(problems)


def test_every_lesson_step_fits_1280x720_in_teacher_mode_beside_the_lesson_panel(window, tmp_path):
    """The issue's check: each step of the guided tour, opened by the tour, in teacher mode at 1280×720."""
    window.teacher.mode.set_on(True)
    window.lessons.show()
    _settle(window)
    assert not window.sidebar.isVisible()  # the tour switches views: the sidebar makes room for the lesson
    tour, problems = window.lessons.panel.tour, []
    assert len(tour.lessons) >= 5
    for index in range(len(tour.lessons)):
        tour.go_to(index)
        _settle(window)
        title = window.current_view_name()
        problems += [f"step {index + 1}: {p}" for p in _projector_problems(window, title)]
        dock = window.lessons.dock
        if not window.rect().contains(QRect(dock.mapTo(window, dock.rect().topLeft()), dock.size())):
            problems.append(f"step {index + 1}: the lesson panel is cut off")
        assert window.grab().save(str(tmp_path / f"lesson-step-{index + 1}-{title.split()[0]}.png"))
    print(f"lesson-step screenshots: {tmp_path}")
    window.lessons.dock.hide()
    assert window.sidebar.isVisible()
    window.teacher.mode.set_on(False)
    assert not problems, "\n".join(problems)


def test_export_for_slides_writes_sharp_png_svg_and_timeline(window, tmp_path):
    _settle(window, (1024, 768))
    window.show_view("Forward process")
    forward = window.view("Forward process")
    forward.scrubber.setValue(300)
    QApplication.processEvents()
    files = window.teacher.export_slides(tmp_path / "forward.png", frames=8)
    png = Image.open(files.png)
    assert png.size == (2 * forward.width(), 2 * forward.height())  # twice the screen's pixels
    svg = ET.parse(files.svg).getroot()
    assert svg.tag.endswith("svg") and len(list(svg.iter())) > 50  # drawn as vector elements, not one picture
    css_px = [float(svg.attrib[side].removesuffix("mm")) / 25.4 * 96 for side in ("width", "height")]  # 96 px an inch
    assert css_px == pytest.approx([forward.width(), forward.height()], abs=1.5)  # opens at the view's size
    assert QSvgRenderer(str(files.svg)).isValid()
    animation = Image.open(files.webp)
    assert animation.n_frames == 8
    frames = []
    for i in (0, animation.n_frames - 1):
        animation.seek(i)
        frames.append(np.asarray(animation.convert("L"), dtype=float))
    assert np.abs(frames[0] - frames[1]).mean() > 1.0  # the timeline moved: x_0 at one end, noise at the other
    assert forward.scrubber.value() == 300  # the scrubber went back where it was
    window.show_view("Train")  # no timeline there: PNG and SVG only
    QApplication.processEvents()
    files = window.teacher.export_slides(tmp_path / "train")
    assert files.webp is None and files.png.exists() and files.svg.exists()


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(0)
    model = UNet(preset_config("tiny"))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return model.eval()


def test_clicking_a_block_shows_its_real_shapes(qtbot, tiny_unet):
    x_t = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    dialog = UNetDiagramDialog(tiny_unet, x_t, t=400)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    item = dialog.scene.items_by_key["down.3"]
    point = dialog.view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseClick(dialog.view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert dialog.chosen == "down.3"
    expected = trace_shapes(tiny_unet, (1, 32, 32))["down.3"].output
    assert f"out: ({', '.join(map(str, expected))})" in dialog.details.text()
    dialog.size_spin.setValue(64)  # a larger input: the shapes follow
    assert "out: (1, 16, 16, 16)" in dialog.details.text()
    with qtbot.waitSignal(dialog.activations_shown, timeout=20_000) as blocker:
        dialog.activations_button.click()
    assert blocker.args == ["down.3"]
    assert not dialog.maps.pixmap().isNull()
    assert "at t = 400" in dialog.details.text()
    dialog.select_block("x_T")  # the pipeline row explains itself
    assert "Gaussian noise" in dialog.details.text()
    assert not dialog.activations_button.isEnabled()


def test_diagram_follows_the_model_loaded_in_generate(window, qtbot):
    window.show_view("Generate")  # on_shown picks the bundled model
    generate = window.view("Generate")
    qtbot.waitUntil(lambda: generate.model_panel.current is not None, timeout=20_000)
    dialog = diagram_for_window(window)
    qtbot.addWidget(dialog)
    assert dialog.model is generate.model_panel.current.model
    assert dialog.trained and dialog.x_t.shape[1:] == (1, 32, 32)
    assert set(dialog.scene.items_by_key) >= {"input_conv", "mid.0", "out_conv", "x_T", "sampler"}
