"""The command line's progress line: rewritten in place on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import math
import sys
import time


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressLine:
    """One status line rewritten in place with ``\\r`` on a terminal; on a pipe or log file, a plain
    line at most every ``log_interval`` seconds (and for the last update)."""

    def __init__(self, stream=None, log_interval: float = 10.0, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval, self.width = log_interval, width
        self._last_print = -math.inf
        self._dirty = False

    def bar(self, fraction: float) -> str:
        filled = int(round(self.width * min(max(fraction, 0.0), 1.0)))
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def update(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self._dirty = True
            if final:
                self.finish()
        elif final or now - self._last_print >= self.log_interval:
            self.stream.write(text + "\n")
            self._last_print = now
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\n")
            self.stream.flush()
        self._dirty = False

    def message(self, text: str) -> None:
        """Print a line of its own (ending the status line first)."""
        self.finish()
        self.stream.write(text + "\n")
        self.stream.flush()
