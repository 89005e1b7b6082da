"""Latent diffusion: encoding a dataset, training in latent space, finding the autoencoder by hash, sampling."""

from __future__ import annotations

import shutil

import pytest
import torch

from core.data.shapes import make_shapes
from core.diffusion.latent import LatentSampled, LatentStep, sample_latent, trace_latent_ddim
from core.diffusion.samplers import SamplingCancelled, sample_ddim
from core.io import CheckpointError
from core.io.autoencoder_file import save_autoencoder
from core.io.latent_checkpoint import LATENT_KEY, load_latent_checkpoint
from core.models.autoencoder import Autoencoder, AutoencoderConfig, measure_scale_factor
from core.training import TrainConfig
from core.training.events import Finished, Preview, TrainingError
from core.training.latent import encode_dataset, train_latent

TINY_AE = {"channels": [8, 16, 16], "num_groups": 4}
TINY_UNET = {"base_channels": 16, "channel_mult": [1, 2], "attention_resolutions": [], "mid_attention": False}


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(96, seed=3)


@pytest.fixture(scope="module")
def autoencoder(shapes):
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(in_channels=3, **TINY_AE)).eval().requires_grad_(False)
    model.scale_factor.fill_(measure_scale_factor(model, shapes.images))
    return model


@pytest.fixture(scope="module")
def trained(tmp_path_factory, shapes, autoencoder):
    """A two-step latent run saved beside its autoencoder, with every event kept."""
    folder = tmp_path_factory.mktemp("latent")
    ae_path = save_autoencoder(folder / "ae.safetensors", autoencoder, {"dataset": "shapes"})
    config = TrainConfig(
        dataset="shapes",
        model="tiny",
        model_options=TINY_UNET,
        steps=2,
        batch_size=8,
        preview_every=2,
        preview_count=2,
        preview_steps=3,
        checkpoint_path=str(folder / "latent_unet.safetensors"),
    )
    events = list(train_latent(config, ae_path, pixel_data=shapes))
    return folder, ae_path, events


def test_encoded_dataset_is_the_scaled_latents_with_the_same_labels(shapes, autoencoder):
    latents = encode_dataset(autoencoder, shapes)
    assert latents.images.shape == (96, 4, 8, 8)
    assert float(latents.images.std()) == pytest.approx(1.0, rel=1e-3)  # the scale factor's purpose
    torch.testing.assert_close(
        latents.images[:5], autoencoder.encode(shapes.images[:5]).mean * autoencoder.scale_factor
    )
    assert torch.equal(latents.labels, shapes.labels) and latents.class_names == shapes.class_names


def test_images_the_autoencoder_was_not_made_for_are_refused(autoencoder):
    gray = make_shapes(4, seed=0)
    gray.images = gray.images[:, :1]
    with pytest.raises(TrainingError, match="3-channel 32×32"):
        encode_dataset(autoencoder, gray)


def test_latent_run_previews_pictures_and_records_its_autoencoder(trained, autoencoder):
    folder, ae_path, events = trained
    preview = next(e for e in events if isinstance(e, Preview))
    assert preview.images.shape == (2, 3, 32, 32)  # decoded, not 4×8×8 latents
    assert preview.images.min() >= -1 and preview.images.max() <= 1
    finished = next(e for e in events if isinstance(e, Finished))
    ref = finished.metadata[LATENT_KEY]
    assert ref["scale_factor"] == pytest.approx(float(autoencoder.scale_factor))
    assert ref["pixel_shape"] == [3, 32, 32] and ref["autoencoder_file"] == "ae.safetensors"

    loaded = load_latent_checkpoint(folder / "latent_unet.safetensors")
    assert loaded.latent_shape == (4, 8, 8) and loaded.image_shape == (3, 32, 32)
    assert loaded.autoencoder_path == ae_path
    for a, b in zip(loaded.autoencoder.state_dict().values(), autoencoder.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_autoencoder_is_found_by_its_hash_even_renamed(trained, tmp_path):
    folder, ae_path, _ = trained
    shutil.copy(folder / "latent_unet.safetensors", tmp_path / "model.safetensors")
    shutil.copy(ae_path, tmp_path / "renamed.safetensors")
    assert load_latent_checkpoint(tmp_path / "model.safetensors").autoencoder_path.name == "renamed.safetensors"


def test_loading_without_its_autoencoder_says_what_is_missing(trained, tmp_path):
    folder, _, _ = trained
    shutil.copy(folder / "latent_unet.safetensors", tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="only with the autoencoder it was trained with.*ae.safetensors"):
        load_latent_checkpoint(tmp_path / "model.safetensors")
    # Another autoencoder under the recorded name is not accepted: its hash differs.
    torch.manual_seed(5)
    save_autoencoder(tmp_path / "ae.safetensors", Autoencoder(AutoencoderConfig(in_channels=3, **TINY_AE)))
    with pytest.raises(CheckpointError, match="content hash"):
        load_latent_checkpoint(tmp_path / "model.safetensors")


def test_sample_latent_is_ddim_on_latents_and_decodes_every_prediction(trained):
    folder, _, _ = trained
    loaded = load_latent_checkpoint(folder / "latent_unet.safetensors")
    model, schedule, ae = loaded.checkpoint.model, loaded.checkpoint.schedule, loaded.autoencoder
    z_T = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    cond = {"class_labels": torch.tensor([0, 1])}
    steps = []
    z0, x0 = sample_latent(model, ae.decode_scaled, z_T, schedule, 4, cond=cond, on_step=steps.append)
    torch.testing.assert_close(z0, sample_ddim(model, z_T, schedule, 4, cond=cond))
    torch.testing.assert_close(x0, ae.decode_scaled(z0))
    assert [s.index for s in steps] == [0, 1, 2, 3] and steps[0].decoded_x0.shape == (2, 3, 32, 32)
    torch.testing.assert_close(steps[2].decoded_x0, ae.decode_scaled(steps[2].pred_z0))
    torch.testing.assert_close(steps[0].z_t, z_T)
    with pytest.raises(SamplingCancelled):
        sample_latent(model, ae.decode_scaled, z_T, schedule, 4, cond=cond, on_step=lambda s: s.index == 1)


def test_traced_ddim_gives_the_same_steps_and_sample(trained):
    folder, _, _ = trained
    loaded = load_latent_checkpoint(folder / "latent_unet.safetensors")
    model, schedule, ae = loaded.checkpoint.model, loaded.checkpoint.schedule, loaded.autoencoder
    z_T = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    reference = []
    z0, _ = sample_latent(model, ae.decode_scaled, z_T, schedule, 3, on_step=reference.append)
    events = list(trace_latent_ddim(model, ae.decode_scaled, z_T, schedule, 3))
    steps = [e for e in events if isinstance(e, LatentStep)]
    assert len(steps) == 3 and isinstance(events[-1], LatentSampled)
    for ours, theirs in zip(steps, reference, strict=True):
        torch.testing.assert_close(ours.pred_z0, theirs.pred_z0)
        torch.testing.assert_close(ours.decoded_x0, theirs.decoded_x0)
    torch.testing.assert_close(events[-1].z0, z0)
