"""The Guidance view, driven as a person would: run step by step and scrub, run a sweep, cancel one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from core.models.noisy_classifier import NoisyClassifier, NoisyClassifierConfig
from desktop_app.views.guidance_view import FIRST_RUN_STEPS, TRACE_IMAGES, GuidanceView

torch.set_num_threads(1)
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path):
    view = GuidanceView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    yield view
    view.shutdown()


@pytest.fixture
def messages(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append(text)))
    return shown


def _choose_model(view, stem):
    combo = view.setup.model_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    combo.setCurrentIndex(next(i for i, label in enumerate(labels) if label.startswith(stem)))


def _run(qtbot, view, button):
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_offers_every_model_conditional_first_and_starts_on_fashion_mnist(view):
    combo = view.setup.model_combo
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels[combo.currentIndex()].startswith("fmnist_unet")
    assert any(label.startswith("toy_eight_gaussians") for label in labels)
    unconditional = [i for i, label in enumerate(labels) if label.startswith(("toy_checkerboard", "toy_swiss_roll"))]
    conditional = [i for i, label in enumerate(labels) if label.startswith(("fmnist_unet", "toy_eight_gaussians"))]
    assert unconditional and max(conditional) < min(unconditional)  # those that CFG can use come first
    assert view.setup.class_combo.count() == 10


def test_step_by_step_images_and_scrubbing(qtbot, view):
    view.setup.steps_spin.setValue(4)
    view.setup.scale_spin.setValue(4.0)
    view.setup.class_combo.setCurrentIndex(7)  # Sneaker
    _run(qtbot, view, view.setup.run_button)
    frames = view.frames()
    assert len(frames) == 4 and [f.index for f in frames] == [0, 1, 2, 3]
    assert view.scrubber.value() == 3  # the view followed the run to its end
    view.scrubber.setValue(1)
    panel = view.components.panels
    shown = panel["eps_guided"].last_picture
    assert shown is not None and panel["x0_cond"].last_picture is not None
    f = frames[1]
    assert f.eps_guided.shape == (TRACE_IMAGES, 1, 32, 32)
    np.testing.assert_allclose(f.eps_guided, f.eps_uncond + 4.0 * (f.eps_cond - f.eps_uncond), atol=1e-4)
    assert "Step 2 of 4" in view.components.caption.text() and "w = 4" in view.components.caption.text()


def test_interval_and_arrows_on_the_2d_cloud(qtbot, view):
    _choose_model(view, "toy_eight_gaussians")
    assert view.components.stack.currentIndex() == 1  # the point cloud page
    view.setup.steps_spin.setValue(6)
    view.setup.scale_spin.setValue(3.0)
    view.setup.interval_check.setChecked(True)
    view.setup.t_lo_spin.setValue(300)
    view.setup.t_hi_spin.setValue(700)
    _run(qtbot, view, view.setup.run_button)
    frames = view.frames()
    inside = [i for i, f in enumerate(frames) if f.guided]
    outside = [i for i, f in enumerate(frames) if not f.guided]
    assert inside and outside
    view.scrubber.setValue(inside[0])
    gx, gy = view.components.line_data("guided")
    cx, cy = view.components.line_data("cond")
    assert len(gx) > 0 and np.abs(gx - cx).max() > 1e-3  # inside: ε̃ ≠ ε_c
    assert "outside the guidance interval" not in view.components.caption.text()
    view.scrubber.setValue(outside[0])
    gx, gy = view.components.line_data("guided")
    cx, cy = view.components.line_data("cond")
    np.testing.assert_allclose(gx, cx, atol=1e-5)  # outside: guidance is off, ε̃ = ε_c
    assert "outside the guidance interval" in view.components.caption.text()


def test_sweep_shows_grid_and_curves(qtbot, view):
    view.tabs.setCurrentIndex(1)
    view.sweep.scales_edit.setText("0, 4")
    view.sweep.per_class_spin.setValue(2)
    view.sweep.steps_spin.setValue(3)
    _run(qtbot, view, view.sweep.run_button)
    result = view.sweep_result
    assert result is not None and result.scales == (0.0, 4.0)
    picture = view.grid_picture()
    # 10 class rows × 2 scale columns of 32-pixel tiles with 2-pixel gaps
    assert picture.shape[:2] == (10 * 34 - 2, 2 * 34 - 2)
    x, y = view.sweep.curves["class_accuracy"].getData()
    assert list(x) == [0.0, 4.0] and y[1] > y[0]  # guidance raises class accuracy
    assert view.sweep.progress.value() == view.sweep.progress.maximum()
    assert "w = 4" in view.sweep.summary.text()
    assert view.sweep.run_button.isEnabled() and not view.sweep.cancel_button.isEnabled()


def test_sweep_cancel(qtbot, view):
    view.sweep.scales_edit.setText("0, 8")
    view.sweep.per_class_spin.setValue(2)
    view.sweep.steps_spin.setValue(200)
    with qtbot.waitSignal(view.sweep.progress.valueChanged, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.sweep.run_button, Qt.MouseButton.LeftButton)
    assert view.is_running() and view.sweep.cancel_button.isEnabled()
    with qtbot.waitSignal(view._worker.cancelled, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.sweep.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.is_running(), timeout=RUN_TIMEOUT_MS)
    assert view.sweep_result is None
    assert view.sweep.progress.value() < view.sweep.progress.maximum()
    assert "Cancelled" in view.status_label.text()
    assert view.sweep.run_button.isEnabled()


def test_bad_input_gives_a_message(view, messages):
    view.sweep.scales_edit.setText("1, lots")
    view.sweep.run_button.click()
    assert messages and "numbers separated by commas" in messages[-1]
    view.sweep.scales_edit.setText("1, 70")
    view.sweep.run_button.click()
    assert "between 0 and 50" in messages[-1]
    _choose_model(view, "toy_two_moons")
    view.sweep.scales_edit.setText("0, 2")
    view.sweep.run_button.click()
    assert "Fashion-MNIST" in messages[-1]
    view.setup.interval_check.setChecked(True)
    view.setup.t_lo_spin.setValue(800)
    view.setup.t_hi_spin.setValue(100)
    view.setup.run_button.click()
    assert "start before it ends" in messages[-1]
    assert not view.is_running()


# --- classifier guidance, the side-by-side comparison, the first run ------------------------------


def test_first_show_runs_a_short_trace_by_itself(qtbot, view):
    assert not view.frames() and view.components.panels["x_t"].last_picture is None
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        view.on_shown()  # what the main window calls when the view becomes current
    assert len(view.frames()) == FIRST_RUN_STEPS  # short: something to look at within a second or two
    assert view.components.panels["eps_guided"].last_picture is not None
    view.on_shown()  # only the first time
    assert not view.is_running()


def test_first_run_can_be_cancelled(qtbot, view):
    view.on_shown()
    assert view.is_running() and view.setup.cancel_button.isEnabled()
    with qtbot.waitSignal(view._worker.cancelled, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.setup.cancel_button, Qt.MouseButton.LeftButton)  # before the U-Net's 10 steps are done
    qtbot.waitUntil(lambda: not view.is_running(), timeout=RUN_TIMEOUT_MS)
    assert len(view.frames()) < FIRST_RUN_STEPS and view.setup.run_button.isEnabled()
    assert "Cancelled" in view.status_label.text()


def test_classifier_guidance_step_by_step_on_images(qtbot, view):
    view.setup.set_mode("classifier")
    assert view.setup.scale_label.text() == "s" and view.setup.class_combo.count() == 10
    assert "∇log p" in view.components.panels["eps_difference"].title()
    view.setup.steps_spin.setValue(4)
    view.setup.scale_spin.setValue(3.0)
    view.setup.class_combo.setCurrentIndex(1)  # Trouser
    _run(qtbot, view, view.setup.run_button)
    frames = view.frames()
    assert len(frames) == 4
    f = frames[2]
    assert f.guided and np.abs(f.eps_difference).max() > 1e-3  # the classifier's gradient is not zero
    np.testing.assert_allclose(f.eps_guided, f.eps_uncond + 3.0 * f.eps_difference, atol=1e-4)
    view.scrubber.setValue(2)
    assert view.components.panels["eps_difference"].last_picture is not None
    assert "s = 3" in view.components.caption.text()
    assert "\u0303" not in view.components.caption.text() + view.status_label.text()  # no combining tilde


def test_classifier_gradient_arrows_on_the_2d_cloud(qtbot, view):
    _choose_model(view, "toy_eight_gaussians")
    view.setup.set_mode("classifier")
    assert view.setup.class_combo.count() == 8
    view.setup.steps_spin.setValue(6)
    _run(qtbot, view, view.setup.run_button)
    view.scrubber.setValue(3)
    x, y = view.components.line_data("gradient")
    assert len(x) > 0 and np.hypot(x[1::2] - x[0::2], y[1::2] - y[0::2]).max() > 0.1
    view.setup.set_mode("cfg")
    assert len(view.components.line_data("gradient")[0]) == 0


def test_classifier_guidance_within_an_interval(qtbot, view):
    _choose_model(view, "toy_eight_gaussians")
    view.setup.set_mode("classifier")
    assert view.setup.interval_check.isEnabled()
    view.setup.steps_spin.setValue(6)
    view.setup.interval_check.setChecked(True)
    view.setup.t_lo_spin.setValue(300)
    view.setup.t_hi_spin.setValue(700)
    _run(qtbot, view, view.setup.run_button)
    flags = [(f.guided, 300 <= f.t <= 700) for f in view.frames()]
    assert all(guided == inside for guided, inside in flags)
    assert {True, False} <= {guided for guided, _ in flags}


@pytest.mark.parametrize("stem", ["fmnist_unet", "toy_eight_gaussians"])
def test_side_by_side_from_the_same_start(qtbot, view, stem):
    _choose_model(view, stem)
    view.tabs.setCurrentIndex(2)
    view.setup.steps_spin.setValue(3)
    _run(qtbot, view, view.compare.run_button)
    result = view.side_by_side_result
    assert result is not None and result.cfg_samples.shape == result.classifier_samples.shape
    assert not np.allclose(result.cfg_samples, result.classifier_samples)  # two different guidances
    if stem == "fmnist_unet":
        assert view.compare.gradient_panel.last_picture is not None
        assert view.compare.classifier_panel.last_picture is not None
    else:
        assert len(view.compare.arrow_data()[0]) > 0
    assert view.compare.progress.value() == view.compare.progress.maximum() == 6


def test_guidance_bad_input_is_a_message(qtbot, view, messages):
    _choose_model(view, "toy_swiss_roll")  # unconditional, and no classifier is shipped for it
    assert "trained without classes" in view.components.caption.text()
    view.setup.run_button.click()
    assert "classifier-free guidance needs a class-conditional model" in messages[-1]
    view.setup.set_mode("classifier")
    view.setup.run_button.click()
    assert "no noise-conditional classifier" in messages[-1]
    assert not view.is_running()

    _choose_model(view, "toy_two_moons")
    with pytest.raises(ValueError, match="1×32×32 images, but this model makes 2-D points"):
        view.use_classifier(NoisyClassifier(NoisyClassifierConfig(num_classes=2)))
    other = NoisyClassifier(NoisyClassifierConfig(arch="mlp", num_classes=2))
    other.class_names = ["cats", "dogs"]
    with pytest.raises(ValueError, match="not on this model's classes"):
        view.use_classifier(other)
    broken = NoisyClassifier(NoisyClassifierConfig(arch="mlp", num_classes=2))
    broken.class_names = ["upper moon", "lower moon"]
    with torch.no_grad():
        for p in broken.parameters():
            p.fill_(float("nan"))
    view.use_classifier(broken)
    view.setup.steps_spin.setValue(3)
    _run(qtbot, view, view.setup.run_button)
    assert "NaN or infinite" in messages[-1] and "Stopped" in view.status_label.text()
