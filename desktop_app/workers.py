"""Workers: run core's long computations on a QThread and report through Qt signals.

A worker contains no maths. It adapts one of core's generators or callbacks to signals, in the way
superqt's ``thread_worker`` does:

=============  =====================================================================
``started``    the work began (emitted from the worker thread)
``errored``    the work failed; the argument is a sentence for the user (never a traceback)
``cancelled``  the user stopped it and it stopped
``finished``   always the last signal, after success, error or cancel; the thread then quits
=============  =====================================================================

Rules every worker here follows (see docs/ARCHITECTURE.md and STYLE.md):

- Widgets are touched only on the GUI thread: workers send numpy copies, never tensors that the
  worker may still write to, and at most ``UPDATE_HZ`` times per second.
- Views connect worker signals to ``@Slot`` methods (PySide6 has crashed on cross-thread lambdas).
- Stopping is cooperative: ``request_stop()`` sets a flag the loop checks between steps;
  ``stop_thread`` then quits and waits. No thread is ever ``terminate()``-d.
"""

from __future__ import annotations

import copy
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from core.device import cpu_count, set_threads
from core.samplers import CountingDenoiser, SamplerStep, SamplingCancelled, evaluations_per_run, get_sampler
from core.trajectory import DEFAULT_BUDGET_BYTES, TrajectoryRecorder

log = logging.getLogger(__name__)

UPDATE_HZ = 30  # at most this many GUI updates per second from one worker
UPDATE_INTERVAL_S = 1.0 / UPDATE_HZ


def default_worker_threads() -> int:
    """CPU threads for torch work in a worker: all cores but one, so the GUI thread keeps a core.

    Measured with benchmarks/bench_gui_stall.py on the 2-core reference machine under load: with
    torch on both cores the 2-D toy trained at 5 steps/s and a tiny U-Net at 0.1 steps/s (OpenMP
    threads spin-wait for the core the GUI thread holds); with one thread, 33 and 1.1 steps/s.
    """
    return max(1, cpu_count() - 1)


def readable_error(error: BaseException) -> str:
    """A sentence for the user about an exception raised by torch or core.

    Core's own errors (ValueError subclasses such as CheckpointError or DatasetError, and
    TrainingDiverged) already carry a student-readable message. Out-of-memory errors get advice.
    """
    text = str(error).strip()
    oom = isinstance(error, MemoryError) or "out of memory" in text.lower()
    if isinstance(error, torch.cuda.OutOfMemoryError) or oom:
        return "The device ran out of memory. Try a smaller batch size or a smaller model, or choose the CPU as device."
    kind = type(error).__name__
    if isinstance(error, ValueError) or kind in ("TrainingDiverged", "TrainingError", "CheckpointError"):
        return text or kind
    if isinstance(error, OSError) and getattr(error, "filename", None):
        return f"Could not use the file {error.filename}: {error.strerror or text}."
    return f"{kind}: {text}" if text else kind


class Worker(QObject):
    """Base class: the four lifecycle signals and a thread-safe stop flag."""

    started = Signal()
    errored = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._stop_requested = threading.Event()
        self._done = threading.Event()

    def request_stop(self) -> None:
        """Ask the work to stop at its next check (safe from any thread)."""
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    @property
    def done(self) -> bool:
        """True once ``finished`` was emitted."""
        return self._done.is_set()

    def _fail(self, error: BaseException) -> None:
        log.error("%s failed", type(self).__name__, exc_info=(type(error), error, error.__traceback__))
        self.errored.emit(readable_error(error))

    def _finish(self) -> None:
        self._done.set()
        self.finished.emit()

    @Slot()
    def run(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class WorkerThreadGuard(QObject):
    """Process-wide settings that keep the GUI thread in charge while worker threads run.

    1. Python's cyclic garbage collector runs only on the GUI thread. Automatic collection happens
       in whichever thread allocates when a threshold is crossed, so a worker thread busy in Python
       would otherwise destroy Qt objects that belong to the GUI thread (a pyqtgraph item in a
       reference cycle, a QTimer…): Qt then cannot unregister their timers ("Timers cannot be
       stopped from another thread") and the GUI crashes later (seen in this project's app tests as
       a segfault in ``QTimerInfoList::activateTimers``). The known PyQt/PySide recipe:
       ``gc.disable()`` while workers run, and a GUI-thread ``QTimer`` that collects generation by
       generation when the thresholds are crossed. It ticks every 50 ms: at 250 ms a 2-D toy run
       piled up so many young objects between ticks that each youngest-generation collection held
       the GUI thread for 13 ms on average (up to 19); at 50 ms it is 3 ms (measured on 2 cores).
    2. A shorter GIL switch interval: every time the GUI thread returns from Qt's C++ code it needs
       the GIL back, and waits up to the switch interval (5 ms by default) for a worker busy in
       Python. 0.5 ms measured a lower p99 GUI stall while a 2-D toy trained (33 vs 37 ms and 43 vs
       51 ms in paired runs of benchmarks/bench_gui_stall.py) at the same training speed.

    When the last worker thread has finished, the previous settings are restored.
    """

    INTERVAL_MS = 50
    SWITCH_INTERVAL_S = 0.0005

    def __init__(self) -> None:
        super().__init__()
        self._running_threads = 0
        self._gc_was_enabled = gc.isenabled()
        self._switch_interval = sys.getswitchinterval()
        self._timer = QTimer(self)
        self._timer.setInterval(self.INTERVAL_MS)
        self._timer.timeout.connect(self._on_tick)

    def thread_started(self) -> None:
        if self._running_threads == 0:
            self._gc_was_enabled = gc.isenabled()
            self._switch_interval = sys.getswitchinterval()
            gc.disable()
            sys.setswitchinterval(min(self._switch_interval, self.SWITCH_INTERVAL_S))
            self._timer.start()
        self._running_threads += 1

    @Slot()
    def thread_finished(self) -> None:
        self._running_threads = max(0, self._running_threads - 1)
        if self._running_threads == 0:
            self._timer.stop()
            sys.setswitchinterval(self._switch_interval)
            gc.collect()
            if self._gc_was_enabled:
                gc.enable()

    @Slot()
    def _on_tick(self) -> None:
        threshold = gc.get_threshold()
        count = gc.get_count()
        for generation in (2, 1, 0):  # the oldest generation whose threshold is crossed (as gc itself does)
            if count[generation] > threshold[generation]:
                gc.collect(generation)
                break


_guard: WorkerThreadGuard | None = None


def _worker_thread_guard() -> WorkerThreadGuard:
    global _guard
    if _guard is None:
        _guard = WorkerThreadGuard()
    return _guard


def start_worker(worker: Worker) -> QThread:
    """Move ``worker`` to a new QThread, start it, and return the thread.

    The caller keeps references to both until the thread has finished (``stop_thread`` or the
    thread's ``finished`` signal). ``worker.finished`` quits the thread directly from the worker
    thread, so a GUI thread blocked in ``wait()`` cannot deadlock.
    """
    thread = QThread()
    thread.setObjectName(type(worker).__name__)
    worker.moveToThread(thread)
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    guard = _worker_thread_guard()  # created on (and living in) the GUI thread, which calls this
    guard.thread_started()
    thread.finished.connect(guard.thread_finished)
    thread.start()
    # A queued call to the worker's own slot runs in the worker's thread. (Connecting thread.started to
    # worker.run can end up running the work on the GUI thread when PySide routes the bound method
    # through its global receiver, which lives on the GUI thread.)
    QMetaObject.invokeMethod(worker, "run", Qt.ConnectionType.QueuedConnection)
    return thread


def stop_thread(thread: QThread | None, worker: Worker | None, timeout_ms: int | None = None) -> bool:
    """Ask the worker to stop, quit its thread's event loop and wait; True when the thread ended.

    Never terminates the thread: training checks its stop flag between optimisation steps, so this
    returns within one step (plus a preview or a checkpoint write if one is under way).
    """
    if worker is not None:
        worker.request_stop()
    if thread is None:
        return True
    thread.quit()
    if timeout_ms is None:
        return thread.wait()
    return thread.wait(int(timeout_ms))


class CallWorker(Worker):
    """Run one function off the GUI thread and emit its return value with ``result``."""

    result = Signal(object)

    def __init__(self, function: Callable[[], object]) -> None:
        super().__init__()
        self._function = function

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            value = self._function()
        except Exception as error:  # reported to the user, never raised into Qt
            self._fail(error)
        else:
            self.result.emit(value)
        finally:
            self._finish()


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

_FREQUENT_EVENTS = ("StepEvent", "TimestepLosses")  # batched; every other event is sent at once


class TrainingWorker(Worker):
    """Drives ``core.training.train`` and forwards its events in batches (``events(list)``).

    Every event reaches the GUI (the loss curve needs every step), but grouped so the GUI thread
    handles at most ``UPDATE_HZ`` batches per second. Rare events (Started, Preview, Paused,
    CheckpointSaved, Finished…) are sent at once. ``pause``/``resume``/``stop``/``request_save``
    set flags of core's thread-safe ``TrainingControl``; call them from the GUI thread.
    """

    events = Signal(list)

    def __init__(self, config, *, resume_from=None, checkpoint_dir=None, train_function=None, control=None) -> None:
        super().__init__()
        if control is None or train_function is None:
            from core import training

            control = control if control is not None else training.TrainingControl()
            train_function = train_function or training.train
        self.config = config
        self.resume_from = resume_from
        self.checkpoint_dir = checkpoint_dir
        self.control = control
        self._train = train_function
        self._buffer: list = []
        self._last_emit = 0.0
        self.last_step = 0
        self.finished_event = None  # the Finished event, once training ended normally
        self._discarded = False

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()

    def stop(self) -> None:
        self.request_stop()

    def request_stop(self) -> None:
        super().request_stop()
        if self._discarded:
            self.control.resume()  # wake a paused loop: its next event ends the run, without the final save
        else:
            self.control.stop()  # train() stops between steps and writes its final checkpoint

    def request_save(self, path) -> None:
        self.control.request_save(path)

    def discard(self) -> None:
        """Stop without the final save: the loop is left at the next event and the generator closed.

        ``control.stop()`` is deliberately not used: train() writes its final checkpoint as soon as it
        sees the stop flag, before yielding again.
        """
        self._discarded = True
        self.request_stop()

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.events.emit(batch)
        self._last_emit = time.perf_counter()

    @Slot()
    def run(self) -> None:
        self.started.emit()
        events = None
        try:
            events = self._train(
                self.config, self.control, resume_from=self.resume_from, checkpoint_dir=self.checkpoint_dir
            )
            for event in events:
                if self._discarded:
                    break
                kind = type(event).__name__
                self.last_step = getattr(event, "step", self.last_step)
                if kind == "Finished":
                    self.finished_event = event
                self._buffer.append(event)
                if kind not in _FREQUENT_EVENTS or time.perf_counter() - self._last_emit >= UPDATE_INTERVAL_S:
                    self._flush()
        except Exception as error:
            self._flush()
            self._fail(error)
        finally:
            if events is not None and hasattr(events, "close"):
                events.close()  # runs the generator's clean-up now, in this thread
            self._flush()
            if self.stop_requested:
                self.cancelled.emit()
            self._finish()


# ----------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------


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
        from core.samplers import SAMPLER_LABELS

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
