"""The Edit view, driven as a person would, with the shipped Fashion-MNIST model (few steps, so it is quick)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPoint, QSettings, Qt

from desktop_app.views.edit_view import EditView

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path):
    view = EditView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.on_shown()
    qtbot.waitExposed(view)
    yield view
    view.shutdown()


@pytest.fixture
def warnings(monkeypatch):
    shown = []
    monkeypatch.setattr("desktop_app.views.edit_view.QMessageBox.warning", lambda *args: shown.append(args[1:3]))
    return shown


def quick_form(view, task_index, samples=2):
    form = view.method_panel
    form.task_combo.setCurrentIndex(task_index)
    form.steps_spin.setValue(6)
    form.samples_spin.setValue(samples)
    form.resample_spin.setValue(2)
    form.jump_spin.setValue(2)


def paint_stroke(qtbot, painter, start_pixel, end_pixel):
    """Drag the mouse over the painter from one image pixel (row, col) to another."""
    a, b = painter.to_widget(*start_pixel), painter.to_widget(*end_pixel)
    qtbot.mousePress(painter, Qt.MouseButton.LeftButton, pos=a.toPoint())
    for f in np.linspace(0, 1, 8):
        qtbot.mouseMove(painter, QPoint(round(a.x() + f * (b.x() - a.x())), round(a.y() + f * (b.y() - a.y()))))
    qtbot.mouseRelease(painter, Qt.MouseButton.LeftButton, pos=b.toPoint())


def run_and_wait(qtbot, view):
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.method_panel.run_button, Qt.MouseButton.LeftButton)


def test_paint_a_mask_run_and_see_both_fills(qtbot, view, tmp_path):
    assert view.source is not None and view.source.image.shape == (1, 32, 32)
    view.mask_panel.clear_button.click()
    assert view.mask_panel.hole().sum() == 0
    view.mask_panel.brush_spin.setValue(2)
    paint_stroke(qtbot, view.mask_panel.painter, (16.5, 4.5), (16.5, 27.5))  # a horizontal bar through the middle
    hole = view.mask_panel.hole()
    assert hole[16, 4:28].all() and hole[16, 28:].sum() < 3 and hole[:12].sum() == 0
    assert "pixels to fill" in view.mask_panel.coverage_label.text()

    quick_form(view, 0)
    run_and_wait(qtbot, view)
    titles = [tile.title() for tile in view.results.shown_tiles()]
    assert titles[:2] == ["Before", "Mask (grey = fill)"] and any("RePaint" in t for t in titles)
    assert any("Replace" in t for t in titles)
    repaint, replace = view.results.recordings
    assert repaint.evaluations > replace.evaluations == 6  # the resampling jumps cost evaluations
    for outcome in (repaint, replace):
        keep = np.broadcast_to(hole[None, None] < 0.5, outcome.images.shape)
        source = np.broadcast_to(view.source.image[None], outcome.images.shape)
        np.testing.assert_array_equal(outcome.images[keep], source[keep])
        assert np.abs(outcome.images[~keep] - source[~keep]).mean() > 0.01  # the hole was filled anew
    # The reverse timeline scrubs from noise to the result.
    view.results.scrubber.setValue(0)
    assert view.results.x_t_panel.title().startswith("x_t, t = ")
    written = view.write_strip(tmp_path / "strip.png")
    width, height = Image.open(written).size
    assert width > 3 * height
    with Image.open(view.write_timeline(tmp_path / "timeline.gif")) as gif:
        assert gif.n_frames == len(repaint.recorder)  # every recorded step, then the result


def test_sdedit_strip_reports_distance_and_realism(qtbot, view):
    quick_form(view, 1, samples=1)
    run_and_wait(qtbot, view)
    strip = [tile for tile in view.results.shown_tiles() if tile.title().startswith("t₀")]
    assert len(strip) == 5
    captions = [tile._caption.text() for tile in strip]
    assert all("distance" in c and "realism" in c for c in captions)
    distances = [float(c.split("distance ")[1].split()[0]) for c in captions]
    assert distances[-1] > distances[0]  # more noise forgets more of the input


def test_a_non_image_file_gives_a_clear_message(view, tmp_path, warnings):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    assert not view.open_image(notes)
    assert len(warnings) == 1 and "notes.txt" in warnings[0][1] and "not an image" in warnings[0][1]


def test_an_opened_photo_is_converted_and_the_conversion_shown(view, tmp_path):
    photo = np.full((90, 160, 4), 255, dtype=np.uint8)  # transparent-edged RGBA, light background, wide
    photo[20:70, 60:100, :3] = 30
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    assert view.open_image(path)
    assert view.source.image.shape == (1, 32, 32)
    text = view.source_panel.conversion_label.text()
    assert "160×90" in text and "inverted" in text and "padded to 32×32" in text
    assert view.source.image[0, 16, 16] > 0.5 and view.source.image[0, 2, 2] == -1.0  # dark object → light


def test_an_empty_or_full_mask_is_explained(qtbot, view, warnings):
    view.mask_panel.clear_button.click()
    quick_form(view, 0)
    qtbot.mouseClick(view.method_panel.run_button, Qt.MouseButton.LeftButton)
    assert len(warnings) == 1 and "mask is empty" in warnings[0][1]
    view.mask_panel.invert_button.click()  # now everything is painted
    qtbot.mouseClick(view.method_panel.run_button, Qt.MouseButton.LeftButton)
    assert len(warnings) == 2 and "whole image" in warnings[1][1]
    assert not view.is_running()


def test_cancel_stops_a_long_run(qtbot, view):
    quick_form(view, 0)
    view.method_panel.steps_spin.setValue(500)
    view.method_panel.run_button.click()
    assert view.is_running() and not view.method_panel.run_button.isEnabled()
    with qtbot.waitSignal(view._worker.progress, timeout=RUN_TIMEOUT_MS):
        pass
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.method_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert "Cancelled" in view.status_label.text()
    assert view.progress.value() < 500 and view.method_panel.run_button.isEnabled()


def test_super_resolution_beside_bicubic(qtbot, view):
    quick_form(view, 2, samples=1)
    assert not view.mask_panel.isEnabled()  # the mask means nothing here
    run_and_wait(qtbot, view)
    titles = [tile.title() for tile in view.results.shown_tiles()]
    assert titles == ["Before", "Input, 16×16", "Bicubic", "Super-resolution (projection)"]
    assert len(view.results.recordings) == 1  # bicubic calls no network: only the projection has a timeline
    outcome = view.results.recordings[0]
    assert outcome.key == "super_resolution" and outcome.images.shape == (1, 1, 32, 32)
    small = torch.nn.functional.avg_pool2d(torch.from_numpy(view.source.image)[None], 2)
    assert (torch.nn.functional.avg_pool2d(torch.from_numpy(outcome.images), 2) - small).abs().max() < 1e-5


def test_a_model_trained_in_this_session_can_edit_before_it_is_saved(qtbot, view):
    from types import SimpleNamespace

    from core.io.checkpoints import load_denoiser
    from core.runtime.resources import resource_path

    shipped = load_denoiser(resource_path("models/fmnist_unet.safetensors"))
    points = SimpleNamespace(model=None, schedule=None, metadata={"image_shape": [2], "dataset_name": "two moons"})
    view.add_model(points)  # a 2-D model cannot edit pictures: not offered
    assert not any(view.method_panel.model_combo.itemText(i).startswith("Just trained")
                   for i in range(view.method_panel.model_combo.count()))  # fmt: skip
    finished = SimpleNamespace(model=shipped.model, schedule=shipped.schedule,
                               metadata={**shipped.metadata, "dataset_name": "Fashion-MNIST (my run)"})  # fmt: skip
    view.add_model(finished)
    assert view.method_panel.model_combo.currentText().startswith("Just trained")
    assert view.checkpoint() is finished
    view.method_panel.refresh_models()  # re-listing the saved files keeps the session's model and the choice
    assert view.method_panel.model_combo.currentText().startswith("Just trained")
    quick_form(view, 0, samples=1)
    run_and_wait(qtbot, view)
    assert len(view.results.recordings) == 2


def test_colourise_a_grey_shape_with_a_colour_model(qtbot, view):
    from types import SimpleNamespace

    from core.data import make_shapes
    from core.diffusion import IdealDenoiser, make_schedule, to_grey

    schedule = make_schedule("linear", 200)
    shapes = make_shapes(1000, seed=1).images[:8]  # the Edit view's "Coloured shape" 0…7
    colour_model = SimpleNamespace(model=IdealDenoiser(shapes, schedule), schedule=schedule,
                                   metadata={"image_shape": [3, 32, 32], "dataset_name": "eight shapes"})  # fmt: skip
    view.add_model(colour_model)
    form = view.method_panel
    form.task_combo.setCurrentIndex(form.task_combo.findData("colourise"))
    assert view.source_panel.kind() == "Coloured shape"  # switched from Fashion-MNIST, which has no colour
    form.steps_spin.setValue(10)
    form.samples_spin.setValue(2)
    run_and_wait(qtbot, view)
    titles = [tile.title() for tile in view.results.shown_tiles()]
    assert titles == ["Before", "Grey input", "Colourised (projection)"]
    (outcome,) = view.results.recordings
    grey = to_grey(torch.from_numpy(view.source.image)[None])
    np.testing.assert_allclose(to_grey(torch.from_numpy(outcome.images)).numpy(),
                               grey.expand(2, -1, -1, -1).numpy(), atol=1e-5)  # fmt: skip
    assert outcome.extra["colour_accuracy"] == 1.0 and "true colour 100%" in outcome.caption
    assert "cannot be told apart" in view.status_label.text()


def test_colourising_with_a_grey_model_only_is_explained(qtbot, view, warnings, monkeypatch):
    monkeypatch.setattr(view.method_panel, "select_colour_model", lambda: False)  # as if no colour model existed
    form = view.method_panel
    form.task_combo.setCurrentIndex(form.task_combo.findData("colourise"))
    assert "needs a colour model" in view.status_label.text()
    qtbot.mouseClick(form.run_button, Qt.MouseButton.LeftButton)
    assert warnings and "needs a colour model" in warnings[-1][1]
