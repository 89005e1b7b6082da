"""The Score & likelihood view, driven as a person would: drag t, run Langevin, draw paths, compute the NLL."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSlider  # noqa: E402

from desktop_app.views.score_view import ScoreView  # noqa: E402


@pytest.fixture
def view(qtbot, tmp_path):
    view = ScoreView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 720)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.shutdown()


def _drag(slider, to_fraction: float) -> None:
    """Press the slider's handle, move it with the button held, release it there."""
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    handle = slider.style().subControlRect(
        QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, slider
    )
    start = QPointF(handle.center())
    end = QPointF(slider.width() * to_fraction, start.y())
    left, none = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for kind, pos, buttons in (
        (QEvent.Type.MouseButtonPress, start, left),
        (QEvent.Type.MouseMove, (start + end) / 2, left),
        (QEvent.Type.MouseMove, end, left),
        (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton),
    ):
        event = QMouseEvent(kind, pos, slider.mapToGlobal(pos), left, buttons, none)
        QApplication.sendEvent(slider, event)


def test_dragging_t_redraws_both_fields(qtbot, view):
    assert view.model is not None
    qtbot.waitUntil(lambda: view.drawn_t == view.scrubber.value(), timeout=30_000)  # computed off the GUI thread
    assert view.field_arrow_count() == 32 * 32
    arrows_before = view.learned_plot.arrows.getData()[0].copy()
    exact_before = view.exact_plot.arrows.getData()[0].copy()
    title_before = view.exact_plot.plotItem.titleLabel.text
    _drag(view.scrubber._slider, 0.7)
    t = view.scrubber.value()
    assert t > 500  # the handle went where it was dragged
    qtbot.waitUntil(lambda: view.drawn_t == t, timeout=30_000)  # the newest t is drawn last
    assert f"t = {t}, σ_t = " in view.learned_plot.plotItem.titleLabel.text
    assert not np.allclose(view.learned_plot.arrows.getData()[0], arrows_before)
    assert not np.allclose(view.exact_plot.arrows.getData()[0], exact_before)
    title = view.exact_plot.plotItem.titleLabel.text
    assert title != title_before and "‖ε̂_θ − ε*‖ mean" in title  # the error's numbers at the new t
    assert "‖ε̂_θ − ε*‖" in view.info.text() and "arrows lie beyond the data" in view.info.text()
    heat = view.exact_plot.heat.image
    assert heat is not None and heat.shape == (32, 32) and np.isfinite(heat).all()
    samples = view.learned_plot.samples.getData()[0]
    assert len(samples) == 300 and np.isfinite(samples).all()
    # Going back to the first t draws from the cache at once, the very arrows it had.
    with qtbot.waitSignal(view.field_drawn, timeout=1_000) as drawn:
        view.scrubber.setValue(100)
    assert drawn.args == [100] and np.array_equal(view.learned_plot.arrows.getData()[0], arrows_before)


def test_nll_run_finishes_with_a_number_and_a_density(qtbot, view):
    view.tabs.setCurrentWidget(view.likelihood)
    panel = view.likelihood
    panel.steps.setValue(2)  # a coarse ODE: the test checks the wiring, tests/test_likelihood.py the maths
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled()
    assert panel.result is not None and panel.result.nfe == 8
    assert "NLL of 500 held-out points" in panel.message.text() and "bits/dim" in panel.message.text()
    assert panel.progress.value() == 2
    density = panel.plot.heat.image
    assert density.shape == (24, 24) and np.isfinite(density).all()
    assert density.max() > density.min()
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_nll_can_be_cancelled(qtbot, view):
    panel = view.likelihood
    panel.steps.setValue(200)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.message.text() == "Cancelled." and panel.result is None


def test_langevin_and_paths_runs_draw(qtbot, view):
    particles = view.particles
    particles.steps.setValue(20)
    particles.mode.setCurrentIndex(1)  # annealed
    with qtbot.waitSignal(particles.run_finished, timeout=60_000):
        qtbot.mouseClick(particles.run_button, Qt.MouseButton.LeftButton)
    assert particles.frames.shape == (21, 400, 2) and np.isfinite(particles.frames).all()
    assert particles.scrubber.maximum() == 20
    particles.scrubber.setValue(20)
    np.testing.assert_array_equal(particles.plot.points(), particles.frames[20].astype(np.float32))

    paths = view.paths
    paths.steps.setValue(10)
    with qtbot.waitSignal(paths.run_finished, timeout=60_000):
        qtbot.mouseClick(paths.run_button, Qt.MouseButton.LeftButton)
    sde, ode = paths.paths
    assert sde.shape == ode.shape == (11, 24, 2)
    np.testing.assert_array_equal(sde[0], ode[0])  # the same starts
    assert np.abs(sde[-1] - ode[-1]).mean() > 0.01  # but the SDE's noise takes them elsewhere


def test_vlb_of_test_images_shows_bits_per_dim_and_the_terms_over_t(qtbot, view):
    view.pages.setCurrentWidget(view.images)
    panel = view.images.vlb
    panel.images.setValue(2)
    panel.strata.setValue(3)  # t = 0…15 exactly and three strata: 19 passes of the U-Net on two images
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        assert panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    result, summary = panel.result, panel.summary
    assert result is not None and result.images == 2 and len(result.timesteps) == 19
    assert panel.progress.value() == panel.progress.maximum() == 19
    assert f"VLB {summary.total:.3f} bits/dim over 2 test images" in panel.message.text()
    assert "L_0 (decoder): " in panel.message.text() and "3.70" in panel.message.text()
    assert 0.5 < summary.total < 20 and summary.decoder > 0  # a trained model; tests/test_held_out_vlb.py: the sums
    ts, values = panel._terms.xData, panel._terms.yData  # the data before the log axes' transform
    assert len(ts) == 18 and ts.min() == 1 and np.isfinite(values).all()
    assert panel.decoder_bits == pytest.approx(summary.decoder) and panel._decoder.isVisible()
    assert panel._decoder.label.toPlainText() == f"L_0 (decoder) = {summary.decoder:.3f}"
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_vlb_can_be_cancelled(qtbot, view):
    panel = view.images.vlb
    panel.images.setValue(50)
    panel.strata.setValue(0)  # every t: minutes, so Cancel must end it
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.message.text() == "Cancelled." and panel.result is None


def test_ideal_vs_learned_denoiser_draws_the_gap_over_t(qtbot, view):
    view.pages.setCurrentWidget(view.images)
    panel = view.images.gap
    view.images.tabs.setCurrentWidget(panel)
    panel.images.setValue(2)
    panel.subset.setValue(300)
    panel.timesteps.setValue(4)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    result = panel.result
    assert result is not None and result.timesteps.tolist() == [0, 111, 444, 999] and result.reference_size == 300
    assert panel.progress.value() == 8
    for curve in panel.curves.values():
        ts, gap = curve.getData()
        assert ts.tolist() == [0, 111, 444, 999] and np.isfinite(gap).all() and (gap >= 0).all()
    # A test image at t = 0: the ideal denoiser returns its nearest training image, the network (nearly) itself.
    assert result.ideal_error["test images (never seen)"][0] > 2 * result.learned_error["test images (never seen)"][0]
    assert "memorising" in panel.message.text()
    panel.images.setValue(400)  # more images than the subset holds: said in words, nothing runs
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert "at most as many images" in panel.message.text() and panel.run_button.isEnabled()


def test_nearest_neighbours_of_generated_images_in_both_spaces(qtbot, view):
    view.pages.setCurrentWidget(view.images)
    panel = view.images.neighbours
    view.images.tabs.setCurrentWidget(panel)
    panel.count.setValue(2)
    panel.k.setValue(2)
    panel.searched.setValue(500)
    panel.steps.setValue(3)
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    run = panel.run
    assert run is not None and run.generated.shape == (2, 1, 32, 32) and run.labels == [0, 1]
    assert run.training.shape[0] == 500 and run.training_features.shape == (500, 128)
    pixel = run.study.generated_pixel
    assert pixel.indices.shape == (2, 2) == run.study.generated_feature.indices.shape
    # The nearest training image by pixels really is the closest of the 500, at the distance shown.
    flat = run.training.flatten(1).double().numpy()
    for row in range(2):
        d = np.linalg.norm(flat - run.generated[row].reshape(1, -1).astype(np.float64), axis=1)
        assert int(pixel.indices[row, 0]) == int(d.argmin())
        assert float(pixel.distances[row, 0]) == pytest.approx(float(d.min()), rel=1e-5)
    captions = [w.text() for w in panel.grid.cells if hasattr(w, "text")]
    assert f"{float(pixel.distances[0, 0]):.2f}" in captions and "Trouser" in captions
    assert "Median distance to the nearest of 500 training images" in panel.message.text()
    features = run.training_features
    with qtbot.waitSignal(panel.run_finished, timeout=120_000):  # a second run reuses the training features
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.run.training_features is features and panel.run_button.isEnabled()


def test_closing_while_a_field_is_computed_ends_the_worker_for_good(view):
    view.scrubber.setValue(700)  # not cached: the worker thread computes it
    assert view.frames.busy
    view.shutdown()
    assert not view.frames.busy
    view.frames.request(701)  # a late slider event after closing starts nothing
    assert not view.frames.busy
