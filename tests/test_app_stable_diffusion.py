"""The Stable Diffusion view with a tiny random pipeline in a folder: load, generate, scrub, and errors in words."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from test_stable_diffusion import tiny_folder  # noqa: E402, F401 - the module-scoped tiny pipeline fixture

from core.diffusion.latent import sample_latent  # noqa: E402
from core.models import stable_diffusion as sd  # noqa: E402
from desktop_app.views import stable_diffusion_view  # noqa: E402
from desktop_app.views.stable_diffusion import generation, loading  # noqa: E402
from desktop_app.workers import start_worker, stop_thread  # noqa: E402


@pytest.fixture
def settings(tmp_path):
    return QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def view(qtbot, settings):
    v = stable_diffusion_view.StableDiffusionView(settings)
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.show()
    yield v
    v.shutdown()


def _load(view, qtbot, folder) -> bool:
    with qtbot.waitSignal(view.loaded, timeout=60_000) as blocker:
        view.form.folder_edit.setText(str(folder))
        qtbot.mouseClick(view.form.load_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_load_generate_and_scrub_every_step(view, qtbot, tiny_folder, settings, monkeypatch):  # noqa: F811
    # The folder comes from the dialog and is remembered for the next session.
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a: str(tiny_folder)))
    with qtbot.waitSignal(view.loaded, timeout=60_000) as blocker:
        qtbot.mouseClick(view.form.choose_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [True]
    assert settings.value(stable_diffusion_view.FOLDER_KEY) == str(tiny_folder)
    again = stable_diffusion_view.StableDiffusionView(settings)  # the next session offers the same folder
    qtbot.addWidget(again)
    assert again.form.folder_edit.text() == str(tiny_folder)
    assert "tiny-sd" in view.status_label.text() and "DDIMScheduler" in view.status_label.text()
    assert view.form.sampler_combo.currentData() == "ddim"  # the pipeline's own scheduler's counterpart
    assert view.form.size_spin.value() == 16  # sample_size 8 × the autoencoder's factor 2

    form = view.form
    qtbot.keyClicks(form.prompt_edit, "a cat")
    form.steps_spin.setValue(3)
    form.scale_spin.setValue(3.0)
    form.seed_spin.setValue(5)
    form.images_spin.setValue(2)
    with qtbot.waitSignal(view.run_finished, timeout=60_000):
        qtbot.mouseClick(form.generate_button, Qt.MouseButton.LeftButton)
    frames = view.frames()
    assert [f.index for f in frames] == [0, 1, 2] and view.progress.value() == 3
    assert frames[0].z_t.shape == (2, 4, 8, 8) and frames[0].decoded_x0.shape == (2, 3, 16, 16)
    assert view.result is not None and view.result.images.shape == (2, 3, 16, 16)
    assert "Recorded 3 of 3 steps" in view.status_label.text()

    # An independent run of core's sampler with the same prompt, scale and seed gives the same steps.
    pipeline = view.pipeline
    request = form.request()
    z_T = generation.initial_latents(request, (4, 8, 8))
    torch.testing.assert_close(torch.from_numpy(frames[0].z_t), z_T)
    expected = []
    _, images = sample_latent(
        generation.guided_denoiser(pipeline, request),
        lambda z: sd.decode_latents(pipeline.pipeline, z),
        z_T,
        pipeline.schedule,
        3,
        sampler="ddim",
        cond={"class_labels": torch.zeros(2, dtype=torch.long)},
        on_step=expected.append,
    )
    np.testing.assert_allclose(view.result.images, images.numpy(), atol=1e-5)
    np.testing.assert_allclose(frames[2].decoded_x0, expected[2].decoded_x0.numpy(), atol=2e-3)  # float16 copies

    # Scrubbing shows the chosen step's latent channels and decodings, without another network call.
    assert view.scrubber.value() == 2 and "3 / 3" in view.scrubber.labelText()
    view.scrubber.setValue(0)
    np.testing.assert_allclose(view.pictures.latent_panel._batch, frames[0].z_t.reshape(8, 1, 8, 8))
    assert view.pictures.preview_panel._batch is frames[0].decoded_x0
    assert "t = 999" in view.pictures.latent_panel.title() and "1 / 3" in view.scrubber.labelText()
    # The decoded z_T is noise; the final x̂₀ preview is the decoded result.
    np.testing.assert_allclose(frames[-1].decoded_x0, view.result.images, atol=2e-3)

    # The negative prompt replaces the empty prompt as "unconditional", so it changes the image;
    # recording every 2nd step keeps steps 1 and 3 (the last is always kept).
    qtbot.keyClicks(form.negative_edit, "a dog")
    form.every_spin.setValue(2)
    with qtbot.waitSignal(view.run_finished, timeout=60_000):
        qtbot.mouseClick(form.generate_button, Qt.MouseButton.LeftButton)
    assert not np.allclose(view.result.images, images.numpy(), atol=1e-4)
    assert [f.index for f in view.frames()] == [0, 2] and view.progress.value() == 3
    assert "3 / 3" in view.scrubber.labelText() and "Recorded 2 of 3 steps" in view.status_label.text()


def test_a_malformed_folder_and_a_missing_extra_are_explained(view, qtbot, tiny_folder, tmp_path, monkeypatch):  # noqa: F811
    assert not _load(view, qtbot, tmp_path)
    assert "no model_index.json" in view.status_label.text()
    assert view._settings.value(stable_diffusion_view.FOLDER_KEY) is None  # only a folder that loaded is remembered
    assert not view.form.generate_button.isEnabled()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text((tiny_folder / "model_index.json").read_text())
    assert not _load(view, qtbot, broken)
    assert "unet/config.json is missing" in view.status_label.text()
    view.generate()  # nothing to run: no crash, no worker
    assert not view.is_running()

    # Without diffusers the view opens and says how to install the extra.
    monkeypatch.setattr(loading.importlib.util, "find_spec", lambda name: None)
    bare = stable_diffusion_view.StableDiffusionView(QSettings(str(tmp_path / "b.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(bare)
    assert "diffusion-lab[sd]" in bare.status_label.text()


def test_cancel_keeps_the_steps_so_far(view, qtbot, tiny_folder):  # noqa: F811
    assert _load(view, qtbot, tiny_folder)
    view.form.steps_spin.setValue(200)
    with qtbot.waitSignal(view.run_finished, timeout=60_000):
        view.generate()
        qtbot.waitUntil(lambda: len(view.frames()) >= 1, timeout=30_000)
        qtbot.mouseClick(view.form.cancel_button, Qt.MouseButton.LeftButton)
    assert 1 <= len(view.frames()) < 200 and view.result is None
    assert "Cancelled after" in view.status_label.text()
    assert view.form.generate_button.isEnabled()


def test_the_view_imports_no_diffusers_until_a_folder_is_loaded():
    code = (
        "import sys\n"
        "import desktop_app.views.stable_diffusion_view\n"
        "bad = sorted(m for m in ('diffusers', 'transformers') if m in sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], check=True, timeout=120)


def test_the_gpu_half_precision_path_gives_the_float32_images(qtbot, tiny_folder):  # noqa: F811
    """On a GPU the pipeline loads in float16 and the sampler's arithmetic stays float32 (run here on the CPU)."""
    full = loading.load_folder(tiny_folder, "cpu")
    half = dataclasses.replace(
        full, pipeline=sd.load_sd_pipeline(tiny_folder, dtype=torch.float16), dtype=torch.float16
    )
    request = generation.GenerationRequest("a cat", "a dog", 3.0, 3, 7, "dpmpp_2m", 16, 1)
    images = []
    for loaded in (full, half):
        worker = generation.GenerationWorker(loaded, request)
        with qtbot.waitSignal(worker.result, timeout=60_000) as blocker:
            thread = start_worker(worker)
        assert stop_thread(thread, worker, 10_000)
        images.append(blocker.args[0].images)
    assert images[1].dtype == np.float32
    np.testing.assert_allclose(images[1], images[0], atol=2e-2)
