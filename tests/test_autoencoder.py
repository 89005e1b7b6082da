"""The KL-regularised autoencoder of latent diffusion: its KL term, its training, its file."""

from __future__ import annotations

import random
import struct

import pytest
import torch

from core.data.shapes import make_shapes
from core.diffusion.schedules import make_schedule
from core.io import CheckpointError, load_checkpoint, save_checkpoint
from core.io.autoencoder_file import load_autoencoder, save_autoencoder, weights_sha256
from core.models.autoencoder import (
    Autoencoder,
    AutoencoderConfig,
    DiagonalGaussian,
    kl_to_standard_normal,
    measure_scale_factor,
    reconstruct,
)
from core.models.unet import UNet, preset_config
from core.training.autoencoder import (
    AutoencoderFinished,
    AutoencoderPreview,
    AutoencoderTrainConfig,
    held_out_images,
    reconstruction_error,
    train_autoencoder,
)
from core.training.control import TrainingControl

TINY = {"channels": [8, 16, 16], "num_groups": 4}


def test_kl_matches_the_closed_form_of_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean = torch.randn(3, 4, 2, 2, generator=g) * 2
    logvar = torch.randn(3, 4, 2, 2, generator=g)
    ours = kl_to_standard_normal(DiagonalGaussian(mean, logvar))
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(mean))
    oracle = torch.distributions.kl_divergence(q, p).flatten(1).sum(1)
    torch.testing.assert_close(ours, oracle, rtol=1e-5, atol=1e-5)
    # KL is zero exactly at the prior
    assert float(kl_to_standard_normal(DiagonalGaussian(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2)))) == 0.0


def test_shapes_32_become_latents_8x8x4_and_wrong_images_are_refused():
    model = Autoencoder(AutoencoderConfig(in_channels=3, **TINY))
    x = make_shapes(2, seed=1).images
    posterior = model.encode(x)
    assert posterior.mean.shape == (2, 4, 8, 8)
    assert model.decode(posterior.sample()).shape == x.shape
    with pytest.raises(ValueError, match="3 channel"):
        model.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="latents shaped"):
        model.decode(torch.zeros(1, 4, 4, 4))


def test_scale_factor_gives_unit_variance_latents():
    torch.manual_seed(0)
    model = Autoencoder(AutoencoderConfig(in_channels=3, **TINY)).eval()
    x = make_shapes(64, seed=2).images
    model.scale_factor.fill_(measure_scale_factor(model, x))
    with torch.no_grad():
        z = model.encode_scaled(x)
        assert float(z.std()) == pytest.approx(1.0, rel=1e-4)
        torch.testing.assert_close(model.decode_scaled(z), model.decode(model.encode(x).mean))


def _short_run(**overrides) -> AutoencoderTrainConfig:
    settings = {
        "dataset": "shapes",
        "dataset_options": {"n": 256},
        "model_options": TINY,
        "batch_size": 16,
        "steps": 60,
        "warmup_steps": 5,
        "learning_rate": 3e-3,
        "log_every": 10,
        "preview_count": 4,
        "held_out_count": 32,
    }
    return AutoencoderTrainConfig(**{**settings, **overrides})


def test_reconstruction_error_falls_in_a_short_run():
    config = _short_run(preview_every=0)
    torch.manual_seed(config.seed)  # the run builds its network right after seeding, so this is its start
    untrained = Autoencoder(AutoencoderConfig(in_channels=3, **TINY)).eval()
    held_out = held_out_images(config)
    before = reconstruction_error(untrained, held_out)["mse"]
    finished = [e for e in train_autoencoder(config) if isinstance(e, AutoencoderFinished)][0]
    after = finished.metadata["held_out_mse"]
    assert after < 0.5 * before, (before, after)
    assert after == pytest.approx(reconstruction_error(finished.model, held_out)["mse"])
    assert finished.reason == "completed" and finished.step == 60
    assert finished.metadata["scale_factor"] == pytest.approx(float(finished.model.scale_factor))


def test_stop_ends_the_run_early_and_says_so():
    control = TrainingControl()
    for event in train_autoencoder(_short_run(preview_every=1, steps=10), control):
        if isinstance(event, AutoencoderPreview) and event.step == 3:
            control.stop()
        if isinstance(event, AutoencoderFinished):
            assert event.step == 3 and event.reason == "stopped"


def test_checkpoint_round_trip_keeps_weights_scale_and_hash(tmp_path):
    torch.manual_seed(1)
    model = Autoencoder(AutoencoderConfig(in_channels=1, **TINY)).eval()
    model.scale_factor.fill_(0.37)
    path = save_autoencoder(tmp_path / "ae", model, {"dataset": "fashion_mnist", "held_out_mse": 0.01})
    assert path.suffix == ".safetensors"
    loaded, info = load_autoencoder(path)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(loaded.encode(x).mean), model.decode(model.encode(x).mean))
    assert float(loaded.scale_factor) == pytest.approx(0.37)
    assert info["weights_sha256"] == weights_sha256(model) == weights_sha256(loaded)
    assert info["dataset"] == "fashion_mnist" and not loaded.training


def test_kind_check_tells_denoisers_and_autoencoders_apart(tmp_path):
    ae_path = save_autoencoder(tmp_path / "ae.safetensors", Autoencoder(AutoencoderConfig(**TINY)))
    unet = UNet(preset_config("tiny", in_channels=4, image_size=8, channel_mult=(1, 2)))
    unet_path = save_checkpoint(tmp_path / "unet.safetensors", unet, schedule=make_schedule("cosine", 100))
    with pytest.raises(CheckpointError, match="denoiser"):
        load_autoencoder(unet_path)
    with pytest.raises(CheckpointError):
        load_checkpoint(ae_path)


def test_a_flipped_weight_byte_is_refused(tmp_path):
    path = save_autoencoder(tmp_path / "ae.safetensors", Autoencoder(AutoencoderConfig(**TINY)))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged|checksum"):
        load_autoencoder(path)


def test_reconstruct_reports_the_error_it_shows():
    torch.manual_seed(2)
    model = Autoencoder(AutoencoderConfig(in_channels=3, **TINY)).eval()
    model.scale_factor.fill_(2.0)
    x = make_shapes(3, seed=4).images
    r = reconstruct(model, x)
    x_rec = model.decode(model.encode(x).mean).detach()
    torch.testing.assert_close(r.latent, 2.0 * model.encode(x).mean.detach())
    torch.testing.assert_close(r.mse, ((x_rec - x) ** 2).mean(dim=(1, 2, 3)))
    torch.testing.assert_close(r.error_map, (x_rec - x).abs().mean(1))
    torch.testing.assert_close(r.psnr_db, 10 * torch.log10(4 / r.mse))


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """One seeded damage: flipped bits anywhere or in the header, a truncation, garbage appended."""
    b = bytearray(data)
    header_end = 8 + struct.unpack("<Q", data[:8])[0]
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(header_end)] ^= 1 << rng.randrange(8)
    elif kind == 2:
        del b[rng.randrange(len(b)) :]
    else:
        b += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(b)


def test_corruption_fuzz_never_crashes_or_loads_other_weights(tmp_path):
    """200 seeded damaged files: each loads the original weights or raises CheckpointError naming the file."""
    torch.manual_seed(3)
    model = Autoencoder(AutoencoderConfig(in_channels=1, **TINY)).eval()
    valid = save_autoencoder(tmp_path / "ok.safetensors", model).read_bytes()
    reference = weights_sha256(model)
    path = tmp_path / "fuzz.safetensors"
    errors = 0
    for seed in range(200):
        data = _mutate(valid, random.Random(seed))
        if data == valid:
            continue
        path.write_bytes(data)
        try:
            loaded, _ = load_autoencoder(path)
        except CheckpointError as error:
            assert "fuzz.safetensors" in str(error)
            errors += 1
            continue
        assert weights_sha256(loaded) == reference, f"seed {seed} loaded different weights"
    assert errors > 160
