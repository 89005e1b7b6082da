"""The score field at a timestep, computed off the GUI thread, newest request first, cached by t.

Redrawing the field at a new t costs ~10 ms of MLP (1,024 grid points) and ~13 ms of exact score (the ideal
denoiser over 500 training points) on one core, more than a 16 ms frame before anything is painted. So a
``FieldFrames`` computes everything a frame needs (both fields, the error map, the arrows' line segments, the
x_t samples) on a worker thread and hands a ``FieldFrame`` back; the GUI thread only pushes arrays and paints.
While one frame is computed, further requests replace each other (dragging the slider asks for many t; only
the newest is computed next), and finished frames are kept by t, so going back to a t draws at once.
"""

from __future__ import annotations

import queue
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from core.diffusion.forward_process import q_sample
from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.score import outside_data_range, score_field
from desktop_app.views.score.field_plot import quiver_segments
from desktop_app.workers import BackgroundJob, EventStreamWorker

CACHED_FRAMES = 64  # ~130 kB each


@dataclass
class FieldFrame:
    """Everything drawn for one t: arrays ready for pyqtgraph."""

    t: int
    learned_segments: np.ndarray  # (6·N, 2) float32
    exact_segments: np.ndarray
    error: np.ndarray  # (size, size) ‖ε̂_θ − ε*‖
    samples: np.ndarray  # (M, 2) x_t of training points
    outside: int  # grid points beyond the data
    generation: int  # which model the frame belongs to


@dataclass
class FieldSource:
    """What a frame is computed from (one model and its data)."""

    model: torch.nn.Module
    schedule: object
    ideal: IdealDenoiser
    data: torch.Tensor
    noise: torch.Tensor
    extent: float
    size: int


def field_frame(source: FieldSource, t: int, generation: int) -> FieldFrame:
    """Compute one frame (runs on a worker thread)."""
    s = source
    field = score_field(s.model, s.schedule, t, extent=s.extent, size=s.size, data=s.ideal)
    cell = 2 * s.extent / (s.size - 1)
    points = field.points.numpy().astype(np.float64)
    x_t = q_sample(s.schedule, s.data[: len(s.noise)], t, s.noise)
    return FieldFrame(
        t=int(t),
        learned_segments=quiver_segments(points, field.learned.numpy().astype(np.float64), cell),
        exact_segments=quiver_segments(points, field.exact.numpy().astype(np.float64), cell),
        error=np.ascontiguousarray(field.error().numpy(), dtype=np.float32),
        samples=np.ascontiguousarray(x_t.numpy(), dtype=np.float32),
        outside=outside_data_range(field.points, s.data),
        generation=generation,
    )


IDLE_S = 5.0  # the worker thread ends after this long without a request (and starts again on the next)


class FieldFrameWorker(EventStreamWorker):
    """Every frame is sent at once (none are batched)."""


def field_frames(requests: queue.Queue):
    """Frames for the requests in ``requests``, the newest first: older waiting requests are dropped. Ends when
    None arrives (shutdown) or nothing is asked for ``IDLE_S`` seconds. Runs on the worker thread."""
    while True:
        try:
            item = requests.get(timeout=IDLE_S)
        except queue.Empty:
            return
        while True:  # newest wins
            try:
                item = requests.get_nowait()
            except queue.Empty:
                break
        if item is None:
            return
        source, t, generation = item
        yield field_frame(source, t, generation)


class FieldFrames(QObject):
    """Frames on request: from the cache at once, else from one long-lived worker thread (not a thread per
    frame: starting and ending a worker thread costs the GUI thread a full garbage collection)."""

    ready = Signal(object)  # FieldFrame, on the GUI thread
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._source: FieldSource | None = None
        self._generation = 0
        self._cache: OrderedDict[int, FieldFrame] = OrderedDict()
        self._wanted: int | None = None  # the newest request
        self._requests: queue.Queue = queue.Queue()
        self._closed = False
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)

    def set_source(self, source: FieldSource) -> None:
        self._source = source
        self._generation += 1
        self._cache.clear()
        self._wanted = None

    def request(self, t: int) -> None:
        t = int(t)
        self._wanted = t
        frame = self._cache.get(t)
        if frame is not None:
            self._cache.move_to_end(t)
            self.ready.emit(frame)
        elif self._source is not None and not self._closed:
            self._requests.put((self._source, t, self._generation))
            if not self._job.running:
                self._start()

    @property
    def busy(self) -> bool:
        return self._job.running

    def _start(self) -> None:
        worker = FieldFrameWorker(partial(field_frames, self._requests))
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        self._job.start(worker)

    @Slot(list)
    def _on_events(self, frames: list) -> None:
        for frame in frames:
            if frame.generation != self._generation:
                continue  # computed for a model that is no longer shown
            self._cache[frame.t] = frame
            while len(self._cache) > CACHED_FRAMES:
                self._cache.popitem(last=False)
            # Draw it if it was asked for last, or while the newest request is still being waited for
            # (dragging); never over a newer frame that came from the cache meanwhile.
            if frame.t == self._wanted or self._wanted not in self._cache:
                self.ready.emit(frame)

    @Slot(str)
    def _on_error(self, text: str) -> None:
        self.failed.emit(text)

    @Slot()
    def _on_job_finished(self) -> None:
        if not self._closed and not self._requests.empty():  # asked for just as the idle worker ended
            self._start()

    def shutdown(self) -> None:
        """Stop the worker for good (the view is closing); no request starts another."""
        self._closed = True
        self._requests.put(None)  # wakes a worker waiting for requests
        self._job.stop()
