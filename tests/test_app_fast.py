"""The Fast sampling view: train flow matching live, compare with diffusion, reflow, distil, stop."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402

from desktop_app.views.fast_view import FastView  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


@pytest.fixture
def view(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    view = FastView(settings)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.on_shown()
    view.compare_points, view.reflow_pairs = 400, 2000  # smaller than the app's, for a quick test
    yield view
    view.shutdown()  # never leave a thread behind, whatever the test did


def _click(qtbot, button):
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_train_compare_then_reflow_straightens_and_distil_fills_the_plot(qtbot, view):
    controls = view.controls
    assert not controls.reflow_button.isEnabled()  # nothing to reflow yet
    controls.train_steps.setValue(50)
    with qtbot.waitSignal(view.measured, timeout=120_000) as done:
        _click(qtbot, controls.train_button)
        assert not controls.train_button.isEnabled() and controls.stop_button.isEnabled()
    assert done.args == ["compare"]
    steps, diffusion = view.quality.series("diffusion")
    assert steps == list(map(float, range(1, 11))) and len(view.quality.series("flow")[1]) == 10
    assert diffusion[0] > 10 * diffusion[-1]  # one DDIM step is far worse than ten
    assert "S = " in view.transport.diffusion_label.text()
    assert "chord/length" in view.transport.flow_label.text()
    assert view.transport.flow_plot.points().shape == (400, 2)
    first = float(view.transport.flow_label.text().split("S = ")[1].split(" ")[0])

    controls.train_steps.setValue(50)
    with qtbot.waitSignal(view.measured, timeout=120_000) as done:
        _click(qtbot, controls.reflow_button)
    assert done.args == ["reflow"]
    assert len(view.quality.series("reflow")[1]) == 10
    reflowed = float(view.transport.flow_label.text().split("S = ")[1].split(" ")[0])
    assert reflowed < first  # the point of reflow: straighter paths
    assert "Reflow" in view.transport.flow_plot.plotItem.titleLabel.text

    controls.teacher_steps.setCurrentIndex(controls.teacher_steps.findData(4))
    controls.round_steps.setValue(20)
    with qtbot.waitSignal(view.measured, timeout=120_000) as done:
        _click(qtbot, controls.distill_button)
    assert done.args == ["distill"]
    steps, mmd = view.quality.series("distilled")
    assert steps == [2.0, 1.0] and all(np.isfinite(mmd))
    # the last round's student beside the original teacher, from the same x_T
    assert view.transport.flow_plot.plotItem.titleLabel.text == "Distilled student, 1 step"
    assert view.transport.diffusion_plot.plotItem.titleLabel.text == "Teacher, DDIM-1"
    assert view.transport.flow_plot.points().shape == view.transport.diffusion_plot.points().shape == (400, 2)
    assert "student" in controls.status.text() and controls.train_button.isEnabled()


def test_stop_ends_training_and_keeps_nothing_half_trained(qtbot, view):
    view.controls.train_steps.setValue(5000)
    with qtbot.waitSignal(view._job.finished, timeout=60_000):
        _click(qtbot, view.controls.train_button)
        qtbot.waitUntil(lambda: view.controls.progress.value() > 0, timeout=60_000)
        _click(qtbot, view.controls.stop_button)
    assert not view.is_busy()
    assert "Stopped" in view.controls.status.text()
    assert not view.controls.reflow_button.isEnabled() and view.controls.train_button.isEnabled()
    assert view.quality.series("flow") == ([], [])


def test_changing_the_toy_resets_the_comparison(qtbot, view):
    view.quality.set_series("flow", [1, 2], [0.5, 0.1])
    combo = view.controls.dataset_combo
    with qtbot.waitSignal(view.status_changed) as changed:
        combo.setCurrentIndex(combo.findData("eight_gaussians"))
    assert "8 Gaussians" in changed.args[0]
    assert view.quality.series("flow") == ([], [])
    assert view.dataset_name() == "8 Gaussians"


def test_learned_variance_trains_and_draws_sigma_vlb_and_few_step_quality(qtbot, view):
    controls = view.controls
    controls.variance_steps.setValue(60)
    view.variance_options = {"vlb_points": 32, "steps": (5, 20), "sigma_points": 40}
    with qtbot.waitSignal(view.measured, timeout=180_000) as done:
        _click(qtbot, controls.variance_button)
        assert view.tabs.currentWidget() is view.variance and not controls.distill_button.isEnabled()
    assert done.args == ["variance"]
    result = view.variance.comparison()
    x, sigma = view.variance.sigma_curves["learned"].getData()
    assert len(x) == len(result.timesteps) > 20 and np.all(np.isfinite(sigma))
    # the learned σ_t lies between the two fixed ones (v ∈ [0, 1] after so little training)
    lo = np.minimum(result.sigma["posterior"], result.sigma["beta"])
    hi = np.maximum(result.sigma["posterior"], result.sigma["beta"])
    assert np.all(result.sigma["learned"] >= 0.9 * lo) and np.all(result.sigma["learned"] <= 1.1 * hi)
    curve = view.variance.mmd_curves["posterior"]
    assert list(curve.xData) == [5.0, 20.0] and np.all(curve.yData > 0)
    assert "bits/dim" in view.variance.summary.text() and "fixed β̃_t" in view.variance.summary.text()
    assert "with Σ_θ" in controls.status.text() and controls.variance_button.isEnabled()


def test_consistency_distillation_puts_a_one_step_student_beside_the_teacher_and_on_the_plot(qtbot, view):
    controls = view.controls
    controls.consistency_steps.setValue(40)
    with qtbot.waitSignal(view.measured, timeout=180_000) as done:
        _click(qtbot, controls.consistency_button)
        assert not controls.variance_button.isEnabled() and controls.stop_button.isEnabled()
    assert done.args == ["consistency"]
    steps, mmd = view.quality.series("consistency")
    assert steps == [1.0, 2.0, 4.0, 8.0] and all(np.isfinite(mmd))
    assert view.transport.flow_plot.plotItem.titleLabel.text == "Consistency model, 1 step"
    assert view.transport.diffusion_plot.plotItem.titleLabel.text == "Teacher, DDIM-1"
    assert view.transport.flow_plot.points().shape == (400, 2)
    assert "Consistency model: MMD²" in controls.status.text() and controls.consistency_button.isEnabled()
