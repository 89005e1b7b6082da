"""An autoencoder on disk: one safetensors file, checked like every checkpoint, named by its content hash.

Layout: the weights under ``autoencoder.*`` and one JSON string under ``"diffusion_lab"`` in the
header with ``format = "diffusion_lab.autoencoder"``, its ``config``, the dataset, the measured scale
factor and reconstruction error, provenance, per-tensor CRC-32s and ``weights_sha256``: a SHA-256
of the weights themselves (names, dtypes, shapes and bytes, not the header), so a latent model can
say exactly which autoencoder it was trained with even if the file is renamed or its notes change.

Every problem raises ``CheckpointError`` naming the file; a denoiser checkpoint given where an
autoencoder is expected (or the reverse) is told apart by its ``format``.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import time
from pathlib import Path

import torch

from core.io.checkpoint_format import (
    FORMAT_NAME,
    METADATA_KEY,
    SUFFIX,
    CheckpointError,
    read_header,
    tensor_crc32,
    write_safetensors,
)
from core.io.checkpoint_validation import read_tensors
from core.io.provenance import app_version, git_commit
from core.models.autoencoder import Autoencoder, AutoencoderConfig

AUTOENCODER_FORMAT = "diffusion_lab.autoencoder"
AUTOENCODER_FORMAT_VERSION = 1
PREFIX = "autoencoder."


def weights_sha256(model: Autoencoder) -> str:
    """SHA-256 of the weights (sorted names, dtype, shape, little-endian bytes): the autoencoder's identity."""
    digest = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        shape = tuple(t.shape)
        t = t.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{list(shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def save_autoencoder(path: str | Path, model: Autoencoder, metadata: dict | None = None) -> Path:
    """Write ``model`` and ``metadata`` (JSON values) atomically; returns the path (``.safetensors`` added)."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    if not isinstance(model, Autoencoder):
        raise ValueError(f"save_autoencoder saves an Autoencoder, not a {type(model).__name__}.")
    tensors = {PREFIX + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    info = dict(metadata or {})
    info.setdefault("app_version", app_version())
    info.setdefault("git_commit", git_commit())
    info.update(
        format=AUTOENCODER_FORMAT,
        format_version=AUTOENCODER_FORMAT_VERSION,
        config=model.config.to_dict(),
        scale_factor=float(model.scale_factor),
        weights_sha256=weights_sha256(model),
        saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        checksums={name: tensor_crc32(t) for name, t in tensors.items()},
    )
    return write_safetensors(path, tensors, info, "autoencoder")


def read_autoencoder_metadata(path: str | Path) -> dict:
    """The autoencoder's metadata, reading only the header (``CheckpointError`` if it is not one)."""
    path = Path(path)
    meta, _ = read_header(path)
    return _parse(path, meta)


def load_autoencoder(path: str | Path) -> tuple[Autoencoder, dict]:
    """The autoencoder (eval mode, CPU, frozen) and its metadata; every problem is a ``CheckpointError``."""
    path = Path(path)
    try:
        return _load(path)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - one clear error type for any damaged file
        raise CheckpointError(path, f"it is damaged or not an autoencoder ({type(e).__name__}: {e}).") from e


def _parse(path: Path, meta: dict) -> dict:
    if METADATA_KEY not in meta:
        raise CheckpointError(path, "it is a safetensors file but not a Diffusion Lab autoencoder.")
    try:
        info = json.loads(meta[METADATA_KEY])
    except (ValueError, RecursionError):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not valid JSON).") from None
    if not isinstance(info, dict):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not a JSON object).")
    if info.get("format") == FORMAT_NAME:
        raise CheckpointError(path, "it is a denoiser (a diffusion model), not an autoencoder.")
    if info.get("format") != AUTOENCODER_FORMAT:
        raise CheckpointError(path, "its metadata does not identify it as a Diffusion Lab autoencoder.")
    version = info.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(path, f"its format version {version!r} is damaged.")
    if version > AUTOENCODER_FORMAT_VERSION:
        raise CheckpointError(path, f"it was written by a newer Diffusion Lab (autoencoder format {version}).")
    if not isinstance(info.get("config"), dict):
        raise CheckpointError(path, "its metadata has no autoencoder settings ('config').")
    scale = info.get("scale_factor")
    if type(scale) not in (int, float) or not math.isfinite(scale) or scale <= 0:
        raise CheckpointError(path, f"its latent scale factor {scale!r} is not a positive number.")
    checksums = info.get("checksums")
    if not (isinstance(checksums, dict) and all(type(v) is int for v in checksums.values())):
        raise CheckpointError(path, "its metadata has no valid checksums for the stored tensors.")
    if not isinstance(info.get("weights_sha256"), str):
        raise CheckpointError(path, "its metadata has no content hash ('weights_sha256').")
    return info


def _load(path: Path) -> tuple[Autoencoder, dict]:
    meta, entries = read_header(path)
    info = _parse(path, meta)
    try:
        config = AutoencoderConfig.from_dict(info["config"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"its autoencoder settings are invalid: {e}") from None
    if max(config.channels) > 4096 or config.image_size > 4096 or config.latent_channels > 4096:
        raise CheckpointError(path, "its autoencoder settings describe an implausibly large network.")
    with torch.device("meta"):
        expected = Autoencoder(config).state_dict()
    stored = {k[len(PREFIX) :]: e for k, e in entries.items() if k.startswith(PREFIX)}
    if set(stored) != set(expected) or set(entries) != {PREFIX + k for k in stored}:
        raise CheckpointError(path, "its weights do not match its autoencoder settings (tensor names differ).")
    for name, t in expected.items():
        if tuple(t.shape) != stored[name].shape or not stored[name].dtype.is_floating_point:
            raise CheckpointError(path, f"its weights do not match its settings: '{name}' has the wrong shape or type.")
    checksums = info.pop("checksums")
    if set(checksums) != set(entries):
        raise CheckpointError(path, "it is damaged: its list of tensors does not match the tensors it contains.")
    weights = read_tensors(path, entries, list(entries), checksums)
    for name, t in weights.items():
        if not math.isfinite(float(t.sum(dtype=torch.float64))):
            raise CheckpointError(path, f"its weights contain NaN or infinite values ('{name}').")
    model = Autoencoder(config)
    model.load_state_dict({k[len(PREFIX) :]: v for k, v in weights.items()}, strict=True)
    if weights_sha256(model) != info["weights_sha256"]:
        raise CheckpointError(path, "its weights do not match the content hash it records; the file was altered.")
    if not math.isclose(float(model.scale_factor), info["scale_factor"], rel_tol=1e-6):
        raise CheckpointError(path, "its stored scale factor disagrees with its weights.")
    model.eval().requires_grad_(False)
    return model, info
