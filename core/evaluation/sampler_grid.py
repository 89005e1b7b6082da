"""The X/Y grid of the sampler race: rows = samplers, columns = NFE budgets, every cell from the same x_T.

``sampler_grid`` is a generator of small events (progress, then one ``GridFinished``), like
``core.evaluation.sampler_race.sampler_race``; each cell records the NFE it made and its RMS distance to
the race's high-accuracy reference at t = 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.diffusion.samplers import SAMPLERS, CountingDenoiser, SamplingCancelled, evaluations_per_run, make_timesteps
from core.evaluation.sampler_race import (
    DEFAULT_LANES,
    DEFAULT_NFES,
    check_lanes,
    lane_kwargs,
    lane_timesteps,
    null_class_conditioning,
    reference_step,
    rms,
    steps_for_nfe,
)

# --- the X/Y grid: samplers × NFE ----------------------------------------------------------------


@dataclass(frozen=True)
class GridProgress:
    done: int  # network evaluations done (reference and cells)
    total: int
    lane: str  # lane key, or "reference"


@dataclass(frozen=True)
class GridCell:
    """One cell of the grid: lane ``lane`` at a budget of ``nfe`` network evaluations, from the shared x_T."""

    lane: str
    label: str
    budget: int  # the column: the NFE budget asked for
    nfe: int  # evaluations actually made (Heun: 2·steps − 1 may be one fewer than the budget)
    steps: int
    samples: np.ndarray  # (B, …) the clean samples
    error: float  # RMS distance to the reference's samples from the same x_T


@dataclass
class GridResult:
    lanes: list[str]  # the rows
    nfes: list[int]  # the columns (the budgets asked for)
    reference: np.ndarray  # (B, …) the reference ODE solve's samples
    reference_steps: int
    cells: dict[tuple[str, int], GridCell] = field(default_factory=dict)  # (lane, budget) → cell
    seconds: float = 0.0


@dataclass(frozen=True)
class GridFinished:
    result: GridResult


def sampler_grid(
    model,
    schedule,
    lanes: Sequence[str] = DEFAULT_LANES,
    nfes: Sequence[int] = DEFAULT_NFES,
    *,
    x_T: torch.Tensor,
    seed: int = 0,
    spacing: str = "default",
    clip_x0=None,
    reference_steps: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[GridProgress | GridCell | GridFinished]:
    """An X/Y grid: rows = ``lanes``, columns = NFE budgets, every cell sampled from the same ``x_T``.

    Each cell runs its sampler for the most steps that fit the budget (``steps_for_nfe``) with a generator
    seeded with ``seed``, and is scored by its RMS distance to a reference: DPM-Solver++(3M) over
    ``reference_steps`` (default all T) trailing timesteps from the same x_T. Yields progress after every
    network call (per cell, replayed after it), one ``GridCell`` per cell and one ``GridFinished``.
    ``stop()`` is asked between steps; when it returns True the grid ends without a result.
    """
    chosen = check_lanes(lanes, schedule, 1)
    nfes = [int(n) for n in nfes]
    T = schedule.num_timesteps
    if not nfes or min(nfes) < 1 or max(nfes) > T:
        raise ValueError(f"Each NFE budget of the grid must be between 1 and {T}.")
    if len(set(nfes)) != len(nfes):
        raise ValueError("Each NFE budget can be a column only once.")
    reference_steps = T if reference_steps is None else int(reference_steps)
    if not 1 <= reference_steps <= T:
        raise ValueError(f"The reference takes 1 to {T} steps, not {reference_steps}.")
    if not torch.is_tensor(x_T) or x_T.ndim < 2 or not bool(torch.isfinite(x_T).all()):
        raise ValueError("The shared start x_T must be a finite batch tensor of shape (B, …).")
    for lane in chosen:  # a bad spacing is reported now, not in the worker
        lane_timesteps(lane.key, schedule, 1, spacing)
    return _grid(model, schedule, chosen, nfes, x_T, int(seed), spacing, clip_x0, reference_steps, stop)


@torch.no_grad()
def _grid(model, schedule, chosen, nfes, x_T, seed, spacing, clip_x0, reference_steps, stop):
    started = time.perf_counter()
    cond = null_class_conditioning(model, x_T.shape[0])
    plans = [(lane, budget, steps_for_nfe(lane.key, budget)) for lane in chosen for budget in nfes]
    total = reference_steps + sum(evaluations_per_run(lane.sampler, steps) for lane, _, steps in plans)
    ref_ts = make_timesteps(schedule, reference_steps, "trailing")
    x, history = x_T, ([], [])
    for i, t in enumerate(ref_ts):
        if stop is not None and stop():
            return
        t_next = ref_ts[i + 1] if i + 1 < len(ref_ts) else -1
        x = reference_step(model, x, schedule, t, t_next, cond, clip_x0, history)
        yield GridProgress(i + 1, total, "reference")
    reference, done = x, reference_steps
    result = GridResult([lane.key for lane in chosen], nfes, reference.numpy().copy(), reference_steps)
    for lane, budget, steps in plans:
        counter = CountingDenoiser(model)
        progress: list[GridProgress] = []

        def record(_step, counter=counter, progress=progress, lane=lane, base=done):
            progress.append(GridProgress(base + counter.evaluations, total, lane.key))
            return stop is not None and stop()

        try:
            samples = SAMPLERS[lane.sampler](
                counter, x_T, schedule, steps, generator=torch.Generator(device=x_T.device).manual_seed(seed),
                callback=record, cond=cond, clip_x0=clip_x0, **lane_kwargs(lane, spacing),
            )  # fmt: skip
        except SamplingCancelled:
            return
        yield from progress
        done += counter.evaluations
        cell = GridCell(
            lane.key, lane.label, budget, counter.evaluations, steps, samples.numpy().copy(), rms(samples, reference)
        )
        result.cells[(lane.key, budget)] = cell
        yield cell
    result.seconds = time.perf_counter() - started
    yield GridFinished(result)
