"""Tests of the U-Net denoiser: shapes, conditioning, config round trip, presets, validation, learning."""

from __future__ import annotations

import pytest
import torch

from core.models import UNET_PRESETS, UNet, UNetConfig, count_parameters, preset_config

torch.set_num_threads(1)

# A very small U-Net so the tests stay fast: 2 levels, attention at the lower one and the bottleneck.
SMALL = dict(base_channels=8, channel_mult=(1, 2), num_res_blocks=1, num_groups=4, attention_head_channels=8)


def small_unet(**overrides) -> UNet:
    torch.manual_seed(0)
    return UNet(UNetConfig(**{**SMALL, "image_size": 16, "attention_resolutions": (8,), **overrides}))


def randomise(model: torch.nn.Module, seed: int = 1) -> None:
    """Give every parameter random values, so zero-initialised layers do not hide a broken path."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [16, 32, 64])
def test_output_has_the_input_shape(channels, size):
    model = small_unet(in_channels=channels)
    x = torch.randn(2, channels, size, size)
    assert model(x, torch.tensor([0, 999])).shape == (2, channels, size, size)


def test_preset_accepts_28_padded_to_32_and_rejects_28():
    model = UNet(preset_config("tiny"))
    assert model(torch.randn(1, 1, 32, 32), torch.tensor([3])).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="multiples of"):
        model(torch.randn(1, 1, 28, 28), torch.tensor([3]))


def test_out_channels_can_differ_from_in_channels():
    model = small_unet(in_channels=3, out_channels=6)
    assert model(torch.randn(2, 3, 16, 16), torch.tensor([1, 2])).shape == (2, 6, 16, 16)


def test_network_starts_at_zero_output_and_every_path_is_used_after_training():
    """ADM zero-initialises the last conv: a fresh network predicts exactly 0."""
    model = small_unet()
    out = model(torch.randn(2, 1, 16, 16), torch.tensor([5, 500]))
    assert torch.count_nonzero(out) == 0
    randomise(model)
    assert torch.count_nonzero(model(torch.randn(2, 1, 16, 16), torch.tensor([5, 500]))) > 0


def test_output_depends_on_the_timestep():
    model = small_unet()
    randomise(model)
    x = torch.randn(1, 1, 16, 16)
    assert not torch.allclose(model(x, torch.tensor([10])), model(x, torch.tensor([900])), atol=1e-5)


def test_scalar_and_zero_dim_timesteps_are_broadcast():
    model = small_unet()
    randomise(model)
    x = torch.randn(3, 1, 16, 16)
    expected = model(x, torch.full((3,), 42))
    torch.testing.assert_close(model(x, 42), expected)
    torch.testing.assert_close(model(x, torch.tensor(42.0)), expected)
    torch.testing.assert_close(model(x, torch.full((3,), 42.0)), expected)  # float and long agree
    with pytest.raises(ValueError, match="timesteps"):
        model(x, torch.tensor([1, 2]))


def test_class_conditioning_changes_the_output_and_none_means_no_class():
    model = small_unet(num_classes=3)
    randomise(model)
    x = torch.randn(2, 1, 16, 16)
    t = torch.tensor([100, 100])
    a = model(x, t, torch.tensor([0, 0]))
    b = model(x, t, torch.tensor([2, 2]))
    assert not torch.allclose(a, b, atol=1e-5)
    no_class = model(x, t, torch.tensor([3, 3]))  # index num_classes is the "no class" entry
    torch.testing.assert_close(model(x, t, None), no_class)
    assert not torch.allclose(no_class, a, atol=1e-5)
    # Each sample is conditioned on its own label.
    mixed = model(x, t, torch.tensor([0, 2]))
    torch.testing.assert_close(mixed[0], a[0])
    torch.testing.assert_close(mixed[1], b[1])


def test_bad_class_labels_raise_value_error():
    conditional = small_unet(num_classes=3)
    x = torch.randn(2, 1, 16, 16)
    with pytest.raises(ValueError, match="between 0 and 2"):
        conditional(x, 1, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="whole numbers"):
        conditional(x, 1, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        conditional(x, 1, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="without classes"):
        small_unet()(x, 1, torch.tensor([0, 1]))


def test_wrong_channel_count_raises_value_error():
    with pytest.raises(ValueError, match="1-channel"):
        small_unet()(torch.randn(1, 3, 16, 16), 0)


def test_attributes_follow_the_denoiser_contract():
    model = small_unet(num_classes=5, prediction_type="v")
    assert model.prediction_type == "v"
    assert model.num_classes == 5
    assert small_unet().num_classes == 0


def test_attention_is_placed_at_the_configured_resolutions():
    def count(model):
        return sum(type(m).__name__ == "SelfAttention" for m in model.modules())

    # 2 levels (16, 8), one encoder block and two decoder blocks per level, plus the bottleneck.
    assert count(small_unet(attention_resolutions=(8,))) == 1 + 2 + 1
    assert count(small_unet(attention_resolutions=(16, 8))) == 2 * (1 + 2) + 1
    assert count(small_unet(attention_resolutions=(), mid_attention=False)) == 0


def test_config_round_trip_rebuilds_an_identical_model():
    config = UNetConfig(**{**SMALL, "image_size": 16, "num_classes": 4, "prediction_type": "x0", "dropout": 0.1})
    d = config.to_dict()
    import json

    d = json.loads(json.dumps(d))  # what a checkpoint's JSON metadata gives back
    assert UNetConfig.from_dict(d) == config
    torch.manual_seed(0)
    a = UNet(config).eval()
    randomise(a)
    torch.manual_seed(123)
    b = UNet(UNetConfig.from_dict(d)).eval()
    assert {k: v.shape for k, v in a.state_dict().items()} == {k: v.shape for k, v in b.state_dict().items()}
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 1, 16, 16)
    torch.testing.assert_close(
        a(x, torch.tensor([3, 7]), torch.tensor([1, 4])), b(x, torch.tensor([3, 7]), torch.tensor([1, 4]))
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"base_channels": 0},
        {"base_channels": 12.5},
        {"channel_mult": []},
        {"channel_mult": [1, 0]},
        {"num_res_blocks": 0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"prediction_type": "score"},
        {"num_classes": -1},
        {"num_groups": 3},  # 8 channels do not split into 3 groups
        {"image_size": 12, "channel_mult": [1, 2, 2, 2]},  # 12 cannot be halved 3 times
        {"mid_attention": "yes"},
        {"attention_head_channels": 0},
        {"layers": 3},  # unknown key
    ],
)
def test_invalid_configs_raise_value_error(bad):
    with pytest.raises(ValueError):
        UNetConfig.from_dict({**UNetConfig(**SMALL).to_dict(), **bad})


def test_from_dict_rejects_non_dicts_and_unknown_presets():
    with pytest.raises(ValueError):
        UNetConfig.from_dict([("base_channels", 8)])
    with pytest.raises(ValueError, match="preset"):
        preset_config("huge")


@pytest.mark.parametrize("name, low, high", [("tiny", 0.3e6, 0.5e6), ("small", 1e6, 2e6), ("base", 6e6, 10e6)])
def test_preset_parameter_counts_are_in_their_documented_ranges(name, low, high):
    for channels, classes in [(1, 0), (1, 10), (3, 10)]:
        n = count_parameters(UNet(preset_config(name, in_channels=channels, num_classes=classes)))
        assert low <= n <= high, (name, channels, classes, n)


def test_presets_differ_and_overrides_apply():
    assert set(UNET_PRESETS) == {"tiny", "small", "base"}
    cfg = preset_config("small", in_channels=3, num_classes=7)
    assert (cfg.in_channels, cfg.num_classes) == (3, 7)
    assert preset_config("small").base_channels == UNET_PRESETS["small"]["base_channels"]


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = small_unet(num_classes=2)
    randomise(plain)
    ckpt = small_unet(num_classes=2, gradient_checkpointing=True)
    ckpt.load_state_dict(plain.state_dict())
    x, t, y = torch.randn(2, 1, 16, 16), torch.tensor([4, 40]), torch.tensor([0, 1])
    plain(x, t, y).square().mean().backward()
    ckpt(x, t, y).square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_channels_last_and_bf16_autocast_agree_with_fp32():
    model = small_unet(num_classes=2)
    randomise(model)
    x, t, y = torch.randn(2, 1, 16, 16), torch.tensor([4, 40]), torch.tensor([0, 1])
    expected = model(x, t, y)
    cl = model.to(memory_format=torch.channels_last)
    torch.testing.assert_close(
        cl(x.contiguous(memory_format=torch.channels_last), t, y), expected, atol=1e-4, rtol=1e-4
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = model(x, t, y).float()
    assert (low - expected).abs().max() < 0.05 * expected.abs().max() + 1e-3


def test_tiny_unet_overfits_a_fixed_batch():
    """30 Adam steps on one fixed batch must more than halve the ε-prediction loss."""
    torch.manual_seed(0)
    model = small_unet(num_classes=2)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 1, 16, 16, generator=g)
    eps = torch.randn(4, 1, 16, 16, generator=g)
    t = torch.tensor([50, 300, 600, 900])
    a = torch.cos(t / 1000 * torch.pi / 2).view(-1, 1, 1, 1)
    x_t = a * x0 + (1 - a**2).sqrt() * eps
    y = torch.tensor([0, 1, 2, 1])
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = (model(x_t, t, y) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(1.0, abs=0.3)  # the zero-initialised network predicts 0
    assert losses[-1] < 0.5 * losses[0]
