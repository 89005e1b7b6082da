"""ChainWorker: extends a ``core.diffusion.MarkovChainCache`` on a worker thread (no maths here)."""

from __future__ import annotations

from core.diffusion import DEFAULT_CHAIN_CHUNK, MarkovChainCache
from desktop_app.workers import EventStreamWorker


class ChainWorker(EventStreamWorker):
    """Runs ``cache.extend_iter(chunk=...)``; ``events(list)`` carries the frontiers reached (ints).

    Frontiers are batched (at most ``UPDATE_HZ`` lists a second); the loop stops at the next chunk
    after ``request_stop()``, leaving the cache consistent up to its last frontier.
    """

    FREQUENT = ("int",)  # every yielded frontier is an int

    def __init__(self, cache: MarkovChainCache, chunk: int = DEFAULT_CHAIN_CHUNK):
        super().__init__()
        self.cache = cache
        self.chunk = chunk

    def make_events(self):
        return self.cache.extend_iter(chunk=self.chunk)
