"""Tests of the MLP denoiser for 2-D toy data."""

from __future__ import annotations

import json
import math

import pytest
import torch

from core.models import MLPConfig, MLPDenoiser

torch.set_num_threads(1)


def randomised(model: MLPDenoiser, seed: int = 1) -> MLPDenoiser:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def test_shapes_and_zero_initial_output():
    model = MLPDenoiser(MLPConfig(hidden_dim=32, num_blocks=2))
    x = torch.randn(5, 2)
    out = model(x, torch.arange(5))
    assert out.shape == (5, 2)
    assert torch.count_nonzero(out) == 0  # zero-initialised output layer
    assert MLPDenoiser(MLPConfig(data_dim=3, hidden_dim=16))(torch.randn(4, 3), 7).shape == (4, 3)


def test_class_conditioning_and_no_class():
    model = randomised(MLPDenoiser(MLPConfig(hidden_dim=32, num_blocks=2, num_classes=4)))
    x, t = torch.randn(3, 2), torch.tensor([10, 10, 10])
    a = model(x, t, torch.tensor([0, 0, 0]))
    b = model(x, t, torch.tensor([3, 3, 3]))
    assert not torch.allclose(a, b, atol=1e-5)
    torch.testing.assert_close(model(x, t), model(x, t, torch.tensor([4, 4, 4])))
    with pytest.raises(ValueError, match="between 0 and 3"):
        model(x, t, torch.tensor([0, 5, 1]))
    with pytest.raises(ValueError, match="without classes"):
        MLPDenoiser(MLPConfig(hidden_dim=8))(x, t, torch.tensor([0, 0, 0]))


def test_timestep_forms_and_bad_inputs():
    model = randomised(MLPDenoiser(MLPConfig(hidden_dim=16, num_blocks=1)))
    x = torch.randn(4, 2)
    torch.testing.assert_close(model(x, 300), model(x, torch.full((4,), 300)))
    assert not torch.allclose(model(x, 3), model(x, 900), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        model(torch.randn(4, 3), 0)
    with pytest.raises(ValueError, match=r"\(batch, 2\)"):
        model(torch.randn(4, 2, 1), 0)


def test_config_round_trip_and_validation():
    config = MLPConfig(hidden_dim=24, num_blocks=2, num_classes=3, prediction_type="x0", dropout=0.1)
    d = json.loads(json.dumps(config.to_dict()))
    assert MLPConfig.from_dict(d) == config
    a = randomised(MLPDenoiser(config)).eval()
    b = MLPDenoiser(MLPConfig.from_dict(d)).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(6, 2)
    torch.testing.assert_close(a(x, 5), b(x, 5))
    assert (a.prediction_type, a.num_classes) == ("x0", 3)
    for bad in ({"hidden_dim": 0}, {"num_blocks": 1.5}, {"prediction_type": "noise"}, {"dropout": 2}, {"width": 3}):
        with pytest.raises(ValueError):
            MLPConfig.from_dict({**d, **bad})


def test_learns_a_two_point_distribution():
    """Fitting ε for data on two points must cut the loss well below an untrained model's (≈ 1)."""
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(hidden_dim=64, num_blocks=2))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    T = 1000

    def batch():
        x0 = torch.tensor([[-1.0, -1.0], [1.0, 1.0]])[torch.randint(0, 2, (256,), generator=g)]
        t = torch.randint(0, T, (256,), generator=g)
        eps = torch.randn(256, 2, generator=g)
        a = torch.cos((t / T + 0.008) / 1.008 * math.pi / 2).unsqueeze(1)  # cosine schedule √ᾱ
        return a * x0 + (1 - a**2).sqrt() * eps, t, eps

    x_t, t, eps = batch()
    initial = (model(x_t, t) - eps).square().mean().item()
    for _ in range(150):
        x_t, t, eps = batch()
        loss = (model(x_t, t) - eps).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    x_t, t, eps = batch()
    with torch.no_grad():
        final = (model(x_t, t) - eps).square().mean().item()
    assert initial == pytest.approx(1.0, abs=0.2)
    assert final < 0.6 * initial
