"""Checkpoints on disk: one safetensors file per model, validated on load, written atomically.

``checkpoints`` is the API (save, load, read metadata); ``checkpoint_format``,
``checkpoint_validation``, ``training_state``, ``atomic_write`` and ``provenance`` are its parts.
"""

from core.io.atomic_write import atomic_write_bytes, temp_files_for
from core.io.checkpoint_format import FORMAT_VERSION, SUFFIX, Checkpoint, CheckpointError
from core.io.checkpoints import load_checkpoint, load_denoiser, read_metadata, save_checkpoint
from core.io.training_state import flatten_state, unflatten_state

__all__ = [
    "SUFFIX",
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
