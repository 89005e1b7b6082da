"""EventStreamWorker: the one pattern for "a worker runs a core generator and feeds a panel".

Core's long computations (training, a Markov chain, a sampler race, a likelihood estimate…) are
generators that yield small event dataclasses. This worker runs such a generator on its thread and
forwards the events to the GUI as ``events(list)``: frequent kinds (named in ``FREQUENT``) are
batched so the GUI thread handles at most ``UPDATE_HZ`` batches a second; every other kind is sent
at once. A panel connects ``events`` to one slot and dispatches on the event type.

Subclasses set ``FREQUENT``, override ``make_events`` (or pass a factory), and may override
``on_event`` to keep worker-side state (it runs on the worker thread).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from PySide6.QtCore import Signal, Slot

from desktop_app.workers.base import UPDATE_INTERVAL_S, Worker


class EventStreamWorker(Worker):
    """Run a generator of core events on a worker thread and emit them in batches."""

    events = Signal(list)

    FREQUENT: tuple[str, ...] = ()  # event type names that are batched; every other kind is sent at once
    BREAK_ON_STOP = True  # leave the loop when stop is requested (False: the generator ends itself)

    def __init__(self, make_events: Callable[[], Iterable] | None = None) -> None:
        super().__init__()
        self._make_events = make_events
        self._buffer: list = []
        self._last_emit = 0.0
        self._discarded = False

    def make_events(self) -> Iterable:
        """The generator to run; called once, on the worker thread."""
        if self._make_events is None:
            raise NotImplementedError("pass make_events or override make_events()")
        return self._make_events()

    def on_event(self, event) -> None:
        """Called on the worker thread for every event before it is queued for the GUI."""

    def discard(self) -> None:
        """Stop and drop whatever the generator would still yield (no final events)."""
        self._discarded = True
        self.request_stop()

    @property
    def discarded(self) -> bool:
        return self._discarded

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.events.emit(batch)
        self._last_emit = time.perf_counter()

    @Slot()
    def run(self) -> None:
        self.started.emit()
        events: Iterator | None = None
        try:
            events = iter(self.make_events())
            for event in events:
                if self._discarded or (self.BREAK_ON_STOP and self.stop_requested):
                    break
                self.on_event(event)
                self._buffer.append(event)
                frequent = type(event).__name__ in self.FREQUENT
                if not frequent or time.perf_counter() - self._last_emit >= UPDATE_INTERVAL_S:
                    self._flush()
        except Exception as error:  # reported to the user, never raised into Qt
            self._flush()
            self._fail(error)
        finally:
            if events is not None and hasattr(events, "close"):
                events.close()  # runs the generator's clean-up now, in this thread
            self._flush()
            if self.stop_requested:
                self.cancelled.emit()
            self._finish()
