"""Recording a sampling run for the reverse timeline, inside a fixed memory budget.

A sampler calls ``callback(SamplerStep)`` once per step with x_t, the predicted x̂_0 and ε̂
(``core.diffusion.samplers``). ``TrajectoryRecorder`` is such a callback: it keeps float16 copies of the first
``max_samples`` samples of the batch at every recorded step, so the app can scrub back and forth
through all 1,000 steps of a DDPM run afterwards.

Memory: one recorded step costs ``3 · K · prod(sample_shape) · 2`` bytes (x_t, x̂_0, ε̂ in float16,
K = samples kept). For 16 Fashion-MNIST images (1×32×32) that is 98 KiB, so a 1,000-step DDPM run
needs 96 MiB. When ``num_steps`` steps would not fit in ``budget_bytes``, only every ``stride``-th
step is kept (always including the first and the last); ``subsampled`` and ``describe()`` say so.

No Qt here: the recorder is plain numpy and is tested without a GUI. It may also ask the sampler to
stop (``cancel()``, thread-safe), which is how the app's Cancel button works.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch

from core.diffusion.samplers import SamplerStep

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024  # the whole trajectory of one run stays below 256 MiB
DEFAULT_MAX_IMAGES = 16  # images kept per step: what the timeline shows side by side
DEFAULT_MAX_POINTS = 2048  # 2-D particles kept per step for the moving point cloud
ARRAYS_PER_STEP = 3  # x_t, x̂_0, ε̂


@dataclass(frozen=True)
class TrajectoryFrame:
    """What the timeline shows at one position (arrays float32, shape (K, *sample_shape))."""

    position: int  # 0 … len(recorder) − 1 along the timeline
    step_index: int  # which sampler step this was (0-based); == num_steps for the final sample
    t: int  # the timestep the network saw; −1 for the final clean sample
    x_t: np.ndarray
    pred_x0: np.ndarray
    pred_eps: np.ndarray | None  # None for the final sample (no network evaluation there)


class TrajectoryRecorder:
    """A sampler callback that stores x_t, x̂_0 and ε̂ of the first ``max_samples`` samples per step.

    Use it as ``sampler(..., callback=recorder)``. After the run, ``len(recorder)`` positions can be
    read with ``recorder.frame(position)``: one per recorded step, plus the final sample x_0 at the end.
    """

    def __init__(self, max_samples: int | None = None, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        if max_samples is not None and (isinstance(max_samples, bool) or int(max_samples) < 1):
            raise ValueError(f"The number of samples to record must be at least 1, not {max_samples!r}.")
        if int(budget_bytes) < 1024:
            raise ValueError(f"The trajectory memory budget must be at least 1 KiB, not {budget_bytes} bytes.")
        self.max_samples = None if max_samples is None else int(max_samples)
        self.budget_bytes = int(budget_bytes)
        self.num_steps = 0  # steps of the run (known at the first callback)
        self.stride = 1  # every stride-th step is kept
        self.samples_kept = 0
        self.sample_shape: tuple[int, ...] = ()
        self._x_t: np.ndarray | None = None
        self._pred_x0: np.ndarray | None = None
        self._pred_eps: np.ndarray | None = None
        self._t = np.zeros(0, dtype=np.int64)
        self._step_index = np.zeros(0, dtype=np.int64)
        self._count = 0  # steps written so far
        self._final: np.ndarray | None = None
        self.steps_seen = 0
        self._cancel = threading.Event()

    # --- used by the sampler (worker thread) ----------------------------------------------------

    def _allocate(self, step: SamplerStep) -> None:
        batch = step.x_t.shape[0]
        self.sample_shape = tuple(int(s) for s in step.x_t.shape[1:])
        is_points = len(self.sample_shape) == 1
        wanted = self.max_samples or (DEFAULT_MAX_POINTS if is_points else DEFAULT_MAX_IMAGES)
        self.samples_kept = min(batch, wanted)
        self.num_steps = int(step.num_steps)
        bytes_per_step = ARRAYS_PER_STEP * self.samples_kept * math.prod(self.sample_shape) * 2
        # The final sample costs one more array per sample; reserve it before counting steps.
        affordable = max(3, (self.budget_bytes - bytes_per_step // ARRAYS_PER_STEP) // bytes_per_step)
        if self.num_steps > affordable:
            # Steps 0, s, 2s, … plus the last one: at most affordable − 1 + 1 positions.
            self.stride = math.ceil((self.num_steps - 1) / (affordable - 2))
        else:
            self.stride = 1
        kept_steps = len(self._kept_indices())
        shape = (kept_steps, self.samples_kept, *self.sample_shape)
        self._x_t = np.empty(shape, dtype=np.float16)
        self._pred_x0 = np.empty(shape, dtype=np.float16)
        self._pred_eps = np.empty(shape, dtype=np.float16)
        self._t = np.empty(kept_steps, dtype=np.int64)
        self._step_index = np.empty(kept_steps, dtype=np.int64)

    def _kept_indices(self) -> list[int]:
        kept = list(range(0, self.num_steps, self.stride))
        if kept[-1] != self.num_steps - 1:
            kept.append(self.num_steps - 1)  # the last step is always kept
        return kept

    def _keeps(self, index: int) -> bool:
        return index % self.stride == 0 or index == self.num_steps - 1

    def _copy(self, tensor: torch.Tensor) -> np.ndarray:
        return tensor[: self.samples_kept].detach().to("cpu", torch.float16).numpy()

    def __call__(self, step: SamplerStep) -> bool:
        """Record one step; return True (stop) when ``cancel()`` was called."""
        if self._x_t is None:
            self._allocate(step)
        self.steps_seen = step.index + 1
        if self._keeps(step.index) and self._count < len(self._t):
            i = self._count
            self._x_t[i] = self._copy(step.x_t)
            self._pred_x0[i] = self._copy(step.pred_x0)
            self._pred_eps[i] = self._copy(step.pred_eps)
            self._t[i] = step.t
            self._step_index[i] = step.index
            self._count += 1
        if step.index == step.num_steps - 1:
            self._final = self._copy(step.x_next)
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the sampler to stop at its next step (safe to call from any thread)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    # --- read by the timeline (after the run) ---------------------------------------------------

    def __len__(self) -> int:
        """Positions on the timeline: the recorded steps, plus the final sample once the run has finished."""
        return self._count + (1 if self._final is not None else 0)

    @property
    def complete(self) -> bool:
        return self._final is not None

    @property
    def subsampled(self) -> bool:
        return self.stride > 1

    @property
    def nbytes(self) -> int:
        arrays = (self._x_t, self._pred_x0, self._pred_eps, self._final)
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def timesteps(self) -> np.ndarray:
        """The timestep t of every position (−1 for the final sample)."""
        ts = self._t[: self._count]
        return np.append(ts, -1) if self._final is not None else ts.copy()

    def frame(self, position: int) -> TrajectoryFrame:
        """The arrays at timeline ``position`` as float32 copies."""
        n = len(self)
        if not 0 <= int(position) < n:
            raise ValueError(f"Timeline position {position} is outside 0 … {n - 1}.")
        position = int(position)
        if position == self._count:  # the final clean sample
            final = self._final.astype(np.float32)
            return TrajectoryFrame(position, self.num_steps, -1, final, final, None)
        return TrajectoryFrame(
            position,
            int(self._step_index[position]),
            int(self._t[position]),
            self._x_t[position].astype(np.float32),
            self._pred_x0[position].astype(np.float32),
            self._pred_eps[position].astype(np.float32),
        )

    def x_t_path(self) -> np.ndarray:
        """x_t at every position, float16 (positions, K, *sample_shape): the particle paths for 2-D data."""
        xs = self._x_t[: self._count] if self._x_t is not None else np.zeros((0,), np.float16)
        return np.concatenate([xs, self._final[None]]) if self._final is not None else xs

    def final(self) -> np.ndarray | None:
        """The final samples x_0 (float32), or None when the run did not finish."""
        return None if self._final is None else self._final.astype(np.float32)

    def describe(self) -> str:
        """One sentence for the status line: how much was recorded and whether steps were skipped."""
        if self._x_t is None:
            return "Nothing recorded yet."
        mib = self.nbytes / 2**20
        what = f"{self.samples_kept} sample{'s' if self.samples_kept != 1 else ''}"
        if self.subsampled:
            return (
                f"Recorded every {self.stride}th of {self.num_steps} steps for {what} ({mib:.0f} MiB): "
                f"all steps would exceed the {self.budget_bytes / 2**20:.0f} MiB budget."
            )
        return f"Recorded all {self.num_steps} steps for {what} ({mib:.0f} MiB)."
