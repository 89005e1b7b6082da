"""Where the Train view saves its runs, and what a saved run resumes with (no Qt).

Every run writes a resumable checkpoint (weights, optimiser and EMA state, and the TrainConfig in
its metadata) to a new file in the user's ``checkpoints`` folder; Load & resume reads the settings
back from such a file and continues the run, into a new file unless the user chooses to overwrite.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from core.io import CheckpointError, read_metadata
from core.training import TrainConfig
from desktop_app import paths
from desktop_app.views.train.formatting import slug

CHECKPOINT_SUFFIX = ".safetensors"
CHECKPOINT_FILTER = "Checkpoints (*.safetensors)"  # for file dialogs


def new_checkpoint_path(name: str) -> Path:
    """A file that does not exist yet in the user's ``checkpoints`` folder (created if needed), named after
    ``name`` and the time (two runs within one second get "-2", "-3"…: a run never writes over another)."""
    folder = paths.checkpoints_dir()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{slug(name)}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, number = folder / f"{stem}{CHECKPOINT_SUFFIX}", 2
    while path.exists():
        path, number = folder / f"{stem}-{number}{CHECKPOINT_SUFFIX}", number + 1
    return path


def resume_config(path: str | Path) -> TrainConfig:
    """The settings to continue the run saved in ``path`` with: a finished run trains as many steps again.

    Raises CheckpointError (a ValueError) or OSError with a sentence for the user.
    """
    metadata = read_metadata(path)
    saved = metadata.get("train_config")
    if not saved:
        raise CheckpointError(path, "it holds no training settings, so there is no run to resume.")
    config = TrainConfig.from_dict(saved)
    step = int(metadata.get("step") or 0)
    if step >= config.steps:
        config = dataclasses.replace(config, steps=step + config.steps)
    return config
