"""Checkpoints on disk: one safetensors file per model, validated on load, written atomically."""

from core.io.checkpoints import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    atomic_write_bytes,
    flatten_state,
    load_checkpoint,
    load_denoiser,
    read_metadata,
    save_checkpoint,
    temp_files_for,
    unflatten_state,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "FORMAT_VERSION",
    "atomic_write_bytes",
    "flatten_state",
    "load_checkpoint",
    "load_denoiser",
    "read_metadata",
    "save_checkpoint",
    "temp_files_for",
    "unflatten_state",
]
