"""The Generate view, driven as a person would: pick a model, generate, scrub, compare, cancel, export.

Models are core's exact ``IdealDenoiser`` (no training needed) wrapped in a Checkpoint-like object,
the same kind of object the Train view hands over with ``model_trained``.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage

from core.diffusion import IdealDenoiser, make_schedule
from desktop_app.views.generate_view import GenerateView

torch.set_num_threads(1)


class _Conditional(torch.nn.Module):
    """An ideal denoiser that accepts class labels (and ignores them): enough to exercise guidance."""

    prediction_type = "x0"
    num_classes = 2

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x, t, class_labels=None):
        self.calls += 1
        return self.inner(x, t)


def image_checkpoint(T=100, conditional=False):
    schedule = make_schedule("linear", T)
    data = torch.linspace(-1, 1, 3 * 64).reshape(3, 1, 8, 8)
    model = IdealDenoiser(data, schedule)
    metadata = {"image_shape": [1, 8, 8], "dataset_name": "three test images", "step": 10}
    if conditional:
        model = _Conditional(model)
        metadata["class_names"] = ["dark", "light"]
    return SimpleNamespace(model=model, schedule=schedule, metadata=metadata)


def point_checkpoint():
    schedule = make_schedule("linear", 100)
    data = torch.tensor([[-1.5, 0.0], [1.5, 0.0], [0.0, 1.5]])
    return SimpleNamespace(
        model=IdealDenoiser(data, schedule),
        schedule=schedule,
        metadata={"image_shape": [2], "dataset_name": "three points"},
    )


# A modal dialog nobody answers would hang an offscreen test: fail instead (see conftest.py).
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


@pytest.fixture
def view(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    view = GenerateView(settings)
    qtbot.addWidget(view)
    view.resize(1100, 750)
    view.show()
    yield view
    assert view.shutdown()
    assert not view.is_sampling()


def generate_and_wait(qtbot, view, timeout=20_000):
    view.generate_button.click()
    assert view.is_sampling() or view._worker.done
    qtbot.waitUntil(lambda: not view.is_sampling() and view._worker.done, timeout=timeout)
    qtbot.waitUntil(lambda: view.generate_button.isEnabled(), timeout=timeout)


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def test_view_opens_without_a_model(view):
    assert view.title == "Generate"
    assert not view.generate_button.isEnabled()
    assert view.model_name() == "no model"
    assert view.status_label.text() == "Choose a model and press Generate."
    view.add_model(image_checkpoint())
    assert view.status_label.text().startswith("Press Generate (Ctrl+G) to sample")


def test_sampling_fills_the_timeline_and_scrubbing_changes_the_pictures(qtbot, view):
    view.add_model(image_checkpoint())
    assert view.model_combo.currentText().startswith("Just trained")
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(10)
    view.batch_spin.setValue(4)
    generate_and_wait(qtbot, view)
    run = view.run_a
    assert run.result is not None and run.result.evaluations == 10
    assert "10 network evaluations" in run.heading.text()
    assert run.scrubber.minimum() == 0 and run.scrubber.maximum() == 10  # 10 steps + the final sample
    run.scrubber.setValue(run.scrubber.maximum())
    final_picture = run.x_t_panel.picture.copy()
    np.testing.assert_array_equal(final_picture.shape, run.x0_panel.picture.shape)
    run.scrubber.setValue(0)  # x_T: pure noise
    noise_picture = run.x_t_panel.picture
    assert not np.array_equal(noise_picture, final_picture)
    assert "t=99" in run.scrubber.labelText()
    assert run.eps_panel.picture is not None
    # At the end the samples are the dataset's images (the ideal denoiser reproduces its data).
    samples = run.result.samples
    data = image_checkpoint().model.data.float().numpy()
    distances = np.abs(samples[:, None] - data[None]).reshape(4, 3, -1).max(axis=2).min(axis=1)
    assert np.all(distances < 0.05)


def test_compare_mode_runs_both_samplers_from_the_same_noise_and_syncs_the_timelines(qtbot, view):
    view.add_model(image_checkpoint())
    choose(view.sampler_combo, "ddpm")
    view.steps_spin.setValue(100)
    view.compare_check.setChecked(True)
    choose(view.sampler_b_combo, "ddim")
    view.steps_b_spin.setValue(10)
    generate_and_wait(qtbot, view)
    a, b = view.run_a, view.run_b
    assert a.result.evaluations == 100 and b.result.evaluations == 10
    assert "100 network evaluations" in a.heading.text() and "10 network evaluations" in b.heading.text()
    np.testing.assert_array_equal(a.recorder.frame(0).x_t, b.recorder.frame(0).x_t)  # same x_T
    a.scrubber.setValue(50)
    t_a = a.timestep_at(50)
    t_b = b.timestep_at(b.scrubber.value())
    assert abs(t_b - t_a) == np.abs(b.recorder.timesteps - t_a).min()
    assert b.scrubber.value() not in (0, b.scrubber.maximum())
    b.scrubber.setValue(b.scrubber.maximum())
    assert a.scrubber.value() == a.scrubber.maximum()  # both at the final sample


class _Slow(torch.nn.Module):
    prediction_type = "x0"
    num_classes = 0

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x, t, class_labels=None):
        self.calls += 1
        time.sleep(0.003)  # long enough for a 1,000-step run to be cancelled midway
        return self.inner(x, t)


def test_cancel_stops_sampling_and_the_view_stays_usable(qtbot, view):
    checkpoint = image_checkpoint(T=1000)
    slow = _Slow(checkpoint.model)
    view.add_model(SimpleNamespace(model=slow, schedule=checkpoint.schedule, metadata=checkpoint.metadata))
    choose(view.sampler_combo, "ddpm")
    assert view.steps_spin.value() == 1000  # DDPM defaults to every timestep
    view.generate_button.click()
    qtbot.waitUntil(lambda: view.progress.value() > 0, timeout=10_000)
    view.cancel_button.click()
    qtbot.waitUntil(lambda: not view.is_sampling() and view._worker.done, timeout=10_000)
    assert "cancelled" in view.status_label.text()
    recorder = view._worker.recorders[0]
    assert 0 < recorder.steps_seen < 1000 and slow.calls == recorder.steps_seen
    assert view.run_a.scrubber.maximum() == len(recorder) - 1  # the steps done can be scrubbed
    # Still usable: a short run afterwards works.
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(5)
    generate_and_wait(qtbot, view)
    assert view.run_a.result is not None and view.run_a.result.evaluations == 5


def test_a_corrupt_checkpoint_shows_the_error_and_changes_nothing(qtbot, view, tmp_path, monkeypatch):
    messages = []
    monkeypatch.setattr(
        "desktop_app.views.generate_view.QMessageBox.warning",
        lambda parent, title, text, *a: messages.append((title, text)),
    )
    view.add_model(image_checkpoint())
    before = view.model_combo.currentIndex()
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all" + bytes(100))
    assert view.open_checkpoint(bad) is False
    assert len(messages) == 1 and "broken.safetensors" in messages[0][1]
    assert view.model_combo.currentIndex() == before
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(5)
    generate_and_wait(qtbot, view)
    assert view.run_a.result is not None


def test_two_d_models_show_the_particle_cloud_moving_along_the_timeline(qtbot, view):
    view.add_model(point_checkpoint())
    assert view.batch_spin.value() == 1000
    view.batch_spin.setValue(300)
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(20)
    generate_and_wait(qtbot, view)
    run = view.run_a
    assert run.points_mode and run.cloud.isVisible() and not run.x_t_panel.isVisible()
    run.scrubber.setValue(5)
    np.testing.assert_allclose(run.cloud.points(), run.recorder.frame(5).x_t)
    run.scrubber.setValue(run.scrubber.maximum())
    final = run.cloud.points()
    data = np.array([[-1.5, 0.0], [1.5, 0.0], [0.0, 1.5]])
    nearest = np.linalg.norm(final[:, None] - data[None], axis=2).min(axis=1)
    assert np.all(nearest < 0.05)


def test_conditional_models_offer_classes_and_guidance(qtbot, view):
    checkpoint = image_checkpoint(conditional=True)
    view.add_model(checkpoint)
    assert not view.class_combo.isHidden() and not view.guidance_spin.isHidden()
    assert [view.class_combo.itemText(i) for i in range(view.class_combo.count())][1:] == ["dark", "light"]
    choose(view.class_combo, 1)
    view.guidance_spin.setValue(3.0)
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(4)
    generate_and_wait(qtbot, view)
    assert view.run_a.result.evaluations == 4
    assert checkpoint.model.calls == 4  # guidance batches the conditional and unconditional halves together


def test_exports_write_a_grid_a_strip_and_a_gif(qtbot, view, tmp_path):
    view.add_model(image_checkpoint())
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(10)
    view.batch_spin.setValue(4)
    generate_and_wait(qtbot, view)
    grid = Image.open(view.write_grid(tmp_path / "grid.png"))
    strip = Image.open(view.write_strip(tmp_path / "strip.png", count=5))
    gif = Image.open(view.write_animation(tmp_path / "timeline.gif"))
    assert grid.size[0] >= 256  # small grids are enlarged
    assert strip.size[0] > 4 * grid.size[0]  # five grids side by side
    assert gif.n_frames == 11  # every position of a short timeline
    gif.seek(10)
    assert gif.info["duration"] >= 1000  # the final sample is held (PIL merges the repeated frames)
    assert [a.label for a in view.export_actions()][0].startswith("PNG grid")


def test_shutdown_while_sampling_stops_the_worker(qtbot, view):
    checkpoint = image_checkpoint(T=1000)
    view.add_model(
        SimpleNamespace(model=_Slow(checkpoint.model), schedule=checkpoint.schedule, metadata=checkpoint.metadata)
    )
    choose(view.sampler_combo, "ddpm")
    view.generate_button.click()
    qtbot.waitUntil(lambda: view.progress.value() > 0, timeout=10_000)
    thread, worker = view._thread, view._worker
    assert view.shutdown() is True
    assert not thread.isRunning() and worker.done and worker.results == []


def test_a_real_checkpoint_file_loads_samples_and_is_remembered(qtbot, view, tmp_path):
    from core.io import save_checkpoint
    from core.models import MLPConfig, MLPDenoiser

    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden_dim=16, num_blocks=1, time_embed_dim=8)).eval()
    path = save_checkpoint(
        tmp_path / "tiny-mlp.safetensors",
        model,
        schedule=make_schedule("linear", 50),
        metadata={"dataset": "toy:two_moons", "image_shape": [2], "class_names": [], "step": 7},
    )
    assert view.open_checkpoint(path)
    assert "tiny-mlp" in view.model_combo.currentText() and "step 7" in view.model_combo.currentText()
    assert view.steps_spin.maximum() == 50
    view.batch_spin.setValue(50)
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(5)
    generate_and_wait(qtbot, view)
    assert view.run_a.result.samples.shape == (50, 2)

    # A new Generate view with the same settings opens on the model used last.
    again = GenerateView(view._settings)
    qtbot.addWidget(again)
    again.on_shown()
    assert again.model_combo.currentData() == f"file:{path}"
    assert again.sample_shape() == (2,)


def test_damaged_files_are_listed_but_cannot_be_chosen(qtbot, tmp_path, user_data_home):
    folder = user_data_home / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "half-written.safetensors").write_bytes(b"\x00" * 50)
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    settings.setValue("generate/model", f"file:{folder / 'half-written.safetensors'}")  # even if used last
    view = GenerateView(settings)
    qtbot.addWidget(view)
    view.on_shown()  # must not pick the damaged file (an error dialog would fail this test)
    index = view.model_combo.findData(f"file:{folder / 'half-written.safetensors'}")
    assert index > 0 and "cannot be read" in view.model_combo.itemText(index)
    assert not view.model_combo.model().item(index).isEnabled()
    assert view.model_combo.currentIndex() != index  # a bundled model (if any) is chosen instead


def test_device_choice_offers_what_exists_samples_there_and_is_remembered(qtbot, view, tmp_path):
    offered = [view.device_combo.itemData(i) for i in range(view.device_combo.count())]
    assert offered[:2] == ["auto", "cpu"]
    assert ("cuda" in offered) == torch.cuda.is_available()
    view.add_model(image_checkpoint())
    choose(view.device_combo, "cpu")
    view.steps_spin.setValue(5)
    view.batch_spin.setValue(2)
    generate_and_wait(qtbot, view)
    assert view._worker.device == torch.device("cpu")
    assert view.run_a.result is not None
    again = GenerateView(view._settings)
    qtbot.addWidget(again)
    assert again.device_combo.currentData() == "cpu"


def test_sampling_on_another_device_copies_the_model_and_leaves_the_original_alone():
    from desktop_app.workers import SamplingJob, SamplingWorker

    model = torch.nn.Linear(2, 2)  # stands in for a denoiser: only its parameters matter here
    x_T = torch.randn(3, 2)
    labels = torch.tensor([0, 1, 2])
    worker = SamplingWorker(
        model, None, x_T, [SamplingJob("ddim", 2, {})], cond={"class_labels": labels}, device="meta"
    )  # fmt: skip  (a device without data: no GPU needed)
    moved, moved_x_T, cond = worker._on_device()
    assert moved is not model and next(moved.parameters()).device.type == "meta"
    assert next(model.parameters()).device.type == "cpu"  # the GUI's and the trainer's copy stays put
    assert moved_x_T.device.type == "meta" and x_T.device.type == "cpu"
    assert cond["class_labels"].device.type == "meta"
    same = SamplingWorker(model, None, x_T, [SamplingJob("ddim", 2, {})], device="cpu")._on_device()[0]
    assert same is model  # already there: no copy


def test_while_sampling_the_view_shows_the_live_x_t_and_x0(qtbot, view, monkeypatch):
    view.add_model(image_checkpoint(T=400))
    choose(view.sampler_combo, "ddpm")
    view.steps_spin.setValue(400)
    view.batch_spin.setValue(3)
    seen, titles = [], []
    show_live = type(view.run_a).show_live

    def record(panel, live):
        show_live(panel, live)
        seen.append(live)
        titles.append(panel.x_t_panel.title())

    monkeypatch.setattr(type(view.run_a), "show_live", record)
    view.generate_button.click()
    qtbot.waitUntil(lambda: bool(seen), timeout=30_000)  # the first step is always shown, then ≤ 10 a second
    assert titles[0] == f"x_t at t = {seen[0].t} (sampling…)"
    qtbot.waitUntil(lambda: not view.is_sampling() and view._worker.done, timeout=60_000)
    qtbot.waitUntil(view.generate_button.isEnabled, timeout=30_000)
    live = seen[0]
    assert live.x_t.shape == live.pred_x0.shape == (3, 1, 8, 8)
    recorder = view.run_a.recorder
    position = list(recorder.timesteps).index(live.t)  # the live picture is a real step of the run
    np.testing.assert_allclose(recorder.frame(position).x_t, live.x_t, atol=2e-2)
    np.testing.assert_allclose(recorder.frame(position).pred_x0, live.pred_x0, atol=2e-2)


def test_a_finished_run_opens_half_way_where_x_t_x0_and_eps_differ(qtbot, view):
    view.add_model(image_checkpoint())
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(10)
    view.batch_spin.setValue(4)
    generate_and_wait(qtbot, view)
    run = view.run_a
    position = run.scrubber.value()
    assert 0 < position < run.scrubber.maximum()  # neither pure noise nor the final sample
    assert abs(run.timestep_at(position) - 99 // 2) <= 10  # half way down in t (DDIM 10 steps: every 10th t)
    assert run.eps_panel.picture is not None and "t =" in run.x_t_panel.title()
    assert not np.array_equal(run.x_t_panel.picture, run.x0_panel.picture)
    assert "half way" in view.status_label.text() and "final samples" in view.status_label.text()
    # The final position says what it shows.
    run.scrubber.setValue(run.scrubber.maximum())
    assert run.x_t_panel.title() == "x₀: the final samples" and "after the last step" in run.x0_panel.title()


def _pixels(pixmap) -> np.ndarray:
    """A grabbed widget as an (H, W, 3) uint8 array."""
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    return (
        np.array(image.constBits(), dtype=np.uint8)
        .reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()]
        .reshape(image.height(), image.width(), 3)
    )


def test_samples_of_a_conditional_model_carry_their_class_names(qtbot, view):
    view.add_model(image_checkpoint(conditional=True))
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(4)
    view.batch_spin.setValue(4)
    choose(view.class_combo, -1)  # all classes, in turn
    generate_and_wait(qtbot, view)
    run = view.run_a
    assert run.x_t_panel.tile_names.names == ["dark", "light", "dark", "light"]
    assert run.x0_panel.tile_names.names == ["dark", "light", "dark", "light"]
    assert run.eps_panel.tile_names.names == []  # the noise has no class
    # The names are drawn on the tiles: with them the top of the first tile changes, its bottom does not.
    overlay, canvas = run.x_t_panel.tile_names, run.x_t_panel.canvas
    assert overlay.geometry() == canvas.rect() and overlay.isVisible()
    shown = _pixels(canvas.grab())
    overlay.hide()
    plain = _pixels(canvas.grab())
    overlay.show()
    rect = canvas.image_rect()
    scale = rect.width() / run.x_t_panel.picture.shape[1]  # screen pixels per grid pixel
    top, left, tile = int(rect.top() + 2 * scale), int(rect.left() + 2 * scale), int(8 * scale)  # first 8×8 tile
    changed = np.abs(shown.astype(int) - plain.astype(int)).max(axis=2) > 30
    assert changed[top : top + 12, left : left + 30].sum() > 30  # the label band (white text on dark)
    assert not changed[top + tile // 2 : top + tile, left : left + tile].any()
    choose(view.class_combo, 1)
    generate_and_wait(qtbot, view)
    assert run.x_t_panel.tile_names.names == ["light"] * 4
    # An unconditional model's samples carry no names.
    view.add_model(image_checkpoint())
    generate_and_wait(qtbot, view)
    assert run.x_t_panel.tile_names.names == []


def test_a_long_model_name_is_elided_in_the_middle_with_the_whole_name_in_the_tooltip(qtbot, view):
    checkpoint = image_checkpoint()
    checkpoint.metadata.update(dataset_name="Fashion-MNIST from the teacher's own long folder name", step=3580)
    view.add_model(checkpoint)
    combo = view.model_combo
    full = combo.currentText()
    assert full.endswith("step 3,580")
    shown = combo.displayed_text(200)
    assert "…" in shown and shown.endswith("3,580") and combo.fontMetrics().horizontalAdvance(shown) <= 200
    assert combo.toolTip().startswith(full)


def test_two_d_samples_of_a_conditional_model_have_a_legend_of_their_class_colours(qtbot, view):
    checkpoint = point_checkpoint()
    checkpoint.model = _Conditional(checkpoint.model)
    checkpoint.metadata["class_names"] = ["left", "right"]
    view.add_model(checkpoint)
    view.batch_spin.setValue(50)
    choose(view.sampler_combo, "ddim")
    view.steps_spin.setValue(4)
    generate_and_wait(qtbot, view)
    legend = view.run_a.class_legend
    assert legend.isVisible() and "left" in legend.text() and "right" in legend.text()
    assert "rgb(0, 114, 178)" in legend.text()  # class 0's colour in the cloud
    view.add_model(point_checkpoint())  # an unconditional model: no legend
    assert not legend.isVisible()
