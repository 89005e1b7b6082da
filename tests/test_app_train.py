"""The Train view, driven as a person would: press Start, Pause, Resume, Stop, Save, close the window.

Runs are tiny (a 2-D toy, an MLP, small batches, a few dozen steps) so the file stays fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from core.io import read_metadata
from core.training import TrainConfig, train
from desktop_app.views.train_view import TrainView

torch.set_num_threads(1)


# A modal dialog nobody answers would hang an offscreen test: fail instead (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


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


def tiny(view, steps=40):
    """Small, quick settings on the default 2-D dataset."""
    view.batch_spin.setValue(32)
    view.steps_spin.setValue(steps)
    view.preview_spin.setValue(10)
    view.autosave_spin.setValue(0)
    view.timesteps_spin.setValue(100)


def step_events(view):
    return len(view.loss_plot)


def wait_until_stopped(qtbot, view, timeout=90_000):
    qtbot.waitUntil(lambda: not view.is_training() and view._worker.done, timeout=timeout)
    qtbot.waitUntil(lambda: view.start_button.isEnabled(), timeout=timeout)


def test_defaults_train_a_2d_toy_with_an_mlp(view):
    config = view.config()
    assert config.dataset.startswith("toy:") and config.model == "mlp" and config.prediction_type == "v"
    assert view.dataset_kind() == "points"
    assert view.start_button.isEnabled() and not view.pause_button.isEnabled()
    # Switching to images offers U-Nets and image defaults; back to points restores the MLP.
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData("fashion_mnist"))
    assert view.model_combo.currentData() == "tiny" and view.batch_spin.value() == 64
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData("toy:two_moons"))
    assert view.model_combo.currentData() == "mlp"
    # Class conditioning is offered only where the data has classes.
    assert view._data_form.isRowVisible(view.conditional_check) and view.config().class_conditional
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData("toy:swiss_roll"))
    assert not view._data_form.isRowVisible(view.conditional_check) and not view.config().class_conditional


def test_a_tiny_run_emits_losses_pauses_resumes_and_stops(qtbot, view):
    tiny(view, steps=1_000_000)  # long enough that only Stop ends it
    view.start_button.click()
    assert view.is_training() and not view.start_button.isEnabled() and not view.dataset_combo.isEnabled()
    qtbot.waitUntil(lambda: step_events(view) >= 5, timeout=90_000)

    view.pause_button.click()
    qtbot.waitUntil(lambda: "Paused at step" in view.progress_label.text(), timeout=10_000)
    assert view.pause_button.text().endswith("Resume")
    paused_at = int(view.progress_label.text().split("step ")[1].split(".")[0].replace(",", ""))

    view.pause_button.click()  # resume
    qtbot.waitUntil(lambda: step_events(view) >= paused_at + 5, timeout=90_000)
    # Started before any speed estimate existed: the run times itself and says so in the form.
    qtbot.waitUntil(lambda: "per 1,000 steps here" in view.estimate_label.text(), timeout=90_000)
    from desktop_app.views.train_view import format_count

    assert view._run_parameters > 0
    assert view.estimate_label.text().startswith(f"{format_count(view._run_parameters)} parameters")
    steps, losses, _ = view.loss_plot.data()
    assert list(steps[:paused_at]) == list(range(1, paused_at + 1))  # every step, in order, none lost
    assert all(math.isfinite(x) and x > 0 for x in losses)

    with qtbot.waitSignal(view.model_trained, timeout=90_000) as trained:
        view.stop_button.click()
    wait_until_stopped(qtbot, view)
    finished = trained.args[0]
    assert finished.reason == "stopped" and finished.step >= paused_at + 5
    assert isinstance(finished.model, torch.nn.Module)
    assert Path(finished.checkpoint_path).is_file()
    assert not view._thread.isRunning() and view.start_button.isEnabled()


def test_a_completed_run_fills_every_plot_and_can_be_resumed(qtbot, view, tmp_path):
    tiny(view, steps=50)
    view.preview_spin.setValue(25)
    with qtbot.waitSignal(view.model_trained, timeout=120_000) as trained:
        view.start_button.click()
    wait_until_stopped(qtbot, view)
    finished = trained.args[0]
    assert finished.reason == "completed" and finished.step == 50
    assert len(view.loss_plot) == 50 and len(view.grad_plot) == 50
    assert view.progress.value() == 50
    heights = view.bucket_bars.opts["height"]
    assert len(heights) == 10 and all(h >= 0 for h in heights) and max(heights) > 0
    assert len(view.preview_points.points()) > 0  # a 2-D preview was drawn
    assert np.abs(view._last_preview.images).max() < 10  # samples near the data, not blown up by 1/√ᾱ
    csv_lines = view.write_loss_csv(tmp_path / "loss.csv").read_text().splitlines()
    assert csv_lines[0] == "step,loss,smoothed_loss,grad_norm" and len(csv_lines) == 51
    assert view.write_preview(tmp_path / "preview.png").stat().st_size > 0

    # Load & resume continues from step 50 (a finished run trains for as many steps again), into a new
    # file: the loaded checkpoint stays at step 50. The curve starts with the 50 steps stored in it.
    path = Path(finished.checkpoint_path)
    losses_before = view.loss_plot.data()[1].copy()
    with qtbot.waitSignal(view.model_trained, timeout=120_000) as resumed:
        assert view.load_and_resume(path)
    wait_until_stopped(qtbot, view)
    assert resumed.args[0].step == 100
    new_path = Path(resumed.args[0].checkpoint_path)
    assert new_path != path and new_path.is_file()
    assert read_metadata(path)["step"] == 50 and read_metadata(new_path)["step"] == 100
    steps, losses, _ = view.loss_plot.data()
    assert list(steps) == list(range(1, 101)) and np.array_equal(losses[:50], losses_before)
    assert len(view.grad_plot) == 100


def test_resuming_a_run_leaves_the_form_as_the_user_had_it(qtbot, view, tmp_path):
    # A 2-D toy run without classes, saved as Train saves its runs.
    toy = tmp_path / "toy.safetensors"
    config = TrainConfig(dataset="toy:swiss_roll", steps=20, batch_size=16, preview_every=0, checkpoint_path=str(toy))
    for _ in train(config):
        pass
    # The user has set up a class-conditional Fashion-MNIST run, then resumes the toy run first.
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData("fashion_mnist"))
    view.conditional_check.setChecked(True)
    view.steps_spin.setValue(1234)
    with qtbot.waitSignal(view.model_trained, timeout=120_000) as resumed:
        assert view.load_and_resume(toy, overwrite=True)  # only when the user chooses it: over the loaded file
        # While it runs the form shows the resumed run's settings (locked).
        assert view.dataset_spec() == "toy:swiss_roll" and view.steps_spin.value() == 40
        assert not view.dataset_combo.isEnabled()
    wait_until_stopped(qtbot, view)
    assert resumed.args[0].metadata["class_names"] == []
    assert resumed.args[0].checkpoint_path == str(toy) and read_metadata(toy)["step"] == 40
    # Afterwards the next run is the one the user set up, classes included.
    after = view.config()
    assert after.dataset == "fashion_mnist" and after.class_conditional and after.steps == 1234
    assert view.conditional_check.isChecked() and view.dataset_combo.isEnabled()
    assert "your own settings again" in view.progress_label.text()
    # The status bar still describes the model that was trained, not the form.
    assert view.model_name() == "MLP (for 2-D points)" and view.dataset_name() != view.dataset_combo.currentText()


def test_shutdown_during_training_asks_and_leaves_no_thread_running(qtbot, view, monkeypatch):
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save]
    asked = []

    def question(parent, title, text, *args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr("desktop_app.views.train_view.QMessageBox.question", question)
    tiny(view, steps=1_000_000)
    view.start_button.click()
    qtbot.waitUntil(lambda: step_events(view) >= 3, timeout=90_000)
    thread, worker = view._thread, view._worker

    assert view.shutdown() is False  # Cancel: keep training
    assert thread.isRunning() and not worker.stop_requested
    assert "Save the training before closing?" in asked[0]

    assert view.shutdown() is True  # Save: stop, write the checkpoint, wait
    assert not thread.isRunning() and worker.done
    assert worker.finished_event is not None and Path(worker.finished_event.checkpoint_path).is_file()


def test_discard_at_shutdown_stops_without_saving(qtbot, view, monkeypatch):
    monkeypatch.setattr(
        "desktop_app.views.train_view.QMessageBox.question", lambda *a: QMessageBox.StandardButton.Discard
    )
    tiny(view, steps=1_000_000)
    view.start_button.click()
    qtbot.waitUntil(lambda: step_events(view) >= 3, timeout=90_000)
    thread, worker = view._thread, view._worker
    assert view.shutdown() is True
    assert not thread.isRunning() and worker.done
    assert worker.finished_event is None
    assert not view._checkpoint_path.exists()  # nothing was written


def test_a_corrupt_checkpoint_shows_a_message_and_the_view_stays_usable(qtbot, view, tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(
        "desktop_app.views.train_view.QMessageBox.warning", lambda parent, title, text, *a: messages.append(text)
    )
    bad = tmp_path / "damaged.safetensors"
    bad.write_bytes(b"this is not a checkpoint")
    assert view.load_and_resume(bad) is False
    assert len(messages) == 1 and "damaged.safetensors" in messages[0]
    assert not view.is_training() and view.start_button.isEnabled()
    tiny(view, steps=5)
    with qtbot.waitSignal(view.model_trained, timeout=120_000):
        view.start_button.click()
    wait_until_stopped(qtbot, view)


def test_a_bad_setting_is_explained_not_raised(qtbot, view, monkeypatch):
    messages = []
    monkeypatch.setattr(
        "desktop_app.views.train_view.QMessageBox.warning", lambda parent, title, text, *a: messages.append(text)
    )
    view.dataset_combo.setCurrentIndex(view.dataset_combo.findData("folder"))
    view.start_button.click()
    assert messages and "folder" in messages[0].lower()
    assert not view.is_training()


def test_closing_the_main_window_during_training_leaves_no_thread_running(qtbot, monkeypatch, user_data_home):
    from desktop_app.main_window import MainWindow

    monkeypatch.setattr(
        "desktop_app.views.train_view.QMessageBox.question", lambda *a: QMessageBox.StandardButton.Discard
    )
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    window.show_view("Train")
    view = window.view("Train")
    tiny(view, steps=1_000_000)
    view.start_button.click()
    qtbot.waitUntil(lambda: step_events(view) >= 2, timeout=90_000)
    thread, worker = view._thread, view._worker
    assert window.close()
    assert not thread.isRunning() and worker.done
