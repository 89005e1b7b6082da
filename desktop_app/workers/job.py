"""BackgroundJob: one worker on one thread, owned by a panel or a view.

Views used to keep ``_thread``/``_worker`` pairs and repeat the start/stop/cleanup dance. A
``BackgroundJob`` does it once: ``start(worker)`` moves the worker to a new thread and starts it,
``stop()`` asks it to stop and waits, and ``finished`` fires on the GUI thread after the thread has
ended and the references were dropped, so a panel can start the next job from its slot.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_app.workers.base import Worker, start_worker, stop_thread


class BackgroundJob(QObject):
    """Owns at most one running worker and its thread."""

    finished = Signal()  # on the GUI thread, once the thread has ended

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread: QThread | None = None
        self.worker: Worker | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self, worker: Worker) -> Worker:
        """Start ``worker`` on a new thread; connect its signals before calling this."""
        if self.running:
            raise RuntimeError("a job is already running; stop it first")
        self.worker = worker
        self.thread = start_worker(worker)
        self.thread.finished.connect(self._on_thread_finished)
        return worker

    def request_stop(self) -> None:
        if self.worker is not None:
            self.worker.request_stop()

    def stop(self, timeout_ms: int | None = None) -> bool:
        """Ask the worker to stop and wait for its thread; True when it ended (or none ran)."""
        if not self.running:
            return True
        ended = stop_thread(self.thread, self.worker, timeout_ms)
        if ended:
            self._release()
        return ended

    def wait(self, timeout_ms: int | None = None) -> bool:
        """Wait for the thread without asking it to stop; True when it ended (or none ran)."""
        if self.thread is None:
            return True
        ended = self.thread.wait() if timeout_ms is None else self.thread.wait(int(timeout_ms))
        if ended:
            self._release()
        return ended

    def _release(self) -> None:
        if self.thread is None:
            return
        self.thread = None
        self.worker = None
        self.finished.emit()

    @Slot()
    def _on_thread_finished(self) -> None:
        # The signal is queued: when a view waited for the thread itself (``wait``) and started the
        # next job at once, this call belongs to the earlier thread. Releasing then would drop the new,
        # running QThread ("Destroyed while thread is still running": Qt aborts the app).
        thread = self.thread
        if thread is None or self.sender() is not thread:
            return
        thread.wait()  # it has emitted finished: its last moments, not a real wait
        self._release()
