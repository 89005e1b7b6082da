"""The cached forward Markov chain (core.diffusion.markov_chain): its marginal, its cache, its memory budget."""

import math

import numpy as np
import pytest
import torch

from core.diffusion import MarkovChainCache, make_schedule, simulate_chain


def _x0(shape=(1, 1, 3, 4)) -> torch.Tensor:
    return torch.linspace(-1, 1, math.prod(shape)).reshape(shape)


def test_the_chain_has_the_closed_form_marginal_of_ddpm_eq_4():
    # Half the pixels start at +0.8, half at −0.6; four seeds give 4 × 8192 draws of x_t per group.
    T = 1000
    schedule = make_schedule("linear", T)
    alphas_cumprod = np.cumprod(1.0 - np.linspace(1e-4, 0.02, T))  # independent of the schedule code
    x0 = torch.empty(1, 1, 128, 128)
    x0[..., :64] = 0.8
    x0[..., 64:] = -0.6
    timesteps = (0, 99, 499, 999)
    states = {t: [] for t in timesteps}
    for seed in range(4):
        cache = MarkovChainCache(schedule, x0, seed=seed)
        for _ in cache.extend_iter(chunk=100):
            pass
        for t in timesteps:
            states[t].append(cache.get(t).numpy())
    for t in timesteps:
        x_t = np.stack(states[t])
        a_bar = alphas_cumprod[t]
        for group, start in ((slice(None, 64), 0.8), (slice(64, None), -0.6)):
            values = x_t[..., group].astype(np.float64).ravel()
            n = values.size
            mean_tolerance = 5 * math.sqrt((1 - a_bar) / n)
            assert values.mean() == pytest.approx(math.sqrt(a_bar) * start, abs=mean_tolerance)  # √ᾱ_t x_0
            assert values.var() == pytest.approx(1 - a_bar, rel=5 * math.sqrt(2 / n))  # 1 − ᾱ_t


def test_extend_iter_yields_the_frontier_chunk_by_chunk_and_stops_where_asked():
    schedule = make_schedule("linear", 100)
    cache = MarkovChainCache(schedule, _x0(), seed=3)
    assert cache.frontier == -1 and not cache.complete
    assert list(cache.extend_iter(stop=30, chunk=25)) == [24, 30]
    assert cache.frontier == 30 and not cache.complete
    assert list(cache.extend_iter(stop=30)) == []  # already there: nothing to do
    assert list(cache.extend_iter(chunk=25)) == [55, 80, 99]  # the last chunk is cut at T − 1
    assert cache.complete
    assert list(cache.extend_iter(stop=500)) == []
    with pytest.raises(ValueError, match="at least one step"):
        next(MarkovChainCache(schedule, _x0(), seed=3).extend_iter(chunk=0))


def test_extending_in_chunks_on_demand_or_at_once_gives_the_same_states_as_simulate_chain():
    schedule = make_schedule("cosine", 60)
    x0 = _x0()
    full = simulate_chain(schedule, x0, generator=torch.Generator().manual_seed(11))
    in_chunks = MarkovChainCache(schedule, x0, seed=11)
    for _ in in_chunks.extend_iter(chunk=7):
        pass
    at_once = MarkovChainCache(schedule, x0, seed=11)
    at_once.extend_to(59)
    on_demand = MarkovChainCache(schedule, x0, seed=11)  # get() computes what is missing
    for t in (5, 59, 0, 33, 34, 12):
        for cache in (in_chunks, at_once, on_demand):
            np.testing.assert_array_equal(cache.get(t).numpy(), full[t].numpy())


def test_closing_extend_iter_early_leaves_a_consistent_cache():
    schedule = make_schedule("linear", 80)
    x0 = _x0()
    cache = MarkovChainCache(schedule, x0, seed=5)
    frontiers = cache.extend_iter(chunk=10)
    assert next(frontiers) == 9 and next(frontiers) == 19
    frontiers.close()  # what a worker does when the user changes the schedule or the seed
    assert cache.frontier == 19
    full = simulate_chain(schedule, x0, generator=torch.Generator().manual_seed(5))
    for t in (19, 4, 50, 79):  # states past the frontier are computed on demand, still the same chain
        np.testing.assert_array_equal(cache.get(t).numpy(), full[t].numpy())


def test_the_same_seed_gives_the_same_chain_and_another_seed_another():
    schedule = make_schedule("linear", 40)
    x0 = _x0()
    a = MarkovChainCache(schedule, x0, seed=2).get(39).numpy()
    b = MarkovChainCache(schedule, x0, seed=2).get(39).numpy()
    c = MarkovChainCache(schedule, x0, seed=3).get(39).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_the_memory_budget_keeps_every_kth_state_and_the_rest_is_recomputed_exactly():
    T = 50
    schedule = make_schedule("linear", T)
    x0 = _x0()  # 12 float32 values: 48 bytes a state
    state_bytes = x0.numel() * x0.element_size()

    roomy = MarkovChainCache(schedule, x0, seed=7, budget_bytes=T * state_bytes)
    roomy.extend_to(T - 1)
    assert roomy.keyframe_every == 1
    assert roomy.stored_timesteps == list(range(-1, T))  # x_0 and every state

    tight = MarkovChainCache(schedule, x0, seed=7, budget_bytes=10 * state_bytes)  # room for 10 states
    tight.extend_to(T - 1)
    assert tight.keyframe_every == 5
    stored = tight.stored_timesteps
    assert stored == [-1, *range(0, T, 5), T - 1]  # x_0, the multiples of 5 and the frontier 49
    assert len(stored) - 1 <= T / tight.keyframe_every + 2
    full = simulate_chain(schedule, x0, generator=torch.Generator().manual_seed(7))
    for t in (48, 3, 13, 14, 27, 0, 49):
        np.testing.assert_array_equal(tight.get(t).numpy(), full[t].numpy())

    with pytest.raises(ValueError, match="memory budget"):
        MarkovChainCache(schedule, x0, seed=7, budget_bytes=0)
