"""Checkpoints of GANs and VAEs: the same file format as a diffusion checkpoint, a different kind.

The layout is ``checkpoint_format``'s (``model.*`` weights, ``train.*`` resumable state, one JSON
header with provenance and a CRC-32 per tensor), with ``model_kind`` = "gan" or "vae" and no noise
schedule or prediction type. Each kind loads only as itself: ``load_checkpoint`` refuses a GAN in
words, and ``load_generative(path, "gan")`` refuses a diffusion model or a VAE.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.io.atomic_write import atomic_write_bytes
from core.io.checkpoint_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    MODEL_PREFIX,
    RESERVED_KEYS,
    SUFFIX,
    TRAIN_PREFIX,
    CheckpointError,
    read_header,
    tensor_crc32,
)
from core.io.checkpoint_validation import build_model, parse_info, read_tensors
from core.io.checkpoints import _cpu_unshared
from core.io.provenance import app_version, git_commit, safetensors_version
from core.io.training_state import flatten_state, unflatten_state


@dataclass
class GenerativeCheckpoint:
    """A loaded GAN or VAE (eval mode, CPU), its metadata and, if asked, its training state."""

    model: nn.Module
    kind: str  # "gan" or "vae"
    metadata: dict
    training_state: dict | None
    path: Path


def save_generative(
    path: str | Path, model: nn.Module, *, metadata: dict | None = None, training_state: dict | None = None
) -> Path:
    """Write a GAN or VAE (and optionally what resuming needs) atomically to ``path`` (.safetensors)."""
    from core.models.registry import GENERATIVE_MODELS, model_kind

    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    kind = model_kind(model)
    if kind not in GENERATIVE_MODELS:
        raise ValueError("save_generative stores GANs and VAEs; save a diffusion model with save_checkpoint.")
    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    info = {k: v for k, v in (metadata or {}).items() if k not in RESERVED_KEYS}
    info.setdefault("device", str(next(model.parameters()).device))
    info.setdefault("app_version", app_version())
    info.setdefault("git_commit", git_commit())
    info.update(
        format=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        model_kind=kind,
        model_config=model.config.to_dict(),
        saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        safetensors_version=safetensors_version(),
        platform=f"{platform.system()} {platform.machine()}",
    )
    if training_state is not None:
        train_tensors, structure = flatten_state(training_state, TRAIN_PREFIX)
        tensors.update(train_tensors)
        info["training_state"] = structure
    tensors = _cpu_unshared(tensors)
    info["checksums"] = {name: tensor_crc32(t) for name, t in tensors.items()}
    try:
        header_json = json.dumps(info, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"The checkpoint metadata must hold plain JSON values (text, numbers, lists): {e}") from None

    import safetensors.torch

    data = safetensors.torch.save(tensors, metadata={METADATA_KEY: header_json})
    try:
        atomic_write_bytes(path, data)
    except OSError as e:
        raise CheckpointError(path, f"it could not be written ({e.strerror or e}).") from e
    return path


def load_generative(path: str | Path, kind: str, *, with_training_state: bool = False) -> GenerativeCheckpoint:
    """Load a GAN (``kind="gan"``) or VAE (``kind="vae"``); every problem is one ``CheckpointError``."""
    if kind not in ("gan", "vae"):
        raise ValueError(f"load_generative loads a 'gan' or a 'vae', not {kind!r}.")
    path = Path(path)
    try:
        return _load(path, kind, with_training_state)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(path, "there is not enough memory to load it.") from None
    except Exception as e:  # noqa: BLE001 - one clear error type for any damaged file
        raise CheckpointError(path, f"it is damaged ({type(e).__name__}: {e}).") from e


def _load(path: Path, kind: str, with_training_state: bool) -> GenerativeCheckpoint:
    meta, entries = read_header(path)
    info = parse_info(path, meta, kind)
    model = build_model(path, info["model_config"], entries, kind)
    checksums = info.pop("checksums")
    if set(checksums) != set(entries):
        raise CheckpointError(path, "it is damaged: its list of tensors does not match the tensors it contains.")
    weights = read_tensors(path, entries, [k for k in entries if k.startswith(MODEL_PREFIX)], checksums)
    for name, t in weights.items():
        if t.is_floating_point() and not math.isfinite(float(t.sum(dtype=torch.float64))):
            raise CheckpointError(
                path,
                f"its weights contain NaN or infinite values ('{name[len(MODEL_PREFIX) :]}'); the model is unusable.",
            )
    model.load_state_dict({k[len(MODEL_PREFIX) :]: v for k, v in weights.items()}, strict=True)
    model.eval()
    structure = info.pop("training_state", None)
    training_state = None
    if with_training_state and structure is not None:
        tensors = read_tensors(path, entries, [k for k in entries if k.startswith(TRAIN_PREFIX)], checksums)
        try:
            training_state = unflatten_state(structure, tensors)
        except (ValueError, TypeError) as e:
            raise CheckpointError(path, f"its training state is damaged: {e}") from None
    return GenerativeCheckpoint(model, kind, info, training_state, path)
