"""The Latent diffusion view's Text to image tab with a tiny random model: prompts, a run, the scrubber, attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from core.diffusion.text_to_image import TextToImageStep
from core.io.text_to_image_file import make_tiny_text_to_image
from desktop_app.views import latent_view
from desktop_app.views.latent import files, text_panel
from desktop_app.views.latent.attention_panel import HEAT_RGB, IMAGE_WEIGHT, attention_overlay


@pytest.fixture(scope="module")
def text_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("text")
    make_tiny_text_to_image(folder)
    return folder


@pytest.fixture
def tab(qtbot, text_folder, monkeypatch, tmp_path):
    for module in (files, latent_view, text_panel):
        monkeypatch.setattr(module, "latent_dir", lambda: text_folder)
    view = latent_view.LatentView(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    assert not view.status_label.isHidden()
    assert view.text.model is None  # read only when the tab is opened
    view.tabs.setCurrentWidget(view.text)
    assert view.status_label.isHidden()  # the sampler's message belongs to the other tab
    yield view.text
    view.shutdown()


def test_unknown_words_and_an_empty_prompt_are_explained_and_nothing_runs(tab, qtbot):
    assert tab.model is not None and tab.model_combo.currentText() == "tiny_text_unet"
    assert "circle" in tab.prompt_edit.toolTip() and "magenta" in tab.prompt_edit.toolTip()  # the vocabulary
    assert "The words the model knows" in tab.prompt_label.text()
    qtbot.keyClicks(tab.prompt_edit, "a red dragon")
    assert "does not know the word 'dragon'" in tab.prompt_label.text() and "triangle" in tab.prompt_label.text()
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    assert not tab.is_running()
    tab.prompt_edit.setText("  ")
    assert not tab.run() and not tab.is_running()
    assert "The prompt is empty" in tab.prompt_label.text()
    tab.prompt_edit.setText("a red circle")
    assert tab.prompt_label.text() == "The model reads 4 tokens: <start> · a · red · circle"


def test_generate_records_every_step_and_the_attention_per_word(tab, qtbot):
    qtbot.keyClicks(tab.prompt_edit, "a small blue square at the top left")
    tab.steps_spin.setValue(3)
    tab.images_spin.setValue(2)
    tab.seed_spin.setValue(4)
    tab.scale_spin.setValue(2.5)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    steps = tab.steps()
    assert [s.index for s in steps] == [0, 1, 2] and tab.samples.shape == (2, 3, 32, 32)
    tokens = ["<start>", "a", "small", "blue", "square", "at", "the", "top", "left"]
    assert tab.tokens == tokens
    shown = [p for p in tab.attention.token_panels if not p.isHidden()]
    assert [p.title() for p in shown] == tokens

    # The same prompt, scale and seed through core gives the same steps (an independent run).
    expected = [
        e
        for e in tab.model.trace(["a small blue square at the top left"] * 2, 3, 2.5, 4)
        if isinstance(e, TextToImageStep)
    ]
    torch.testing.assert_close(steps[1].decoded_x0, expected[1].decoded_x0)
    torch.testing.assert_close(steps[1].attention, expected[1].attention)

    # Scrub to the first step and choose the second image: its per-word pictures follow.
    tab.scrubber.setValue(0)
    tab.image_spin.setValue(2)
    decoded = np.clip(steps[0].decoded_x0.numpy(), -1, 1)
    np.testing.assert_allclose(tab.images_panel._batch, decoded)
    maps = steps[0].attention[1].numpy()
    peak = float(maps[: len(tokens)].max())
    np.testing.assert_allclose(shown[3]._batch[0], attention_overlay(decoded[1], maps[3], peak), atol=1e-6)
    shares = [float(p._caption.text().rstrip(" %")) for p in shown]
    assert abs(sum(shares) - 100) <= len(tokens)  # every position's attention sums to 1 over the words
    assert "image 2, t = " in tab.attention.heading.text() and "1 / 3" in tab.scrubber.labelText()


def test_cancel_keeps_the_steps_so_far(tab, qtbot):
    tab.prompt_edit.setText("a green cross")
    tab.steps_spin.setValue(1000)
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.run()
        qtbot.waitUntil(lambda: len(tab.steps()) >= 1, timeout=30_000)
        qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    assert 1 <= len(tab.steps()) < 1000 and tab.samples is None
    assert "Cancelled after" in tab.prompt_label.text() and tab.run_button.isEnabled()


def test_the_overlay_heats_the_attended_region():
    image = np.full((3, 32, 32), -1.0, dtype=np.float32)  # black, like the shapes' background
    image[0] = 1.0  # pure red
    attention = np.zeros((8, 8), dtype=np.float32)
    attention[:4, :4] = 0.5  # the top-left quarter
    picture = attention_overlay(image, attention, peak=0.5)
    assert picture.shape == (3, 32, 32)
    # Unattended: the red image dimmed to IMAGE_WEIGHT; attended: plus the full yellow heat.
    dimmed = 2 * IMAGE_WEIGHT * np.array([1, 0, 0]) - 1
    np.testing.assert_allclose(picture[:, 16:, :], np.broadcast_to(dimmed[:, None, None], (3, 16, 32)), atol=1e-6)
    heat = 2 * (IMAGE_WEIGHT * np.array([1, 0, 0]) + (1 - IMAGE_WEIGHT) * HEAT_RGB) - 1
    np.testing.assert_allclose(picture[:, :16, :16], np.broadcast_to(heat[:, None, None], (3, 16, 16)), atol=1e-6)


def test_without_a_text_model_the_tab_says_where_it_would_be(qtbot, tmp_path, monkeypatch):
    for module in (files, latent_view, text_panel):
        monkeypatch.setattr(module, "latent_dir", lambda: tmp_path)
    panel = text_panel.TextToImagePanel()
    qtbot.addWidget(panel)
    assert "No text-to-image model" in panel.prompt_label.text() and not panel.run_button.isEnabled()
    assert not panel.run()


def test_lesson_values_follow_the_run_and_the_scrubber(tab, qtbot):
    """The text-to-image lesson's numbers: the word the chosen image attends to most, its share and kind."""
    view = tab.parent()
    while not hasattr(view, "lesson_values"):
        view = view.parent()
    values = view.lesson_values()
    assert values["tab"] == "text" and values["frames"] == 0
    assert values["top_word"] is None and values["top_word_kind"] is None and values["t"] is None
    view.apply_lesson_state({"tab": "text", "prompt": "a large red circle", "guidance_scale": 2.0, "steps": 2})
    assert tab.prompt_edit.text() == "a large red circle" and tab.steps_spin.value() == 2
    with qtbot.waitSignal(tab.run_finished, timeout=60_000):
        assert tab.run()
    for index in (0, 1):
        tab.scrubber.setValue(index)
        values = view.lesson_values()
        shares = dict(tab.attention_shares())
        assert values["step"] == index and values["t"] == tab.steps()[index].t and values["frames"] == 2
        assert values["top_word"] == max(shares, key=shares.get)
        assert values["top_word_share"] == pytest.approx(max(shares.values()))
        expected_kind = {"large": "size", "red": "colour", "circle": "shape"}.get(values["top_word"], "other")
        assert values["top_word_kind"] == expected_kind
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-3)  # each position's attention sums to 1 over tokens
    view.apply_lesson_state({"tab": "autoencoder"})
    assert view.lesson_values()["tab"] == "autoencoder"
