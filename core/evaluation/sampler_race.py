"""The sampler race: several samplers from the same x_T, their cost (NFE) and their error, and quality vs NFE.

"Why 1,000 steps, and how few can I get away with?" is answered here by measurement:

- ``sampler_race`` runs every chosen sampler ("lane") from exactly the same x_T, each with its own
  generator seeded with the same seed, counts the network evaluations each really makes (NFE, with
  ``CountingDenoiser``; ``evaluations_per_run`` says what it should be), and measures after every
  step the RMS distance of the lane's state to a high-accuracy reference trajectory at the same
  timestep. The reference is the probability-flow ODE solved with DPM-Solver++(3M) over every one of
  the T timesteps (third order; Lu et al. 2022): an ODE sampler's error to it falls as its steps grow, a stochastic sampler (DDPM, DDIM
  η = 1, the reverse SDE) ends on a different sample of the same distribution and its error stays large.
- ``quality_vs_nfe`` scores each lane at a row of NFE budgets (5, 10, 20, 50): FID, class accuracy
  and recall of Fashion-MNIST samples with the project's classifier (``core.evaluation.metrics``), or
  the MMD² of 2-D samples to fresh points of their toy, plus the seconds each took; and the
  real-vs-real floor, the same metric of real data against real data at the same sample count.

Both are generators of small events (progress, one result per lane or budget, a final result), so the
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
from core.evaluation.metrics import balanced_labels, evaluate_images, evaluate_points, real_vs_real_images

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


def _lane_kwargs(lane: Lane, spacing: str) -> dict:
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


def _check(lanes: Sequence[str], schedule, steps: int) -> list[Lane]:
    if not lanes:
        raise ValueError("Pick at least one sampler for the race.")
    chosen = [get_lane(k) for k in lanes]
    if len({lane.key for lane in chosen}) != len(chosen):
        raise ValueError("Each sampler can run only once in a race.")
    if not 1 <= int(steps) <= schedule.num_timesteps:
        raise ValueError(f"The race takes 1 to {schedule.num_timesteps} steps, not {steps}.")
    return chosen


def _conditioning(model, n: int) -> dict | None:
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
    chosen = _check(lanes, schedule, steps)
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
    cond = _conditioning(model, x_T.shape[0])
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
        x = _one_reference_step(model, x, schedule, t, t_next, cond, clip_x0, history)
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
                **_lane_kwargs(lane, spacing),
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


def _one_reference_step(model, x, schedule, t, t_next, cond, clip_x0, history):
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
    chosen = _check(lanes, schedule, 1)
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
    cond = _conditioning(model, x_T.shape[0])
    plans = [(lane, budget, steps_for_nfe(lane.key, budget)) for lane in chosen for budget in nfes]
    total = reference_steps + sum(evaluations_per_run(lane.sampler, steps) for lane, _, steps in plans)
    ref_ts = make_timesteps(schedule, reference_steps, "trailing")
    x, history = x_T, ([], [])
    for i, t in enumerate(ref_ts):
        if stop is not None and stop():
            return
        t_next = ref_ts[i + 1] if i + 1 < len(ref_ts) else -1
        x = _one_reference_step(model, x, schedule, t, t_next, cond, clip_x0, history)
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
                callback=record, cond=cond, clip_x0=clip_x0, **_lane_kwargs(lane, spacing),
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


# --- quality vs NFE -------------------------------------------------------------------------------


@dataclass(frozen=True)
class QualityProgress:
    done: int  # sampling batches done
    total: int
    lane: str
    nfe: int


@dataclass(frozen=True)
class QualityPoint:
    """One lane at one NFE budget."""

    lane: str
    label: str
    nfe: int  # network evaluations actually made per sample
    steps: int
    metrics: dict  # image models: fid, class_accuracy (conditional), recall, precision…; 2-D: mmd, …
    seconds: float  # wall-clock seconds to draw the samples (not to score them)


@dataclass
class QualityResult:
    kind: str  # "images" or "points"
    metric: str  # the headline metric: "fid" or "mmd"
    num_samples: int
    floor: dict  # the same metrics of real data against real data, at the same sample count
    points: list[QualityPoint] = field(default_factory=list)

    def curve(self, lane: str, metric: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(NFE, metric) of one lane, in the order measured."""
        mine = [p for p in self.points if p.lane == lane]
        name = metric or self.metric
        return np.array([p.nfe for p in mine]), np.array([p.metrics.get(name, math.nan) for p in mine])


@dataclass(frozen=True)
class QualityFinished:
    result: QualityResult


def data_kind(model) -> str:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return "images"
    if config is not None and getattr(config, "data_dim", None) == 2:
        return "points"
    raise ValueError("Quality vs NFE needs a Fashion-MNIST image model or a 2-D toy model.")


def points_floor(dataset: str, n: int, seed: int = 12345) -> dict:
    """Real vs real for a 2-D toy: ``n`` fresh points scored exactly like samples, against another draw."""
    from core.data import make_toy_2d

    return evaluate_points(make_toy_2d(dataset, n, seed=seed + 1).points, dataset, seed=seed)


def quality_vs_nfe(
    model,
    schedule,
    lanes: Sequence[str] = DEFAULT_LANES,
    nfes: Sequence[int] = DEFAULT_NFES,
    *,
    num_samples: int = 200,
    dataset: str | None = None,
    seed: int = 0,
    spacing: str = "default",
    batch_size: int = 100,
    floor: dict | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[QualityProgress | QualityPoint | QualityFinished]:
    """Score every lane at every NFE budget from the same noise; then the real-vs-real floor.

    Images are scored with ``evaluate_images`` (FID, class accuracy for a conditional model, recall…)
    and need a 1×32×32 Fashion-MNIST model; 2-D samples with ``evaluate_points`` against ``dataset``
    (the toy's name). Every (lane, budget) starts from the same x_T (seeded by ``seed``) with the
    same class-balanced labels. A Heun budget of n NFE runs ⌈n/2⌉ steps (2·steps − 1 evaluations).
    Yields progress after each batch of ``batch_size`` samples, a ``QualityPoint`` per (lane, budget)
    and one ``QualityFinished``. ``floor`` may be given when known (it is then not recomputed).
    ``stop()`` is asked after every sampler step; when it returns True the sweep ends without a result.
    """
    kind = data_kind(model)
    chosen = _check(lanes, schedule, 1)
    nfes = [int(n) for n in nfes]
    if not nfes or min(nfes) < 1 or max(nfes) > schedule.num_timesteps:
        raise ValueError(f"Each NFE budget must be between 1 and {schedule.num_timesteps}.")
    num_samples = int(num_samples)
    if kind == "images":
        config = model.config
        if (config.in_channels, config.image_size) != (1, 32):
            raise ValueError("FID and class accuracy use the Fashion-MNIST classifier: they need a 1×32×32 model.")
        if not 10 <= num_samples <= 5000:
            raise ValueError(f"Image metrics need 10 to 5,000 samples, not {num_samples}.")
        shape: tuple[int, ...] = (1, 32, 32)
    else:
        if not dataset:
            raise ValueError("Name the toy the 2-D model was trained on (e.g. 'spiral') to measure its MMD.")
        if num_samples < 10:
            raise ValueError(f"The MMD needs at least 10 samples, not {num_samples}.")
        shape = (2,)
    return _quality(model, schedule, chosen, nfes, num_samples, dataset, int(seed), spacing, int(batch_size),
                    kind, shape, floor, stop)  # fmt: skip


@torch.no_grad()
def _quality(model, schedule, chosen, nfes, n, dataset, seed, spacing, batch_size, kind, shape, floor, stop):
    x_T = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))
    cond = _conditioning(model, n)
    labels = None if cond is None else cond["class_labels"]
    clip_x0 = "clip" if kind == "images" else None
    batches = list(range(0, n, max(1, batch_size)))
    total, done = len(chosen) * len(nfes) * len(batches), 0
    result = QualityResult(kind, "fid" if kind == "images" else "mmd", n, {})

    def asked_to_stop(_step) -> bool:
        return stop is not None and stop()

    for lane in chosen:
        for budget in nfes:
            steps = steps_for_nfe(lane.key, budget)
            counter = CountingDenoiser(model)
            generator = torch.Generator().manual_seed(seed)
            chunks, started = [], time.perf_counter()
            for start in batches:
                part = slice(start, min(start + batch_size, n))
                part_cond = None if cond is None else {"class_labels": labels[part]}
                try:
                    chunks.append(SAMPLERS[lane.sampler](
                        counter, x_T[part], schedule, steps, generator=generator, cond=part_cond, clip_x0=clip_x0,
                        callback=asked_to_stop, **_lane_kwargs(lane, spacing),
                    ))  # fmt: skip
                except SamplingCancelled:
                    return
                done += 1
                yield QualityProgress(done, total, lane.key, budget)
            seconds = time.perf_counter() - started
            samples = torch.cat(chunks)
            metrics = evaluate_images(samples, labels) if kind == "images" else evaluate_points(samples, dataset)
            point = QualityPoint(lane.key, lane.label, counter.evaluations // len(batches), steps, metrics, seconds)
            result.points.append(point)
            yield point
    if floor is None:
        floor = real_vs_real_images(n) if kind == "images" else points_floor(dataset, n)
    result.floor = dict(floor)
    yield QualityFinished(result)


# --- a measured table, as the benchmark writes it and the app reads it --------------------------------


def quality_table(result: QualityResult, provenance: dict) -> dict:
    """A ``QualityResult`` as plain JSON data, with how it was measured (``benchmarks/bench_sampler_race.py``)."""
    points = [
        {"lane": p.lane, "label": p.label, "nfe": p.nfe, "steps": p.steps, "seconds": p.seconds,
         "metrics": {k: float(v) for k, v in p.metrics.items()}}
        for p in result.points
    ]  # fmt: skip
    floor = {k: float(v) for k, v in result.floor.items()}
    return {"kind": result.kind, "metric": result.metric, "num_samples": result.num_samples, "floor": floor,
            "points": points, "provenance": dict(provenance)}  # fmt: skip


def read_quality_table(path) -> tuple[QualityResult, dict]:
    """Read a table written by ``quality_table`` back as (result, provenance); ValueError if it is not one."""
    import json
    from pathlib import Path

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        result = QualityResult(str(data["kind"]), str(data["metric"]), int(data["num_samples"]), dict(data["floor"]))
        for p in data["points"]:
            result.points.append(QualityPoint(str(p["lane"]), str(p["label"]), int(p["nfe"]), int(p["steps"]),
                                              dict(p["metrics"]), float(p["seconds"])))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a quality-vs-NFE table: {error}") from None
    return result, dict(data.get("provenance", {}))
