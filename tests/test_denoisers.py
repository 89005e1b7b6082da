"""Tests of the denoiser registry that checkpoints use."""

from __future__ import annotations

import json

import pytest
import torch

from core.models import (
    Denoiser,
    MLPConfig,
    MLPDenoiser,
    UNet,
    UNetConfig,
    build_denoiser,
    count_parameters,
    denoiser_config,
    preset_config,
)

torch.set_num_threads(1)

UNET = dict(
    base_channels=8, channel_mult=[1, 2], num_res_blocks=1, num_groups=4, attention_head_channels=8, image_size=16
)


def test_build_unet_and_mlp_from_dicts():
    unet = build_denoiser({"arch": "unet", **UNET, "num_classes": 2})
    assert isinstance(unet, UNet) and unet.num_classes == 2 and unet.config.channel_mult == (1, 2)
    mlp = build_denoiser({"arch": "mlp", "hidden_dim": 16, "prediction_type": "v"})
    assert isinstance(mlp, MLPDenoiser) and mlp.prediction_type == "v"
    assert isinstance(unet, Denoiser) and isinstance(mlp, Denoiser)


@pytest.mark.parametrize(
    "model",
    [
        lambda: UNet(UNetConfig(**{**UNET, "channel_mult": (1, 2)}, num_classes=3, prediction_type="x0")),
        lambda: MLPDenoiser(MLPConfig(hidden_dim=16, num_blocks=2, num_classes=4)),
    ],
)
def test_config_round_trip_through_json_rebuilds_the_same_network(model):
    torch.manual_seed(0)
    original = model().eval()
    with torch.no_grad():
        for p in original.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    config = json.loads(json.dumps(denoiser_config(original)))
    assert config["arch"] in ("unet", "mlp")
    rebuilt = build_denoiser(config).eval()
    assert type(rebuilt) is type(original)
    assert denoiser_config(rebuilt) == denoiser_config(original)
    rebuilt.load_state_dict(original.state_dict())  # strict: same keys and shapes
    x = torch.randn(2, 1, 16, 16) if isinstance(original, UNet) else torch.randn(2, 2)
    t, y = torch.tensor([10, 500]), torch.tensor([0, 1])
    torch.testing.assert_close(rebuilt(x, t, y), original(x, t, y))


def test_unknown_arch_and_bad_settings_raise_value_error():
    with pytest.raises(ValueError, match="arch"):
        build_denoiser({"arch": "transformer"})
    with pytest.raises(ValueError, match="arch"):
        build_denoiser({"hidden_dim": 16})
    with pytest.raises(ValueError, match="Unknown MLPConfig settings: base_channels"):
        build_denoiser({"arch": "mlp", "base_channels": 8})
    with pytest.raises(ValueError):
        build_denoiser("unet")
    with pytest.raises(ValueError, match="not a Diffusion Lab denoiser"):
        denoiser_config(torch.nn.Linear(2, 2))


def test_count_parameters_counts_every_weight():
    assert count_parameters(torch.nn.Linear(3, 4)) == 3 * 4 + 4
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 16 + 5
    assert count_parameters(model, trainable_only=True) == 5
    unet = UNet(preset_config("tiny"))
    assert count_parameters(unet) == sum(p.numel() for p in unet.state_dict().values())
