"""The checkpoint file format: its layout, constants, the Checkpoint record and the header reader.

File layout (safetensors, https://github.com/huggingface/safetensors; no pickle, so loading a file
never runs code from it):

- ``model.*``  the weights used for sampling (the EMA weights), named as in ``model.state_dict()``;
- ``train.*``  the resumable training state (raw weights, AdamW moments, RNG states), present only
  when saved for resuming;
- the header's ``__metadata__`` holds one JSON string under ``"diffusion_lab"``:
  ``format``/``format_version``, ``model_config`` (``core.models.registry.denoiser_config``), ``schedule``
  (``NoiseSchedule.to_dict()``), ``prediction_type``, the caller's metadata (dataset, class names,
  image shape, step, wall time, recipe …), provenance (device, torch/python/app versions, git commit)
  and ``training_state``: the non-tensor part of the training state, with references to its tensors.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.diffusion.schedules import NoiseSchedule

FORMAT_NAME = "diffusion_lab.checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "diffusion_lab"
MODEL_PREFIX = "model."
TRAIN_PREFIX = "train."
SUFFIX = ".safetensors"

# A Diffusion Lab header is a few kB (plus the training-state structure); safetensors itself
# refuses headers over 100 MB. Anything larger is not ours, and is refused before being read.
MAX_HEADER_BYTES = 64 * 1024 * 1024

# Keys of the stored metadata that save_checkpoint writes itself; values the caller passes under
# these names are replaced (so ``metadata=old_checkpoint.metadata`` can be passed back in).
RESERVED_KEYS = (
    "format",
    "format_version",
    "model_config",
    "schedule",
    "prediction_type",
    "saved_at",
    "torch_version",
    "python_version",
    "safetensors_version",
    "platform",
    "training_state",
    "checksums",
    "model_kind",
)

# safetensors dtype names → (torch dtype, bytes per element). Only what this project can write or read.
SAFETENSORS_DTYPES: dict[str, tuple[torch.dtype, int]] = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}


_SAME_SIZE_INT = {8: torch.int64, 4: torch.int32, 2: torch.int16, 1: torch.uint8}


def tensor_crc32(t: torch.Tensor) -> int:
    """CRC-32 of a contiguous CPU tensor's bytes, exactly as safetensors writes them (little-endian)."""
    if t.numel() == 0:
        return zlib.crc32(b"")
    raw = t.view(_SAME_SIZE_INT[t.element_size()]).numpy()
    return zlib.crc32(memoryview(raw.reshape(-1)).cast("B"))


def is_int(v) -> bool:
    """A JSON integer (not a bool, not a float)."""
    return type(v) is int


def is_number(v) -> bool:
    """A finite JSON number."""
    return type(v) in (int, float) and math.isfinite(v)


class CheckpointError(ValueError):
    """A checkpoint could not be saved or loaded; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"Cannot use the checkpoint '{path}': {problem}")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the denoiser (eval mode, on the CPU) and everything needed to sample from it."""

    model: nn.Module  # the sampling (EMA) weights, rebuilt from the stored config
    schedule: NoiseSchedule  # the noise schedule the model was trained with
    metadata: dict  # everything in the "diffusion_lab" JSON except the training state
    training_state: dict | None  # resumable state (tensors restored) or None
    path: Path
    resumable: bool = False  # whether the file holds a training state (whether or not it was loaded)

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (C, H, W) for images, (2,) for 2-D points."""
        return data_shape_of(self.metadata)

    @property
    def prediction_type(self) -> str:
        return self.metadata["prediction_type"]

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model, "num_classes", 0) or 0)

    @property
    def class_names(self) -> list[str] | None:
        return self.metadata.get("class_names")

    @property
    def image_shape(self) -> tuple[int, ...] | None:
        shape = self.metadata.get("image_shape")
        return tuple(shape) if shape is not None else None

    @property
    def step(self) -> int | None:
        return self.metadata.get("step")


def data_shape_of(metadata: dict) -> tuple[int, ...]:
    """The shape of one sample, from the model config (a U-Net's channels and size) or the stored image shape."""
    config = metadata.get("model_config") or {}
    if is_int(config.get("in_channels")) and is_int(config.get("image_size")):
        return (config["in_channels"], config["image_size"], config["image_size"])
    for key in ("data_dim", "dim"):
        if is_int(config.get(key)):
            return (config[key],)
    shape = metadata.get("image_shape")
    return tuple(shape) if shape else (2,)


@dataclass(frozen=True)
class TensorEntry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # byte offsets in the whole file
    end: int


def read_header(path: Path) -> tuple[dict, dict[str, TensorEntry]]:
    """Parse and check a safetensors header; return (the __metadata__ dict, tensor entries)."""
    if not path.exists():
        raise CheckpointError(path, "the file does not exist.")
    if path.is_dir():
        raise CheckpointError(path, "this is a folder, not a checkpoint file.")
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if size == 0:
                raise CheckpointError(path, "the file is empty (0 bytes); it was probably never fully written.")
            if len(head) < 8:
                raise CheckpointError(path, f"the file is only {size} bytes long, too short to be a checkpoint.")
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                raise CheckpointError(
                    path,
                    f"it is truncated or not a safetensors file: its header claims {n:,} bytes but the whole "
                    f"file has only {size:,} bytes.",
                )
            if n > MAX_HEADER_BYTES:
                raise CheckpointError(path, f"its header is implausibly large ({n} bytes); this is not a checkpoint.")
            if n < 2:
                raise CheckpointError(path, "it is not a safetensors file (its header is empty).")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(path, f"the file cannot be read ({e.strerror or e}).") from None
    if len(raw) != n:
        raise CheckpointError(path, "the file changed or was truncated while it was being read.")
    if raw[:1] != b"{":
        raise CheckpointError(path, "it is not a safetensors file (its header is not a JSON object).")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CheckpointError(path, "it is damaged or not a safetensors file (its header is not valid JSON).") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "it is not a safetensors file (its header is not a JSON object).")

    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise CheckpointError(path, "it is damaged: the safetensors metadata is not a table of texts.")
    data_start, data_size = 8 + n, size - 8 - n
    entries: dict[str, TensorEntry] = {}
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(path, f"it is damaged: the description of tensor '{name}' is malformed.")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in SAFETENSORS_DTYPES:
            raise CheckpointError(path, f"tensor '{name}' has the unsupported or damaged data type {dtype!r}.")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has an invalid shape {shape!r}.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has invalid data offsets.")
        start, end = offsets
        torch_dtype, itemsize = SAFETENSORS_DTYPES[dtype]
        if not 0 <= start <= end <= data_size:
            raise CheckpointError(
                path, f"tensor '{name}' lies beyond the end of the file: the file is truncated or damaged."
            )
        if end - start != math.prod(shape) * itemsize:
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has a size that does not match its shape.")
        entries[name] = TensorEntry(torch_dtype, tuple(shape), data_start + start, data_start + end)
    # safetensors stores the tensors back to back; gaps or overlaps mean the file was tampered with.
    position = data_start
    for e in sorted(entries.values(), key=lambda e: (e.start, e.end)):
        if e.start != position:
            raise CheckpointError(path, "it is damaged: its tensor data overlaps or has gaps.")
        position = e.end
    if position != size:
        raise CheckpointError(path, "it is damaged: the file is longer or shorter than its tensors.")
    return meta or {}, entries


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor], info: dict, what: str = "file") -> Path:
    """Write ``tensors`` with ``info`` as the Diffusion Lab JSON header, atomically (``atomic_write``).

    ``info`` must hold plain JSON values (a ``ValueError`` says so, naming ``what``); a failed write is a
    ``CheckpointError`` in words, and never leaves a half-written file at ``path``.
    """
    import safetensors.torch

    from core.io.atomic_write import atomic_write_bytes

    try:
        header = json.dumps(info, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The {what}'s metadata must hold plain JSON values: {e}") from None
    data = safetensors.torch.save(tensors, metadata={METADATA_KEY: header})
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise CheckpointError(path, f"it could not be written ({e.strerror or e}).") from e
    return path
