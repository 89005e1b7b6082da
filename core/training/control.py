"""Cooperative controls of a running training loop: pause, resume, stop and "save now"."""

from __future__ import annotations

import threading


class TrainingControl:
    """Thread-safe flags the GUI (or a signal handler) sets and the training loop reads between steps."""

    def __init__(self):
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._save_requests: list[str] = []

    def pause(self):
        self._running.clear()

    def resume(self):
        self._running.set()

    def stop(self):
        self._stop.set()
        self._running.set()  # wake a paused loop so it can finish

    def request_save(self, path):
        with self._lock:
            self._save_requests.append(str(path))

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def wait_while_paused(self, timeout: float = 0.1) -> None:
        self._running.wait(timeout)

    def take_save_requests(self) -> list[str]:
        with self._lock:
            requests, self._save_requests = self._save_requests, []
        return requests
