"""The main window: views, shortcuts, status area, drag and drop, persistence, closing."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from desktop_app.main_window import MainWindow  # noqa: E402

VIEWS = ["Forward process", "Schedules", "Train", "Generate", "Guidance", "Edit", "Fast sampling", "Score & likelihood",
         "Sampler race", "Latent diffusion", "Compare models", "Stable Diffusion"]  # fmt: skip


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    """One window for the tests that only look and click (building all four views takes a while)."""
    settings = QSettings(str(tmp_path_factory.mktemp("window") / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.show()
    yield window
    window.close()
    window.deleteLater()


@pytest.fixture
def messages(monkeypatch):
    shown = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append((title, text)))
    )
    return shown


def _drop(window, path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    window.dropEvent(event)


def test_every_view_opens_and_paints(window):
    assert window.view_names() == VIEWS
    for name in VIEWS:
        window.show_view(name)
        assert window.current_view_name() == name
        assert window.stack.currentWidget() is window.view(name)
        assert not window.grab().isNull()
    with pytest.raises(ValueError, match="no view called"):
        window.show_view("Nope")


def test_view_shortcuts_and_sidebar_switch_views(qtbot, window):
    window.view_actions[1].trigger()
    assert window.current_view_name() == "Schedules"
    assert window.view_actions[3].shortcut().toString() == "Ctrl+4"
    window.sidebar.setCurrentRow(0)
    assert window.current_view_name() == "Forward process"


def test_status_area_shows_dataset_and_device(window):
    window.show_view("Forward process")
    assert window.dataset_label.text().startswith("Data: Fashion-MNIST")
    assert window.device_label.text().startswith("Device: CPU") or "CUDA" in window.device_label.text()
    assert window.model_label.text() == ""  # this view uses no model: none is named
    window.show_view("Train")
    assert window.model_label.text() == f"Model: {window.view('Train').model_name()}"
    window.show_view("Forward process")


def test_dropping_an_image_opens_it_and_a_non_image_shows_a_message(qtbot, window, messages, tmp_path):
    window.show_view("Schedules")
    picture = tmp_path / "cat.png"
    Image.fromarray(np.full((40, 60, 3), 200, dtype=np.uint8)).save(picture)
    _drop(window, picture)
    forward = window.view("Forward process")
    assert window.current_view_name() == "Forward process"
    assert forward.source.name == "cat.png" and tuple(forward.source.x0.shape) == (1, 3, 40, 60)

    junk = tmp_path / "data.bin"
    junk.write_bytes(b"\x00\x01garbage")
    _drop(window, junk)
    assert len(messages) == 1 and "data.bin" in messages[0][1]
    assert forward.source.name == "cat.png"  # the previous image stays
    forward.scrubber.setValue(10)
    assert forward.numbers["t"].text().startswith("10")


def test_dropping_a_damaged_checkpoint_goes_to_generate_and_shows_a_message(qtbot, window, messages, tmp_path):
    broken = tmp_path / "model.safetensors"
    broken.write_bytes(b"not a checkpoint")
    _drop(window, broken)
    assert window.current_view_name() == "Generate"
    assert len(messages) == 1 and "model.safetensors" in messages[0][1]


def test_export_from_the_forward_view_writes_files(qtbot, window, tmp_path):
    window.show_view("Forward process")
    actions = {a.label.split(" ")[0]: a for a in window._export_actions()}
    assert set(actions) >= {"PNG", "Animated"}
    gif = window.run_export(actions["Animated"], tmp_path / "timeline.gif")
    with Image.open(gif) as image:
        assert image.n_frames == 40
    strip = next(a for a in window._export_actions() if "strip" in a.label)
    png = window.run_export(strip, tmp_path / "strip.png")
    with Image.open(png) as image:
        assert image.width > 8 * image.height / 2
    assert window.settings.value("main/last_export_dir") == str(tmp_path)


def test_close_asks_every_view_and_one_no_keeps_the_window_open(qtbot, settings, monkeypatch):
    window = MainWindow(settings)
    qtbot.addWidget(window)
    window.show()
    calls = []
    schedules = window.view("Schedules")
    monkeypatch.setattr(schedules, "shutdown", lambda: calls.append("schedules") or False)
    window.show_view("Forward process")
    assert window.close() is False
    assert window.isVisible() and window.current_view_name() == "Schedules" and calls == ["schedules"]
    monkeypatch.setattr(schedules, "shutdown", lambda: calls.append("again") or True)
    assert window.close() is True
    assert calls == ["schedules", "again"]


def test_last_view_and_geometry_are_restored(qtbot, settings):
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    first.show_view("Schedules")
    first.resize(first.width(), 531)  # the offscreen screen is only 800×600: widths get clamped to it
    assert first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.current_view_name() == "Schedules"
    assert second.height() == 531
    second.close()


# --- start-up: the window first, the views after torch ------------------------------------------


def test_the_window_shows_at_once_and_builds_its_views_in_the_background(qtbot, settings, tmp_path):
    settings.setValue("main/last_view", "Schedules")
    window = MainWindow(settings, load_views=False)
    qtbot.addWidget(window)
    window.show()
    assert window.view_names() == VIEWS  # the sidebar and menus exist before any view
    assert not window.views_loaded()
    assert window.current_view_name() == "Schedules"
    assert type(window.stack.currentWidget()).__name__ == "LoadingPage"
    photo = tmp_path / "early.png"
    Image.fromarray(np.full((40, 40, 3), 200, dtype=np.uint8)).save(photo)
    _drop(window, photo)  # dropped while loading: opened once the views exist
    first = []
    window.first_view_ready.connect(lambda title: first.append((title, len(window.views))))
    with qtbot.waitSignal(window.views_ready, timeout=120_000):
        window.load_views_async()
    assert first == [("Schedules", 1)]  # the view on screen was built, and announced, before the others
    assert window.views_loaded()
    assert window.stack.count() == len(VIEWS)
    for name in VIEWS:
        assert type(window.view(name)).__name__ != "LoadingPage"
        assert window.stack.indexOf(window.view(name)) == VIEWS.index(name)
    assert window.current_view_name() == "Forward process"  # the early drop was opened there
    assert window.view("Forward process").source_combo.currentText() == "Image: early.png"
    assert window.device_label.text().startswith("Device: ") and "…" not in window.device_label.text()
    window.close()


def test_a_view_that_fails_to_load_says_so_and_reports_the_error(qtbot, settings, monkeypatch):
    import sys

    import desktop_app.main_window as main_window

    broken = list(main_window.VIEW_SPECS)
    broken[2] = ("Train", "desktop_app.views.no_such_view", "TrainView")
    monkeypatch.setattr(main_window, "VIEW_SPECS", tuple(broken))
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, error, tb: reported.append(error))
    window = MainWindow(settings, load_views=False)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.views_ready, timeout=120_000):
        window.load_views_async()
    assert len(reported) == 1 and isinstance(reported[0], ModuleNotFoundError)
    window.show_view("Train")
    page = window.stack.currentWidget()
    assert "could not load this view" in page.message.text()
    assert not window.views_loaded()
    window.show_view("Generate")  # the other views were still built
    assert type(window.stack.currentWidget()).__name__ == "GenerateView"
    window.close()


def test_closing_while_torch_loads_waits_for_the_import_and_closes_cleanly(qtbot, settings):
    window = MainWindow(settings, load_views=False)
    qtbot.addWidget(window)
    window.show()
    window.load_views_async()
    window.close()  # at once: the loader thread is still importing (or has just finished)
    assert not window.isVisible()
    assert not window._loader.is_alive()  # joined: no import left running behind a closed window
    assert settings.value("main/last_view") == "Forward process"  # settings were still saved
    qtbot.wait(300)  # the loader's poll fires after the close: it must not build views any more
    assert not window.views and not window.isVisible()


def test_a_model_trained_here_is_offered_to_every_view_that_can_use_it(window):
    from types import SimpleNamespace

    from core.io.checkpoints import load_denoiser
    from core.runtime.resources import resource_path

    shipped = load_denoiser(resource_path("models/fmnist_unet.safetensors"))
    finished = SimpleNamespace(model=shipped.model, schedule=shipped.schedule, metadata=dict(shipped.metadata))
    window.view("Train").model_trained.emit(finished)
    edit_models = window.view("Edit").method_panel.model_combo
    assert any(edit_models.itemText(i).startswith("Just trained") for i in range(edit_models.count()))
    generate_models = window.view("Generate").model_panel.model_combo
    assert any(generate_models.itemText(i).startswith("Just trained") for i in range(generate_models.count()))


@pytest.mark.parametrize("title", VIEWS)
def test_a_closed_view_is_freed_at_once_not_by_the_garbage_collector(qtbot, settings, title):
    """The same for each view on its own, as the view tests use them: a view that passed its own bound
    method to its timeline scrubber (held strongly) was left to the garbage collector, which later crashed
    the test run in whatever test happened to collect it."""
    import gc
    import weakref

    from desktop_app.window.view_specs import view_classes

    view = dict(view_classes())[title](settings)
    view.show()
    qtbot.waitExposed(view)
    assert view.shutdown() is not False
    view.close()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ref = weakref.ref(view)
        del view
        assert ref() is None, [type(r).__name__ for r in gc.get_referrers(ref())]
    finally:
        if was_enabled:
            gc.enable()


def test_a_closed_window_is_freed_at_once_not_by_the_garbage_collector(qtbot, settings):
    """A reference cycle through the window (a helper keeping ``self.window``) leaves a closed window to the
    garbage collector, which destroys its widgets in an arbitrary order: pyqtgraph's menus then crashed Qt
    (a segfault in QWidget::screen during gc). Helpers reach the window through their Qt parent instead."""
    import gc
    import weakref

    window = MainWindow(settings)
    window.show()
    qtbot.waitExposed(window)
    assert window.close()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        ref = weakref.ref(window)
        del window
        assert ref() is None, [type(r).__name__ for r in gc.get_referrers(ref())]
    finally:
        if was_enabled:
            gc.enable()
