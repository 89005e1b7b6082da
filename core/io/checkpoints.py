"""Checkpoints: a trained denoiser in one ``.safetensors`` file that can always be loaded safely.

The public API: ``save_checkpoint``, ``load_checkpoint``, ``load_denoiser`` and ``read_metadata``.
The parts live next to it, one concept each: ``checkpoint_format`` (file layout, ``Checkpoint``,
``CheckpointError``, the header reader), ``checkpoint_validation`` (every check made before a file
is trusted), ``training_state`` (resumable state without pickle), ``atomic_write`` (old or new file,
never a damaged one) and ``provenance`` (versions and git commit recorded when saving).
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import torch
from torch import nn

from core.diffusion.prediction import PREDICTION_TYPES
from core.diffusion.schedules import NoiseSchedule
from core.io.atomic_write import atomic_write_bytes
from core.io.checkpoint_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    MODEL_PREFIX,
    RESERVED_KEYS,
    SUFFIX,
    TRAIN_PREFIX,
    Checkpoint,
    CheckpointError,
    data_shape_of,
    read_header,
    tensor_crc32,
)
from core.io.checkpoint_validation import build_model, check_class_names, parse_info, read_tensors, schedule_from
from core.io.provenance import app_version, git_commit, safetensors_version
from core.io.training_state import flatten_state, unflatten_state


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    schedule: NoiseSchedule,
    metadata: dict | None = None,
    training_state: dict | None = None,
) -> Path:
    """Write ``model`` (the weights to sample with), its schedule and ``metadata`` atomically to ``path``.

    ``metadata`` holds JSON values; the conventional keys are ``dataset``, ``class_names``,
    ``image_shape``, ``step``, ``wall_time_s``, ``device``, ``recipe`` and ``app_version``.
    ``training_state`` (optional) is what resuming needs: nested dicts/lists of tensors, numpy arrays
    and JSON values (see ``flatten_state``). Returns the path written. A ``.safetensors`` suffix is
    added if missing. Unstorable values raise ``ValueError``; disk errors raise ``CheckpointError``.
    """
    from core.models.registry import denoiser_config  # the registry; imported late to keep this module light

    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    if not isinstance(schedule, NoiseSchedule):
        raise ValueError("save_checkpoint needs the NoiseSchedule the model was trained with.")
    model = getattr(model, "_orig_mod", model)  # a torch.compile'd model saves its original module
    prediction_type = getattr(model, "prediction_type", None)
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"The model must declare prediction_type as one of {', '.join(PREDICTION_TYPES)}.")

    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    info = {k: v for k, v in (metadata or {}).items() if k not in RESERVED_KEYS}
    if "device" not in info:
        first = next(model.parameters(), None)
        info["device"] = str(first.device) if first is not None else "cpu"
    info.setdefault("app_version", app_version())
    info.setdefault("git_commit", git_commit())
    info.update(
        format=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        model_config=denoiser_config(model),
        schedule=schedule.to_dict(),
        prediction_type=prediction_type,
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
    # A CRC-32 per tensor: a flipped bit in the weights is reported instead of silently loaded.
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


def _cpu_unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Contiguous CPU tensors, copying only where needed: off the CPU, strided, or sharing memory
    with another entry (tied weights), which safetensors refuses to write."""
    out, seen = {}, set()
    for name, t in tensors.items():
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        if t.numel():
            key = t.untyped_storage().data_ptr()
            if key in seen:
                t = t.clone()
            seen.add(key)
        out[name] = t
    return out


# --- loading ---------------------------------------------------------------------------------


def load_checkpoint(path: str | Path, *, with_training_state: bool = False) -> Checkpoint:
    """Load a checkpoint: the model (eval mode, CPU), its schedule, metadata and, if asked, training state.

    Every problem with the file raises ``CheckpointError`` naming the file and the problem.
    """
    path = Path(path)
    try:
        return _load(path, with_training_state)
    except CheckpointError:
        raise
    except MemoryError:
        raise CheckpointError(path, "there is not enough memory to load it.") from None
    except Exception as e:  # noqa: BLE001 - the promise is one clear error type for any damaged file
        raise CheckpointError(
            path, f"it is damaged or not a Diffusion Lab checkpoint ({type(e).__name__}: {e})."
        ) from e


def load_denoiser(path: str | Path) -> Checkpoint:
    """``load_checkpoint`` without the training state: what sampling needs."""
    return load_checkpoint(path, with_training_state=False)


def read_metadata(path: str | Path) -> dict:
    """The checkpoint's metadata (without the training state), reading only the file's header.

    Cheap enough to list many checkpoints; the weights are not checked (``load_checkpoint`` does that).
    """
    path = Path(path)
    try:
        header, _ = read_header(path)
        info = parse_info(path, header)
        info.pop("training_state", None)
        info.pop("checksums", None)
        return info
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(
            path, f"it is damaged or not a Diffusion Lab checkpoint ({type(e).__name__}: {e})."
        ) from e


def _load(path: Path, with_training_state: bool) -> Checkpoint:
    meta, entries = read_header(path)
    info = parse_info(path, meta)
    schedule = schedule_from(path, info.get("schedule"))
    model = build_model(path, info["model_config"], entries)
    if getattr(model, "prediction_type", None) != info["prediction_type"]:
        raise CheckpointError(path, "its prediction type disagrees with its model settings.")

    model_names = [k for k in entries if k.startswith(MODEL_PREFIX)]
    checksums = info.pop("checksums")
    if set(checksums) != set(entries):
        raise CheckpointError(path, "it is damaged: its list of tensors does not match the tensors it contains.")
    weights = read_tensors(path, entries, model_names, checksums)
    for name, t in weights.items():
        # A float64 sum is finite exactly when every element is (float32 values cannot overflow it).
        if t.is_floating_point() and not math.isfinite(float(t.sum(dtype=torch.float64))):
            raise CheckpointError(
                path,
                f"its weights contain NaN or infinite values ('{name[len(MODEL_PREFIX) :]}'); the model is unusable.",
            )
    state = {k[len(MODEL_PREFIX) :]: v for k, v in weights.items()}
    model.load_state_dict(state, strict=True)
    model.eval()

    structure = info.pop("training_state", None)
    training_state = None
    if with_training_state and structure is not None:
        train_names = [k for k in entries if k.startswith(TRAIN_PREFIX)]
        tensors = read_tensors(path, entries, train_names, checksums)
        try:
            training_state = unflatten_state(structure, tensors)
        except (ValueError, TypeError) as e:
            raise CheckpointError(path, f"its training state is damaged: {e}") from None
        if not isinstance(training_state, dict):
            raise CheckpointError(path, "its training state is damaged (not a table).")
    check_class_names(path, info, model)
    shape = info.get("image_shape")
    if shape is not None and tuple(shape) != data_shape_of(info):
        raise CheckpointError(
            path, f"its image shape {shape} does not match its network's {list(data_shape_of(info))}."
        )
    return Checkpoint(
        model=model,
        schedule=schedule,
        metadata=info,
        training_state=training_state,
        path=path,
        resumable=structure is not None,
    )
