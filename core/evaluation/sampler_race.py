"""The sampler race: several samplers from the same x_T, their cost (NFE) and their error, and quality vs NFE.

"Why 1,000 steps, and how few can I get away with?" is answered here by measurement:

- ``sampler_race`` runs every chosen sampler ("lane") from exactly the same x_T, each with its own
  generator seeded with the same seed, counts the network evaluations each really makes (NFE, with
  ``CountingDenoiser``; ``evaluations_per_run`` says what it should be), and measures after every
  step the RMS distance of the lane's state to a high-accuracy reference trajectory at the same
  timestep. The reference is the probability-flow ODE solved with DPM-Solver++(3M) over every one of
  the T timesteps (third order; Lu et al. 2022): an ODE sampler's error to it falls as its steps grow, a stochastic sampler (DDPM, DDIM
  η = 1, the reverse SDE) ends on a different sample of the same distribution and its error stays large.
- ``quality_vs_nfe`` (``core.evaluation.sampler_quality``) scores each lane at a row of NFE budgets (5, 10, 20, 50): FID, class accuracy
  and recall of Fashion-MNIST samples with the project's classifier (``core.evaluation.metrics``), or
  the MMD² of 2-D samples to fresh points of their toy, plus the seconds each took; and the
  real-vs-real floor, the same metric of real data against real data at the same sample count.

The X/Y grid of samplers × NFE is ``core.evaluation.sampler_grid``. All three are generators of small events (progress, one result per lane or budget, a final result), so the
app's ``EventStreamWorker``, the tests and ``benchmarks/bench_sampler_race.py`` drive the same loop and
a consumer can stop between events.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.diffusion.samplers import (
    SAMPLERS,
    CountingDenoiser,
    SamplingCancelled,
    evaluations_per_run,
    make_timesteps,
)
from core.evaluation.metrics import balanced_labels

# --- the lanes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lane:
    """One contestant: a sampler of ``core.diffusion.SAMPLERS`` and its options (DDIM's η)."""

    key: str  # unique name of the lane, e.g. "ddim_eta1"
    sampler: str  # key in SAMPLERS
    label: str
    options: tuple[tuple[str, float], ...] = ()
    stochastic: bool = False  # draws fresh noise every step (ends on another sample than the ODE)


LANES: dict[str, Lane] = {
    lane.key: lane
    for lane in (
        Lane("ddpm", "ddpm", "DDPM (ancestral)", stochastic=True),
        Lane("ddim", "ddim", "DDIM η = 0", (("eta", 0.0),)),
        Lane("ddim_eta1", "ddim", "DDIM η = 1", (("eta", 1.0),), stochastic=True),
        Lane("euler", "euler", "Euler (PF-ODE)"),
        Lane("heun", "heun", "Heun (2nd order)"),
        Lane("dpmpp_2m", "dpmpp_2m", "DPM-Solver++(2M)"),
        Lane("dpmpp_3m", "dpmpp_3m", "DPM-Solver++(3M)"),
        Lane("unipc", "unipc", "UniPC (bh2 + UniC)"),
        Lane("deis", "deis", "DEIS (3rd order)"),
        Lane("euler_maruyama", "euler_maruyama", "Reverse SDE (Euler–Maruyama)", stochastic=True),
    )
    if lane.sampler in SAMPLERS
}
DEFAULT_LANES = ("ddim", "euler", "heun", "dpmpp_2m", "ddpm")
DEFAULT_NFES = (5, 10, 20, 50)
RACE_SPACINGS = ("default", "trailing", "linear", "leading", "karras")  # "default": each sampler's own


def get_lane(key: str) -> Lane:
    try:
        return LANES[key]
    except KeyError:
        raise ValueError(f"Unknown sampler '{key}'. Choose among: {', '.join(LANES)}.") from None


def steps_for_nfe(key: str, nfe: int) -> int:
    """The most steps whose NFE fits in ``nfe`` (Heun: 2n − 1 evaluations for n steps; others n)."""
    nfe = int(nfe)
    if nfe < 1:
        raise ValueError(f"A sampler needs at least one network evaluation, not {nfe}.")
    return (nfe + 1) // 2 if get_lane(key).sampler == "heun" else nfe


def lane_kwargs(lane: Lane, spacing: str) -> dict:
    kwargs = dict(lane.options)
    if spacing != "default":
        kwargs["spacing"] = spacing
    return kwargs


def lane_timesteps(key: str, schedule, steps: int, spacing: str = "default") -> list[int]:
    """The timesteps lane ``key`` visits in ``steps`` steps (its own default spacing unless given)."""
    lane = get_lane(key)
    if spacing == "default":
        import inspect

        spacing = inspect.signature(SAMPLERS[lane.sampler]).parameters["spacing"].default
    if spacing not in RACE_SPACINGS:
        raise ValueError(f"Unknown timestep spacing '{spacing}'. Choose one of: {', '.join(RACE_SPACINGS)}.")
    return make_timesteps(schedule, steps, spacing)


def check_lanes(lanes: Sequence[str], schedule, steps: int) -> list[Lane]:
    if not lanes:
        raise ValueError("Pick at least one sampler for the race.")
    chosen = [get_lane(k) for k in lanes]
    if len({lane.key for lane in chosen}) != len(chosen):
        raise ValueError("Each sampler can run only once in a race.")
    if not 1 <= int(steps) <= schedule.num_timesteps:
        raise ValueError(f"The race takes 1 to {schedule.num_timesteps} steps, not {steps}.")
    return chosen


def null_class_conditioning(model, n: int) -> dict | None:
    """Class-balanced labels for a class-conditional model (no guidance: w = 1), None otherwise."""
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    return {"class_labels": balanced_labels(n, num_classes)} if num_classes else None


def rms(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square distance per coordinate between two batches of states."""
    return float((a.double() - b.double()).square().mean().sqrt())


# --- the race -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaceProgress:
    done: int  # network evaluations done (reference and lanes)
    total: int
    lane: str  # lane key, or "reference"


@dataclass
class LaneRun:
    """One lane's run: what it visited, what it cost and how far it was from the reference."""

    key: str
    label: str
    timesteps: list[int]  # t of each step; the state after the last step is the clean sample
    nfe: int  # network evaluations counted while it ran
    states: np.ndarray  # (steps + 1, keep, …): x_T, then the state after every step
    pred_x0: np.ndarray  # (steps, keep, …): x̂_0 at every step
    errors: np.ndarray  # (steps,): RMS distance to the reference after each step, at the same timestep
    seconds: float

    @property
    def final_error(self) -> float:
        return float(self.errors[-1])


@dataclass
class RaceResult:
    x_T: np.ndarray  # noqa: N815 - the paper's name; (keep, …) the shared start
    reference_steps: int
    reference_final: np.ndarray  # (keep, …) the reference's clean sample
    lanes: list[LaneRun] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class LaneFinished:
    run: LaneRun


@dataclass(frozen=True)
class RaceFinished:
    result: RaceResult


def sampler_race(
    model,
    schedule,
    lanes: Sequence[str] = DEFAULT_LANES,
    steps: int = 20,
    *,
    x_T: torch.Tensor,
    seed: int = 0,
    spacing: str = "default",
    clip_x0=None,
    reference_steps: int | None = None,
    keep: int | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[RaceProgress | LaneFinished | RaceFinished]:
    """Run ``lanes`` for ``steps`` steps each from ``x_T`` and measure each against the reference.

    Every lane starts from the very same tensor ``x_T`` and gets a generator seeded with ``seed``.
    The reference is DPM-Solver++(3M) over ``reference_steps`` (default: all T) trailing timesteps plus every
    timestep a lane visits; its state is kept only at those, so the memory stays that of the lanes.
    ``keep`` limits how many samples' states are recorded for the scrubber (all by default).
    ``stop()`` is asked between network calls; when it returns True the race ends without a result.
    Input is checked here, before anything runs, so a caller can show the problem at once.
    """
    chosen = check_lanes(lanes, schedule, steps)
    T = schedule.num_timesteps
    reference_steps = T if reference_steps is None else int(reference_steps)
    if not 1 <= reference_steps <= T:
        raise ValueError(f"The reference takes 1 to {T} steps, not {reference_steps}.")
    plans = [(lane, lane_timesteps(lane.key, schedule, steps, spacing)) for lane in chosen]
    if not torch.is_tensor(x_T) or x_T.ndim < 2 or not bool(torch.isfinite(x_T).all()):
        raise ValueError("The shared start x_T must be a finite batch tensor of shape (B, …).")
    return _race(model, schedule, plans, x_T, int(seed), spacing, clip_x0, reference_steps, keep, stop)


@torch.no_grad()
def _race(model, schedule, plans, x_T, seed, spacing, clip_x0, reference_steps, keep, stop):
    started = time.perf_counter()
    keep = x_T.shape[0] if keep is None else max(1, min(int(keep), x_T.shape[0]))
    cond = null_class_conditioning(model, x_T.shape[0])
    total = reference_steps + sum(evaluations_per_run(lane.sampler, len(ts)) for lane, ts in plans)
    done = 0

    # The reference: DPM-Solver++(3M) over a fine trailing grid plus every timestep a lane reaches, so its
    # state is known exactly where each lane's is (−1: the clean sample). Only those states are kept.
    wanted = {t for _, ts in plans for t in ts[1:]} | {-1}
    ref_ts = sorted(set(make_timesteps(schedule, reference_steps, "trailing")) | (wanted - {-1}), reverse=True)
    total += len(ref_ts) - reference_steps
    reference: dict[int, torch.Tensor] = {}
    x, history = x_T, ([], [])
    for i, t in enumerate(ref_ts):
        if stop is not None and stop():
            return
        t_next = ref_ts[i + 1] if i + 1 < len(ref_ts) else -1
        x = reference_step(model, x, schedule, t, t_next, cond, clip_x0, history)
        if t_next in wanted:
            reference[t_next] = x.clone()
        done += 1
        yield RaceProgress(done, total, "reference")

    result = RaceResult(x_T[:keep].numpy().copy(), len(ref_ts), reference[-1][:keep].numpy().copy())
    for lane, ts in plans:
        counter = CountingDenoiser(model)
        generator = torch.Generator(device=x_T.device).manual_seed(seed)
        states, x0s, errors = [x_T[:keep].clone()], [], []
        progress: list[RaceProgress] = []
        lane_started = time.perf_counter()

        def record(step, counter=counter, states=states, x0s=x0s, errors=errors, progress=progress, lane=lane,
                   base=done):  # fmt: skip
            states.append(step.x_next[:keep].clone())
            x0s.append(step.pred_x0[:keep].clone())
            errors.append(rms(step.x_next, reference[step.t_next]))
            progress.append(RaceProgress(base + counter.evaluations, total, lane.key))
            return stop is not None and stop()

        # A sampler runs to the end in one call; its per-step progress is replayed right after.
        # ``stop()`` is asked after every step, so a long lane can be cancelled in the middle.
        try:
            SAMPLERS[lane.sampler](
                counter, x_T, schedule, len(ts), generator=generator, callback=record, cond=cond, clip_x0=clip_x0,
                **lane_kwargs(lane, spacing),
            )  # fmt: skip
        except SamplingCancelled:
            return
        yield from progress
        done += counter.evaluations
        run = LaneRun(
            key=lane.key,
            label=lane.label,
            timesteps=list(ts),
            nfe=counter.evaluations,
            states=torch.stack(states).numpy(),
            pred_x0=torch.stack(x0s).numpy(),
            errors=np.array(errors),
            seconds=time.perf_counter() - lane_started,
        )
        result.lanes.append(run)
        yield LaneFinished(run)
    result.seconds = time.perf_counter() - started
    yield RaceFinished(result)


def reference_step(model, x, schedule, t, t_next, cond, clip_x0, history):
    """One DPM-Solver++(3M) step from t to t_next (third order once it has three x̂_0; the first two steps
    are first and second order).

    The reference is built one step at a time so that it can report progress (and be stopped) between
    network calls; ``history`` holds the last x̂_0 and λ. It must be more accurate than the lanes it
    judges: DDIM over T = 200 steps is off by ≈ 0.01 RMS (first order), DPM-Solver++(2M) by ≈ 3·10⁻⁴ on
    Gaussian data, both more than a third-order lane at 100 steps, whose error then seemed to rise."""
    from core.diffusion.multistep_samplers import MAX_ORDER, dpmpp_multistep_update
    from core.diffusion.samplers import denoise

    pred_x0, _ = denoise(model, x, t, schedule, cond, clip_x0)
    if t_next < 0:
        return pred_x0
    x0s, lams = history
    a_s, a_t = float(schedule.alphas_cumprod[t]), float(schedule.alphas_cumprod[t_next])
    x0s.append(pred_x0)
    lams.append(0.5 * math.log(a_s / (1.0 - a_s)))
    del x0s[:-MAX_ORDER], lams[:-MAX_ORDER]
    lam_t = 0.5 * math.log(a_t / (1.0 - a_t))
    return dpmpp_multistep_update(x, x0s, lams, math.sqrt(a_t), math.sqrt(1 - a_t), math.sqrt(1 - a_s), lam_t, len(x0s))
