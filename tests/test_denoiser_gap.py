"""core.evaluation.denoiser_gap: ‖x̂₀_θ − x̂₀_ideal‖ over t, against oracles whose answer is known."""

from __future__ import annotations

import pytest
import torch

from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.prediction import eps_from_x0
from core.diffusion.schedules import make_schedule
from core.evaluation.denoiser_gap import denoiser_gap, gap_timesteps, iterate_denoiser_gap

SCHEDULE = make_schedule("cosine", 200)


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class _EpsFromIdeal(torch.nn.Module):
    """The ideal denoiser re-expressed as an ε-predictor: the gap must still be zero (checks the conversion)."""

    prediction_type = "eps"
    num_classes = 0

    def __init__(self, ideal: IdealDenoiser, schedule):
        super().__init__()
        self.ideal, self.schedule = ideal, schedule

    def forward(self, x_t, t, class_labels=None):
        return eps_from_x0(self.ideal(x_t.double(), t), x_t.double(), t, self.schedule).float()


def test_the_ideal_denoiser_has_no_gap_to_itself_in_any_parameterisation():
    reference = _images(12, 0)
    sets = {"train": reference[:5], "test": _images(5, 1)}
    ts = gap_timesteps(SCHEDULE, 6)
    assert ts.tolist() == [0, 8, 32, 72, 127, 199]
    for model in (IdealDenoiser(reference, SCHEDULE), _EpsFromIdeal(IdealDenoiser(reference, SCHEDULE), SCHEDULE)):
        result = denoiser_gap(model, reference, sets, SCHEDULE, ts, seed=3)
        for name in sets:
            assert float(result.gap[name].abs().max()) < 1e-4
            torch.testing.assert_close(result.learned_error[name], result.ideal_error[name], atol=1e-4, rtol=0)
    # At t = 0 the ideal denoiser returns a training image exactly, and a test image's nearest training image.
    assert float(result.ideal_error["train"][0]) < 1e-6
    nearest = torch.cdist(sets["test"].flatten(1), reference.flatten(1)).min(1).values / 4.0  # RMS over 16 pixels
    assert float(result.ideal_error["test"][0]) == pytest.approx(float(nearest.mean()), rel=1e-4)


def test_gap_of_another_model_matches_a_direct_computation():
    reference, other = _images(10, 2), _images(10, 3)
    model = IdealDenoiser(other, SCHEDULE)  # the exact denoiser of a different training set
    x0 = _images(4, 4)
    ts = torch.tensor([20, 150])
    events = list(iterate_denoiser_gap(model, reference, {"test": x0}, SCHEDULE, ts, seed=5))
    assert [e.done for e in events[:-1]] == [1, 2] and events[-1].reference_size == 10
    result = events[-1]
    g = torch.Generator().manual_seed(5)
    ideal = IdealDenoiser(reference, SCHEDULE)
    for k, t in enumerate(ts.tolist()):
        eps = torch.randn(x0.shape, generator=g)
        a = SCHEDULE.alphas_cumprod[t]
        x_t = (a.sqrt() * x0 + (1 - a).sqrt() * eps).double()
        tt = torch.full((4,), t)
        expected = (model(x_t, tt) - ideal(x_t, tt)).flatten(1).square().mean(1).sqrt().mean()
        assert float(result.gap["test"][k]) == pytest.approx(float(expected), rel=1e-5)
        assert result.at("test", t + 1) == float(result.gap["test"][k])
    assert float(result.gap["test"].min()) > 0.01  # two different training sets: a real gap


def test_bad_input_is_named():
    reference = _images(4, 0)
    with pytest.raises(ValueError, match="shape"):
        denoiser_gap(IdealDenoiser(reference, SCHEDULE), reference, {"x": torch.zeros(2, 1, 3, 3)}, SCHEDULE, [0])
    with pytest.raises(ValueError, match="0…199"):
        denoiser_gap(IdealDenoiser(reference, SCHEDULE), reference, {"x": reference}, SCHEDULE, [200])
    with pytest.raises(ValueError, match="two timesteps"):
        gap_timesteps(SCHEDULE, 1)
