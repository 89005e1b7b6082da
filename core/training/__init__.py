"""The training loop as a generator of typed events, its config and its cooperative controls."""

from core.training.config import (
    LOSS_WEIGHTINGS,
    NUM_TIMESTEP_BUCKETS,
    PRECISIONS,
    TrainConfig,
    build_schedule,
    load_training_data,
    model_config_for,
)
from core.training.control import TrainingControl
from core.training.events import (
    CheckpointSaved,
    Finished,
    Paused,
    Preview,
    Resumed,
    Started,
    StepEvent,
    TimestepLosses,
    TrainEvent,
    TrainingDiverged,
    TrainingError,
)
from core.training.history import LossHistory
from core.training.loop import measure_step_time, preview_samples, train
from core.training.objective import learning_rate_at, loss_weights, update_ema

__all__ = [
    "CheckpointSaved",
    "Finished",
    "LOSS_WEIGHTINGS",
    "LossHistory",
    "NUM_TIMESTEP_BUCKETS",
    "PRECISIONS",
    "Paused",
    "Preview",
    "Resumed",
    "Started",
    "StepEvent",
    "TimestepLosses",
    "TrainConfig",
    "TrainEvent",
    "TrainingControl",
    "TrainingDiverged",
    "TrainingError",
    "build_schedule",
    "learning_rate_at",
    "load_training_data",
    "loss_weights",
    "measure_step_time",
    "model_config_for",
    "preview_samples",
    "train",
    "update_ema",
]
