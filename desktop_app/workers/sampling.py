"""SamplingWorker: run one or more samplers from the same x_T and record their trajectories."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import Signal, Slot

from core.diffusion import (
    DEFAULT_BUDGET_BYTES,
    CountingDenoiser,
    SamplerStep,
    SamplingCancelled,
    TrajectoryRecorder,
    evaluations_per_run,
    get_sampler,
)
from core.runtime import set_threads
from core.runtime.memory_format import fastest_denoiser
from desktop_app.workers.base import UPDATE_INTERVAL_S, Worker


@dataclass(frozen=True)
class LivePreview:
    """What a sampling run shows while it runs (copies, on the CPU): x_t at timestep t and x̂_0."""

    t: int
    x_t: np.ndarray
    pred_x0: np.ndarray


@dataclass
class SamplingJob:
    """One sampler run: which sampler, how many steps, and its options (e.g. DDIM's η)."""

    sampler: str
    steps: int
    options: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        from core.diffusion import SAMPLER_LABELS

        return f"{SAMPLER_LABELS.get(self.sampler, self.sampler)}, {self.steps} steps"


@dataclass
class SamplingResult:
    """What one finished job produced (numpy only, safe to hand to the GUI thread)."""

    job: SamplingJob
    samples: np.ndarray  # float32 (B, *sample_shape), the final x_0 of the whole batch
    trajectory: TrajectoryRecorder
    evaluations: int  # network evaluations (NFE) actually made
    seconds: float  # wall time of the run


class SamplingWorker(Worker):
    """Runs one or more samplers from the same starting noise x_T and records their trajectories.

    ``progress(job_index, steps_done, num_steps)`` is throttled to ``UPDATE_HZ``;
    ``preview(job_index, pred_x0)`` sends the current x̂_0 of the recorded samples (numpy copy) at
    most ``PREVIEW_HZ`` times a second; ``result(SamplingResult)`` is emitted once per job.
    ``cancel()`` stops the run at the sampler's next step (within one network evaluation).
    """

    progress = Signal(int, int, int)
    preview = Signal(int, object)
    result = Signal(object)
    PREVIEW_HZ = 10

    def __init__(
        self,
        model,
        schedule,
        x_T: torch.Tensor,
        jobs: list[SamplingJob],
        *,
        cond: dict | None = None,
        seed: int = 0,
        max_samples: int | None = None,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        clip_x0=None,
        threads: int | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if not jobs:
            raise ValueError("Choose at least one sampler to run.")
        self.model = model
        self.schedule = schedule
        self.x_T = x_T
        self.jobs = list(jobs)
        self.cond = cond
        self.seed = int(seed)
        self.clip_x0 = clip_x0
        self.threads = threads  # torch CPU threads while sampling (None: leave torch's setting)
        self.device = torch.device(device) if device is not None else x_T.device
        self.recorders = [TrajectoryRecorder(max_samples, budget_bytes // len(jobs)) for _ in jobs]
        self.results: list[SamplingResult] = []
        self._job_index = 0
        self._last_progress = 0.0
        self._last_preview = 0.0

    def cancel(self) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        super().request_stop()
        for recorder in self.recorders:
            recorder.cancel()

    def _on_device(self):
        """The model, x_T and the conditioning on ``self.device``.

        The model is copied rather than moved when it lives elsewhere: the same object may be in use
        by the GUI (the model list) or by a training run, which must never see it change device.
        The initial noise is drawn on the CPU and moved, so a seed gives the same x_T everywhere.
        """
        model = self.model
        parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
        if parameter is not None and parameter.device != self.device:
            model = copy.deepcopy(model).to(self.device)
        x_T = self.x_T.to(self.device)
        cond = None
        if self.cond is not None:
            cond = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in self.cond.items()}
        return model, x_T, cond

    def _on_step(self, step: SamplerStep) -> bool:
        stop = self.recorders[self._job_index](step)
        now = time.perf_counter()
        last = step.index == step.num_steps - 1
        if last or now - self._last_progress >= UPDATE_INTERVAL_S:
            self._last_progress = now
            self.progress.emit(self._job_index, step.index + 1, step.num_steps)
        if not last and now - self._last_preview >= 1.0 / self.PREVIEW_HZ:
            self._last_preview = now
            kept = self.recorders[self._job_index].samples_kept
            live = LivePreview(
                int(step.t),
                step.x_t[:kept].detach().cpu().float().numpy(),
                step.pred_x0[:kept].detach().cpu().float().numpy(),
            )
            self.preview.emit(self._job_index, live)
        return stop or self.stop_requested

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            set_threads(self.threads)
            model, x_T, cond = self._on_device()
            model = fastest_denoiser(model, x_T, self.schedule.num_timesteps, cond)  # measured once per model
            for index, job in enumerate(self.jobs):
                self._job_index = index
                sampler = get_sampler(job.sampler)
                counting = CountingDenoiser(model)
                generator = torch.Generator(device=x_T.device).manual_seed(self.seed + 1)
                start = time.perf_counter()
                x_0 = sampler(
                    counting,
                    x_T.clone(),
                    self.schedule,
                    job.steps,
                    generator=generator,
                    callback=self._on_step,
                    cond=cond,
                    clip_x0=self.clip_x0,
                    **job.options,
                )
                seconds = time.perf_counter() - start
                evaluations = counting.evaluations or evaluations_per_run(job.sampler, job.steps)
                result = SamplingResult(
                    job, x_0.detach().cpu().float().numpy(), self.recorders[index], evaluations, seconds
                )
                self.results.append(result)
                self.result.emit(result)
        except SamplingCancelled:
            self.cancelled.emit()
        except Exception as error:
            self._fail(error)
        finally:
            self._finish()
