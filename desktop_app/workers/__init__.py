"""Workers: run core's long computations on a QThread and report through Qt signals.

A worker contains no maths. It adapts one of core's generators or callbacks to signals, in the way
superqt's ``thread_worker`` does:

=============  =====================================================================
``started``    the work began (emitted from the worker thread)
``errored``    the work failed; the argument is a sentence for the user (never a traceback)
``cancelled``  the user stopped it and it stopped
``finished``   always the last signal, after success, error or cancel; the thread then quits
=============  =====================================================================

Modules: ``base`` (Worker, thread start/stop, the GUI-thread guard), ``call`` (one function),
``event_stream`` (a core generator feeding a panel: the shared pattern), ``training``,
``sampling``, and ``job`` (BackgroundJob: one worker on one thread, owned by a panel).

Rules every worker here follows (see docs/ARCHITECTURE.md and STYLE.md):

- Widgets are touched only on the GUI thread: workers send numpy copies, never tensors that the
  worker may still write to, and at most ``UPDATE_HZ`` times per second.
- Views connect worker signals to ``@Slot`` methods (PySide6 has crashed on cross-thread lambdas).
- Stopping is cooperative: ``request_stop()`` sets a flag the loop checks between steps;
  ``stop_thread`` then quits and waits. No thread is ever ``terminate()``-d.
"""

from desktop_app.workers.base import (
    UPDATE_HZ,
    UPDATE_INTERVAL_S,
    Worker,
    WorkerThreadGuard,
    default_worker_threads,
    readable_error,
    start_worker,
    stop_thread,
)
from desktop_app.workers.call import CallWorker
from desktop_app.workers.event_stream import EventStreamWorker
from desktop_app.workers.job import BackgroundJob
from desktop_app.workers.sampling import LivePreview, SamplingJob, SamplingResult, SamplingWorker
from desktop_app.workers.training import TrainingWorker

__all__ = [
    "UPDATE_HZ",
    "UPDATE_INTERVAL_S",
    "BackgroundJob",
    "CallWorker",
    "EventStreamWorker",
    "LivePreview",
    "SamplingJob",
    "SamplingResult",
    "SamplingWorker",
    "TrainingWorker",
    "Worker",
    "WorkerThreadGuard",
    "default_worker_threads",
    "readable_error",
    "start_worker",
    "stop_thread",
]
