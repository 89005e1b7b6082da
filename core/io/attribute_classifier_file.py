"""The shape/colour classifier on disk: one safetensors file checked like every checkpoint.

Weights under ``classifier.*``; the header's JSON under ``"diffusion_lab"`` has
``format = "diffusion_lab.attribute_classifier"``, the config, the class names, the accuracies it
measured, provenance and per-tensor CRC-32s. Every problem is a ``CheckpointError`` naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from core.io.checkpoint_format import (
    METADATA_KEY,
    SUFFIX,
    CheckpointError,
    read_header,
    tensor_crc32,
    write_safetensors,
)
from core.io.checkpoint_validation import read_tensors
from core.io.provenance import app_version, git_commit
from core.models.attribute_classifier import AttributeClassifier, AttributeClassifierConfig

CLASSIFIER_FORMAT = "diffusion_lab.attribute_classifier"
PREFIX = "classifier."


def save_attribute_classifier(path: str | Path, model: AttributeClassifier, metadata: dict | None = None) -> Path:
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    tensors = {PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = {"app_version": app_version(), "git_commit": git_commit(), **(metadata or {})}
    info.update(
        format=CLASSIFIER_FORMAT,
        format_version=1,
        config=model.config.to_dict(),
        checksums={k: tensor_crc32(v) for k, v in tensors.items()},
    )
    return write_safetensors(path, tensors, info, "classifier")


def is_attribute_classifier_file(path: str | Path) -> bool:
    """Does ``path``'s header say it is a shape/colour classifier? (Reads the header only.)"""
    try:
        meta, _entries = read_header(Path(path))
        info = json.loads(meta[METADATA_KEY])
    except (CheckpointError, OSError, KeyError, ValueError, TypeError, RecursionError):
        return False
    return isinstance(info, dict) and info.get("format") == CLASSIFIER_FORMAT


def load_attribute_classifier(path: str | Path) -> tuple[AttributeClassifier, dict]:
    """The classifier (eval mode, CPU, frozen) and its metadata."""
    path = Path(path)
    try:
        return _load(path)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - one clear error type for any damaged file
        raise CheckpointError(path, f"it is damaged or not a shape/colour classifier ({type(e).__name__}: {e}).") from e


def _load(path: Path) -> tuple[AttributeClassifier, dict]:
    meta, entries = read_header(path)
    try:
        info = json.loads(meta[METADATA_KEY])
    except (KeyError, ValueError, TypeError, RecursionError):
        raise CheckpointError(path, "it has no readable Diffusion Lab metadata.") from None
    if not isinstance(info, dict) or info.get("format") != CLASSIFIER_FORMAT:
        raise CheckpointError(path, "it is not a shape/colour classifier.")
    if info.get("format_version") != 1:
        raise CheckpointError(path, f"its format version {info.get('format_version')!r} is not one this app reads.")
    try:
        config = AttributeClassifierConfig.from_dict(info.get("config"))
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"its settings are invalid: {e}") from None
    with torch.device("meta"):
        expected = AttributeClassifier(config).state_dict()
    if set(entries) != {PREFIX + k for k in expected}:
        raise CheckpointError(path, "its weights do not match its settings (tensor names differ).")
    for name, t in expected.items():
        e = entries[PREFIX + name]
        if tuple(t.shape) != e.shape or e.dtype != torch.float32:
            raise CheckpointError(path, f"its weights do not match its settings: '{name}' has the wrong shape or type.")
    checksums = info.pop("checksums", None)
    if not isinstance(checksums, dict) or set(checksums) != set(entries):
        raise CheckpointError(path, "its list of checksums does not match its tensors.")
    weights = read_tensors(path, entries, sorted(entries), checksums)
    for name, t in weights.items():
        if not math.isfinite(float(t.sum(dtype=torch.float64))):
            raise CheckpointError(path, f"its weights contain NaN or infinite values ('{name}').")
    model = AttributeClassifier(config)
    model.load_state_dict({k[len(PREFIX) :]: v for k, v in weights.items()})
    return model.eval().requires_grad_(False), info
