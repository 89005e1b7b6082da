"""Text for the Train view's numbers: durations, parameter counts, checkpoint file names (no Qt)."""

from __future__ import annotations

import math
import re


def format_duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on; "–" when the time is not known (NaN, infinite)."""
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_count(n: int) -> str:
    """A parameter count for people: 950, 678 k, 2.50 M."""
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k" if n >= 1e3 else str(n)


def slug(text: str) -> str:
    """``text`` as part of a file name: runs of letters and digits joined by dashes ("run" if none)."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"
