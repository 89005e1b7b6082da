"""The Edit view's runs: which core editing functions one press of Run calls, on a worker thread.

``edit_runs(request, callback)`` is a generator that calls ``core.diffusion.editing`` one run at a
time and yields an ``EditOutcome`` (numpy copies, a ``TrajectoryRecorder`` for the timeline, and the
scores) after each run. ``EditWorker`` is the app's ``EventStreamWorker`` around it, with a throttled
``progress`` signal from the samplers' per-step callback; Cancel sets the stop flag, the next step's
callback returns True and the core function raises ``SamplingCancelled``, which ends the generator.

- Inpainting: RePaint (with resampling jumps) and the replacement method from the same seed.
- SDEdit: the chosen strength (recorded), then a strip of strengths, each scored by a faithfulness
  number (RMS distance to the input, ``faithfulness_distance``) and, for Fashion-MNIST models, a
  realism number: the shipped classifier's confidence in its top class (``core.evaluation``).
- Super-resolution: the input averaged down to half size, upscaled by ILVR projection and by bicubic
  interpolation, each scored by its RMS distance to the original.
- Colourisation: the input turned grey (Rec. 601 luma) and coloured again by projection, scored by its
  RMS distance to the original colours and, when the palette is known (coloured shapes), by the
  fraction of shapes given their true colour.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import Signal

from core.diffusion import (
    EDIT_LABELS,
    CountingDenoiser,
    SamplerStep,
    SamplingCancelled,
    TrajectoryRecorder,
    colour_accuracy,
    colourise,
    faithfulness_distance,
    inpaint_repaint,
    inpaint_replace,
    sdedit,
    super_resolve,
    to_grey,
    upsample_bicubic,
)
from core.diffusion.editing import downsample
from core.runtime import set_threads
from core.runtime.memory_format import fastest_denoiser
from desktop_app.workers import UPDATE_INTERVAL_S, EventStreamWorker

STRIP_STRENGTHS = (0.1, 0.3, 0.5, 0.7, 0.9)
SR_FACTOR = 2  # 32×32 ← 16×16


@dataclass
class EditRequest:
    """Everything one run needs (tensors on the CPU; the model is only read)."""

    task: str  # "inpaint", "sdedit", "super_resolution" or "colourise"
    model: object
    schedule: object
    image: torch.Tensor  # (1, C, H, W) in [−1, 1]
    hole: np.ndarray | None = None  # (H, W) 1 = fill (inpainting only)
    steps: int = 50
    strength: float = 0.5
    strip_strengths: tuple[float, ...] = STRIP_STRENGTHS
    jump_length: int = 5
    resamplings: int = 3
    samples: int = 4
    seed: int = 0
    cond: dict | None = None
    realism: bool = False  # score realism with the Fashion-MNIST classifier
    threads: int | None = None
    palette: np.ndarray | None = None  # (K, 3) in [−1, 1]: the colours the source can have (coloured shapes)


@dataclass
class EditOutcome:
    """One finished run (numpy only, safe for the GUI thread)."""

    key: str  # "repaint", "replace", "sdedit", "strip", "low", "bicubic", "super_resolution"
    title: str
    images: np.ndarray  # float32 (N, C, H, W)
    recorder: TrajectoryRecorder | None = None
    caption: str = ""
    strength: float | None = None
    distance: float | None = None  # mean RMS distance to the input (or to the original for SR)
    realism: float | None = None  # mean classifier confidence, 0…1
    seconds: float = 0.0
    evaluations: int = 0
    extra: dict = field(default_factory=dict)


def classifier_confidence(images: torch.Tensor) -> float:
    """Mean top-class probability of the shipped Fashion-MNIST classifier (the app's realism number)."""
    from core.evaluation import classifier_outputs

    _, probs = classifier_outputs(images.clamp(-1, 1))
    return float(probs.max(axis=1).mean())


def _caption(distance: float | None, realism: float | None) -> str:
    parts = []
    if distance is not None:
        parts.append(f"distance {distance:.2f}")
    if realism is not None:
        parts.append(f"realism {realism:.0%}")
    return "\n".join(parts)


def edit_runs(request: EditRequest, callback):
    """Yield an ``EditOutcome`` per run of ``request`` (see the module docstring)."""
    set_threads(request.threads)
    batch = request.image.expand(request.samples, -1, -1, -1).contiguous()
    cond = request.cond
    model = CountingDenoiser(fastest_denoiser(request.model, batch, request.schedule.num_timesteps, cond))

    def generator(offset: int = 0) -> torch.Generator:
        return torch.Generator().manual_seed(request.seed + offset)

    def timed(key, title, function, guide, recorder=None, strength=None):
        start, evaluations = time.perf_counter(), model.evaluations
        out = function()
        distance = float(faithfulness_distance(out, guide).mean())
        realism = classifier_confidence(out) if request.realism else None
        return EditOutcome(
            key, title, out.numpy().astype(np.float32), recorder, _caption(distance, realism), strength,
            distance, realism, time.perf_counter() - start, model.evaluations - evaluations,
        )  # fmt: skip

    common = {"cond": cond, "clip_x0": "clip"}
    if request.task == "inpaint":
        hole = torch.from_numpy(np.asarray(request.hole, dtype=np.float32))
        for key, method, options in (
            ("repaint", inpaint_repaint, {"jump_length": request.jump_length, "resamplings": request.resamplings}),
            ("replace", inpaint_replace, {}),
        ):
            recorder = TrajectoryRecorder()
            yield timed(key, EDIT_LABELS[key], lambda m=method, o=options, r=recorder: m(
                model, batch, hole, request.schedule, request.steps, generator=generator(),
                callback=callback(r), **common, **o,
            ), batch, recorder)  # fmt: skip
    elif request.task == "sdedit":
        recorder = TrajectoryRecorder()
        yield timed("sdedit", f"SDEdit {request.strength:.2f}", lambda: sdedit(
            model, batch, request.schedule, request.steps, strength=request.strength, generator=generator(),
            callback=callback(recorder), **common,
        ), batch, recorder, request.strength)  # fmt: skip
        for strength in request.strip_strengths:
            yield timed("strip", f"t₀ = {strength:.1f}·T", lambda s=strength: sdedit(
                model, batch, request.schedule, request.steps, strength=s, generator=generator(),
                callback=callback(None), **common,
            ), batch, strength=strength)  # fmt: skip
    elif request.task == "super_resolution":
        size = batch.shape[-1]
        low = downsample(batch, SR_FACTOR)
        low_one = low[:1]  # every sample starts from the same low-resolution image: show it once
        yield EditOutcome("low", f"Input, {low.shape[-1]}×{low.shape[-2]}", low_one.numpy().astype(np.float32))
        yield timed("bicubic", "Bicubic", lambda: upsample_bicubic(low_one, SR_FACTOR), batch[:1])  # deterministic
        recorder = TrajectoryRecorder()
        yield timed("super_resolution", EDIT_LABELS["super_resolution"], lambda: super_resolve(
            model, low, request.schedule, request.steps, image_size=size, generator=generator(),
            callback=callback(recorder), **common,
        ), batch, recorder)  # fmt: skip
    elif request.task == "colourise":
        if batch.shape[1] != 3:
            raise ValueError("Colourisation needs a colour model (3 channels); this one makes grey images.")
        grey = to_grey(batch)
        yield EditOutcome("grey", "Grey input", grey[:1].numpy().astype(np.float32), caption="what the model is given")
        recorder = TrajectoryRecorder()
        outcome = timed("colourise", EDIT_LABELS["colourise"], lambda: colourise(
            model, grey, request.schedule, request.steps, generator=generator(), callback=callback(recorder), **common,
        ), batch, recorder)  # fmt: skip
        if request.palette is not None:
            right = colour_accuracy(torch.from_numpy(outcome.images), batch, torch.as_tensor(request.palette))
            outcome.extra["colour_accuracy"] = right
            outcome.caption += f"\ntrue colour {right:.0%}"
        yield outcome
    else:
        raise ValueError(f"Unknown edit '{request.task}'.")


class EditWorker(EventStreamWorker):
    """Runs ``edit_runs`` on a worker thread: ``events([EditOutcome])``, ``progress(done, total, label)``."""

    progress = Signal(int, int, str)

    def __init__(self, request: EditRequest) -> None:
        super().__init__()
        self.request = request
        self._last_progress = 0.0

    def cancel(self) -> None:
        self.request_stop()

    def _callback(self, recorder: TrajectoryRecorder | None):
        def on_step(step: SamplerStep) -> bool:
            stop = recorder(step) if recorder is not None else False
            now = time.perf_counter()
            if step.index == step.num_steps - 1 or now - self._last_progress >= UPDATE_INTERVAL_S:
                self._last_progress = now
                self.progress.emit(step.index + 1, step.num_steps, f"t = {step.t}")
            return bool(stop) or self.stop_requested

        return on_step

    def make_events(self):
        try:
            yield from edit_runs(self.request, self._callback)
        except SamplingCancelled:
            return
