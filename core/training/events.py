"""What the training loop yields (typed events) and the errors it raises."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from core.diffusion.schedules import NoiseSchedule
from core.training.config import TrainConfig
from core.training.history import LossHistory


class TrainingError(RuntimeError):
    """Training cannot go on; the message says why and what to change."""


class TrainingDiverged(TrainingError):
    """The loss became NaN or infinite."""


@dataclass
class Started:
    config: TrainConfig
    num_parameters: int
    device: str
    dataset_name: str
    dataset_size: int
    class_names: list[str]
    image_shape: tuple[int, ...]  # (C, H, W) for images, (2,) for points
    start_step: int
    history: LossHistory = field(default_factory=LossHistory)  # the logged steps before start_step (resumed runs)


@dataclass
class StepEvent:
    step: int
    total_steps: int
    loss: float
    grad_norm: float
    lr: float
    images_per_s: float
    elapsed_s: float


@dataclass
class TimestepLosses:
    step: int
    bucket_edges: list[int]  # NUM_TIMESTEP_BUCKETS + 1 timestep boundaries
    losses: list[float]  # mean loss in each bucket since the last event (NaN where no sample fell)


@dataclass
class Preview:
    step: int
    images: np.ndarray  # (N, C, H, W) in [−1, 1] for images, (N, 2) for points
    labels: np.ndarray | None


@dataclass
class CheckpointSaved:
    step: int
    path: str
    reason: str  # "autosave", "requested" or "final"


@dataclass
class Paused:
    step: int


@dataclass
class Resumed:
    step: int


@dataclass
class Finished:
    step: int
    reason: str  # "completed" or "stopped"
    elapsed_s: float
    model: torch.nn.Module  # the EMA weights, on the CPU, in eval mode
    schedule: NoiseSchedule
    metadata: dict
    checkpoint_path: str | None


TrainEvent = Started | StepEvent | TimestepLosses | Preview | CheckpointSaved | Paused | Resumed | Finished
