"""The Fast sampling view's background work: core generators with a stop flag, and the measurements.

No maths here: ``FastJobWorker`` runs ``core.training.flow.train_flow`` / ``reflow`` or
``core.training.distillation.distill`` with a ``TrainingControl`` that Stop sets, and the functions
below bundle the calls of ``core.evaluation.fast_sampling`` that a ``CallWorker`` runs after a model
is trained.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from core.evaluation.fast_sampling import FEW_STEPS, TransportPaths, flow_paths, flow_sampler, mmd_by_steps
from core.training import TrainingControl
from desktop_app.workers import EventStreamWorker

COMPARE_POINTS = 1000  # noise draws shared by every model the view compares
COMPARE_SEED = 0


class FastJobWorker(EventStreamWorker):
    """Runs ``make_events(control)`` on the worker thread; Stop sets the control so the generator ends itself."""

    FREQUENT = ("FlowStep", "DistillStep", "VarianceStep", "ConsistencyStep")
    BREAK_ON_STOP = False  # the generator finishes with its own "stopped" event

    def __init__(self, make_events: Callable[[TrainingControl], Iterable]):
        super().__init__()
        self.control = TrainingControl()
        self._make_with_control = make_events

    def make_events(self) -> Iterable:
        return self._make_with_control(self.control)

    def request_stop(self) -> None:
        super().request_stop()
        self.control.stop()


def shared_noise(n: int = COMPARE_POINTS) -> torch.Tensor:
    """The noise of ``compare_transport(..., seed=COMPARE_SEED)``: every model starts from the same points."""
    return torch.randn((n, 2), generator=torch.Generator().manual_seed(COMPARE_SEED))


@dataclass
class ReflowMeasurement:
    """What the view draws after a reflow round: the new paths and MMD at FEW_STEPS."""

    paths: TransportPaths
    steps: list[int]
    mmd: list[float]


@torch.no_grad()
def measure_flow(model, dataset: str, num_points: int = COMPARE_POINTS) -> ReflowMeasurement:
    noise = shared_noise(num_points)
    return ReflowMeasurement(
        flow_paths(model, noise), list(FEW_STEPS), mmd_by_steps(flow_sampler(model), noise, dataset, FEW_STEPS)
    )
