"""Quality against NFE: each sampler of the race scored at a row of NFE budgets, beside the real-vs-real floor.

``quality_vs_nfe`` scores Fashion-MNIST samples by FID, class accuracy and recall with the project's
classifier (``core.evaluation.metrics``), or 2-D samples by MMD² to fresh points of their toy, plus the
seconds each took; ``quality_table`` / ``read_quality_table`` write and read a measured table (the one
shipped beside ``fmnist_unet``), so the app can show numbers without measuring them again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.diffusion.samplers import SAMPLERS, CountingDenoiser, SamplingCancelled
from core.evaluation.metrics import evaluate_images, evaluate_points, real_vs_real_images
from core.evaluation.sampler_race import (
    DEFAULT_LANES,
    DEFAULT_NFES,
    check_lanes,
    lane_kwargs,
    null_class_conditioning,
    steps_for_nfe,
)

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
    chosen = check_lanes(lanes, schedule, 1)
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
    cond = null_class_conditioning(model, n)
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
                        callback=asked_to_stop, **lane_kwargs(lane, spacing),
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
