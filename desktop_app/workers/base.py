"""The worker base: lifecycle signals, a stop flag, and starting/stopping worker threads safely."""

from __future__ import annotations

import gc
import logging
import sys
import threading

import torch
from PySide6.QtCore import QMetaObject, QObject, Qt, QThread, QTimer, Signal, Slot

from core.runtime import cpu_count

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
