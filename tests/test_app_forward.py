"""The timeline scrubber and the Forward process view, driven as a student would drive them."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from core.diffusion import (  # noqa: E402
    make_schedule,  # noqa: E402
    q_sample,
    simulate_chain,
)
from desktop_app.views.forward_view import (  # noqa: E402
    SOURCE_POINTS,
    ForwardView,
    MarkovChainCache,
    load_image_source,
)
from desktop_app.widgets.timeline_scrubber import TimelineScrubber  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def view(qtbot, settings):
    settings.setValue("forward/T", 100)  # a short timeline keeps the Markov chain cheap
    view = ForwardView(settings)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    yield view
    view.shutdown()


@pytest.fixture
def messages(monkeypatch):
    """Record QMessageBox.warning calls instead of opening a blocking dialog."""
    shown = []
    monkeypatch.setattr(
        QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append((title, text)))
    )
    return shown


# --- the scrubber -------------------------------------------------------------------------------


def test_scrubber_keyboard_steps_and_jumps(qtbot):
    scrubber = TimelineScrubber()
    qtbot.addWidget(scrubber)
    scrubber.setRange(0, 99)
    seen = []
    scrubber.valueChanged.connect(seen.append)
    qtbot.keyClick(scrubber, Qt.Key.Key_Right)
    qtbot.keyClick(scrubber, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert scrubber.value() == 11
    qtbot.keyClick(scrubber, Qt.Key.Key_Left)
    assert scrubber.value() == 10
    qtbot.keyClick(scrubber, Qt.Key.Key_End)
    assert scrubber.value() == 99
    qtbot.keyClick(scrubber, Qt.Key.Key_Right)  # clamped at the end: no signal
    qtbot.keyClick(scrubber, Qt.Key.Key_Home)
    assert seen == [1, 11, 10, 99, 0]
    qtbot.keyClick(scrubber, Qt.Key.Key_Space)
    assert scrubber.isPlaying()
    qtbot.keyClick(scrubber, Qt.Key.Key_Space)
    assert not scrubber.isPlaying()


def test_scrubber_keys_work_when_the_slider_has_focus(qtbot):
    scrubber = TimelineScrubber()
    qtbot.addWidget(scrubber)
    scrubber.setRange(0, 50)
    slider = scrubber._slider
    qtbot.keyClick(slider, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert scrubber.value() == 10
    assert scrubber._spin.value() == 10


def test_scrubber_reversed_and_label(qtbot):
    scrubber = TimelineScrubber()
    qtbot.addWidget(scrubber)
    scrubber.setRange(0, 20)
    scrubber.setValue(10)
    scrubber.setReversed(True)
    scrubber.setLabelFunction(lambda i: f"step {i} / t = {20 - i}")
    qtbot.keyClick(scrubber, Qt.Key.Key_Right)  # → moves right on screen, towards lo when reversed
    assert scrubber.value() == 9
    assert scrubber.labelText() == "step 9 / t = 11"
    with pytest.raises(ValueError):
        scrubber.setRange(5, 1)
    # The label's size is fixed (no window relayout per step) and follows a longer range and a larger font.
    label = scrubber._label
    assert label.minimumSize() == label.maximumSize()
    narrow = label.width()
    scrubber.setRange(0, 10_000)
    assert label.maximumWidth() > narrow
    assert label.fontMetrics().horizontalAdvance(scrubber.labelText()) <= label.maximumWidth()
    wide, font = label.maximumWidth(), scrubber.font()
    font.setPointSizeF(font.pointSizeF() * 2)
    scrubber.setFont(font)
    assert label.maximumWidth() > wide and label.minimumSize() == label.maximumSize()


def test_scrubber_plays_to_the_end_and_loops(qtbot):
    scrubber = TimelineScrubber()
    qtbot.addWidget(scrubber)
    scrubber.setRange(0, 30)
    scrubber.setStepsPerSecond(1000)
    with qtbot.waitSignal(scrubber.playingChanged, timeout=3000) as stopped:
        scrubber.play()
        qtbot.waitUntil(lambda: not scrubber.isPlaying(), timeout=3000)
    assert stopped.args == [True] or scrubber.value() == 30
    assert scrubber.value() == 30 and not scrubber.isPlaying()

    scrubber.setLoop(True)
    scrubber.setValue(20)
    seen = []
    scrubber.valueChanged.connect(seen.append)
    scrubber.play()
    qtbot.waitUntil(lambda: any(b < a for a, b in zip(seen, seen[1:], strict=False)), timeout=3000)
    scrubber.pause()
    assert 0 in seen  # wrapped around to the start
    assert not scrubber.isPlaying()


# --- the Forward process view -------------------------------------------------------------------


def _expected_closed_form(view, t):
    schedule = make_schedule(view.kind_combo.currentText(), view.T_spin.value())
    eps = torch.randn(view.source.x0.shape, generator=torch.Generator().manual_seed(view.seed_spin.value()))
    return q_sample(schedule, view.source.x0, t, eps).numpy(), schedule


def test_scrubbing_changes_image_and_numbers(qtbot, view):
    assert view.schedule.num_timesteps == 100
    view.scrubber.setValue(5)
    before = view.xt_panel.last_picture.copy()
    view.scrubber.setFocus()
    qtbot.keyClick(view.scrubber, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    t = view.current_t()
    assert t == 15
    after = view.xt_panel.last_picture
    assert not np.allclose(before, after)

    expected, schedule = _expected_closed_form(view, t)
    np.testing.assert_allclose(view.current_frame()["x_t"], expected, atol=1e-5)
    signal = view.signal_panel.last_picture  # a grid of √ᾱ_t·x_0: its brightest pixel is √ᾱ_t·max(x_0)
    assert signal.max() == pytest.approx(float(schedule.sqrt_alphas_cumprod[t]) * float(view.source.x0.max()), rel=1e-5)
    assert view.numbers["alpha_bar"].text() == f"{float(schedule.alphas_cumprod[t]):.5f}"
    assert view.numbers["beta"].text() == f"{float(schedule.betas[t]):.5f}"
    snr_db = 10 * np.log10(float(schedule.snr[t]))
    assert view.numbers["snr_db"].text().startswith(f"{snr_db:+.2f} dB")


def test_schedule_and_seed_controls_change_the_frame(qtbot, view):
    view.scrubber.setValue(50)
    linear = view.current_frame()["x_t"]
    view.kind_combo.setCurrentText("cosine")
    cosine = view.current_frame()["x_t"]
    expected, _ = _expected_closed_form(view, 50)
    np.testing.assert_allclose(cosine, expected, atol=1e-5)
    assert not np.allclose(linear, cosine)
    view.new_noise_button.click()
    assert view.seed_spin.value() == 1
    expected, _ = _expected_closed_form(view, 50)
    np.testing.assert_allclose(view.current_frame()["x_t"], expected, atol=1e-5)


def test_markov_chain_mode_matches_simulate_chain_and_has_the_right_statistics(qtbot, view):
    schedule = view.schedule
    t = 60
    view.scrubber.setValue(t)
    closed = view.current_frame()["x_t"]
    view.set_chain_mode(True)
    chain = view.current_frame()["x_t"]
    assert not np.allclose(closed, chain)
    generator = torch.Generator().manual_seed(view.seed_spin.value())
    expected = simulate_chain(schedule, view.source.x0, generator=generator, timesteps=[t])[t].numpy()
    np.testing.assert_array_equal(chain, expected)

    x0 = view.source.x0.numpy()
    a, s = float(schedule.sqrt_alphas_cumprod[t]), float(schedule.sqrt_one_minus_alphas_cumprod[t])
    for x_t in (closed, chain):  # both are draws from q(x_t | x_0) = N(√ᾱ x_0, (1 − ᾱ) I)
        residual = (x_t - a * x0) / s
        assert abs(residual.mean()) < 0.05
        assert residual.std() == pytest.approx(1.0, abs=0.05)
    # The ε panel in chain mode shows exactly that standardised residual.
    np.testing.assert_allclose(view.current_frame()["eps"], (chain - a * x0) / s, atol=1e-4)


def test_chain_cache_with_keyframes_reproduces_the_chain_in_any_order():
    schedule = make_schedule("linear", 50)
    x0 = torch.linspace(-1, 1, 12).reshape(1, 1, 3, 4)
    cache = MarkovChainCache(schedule, x0, seed=7, budget_bytes=x0.numel() * 4 * 8)  # room for ~8 states
    assert cache.keyframe_every > 1
    full = simulate_chain(schedule, x0, generator=torch.Generator().manual_seed(7))
    for t in (30, 3, 49, 48, 0, 31, 17):
        np.testing.assert_array_equal(cache.get(t).numpy(), full[t].numpy())


def test_point_cloud_source_shows_a_scatter_of_x_t(qtbot, view):
    view.source_combo.setCurrentText(SOURCE_POINTS)
    assert view.source.is_points and view.display_stack.currentIndex() == 1
    view.scrubber.setValue(30)
    expected, _ = _expected_closed_form(view, 30)
    shown = np.column_stack(view.points_xt_item.getData())
    np.testing.assert_allclose(shown, expected, atol=1e-5)


def test_a_non_image_file_shows_a_message_and_the_view_stays_usable(qtbot, view, messages, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a picture")
    assert view.open_image(text_file) is False
    assert len(messages) == 1 and "notes.txt" in messages[0][1] and "not an image" in messages[0][1]
    view.scrubber.setValue(40)  # still scrubbing the previous source
    assert view.numbers["t"].text().startswith("40")

    photo = tmp_path / "photo.jpg"
    pixels = np.random.default_rng(0).integers(0, 255, (300, 600, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(photo)
    assert view.open_image(photo) is True
    assert tuple(view.source.x0.shape) == (1, 3, 128, 256)  # downsized to MAX_COMPUTE_SIDE, aspect kept
    assert view.source_combo.currentText() == "Image: photo.jpg"
    assert view.xt_panel.last_picture.shape == (128, 256, 3)
    assert len(messages) == 1


def test_load_image_source_keeps_grayscale_and_maps_pixels_to_minus_one_one(tmp_path):
    path = tmp_path / "gray.png"
    Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).save(path)
    source = load_image_source(path)
    assert tuple(source.x0.shape) == (1, 1, 2, 2)
    np.testing.assert_allclose(source.x0[0, 0].numpy(), [[-1, 1], [1, -1]])


def test_at_the_last_step_x_t_and_noise_look_the_same_on_one_stated_scale(qtbot, view):
    view.kind_combo.setCurrentIndex(view.kind_combo.findText("cosine"))  # ᾱ_{T−1} ≈ 0: x_{T−1} ≈ ε
    assert view.schedule.alphas_cumprod[-1] < 1e-3
    last = view.schedule.num_timesteps - 1
    view.scrubber.setValue(last)
    frame = view.current_frame()
    assert np.abs(frame["x_t"] - frame["eps"]).max() < 0.05  # x_T−1 ≈ ε numerically…
    xt_rgb = view.xt_panel.displayed_rgb().astype(int)
    eps_rgb = view.noise_panel.displayed_rgb().astype(int)
    assert np.abs(xt_rgb - eps_rgb).mean() < 2  # …and on screen: the same grey for the same value
    assert "−1 black" in view.frame_panel.levels_label.text() and view.frame_panel.levels_label.isVisible()


def test_markov_chain_mode_shows_the_chain_s_equation_and_names_its_noise(qtbot, view):
    assert "ε" in view.equation.text() and view.noise_panel.title() == "noise ε"
    view.set_chain_mode(True)
    assert "x<sub>t−1</sub>" in view.equation.text() and "z<sub>t</sub>" in view.equation.text()
    assert "ε" not in view.equation.text() and "eq. 2" in view.equation.toolTip()
    assert view.noise_panel.title().startswith("chain noise") and "z_1" in view.noise_panel.toolTip()
    view.set_chain_mode(False)
    assert "ᾱ" in view.equation.text() and view.noise_panel.title() == "noise ε"
