"""Draw your own 2-D data: the canvas, the dialog, and training on a drawing from the Train view.

Strokes are drawn with real (simulated) mouse events; training runs are tiny (an MLP, a few steps).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QDialog

from core.data import load_drawing
from core.io import read_metadata
from desktop_app.views.train_view import DRAWING_SPEC, TrainView
from desktop_app.widgets.drawing_canvas import DrawingCanvas, DrawingDialog

torch.set_num_threads(1)

LEFT = Qt.MouseButton.LeftButton


# A modal dialog nobody answers would hang an offscreen test: fail instead (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


@pytest.fixture
def canvas(qtbot):
    canvas = DrawingCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(316, 316)  # a 300 × 300 drawing square inside the 8-pixel margin
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas


def pixel(canvas: DrawingCanvas, x: float, y: float) -> QPoint:
    """The widget pixel at data coordinates (x, y) (y up), computed here, not by the canvas."""
    rect = canvas.drawing_rect()
    assert rect.width() == rect.height() == 300 and rect.left() == rect.top() == 8
    return QPoint(round(8 + (x + 1) / 2 * 300), round(8 + (1 - y) / 2 * 300))


def draw(qtbot, canvas: DrawingCanvas, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points`` (data coordinates), as a person drags the mouse."""
    qtbot.mousePress(canvas, LEFT, pos=pixel(canvas, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(canvas, pixel(canvas, *point))
    qtbot.mouseRelease(canvas, LEFT, pos=pixel(canvas, *points[-1]))


def test_a_mouse_stroke_is_recorded_in_data_coordinates_with_y_up(qtbot, canvas):
    with qtbot.waitSignal(canvas.changed, timeout=1000):
        draw(qtbot, canvas, [(-0.5, 0.5), (0.0, 0.0), (0.5, -0.5)])  # from upper left down to lower right
    (stroke,) = canvas.strokes()
    assert stroke.shape == (3, 2) and stroke.dtype == np.float64
    np.testing.assert_allclose(stroke, [[-0.5, 0.5], [0.0, 0.0], [0.5, -0.5]], atol=1 / 150)
    assert stroke[0, 1] > stroke[-1, 1]  # the mouse moved down the screen: y went down

    # Dragging past the edge of the square sticks to the edge: every coordinate stays in [−1, 1].
    qtbot.mousePress(canvas, LEFT, pos=pixel(canvas, 0.9, 0.9))
    qtbot.mouseMove(canvas, QPoint(canvas.width() + 40, -40))
    qtbot.mouseRelease(canvas, LEFT, pos=QPoint(canvas.width() + 40, -40))
    edge = canvas.strokes()[1]
    assert np.abs(edge).max() <= 1.0 and np.allclose(edge[-1], [1.0, 1.0])

    # A right-button drag draws nothing; holding still adds no duplicate points.
    qtbot.mousePress(canvas, Qt.MouseButton.RightButton, pos=pixel(canvas, 0, 0))
    qtbot.mouseRelease(canvas, Qt.MouseButton.RightButton, pos=pixel(canvas, 0.3, 0))
    assert canvas.stroke_count() == 2
    draw(qtbot, canvas, [(0.2, 0.2), (0.2, 0.2), (0.2, 0.2)])
    assert len(canvas.strokes()[2]) == 1


def test_undo_removes_the_last_stroke_and_clear_removes_all(qtbot, canvas):
    draw(qtbot, canvas, [(-0.8, 0.0), (0.8, 0.0)])
    draw(qtbot, canvas, [(0.0, -0.8), (0.0, 0.8)])
    first = canvas.strokes()[0]
    with qtbot.waitSignal(canvas.changed, timeout=1000):
        canvas.undo()
    assert canvas.stroke_count() == 1 and np.array_equal(canvas.strokes()[0], first)
    with qtbot.waitSignal(canvas.changed, timeout=1000):
        canvas.clear()
    assert canvas.is_empty() and canvas.strokes() == []
    with qtbot.assertNotEmitted(canvas.changed):
        canvas.undo()  # nothing left to undo: no change, no signal


def test_the_dialog_accepts_only_a_drawing_with_some_extent(qtbot):
    dialog = DrawingDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    canvas = dialog.canvas
    assert not dialog.ok_button.isEnabled() and not dialog.undo_button.isEnabled()

    qtbot.mouseClick(canvas, LEFT, pos=canvas.rect().center())  # a single dot
    assert canvas.stroke_count() == 1 and not dialog.ok_button.isEnabled()
    assert "single dot" in dialog.status_label.text()
    assert len(dialog.preview.points()) == 0

    qtbot.mousePress(canvas, LEFT, pos=QPoint(60, 200))
    qtbot.mouseMove(canvas, QPoint(200, 60))
    qtbot.mouseRelease(canvas, LEFT, pos=QPoint(200, 60))
    assert dialog.ok_button.isEnabled() and dialog.status_label.text() == "2 strokes"
    assert len(dialog.preview.points()) > 0  # the resampled points the model will learn from

    dialog.undo_button.click()
    assert canvas.stroke_count() == 1 and not dialog.ok_button.isEnabled()
    dialog.clear_button.click()
    assert canvas.is_empty() and not dialog.clear_button.isEnabled()

    # Reopening with an earlier drawing shows it, ready to use or edit.
    strokes = [np.array([[-0.5, -0.5], [0.5, 0.5]]), np.array([[0.0, 0.2]])]
    again = DrawingDialog(strokes=strokes)
    qtbot.addWidget(again)
    assert again.ok_button.isEnabled() and all(
        np.array_equal(a, b) for a, b in zip(again.strokes(), strokes, strict=True)
    )


# ---------------------------------------------------------------------------------------------
# The Train view


@pytest.fixture
def view(qtbot, tmp_path, user_data_home):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    view = TrainView(settings)
    qtbot.addWidget(view)
    yield view
    if view.is_training():  # never leave a thread behind, whatever the test did
        view._worker.discard()
        view._thread.quit()
        view._thread.wait()


def draw_in_dialog(monkeypatch, strokes, seen=None):
    """Make the Draw… dialog 'draw' ``strokes`` and press OK instead of waiting for a person."""

    def exec_(dialog):
        if seen is not None:
            seen.append(dialog.strokes())
        dialog.canvas.set_strokes(strokes)
        assert dialog.ok_button.isEnabled()
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(DrawingDialog, "exec", exec_)


def test_training_on_a_drawing_from_the_train_view(qtbot, view, monkeypatch, user_data_home, tmp_path):
    messages = []
    monkeypatch.setattr(
        "desktop_app.views.train_view.QMessageBox.warning", lambda parent, title, text, *a: messages.append(text)
    )
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData(DRAWING_SPEC))
    assert view.dataset_kind() == "points" and view.model_combo.currentData() == "mlp"
    assert view._data_form.isRowVisible(view.drawing_row) and not view._data_form.isRowVisible(view.word_edit)

    view.start_button.click()  # nothing drawn yet: a message, no run
    assert len(messages) == 1 and "Draw a shape first" in messages[0] and not view.is_training()

    triangle = [np.array([[-0.6, -0.5], [0.6, -0.5], [0.0, 0.6], [-0.6, -0.5]]), np.array([[0.0, -0.1], [0.0, 0.1]])]
    draw_in_dialog(monkeypatch, triangle)
    view.draw_button.click()
    spec = view.dataset_spec()
    path = Path(spec.removeprefix("drawing:"))
    assert spec.startswith("drawing:") and path.parent == user_data_home / "drawings" and path.suffix == ".json"
    assert json.loads(path.read_text())["format"] == "diffusion-lab-drawing"
    assert all(np.array_equal(a, b) for a, b in zip(load_drawing(path), triangle, strict=True))
    assert view.drawing_label.text() == "2 strokes"

    view.batch_spin.setValue(32)
    view.steps_spin.setValue(20)
    view.preview_spin.setValue(10)
    view.autosave_spin.setValue(0)
    view.timesteps_spin.setValue(100)
    with qtbot.waitSignal(view.model_trained, timeout=120_000) as trained:
        view.start_button.click()
    qtbot.waitUntil(lambda: not view.is_training() and view.start_button.isEnabled(), timeout=60_000)
    finished = trained.args[0]
    assert finished.reason == "completed" and finished.step == 20
    assert read_metadata(finished.checkpoint_path)["train_config"]["dataset"] == spec  # resumable from the file
    assert len(view.preview_points.points()) > 0
    qtbot.waitUntil(lambda: len(view.preview_points._reference.data) > 0, timeout=30_000)  # grey: the drawing
    assert view.dataset_name() == f"drawing:{path.name}"

    # Generate view: a model trained on a drawing is a 2-D model like any other.
    from desktop_app.views.generate_view import GenerateView

    generate = GenerateView(QSettings(str(tmp_path / "generate.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(generate)
    generate.add_model(finished)
    assert generate.sample_shape() == (2,)
    generate.batch_spin.setValue(50)
    generate.steps_spin.setValue(5)
    generate.generate_button.click()
    qtbot.waitUntil(lambda: not generate.is_sampling() and generate._worker.done, timeout=30_000)
    qtbot.waitUntil(generate.generate_button.isEnabled, timeout=30_000)  # the result is shown
    run = generate.run_a
    run.scrubber.setValue(run.scrubber.maximum())
    assert run.points_mode and len(run.cloud.points()) == 50 and np.isfinite(run.cloud.points()).all()
    assert generate.shutdown()

    # Draw… again starts from the current drawing; OK saves a new file. The choice survives a restart.
    seen = []
    draw_in_dialog(monkeypatch, [np.array([[-0.9, 0.9], [0.9, -0.9]])], seen)
    view.draw_button.click()
    assert len(seen[0]) == 2 and view.drawing_label.text() == "1 stroke"
    second = view.dataset_spec()
    assert second != spec and Path(second.removeprefix("drawing:")).is_file() and path.is_file()
    view._save_settings()
    restored = TrainView(view._settings)
    qtbot.addWidget(restored)
    assert restored.dataset_combo.currentData() == DRAWING_SPEC and restored.dataset_spec() == second

    # A drawing file deleted since: a clear message, no run.
    Path(second.removeprefix("drawing:")).unlink()
    restored.start_button.click()
    assert "missing" in messages[-1] and not restored.is_training()
