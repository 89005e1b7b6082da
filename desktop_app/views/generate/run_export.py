"""Files made from a sampling run: the final samples, a strip of timesteps, the timeline animated.

Images become an enlarged grid and 2-D points a fixed-extent scatter plot (``desktop_app.export``),
so every picture of one run has the same size and frames line up in a strip or an animation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.export import (
    evenly_spaced_timesteps,
    grid_picture,
    save_animation,
    save_png,
    save_strip_png,
    scatter_picture,
)
from desktop_app.workers import SamplingResult

STRIP_FRAMES = 8  # timesteps in an exported strip
ANIMATION_FRAMES = 100  # frames of an exported timeline animation (evenly spaced over all steps)
ANIMATION_FPS = 20
ANIMATION_HOLD_FRAMES = 20  # the final sample stays on screen for a second before the loop restarts


def samples_picture(samples: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """uint8 picture of samples: an enlarged image grid, or a scatter plot for 2-D points (coloured by label)."""
    if samples.ndim == 2:
        return scatter_picture(samples, None if labels is None else labels[: len(samples)])
    return grid_picture(samples)


def write_grid(path: str | Path, result: SamplingResult | None, labels: np.ndarray | None = None) -> Path:
    """PNG of the final samples of a finished run."""
    if result is None:
        raise ValueError("Generate samples first (a cancelled run has no final samples).")
    return save_png(path, samples_picture(result.samples, labels))


def timeline_frames(recorder, count: int, labels: np.ndarray | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Pictures of x_t at ``count`` evenly spaced timeline positions, with captions "t = …"."""
    if recorder is None or len(recorder) == 0:
        raise ValueError("Generate samples first; then the timeline can be exported.")
    positions = sorted(set(evenly_spaced_timesteps(0, len(recorder) - 1, min(count, len(recorder)))))
    pictures, captions = [], []
    for position in positions:
        frame = recorder.frame(position)
        pictures.append(samples_picture(frame.x_t, labels))
        captions.append("x0 (final)" if frame.t < 0 else f"t = {frame.t}")
    return pictures, captions


def write_strip(path: str | Path, recorder, count: int = STRIP_FRAMES, labels: np.ndarray | None = None) -> Path:
    """A PNG strip of ``count`` timesteps, from the noise x_T on the left to the sample x_0 on the right."""
    pictures, captions = timeline_frames(recorder, count, labels)
    return save_strip_png(path, pictures, captions)


def write_animation(path: str | Path, recorder, labels: np.ndarray | None = None) -> Path:
    """An animated GIF or WebP (by suffix) of x_t along the whole timeline (at most ``ANIMATION_FRAMES`` frames)."""
    pictures, _ = timeline_frames(recorder, ANIMATION_FRAMES, labels)
    pictures += [pictures[-1]] * ANIMATION_HOLD_FRAMES  # hold the final sample before looping
    return save_animation(path, pictures, fps=ANIMATION_FPS)
