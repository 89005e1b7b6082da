"""The Latent diffusion view, driven as a person would: pick images, open files, sample, scrub."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings, Qt

from core.data.shapes import make_shapes
from core.io.autoencoder_file import save_autoencoder
from core.models.autoencoder import Autoencoder, AutoencoderConfig, measure_scale_factor, reconstruct
from core.training import TrainConfig
from core.training.latent import train_latent
from desktop_app.views import latent_view
from desktop_app.views.latent import files

TINY_AE = {"channels": [8, 16, 16], "num_groups": 4}
TINY_UNET = {"base_channels": 16, "channel_mult": [1, 2], "attention_resolutions": [], "mid_attention": False}


@pytest.fixture(scope="module")
def latent_folder(tmp_path_factory):
    """A tiny shapes autoencoder and a two-step latent model, as the shipped files are laid out."""
    folder = tmp_path_factory.mktemp("latent")
    torch.manual_seed(0)
    ae = Autoencoder(AutoencoderConfig(in_channels=3, **TINY_AE)).eval()
    shapes = make_shapes(64, seed=3)
    ae.scale_factor.fill_(measure_scale_factor(ae, shapes.images))
    ae_path = save_autoencoder(folder / "shapes_autoencoder.safetensors", ae, {"held_out_mse": 0.25})
    config = TrainConfig(dataset="shapes", model="tiny", model_options=TINY_UNET, steps=2, batch_size=8,
                         preview_every=0, checkpoint_path=str(folder / "shapes_latent_unet.safetensors"))  # fmt: skip
    list(train_latent(config, ae_path, pixel_data=shapes))
    return folder


@pytest.fixture
def view(qtbot, latent_folder, monkeypatch, tmp_path):
    monkeypatch.setattr(files, "latent_dir", lambda: latent_folder)
    monkeypatch.setattr(latent_view, "latent_dir", lambda: latent_folder)
    v = latent_view.LatentView(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(v)
    v.resize(1000, 700)
    v.show()
    yield v
    v.shutdown()


def test_autoencoder_tab_shows_the_image_its_latent_and_the_error_it_reports(view, qtbot):
    panel = view.autoencoder
    assert panel.dataset_combo.currentText() == "Coloured shapes"
    panel.index_spin.setValue(5)
    x = files.example_images("shapes")[0][5:6]
    expected = reconstruct(panel.autoencoder, x)
    assert f"MSE {float(expected.mse[0]):.4f}" in panel.numbers.text()
    assert f"s = {float(panel.autoencoder.scale_factor):.4f}" in panel.numbers.text()
    assert "12× fewer" in panel.numbers.text()  # 3072 pixel values in 256 latent numbers
    # The latent panel shows the 4 channels of the scaled latent.
    torch.testing.assert_close(torch.from_numpy(panel.latent_panel._batch[:, 0]), expected.latent[0])
    assert panel.error_panel.last_picture.shape == (32, 32)


def test_opening_images_encodes_them_or_says_why_not(view, tmp_path):
    picture = np.zeros((50, 80, 3), dtype=np.uint8)
    picture[10:40, 30:60] = (250, 20, 20)
    Image.fromarray(picture).save(tmp_path / "red.png")
    assert view.autoencoder.open_image(tmp_path / "red.png")
    assert "red.png" in view.autoencoder.numbers.text()
    shown = view.autoencoder.image_panel._batch
    assert shown.shape == (1, 3, 32, 32) and shown[0, 0].max() > 0.8 and shown[0, 2].max() < -0.7
    (tmp_path / "notes.png").write_text("not an image")
    assert not view.autoencoder.open_image(tmp_path / "notes.png")
    assert "not an image Diffusion Lab can read" in view.autoencoder.numbers.text()


def test_sampling_records_every_step_and_the_scrubber_shows_it(view, qtbot):
    view.tabs.setCurrentIndex(1)
    view.sampling.steps_spin.setValue(4)
    view.sampling.class_combo.setCurrentIndex(2)  # "triangle"
    with qtbot.waitSignal(view.run_finished, timeout=60_000):
        qtbot.mouseClick(view.sampling.run_button, Qt.MouseButton.LeftButton)
    steps = view.steps()
    assert [s.index for s in steps] == [0, 1, 2, 3] and view.samples.shape == (4, 3, 32, 32)
    assert view.scrubber.value() == 3 and "4 / 4" in view._step_label(3)
    view.scrubber.setValue(0)
    np.testing.assert_allclose(view.sampling.latent_panel._batch, steps[0].z_t.numpy().reshape(16, 1, 8, 8))
    decoded = view.latent.autoencoder.decode_scaled(steps[0].pred_z0).detach().clamp(-1, 1).numpy()
    np.testing.assert_allclose(view.sampling.decoded_panel._batch, decoded, atol=1e-5)
    # The seed fixes z_T: the same form gives the same first latent.
    g = torch.Generator().manual_seed(view.sampling.seed_spin.value())
    torch.testing.assert_close(steps[0].z_t, torch.randn((4, 4, 8, 8), generator=g))


def test_a_latent_model_without_its_autoencoder_is_explained(qtbot, latent_folder, monkeypatch, tmp_path):
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(latent_folder / "shapes_latent_unet.safetensors", lonely)
    monkeypatch.setattr(files, "latent_dir", lambda: lonely)
    monkeypatch.setattr(latent_view, "latent_dir", lambda: lonely)
    v = latent_view.LatentView(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(v)
    assert "only with the autoencoder it was trained with" in v.status_label.text()
    assert "shapes_autoencoder.safetensors" in v.status_label.text()
    assert v.latent is None
    v.run()  # nothing to run: no crash, no worker
    assert not v.is_running()
    assert "No autoencoder is shipped" in v.autoencoder.numbers.text()


def test_training_live_plots_the_loss_and_offers_the_model_for_sampling(view, qtbot, monkeypatch):
    monkeypatch.setattr(latent_view, "LIVE_SHAPES", 64)
    view.tabs.setCurrentIndex(2)
    view.training.batch_spin.setValue(8)
    models_before = view.sampling.model_combo.count()
    with qtbot.waitSignal(view.training_finished, timeout=120_000):
        view.start_training(steps=4)
    assert len(view.training.loss_plot) == 4
    assert view.training.preview.title().startswith("Preview at step")
    assert view.training.preview._batch.shape == (4, 3, 32, 32)  # decoded pictures, not latents
    assert view.sampling.model_combo.count() == models_before + 1
    view.sampling.model_combo.setCurrentIndex(models_before)
    assert view.latent is not None and view.latent.checkpoint.step == 4
    view.sampling.steps_spin.setValue(2)
    with qtbot.waitSignal(view.run_finished, timeout=60_000):
        view.run()
    assert view.samples.shape == (4, 3, 32, 32)
