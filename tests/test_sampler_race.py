"""The sampler race (core): one shared x_T, honest NFE counts, convergence to the reference, quality vs NFE."""

import numpy as np
import pytest
import torch

from core.diffusion import IdealDenoiser, evaluations_per_run, make_schedule
from core.evaluation.sampler_quality import QualityFinished, QualityPoint, quality_vs_nfe
from core.evaluation.sampler_race import (
    LANES,
    LaneFinished,
    RaceFinished,
    RaceProgress,
    lane_timesteps,
    sampler_race,
    steps_for_nfe,
)
from core.io import load_denoiser

T = 200
SCHEDULE = make_schedule("cosine", T)
# A blurred 2-D dataset: many points, so the exact denoiser's ODE is smooth (no collapse onto 3 points).
DATA = torch.randn(400, 2, generator=torch.Generator().manual_seed(3)) * torch.tensor([1.0, 0.5])
MODEL = IdealDenoiser(DATA, SCHEDULE)


def _race(lanes, steps, x_T, **kw):
    events = list(sampler_race(MODEL, SCHEDULE, lanes, steps, x_T=x_T, seed=7, **kw))
    assert isinstance(events[-1], RaceFinished)
    return events


def test_every_lane_starts_from_the_same_start_and_stochastic_lanes_repeat_with_the_seed():
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    result = _race(list(LANES), 8, x_T)[-1].result
    assert len(result.lanes) == len(LANES)
    for run in result.lanes:
        assert np.array_equal(run.states[0], x_T.numpy()), run.key
        assert not np.allclose(run.states[-1], x_T.numpy())
    again = _race(["ddpm", "euler_maruyama"], 8, x_T)[-1].result
    first = {run.key: run for run in result.lanes}
    for run in again.lanes:  # same seed: the same noise draws, the same samples
        assert np.array_equal(run.states[-1], first[run.key].states[-1])
    # DDPM with the posterior variance is DDIM with η = 1 (Song et al. 2021, eq. 16): same noise, same path.
    assert np.allclose(first["ddpm"].states[-1], first["ddim_eta1"].states[-1], atol=1e-5)


@pytest.mark.parametrize("steps", [1, 7, 13])
def test_nfe_is_the_number_of_network_calls_the_steps_actually_made(steps):
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    events = _race(list(LANES), steps, x_T, spacing="karras")
    for run in events[-1].result.lanes:
        lane = LANES[run.key]
        assert len(run.timesteps) == steps and run.timesteps == lane_timesteps(run.key, SCHEDULE, steps, "karras")
        assert run.nfe == evaluations_per_run(lane.sampler, steps)
        assert run.states.shape[0] == steps + 1 and run.errors.shape == (steps,)
    assert dict((r.key, r.nfe) for r in events[-1].result.lanes)["heun"] == max(1, 2 * steps - 1)
    progress = [e for e in events if isinstance(e, RaceProgress)]
    assert progress[-1].done == progress[-1].total  # the progress bar ends full
    assert [e.run.key for e in events if isinstance(e, LaneFinished)] == list(LANES)


def test_heun_at_a_budget_of_n_evaluations_runs_the_most_steps_that_fit():
    assert [steps_for_nfe("heun", n) for n in (1, 5, 10, 20)] == [1, 3, 5, 10]
    assert [evaluations_per_run("heun", steps_for_nfe("heun", n)) for n in (5, 9, 19)] == [5, 9, 19]
    assert steps_for_nfe("dpmpp_2m", 20) == 20
    with pytest.raises(ValueError, match="Unknown sampler"):
        steps_for_nfe("plms", 5)


@pytest.mark.parametrize("lane", ["ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc", "deis"])
def test_an_ode_sampler_converges_to_the_reference_as_its_steps_grow(lane):
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
    errors = [_race([lane], n, x_T)[-1].result.lanes[0].final_error for n in (10, 20, 50, 100)]
    assert all(a > b for a, b in zip(errors, errors[1:], strict=False)), errors
    assert errors[-1] < 0.5 * errors[0]


def test_on_smooth_data_every_ode_lane_converges_to_the_third_order_reference():
    # Gaussian data: the exact x̂_0 is smooth, so the error of every ODE lane falls with its steps, and the
    # high-order lanes end far below DDIM (the reference must be more accurate than they are: a DDIM
    # reference's own error made the 3M error "rise" from 50 to 100 steps, and a 2M one DEIS's).
    from gaussian_oracle import GaussianDenoiser

    schedule = make_schedule("cosine", 1000)  # T = 200 leaves the reference itself 1e-4 off at t = 0
    model = GaussianDenoiser(schedule)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    ode = [k for k, lane in LANES.items() if not lane.stochastic]
    final = {}
    for n in (10, 20, 50, 100):
        result = list(sampler_race(model, schedule, ode, n, x_T=x_T, seed=7))[-1].result
        for run in result.lanes:
            final.setdefault(run.key, []).append(run.final_error)
    for key, errors in final.items():
        assert all(a > b for a, b in zip(errors, errors[1:], strict=False)), (key, errors)
    for key in ("dpmpp_3m", "unipc", "deis"):
        assert final[key][-1] < 0.2 * final["ddim"][-1], final


def test_a_stochastic_sampler_does_not_converge_to_the_deterministic_reference():
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(2))
    result = _race(["ddim", "ddpm"], 50, x_T)[-1].result
    ode, sde = result.lanes
    assert sde.final_error > 10 * ode.final_error


def test_stop_ends_the_race_without_a_result_and_bad_input_is_explained():
    x_T = torch.randn(8, 2)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 30

    events = list(sampler_race(MODEL, SCHEDULE, ["ddim"], 10, x_T=x_T, stop=stop))
    assert events and not any(isinstance(e, RaceFinished) for e in events)
    with pytest.raises(ValueError, match="at least one sampler"):
        sampler_race(MODEL, SCHEDULE, [], 10, x_T=x_T)
    with pytest.raises(ValueError, match="1 to 200 steps"):
        sampler_race(MODEL, SCHEDULE, ["ddim"], 500, x_T=x_T)
    with pytest.raises(ValueError, match="finite"):
        sampler_race(MODEL, SCHEDULE, ["ddim"], 5, x_T=torch.full((2, 2), float("nan")))


@pytest.fixture(scope="module")
def spiral():
    from desktop_app.paths import resources_dir as where

    return load_denoiser(where() / "models" / "toy_spiral.safetensors")


def test_quality_vs_nfe_on_a_shipped_toy_scores_every_budget_and_the_floor_is_lowest(spiral):
    torch.set_num_threads(1)
    events = list(quality_vs_nfe(spiral.model, spiral.schedule, ["ddim", "heun"], (1, 10), num_samples=300,
                                 dataset="spiral", batch_size=150))  # fmt: skip
    points = [e for e in events if isinstance(e, QualityPoint)]
    result = events[-1].result
    assert isinstance(events[-1], QualityFinished) and result.metric == "mmd"
    assert [(p.lane, p.nfe, p.steps) for p in points] == [("ddim", 1, 1), ("ddim", 10, 10), ("heun", 1, 1),
                                                          ("heun", 9, 5)]  # fmt: skip
    nfe, mmd = result.curve("ddim")
    assert list(nfe) == [1, 10] and mmd[1] < mmd[0]  # one step lands far off the spiral
    assert result.floor["mmd"] < min(p.metrics["mmd"] for p in points)
    with pytest.raises(ValueError, match="Name the toy"):
        quality_vs_nfe(spiral.model, spiral.schedule, ["ddim"], (5,))


def test_the_grid_runs_every_sampler_at_every_budget_from_the_same_start():
    from core.diffusion import SAMPLERS
    from core.evaluation.sampler_grid import GridCell, GridFinished, GridProgress, sampler_grid

    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(4))
    events = list(sampler_grid(MODEL, SCHEDULE, ["ddim", "heun", "ddpm"], (2, 5, 20), x_T=x_T, seed=3))
    result = events[-1].result
    assert isinstance(events[-1], GridFinished) and result.nfes == [2, 5, 20]
    cells = [e for e in events if isinstance(e, GridCell)]
    assert [(c.lane, c.budget, c.nfe, c.steps) for c in cells] == [
        ("ddim", 2, 2, 2), ("ddim", 5, 5, 5), ("ddim", 20, 20, 20), ("heun", 2, 1, 1), ("heun", 5, 5, 3),
        ("heun", 20, 19, 10), ("ddpm", 2, 2, 2), ("ddpm", 5, 5, 5), ("ddpm", 20, 20, 20),
    ]  # fmt: skip
    for cell in cells:  # the very same x_T (and seed) as a run of the sampler by itself
        alone = SAMPLERS[LANES[cell.lane].sampler](
            MODEL, x_T, SCHEDULE, cell.steps, generator=torch.Generator().manual_seed(3)
        )
        assert np.allclose(cell.samples, alone.numpy(), atol=1e-6), cell.lane
    ode = [result.cells[("ddim", n)].error for n in (2, 5, 20)]
    assert ode[0] > ode[1] > ode[2]  # closer to the reference as the budget grows
    assert result.cells[("ddpm", 20)].error > 5 * result.cells[("ddim", 20)].error  # stochastic: elsewhere
    progress = [e for e in events if isinstance(e, GridProgress)]
    assert progress[-1].done == progress[-1].total == SCHEDULE.num_timesteps + 2 + 5 + 20 + 1 + 5 + 19 + 2 + 5 + 20


def test_the_grid_stops_when_asked_and_explains_bad_input():
    from core.evaluation.sampler_grid import GridFinished, sampler_grid

    x_T = torch.randn(4, 2)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 250  # inside the cells, after the reference

    events = list(sampler_grid(MODEL, SCHEDULE, ["ddim"], (50, 100), x_T=x_T, stop=stop))
    assert events and not any(isinstance(e, GridFinished) for e in events)
    with pytest.raises(ValueError, match="between 1 and 200"):
        sampler_grid(MODEL, SCHEDULE, ["ddim"], (0, 5), x_T=x_T)
    with pytest.raises(ValueError, match="only once"):
        sampler_grid(MODEL, SCHEDULE, ["ddim"], (5, 5), x_T=x_T)
    with pytest.raises(ValueError, match="spacing"):
        sampler_grid(MODEL, SCHEDULE, ["ddim"], (5,), x_T=x_T, spacing="random")
