"""Checkpoints: a trained denoiser in one ``.safetensors`` file that can always be loaded safely.

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

Writes are atomic: the bytes go to a temporary file in the same folder, are flushed and fsync'ed,
then ``os.replace`` swaps it in and the folder is fsync'ed. Killing the process at any moment leaves
either the old or the new checkpoint, never a damaged one (at worst an orphaned ``.*.tmp`` file,
removed by the next save to the same path).

Loading checks everything before trusting it and turns every problem into one ``CheckpointError``
that names the file and says what is wrong: a missing, empty, truncated or non-safetensors file, a
header that claims more bytes than the file has (checked before anything is read or allocated), a
safetensors file from another program (e.g. ``diffusers``), a newer format version, an unknown
architecture, settings that do not match the stored tensor shapes (checked on PyTorch's "meta"
device, so a corrupted config can never allocate gigabytes), and NaN or infinite weights.

NaN/inf weights are an error, not a warning: such a model can only ever sample NaN, and training
refuses to save a diverged state, so a file holding them is damaged.
"""

from __future__ import annotations

import json
import math
import os
import platform
import struct
import tempfile
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.diffusion.prediction import PREDICTION_TYPES
from core.diffusion.schedules import NoiseSchedule, make_schedule

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
)

# safetensors dtype names → (torch dtype, bytes per element). Only what this project can write or read.
_DTYPES: dict[str, tuple[torch.dtype, int]] = {
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
    if _is_int(config.get("in_channels")) and _is_int(config.get("image_size")):
        return (config["in_channels"], config["image_size"], config["image_size"])
    for key in ("data_dim", "dim"):
        if _is_int(config.get(key)):
            return (config[key],)
    shape = metadata.get("image_shape")
    return tuple(shape) if shape else (2,)


# --- training state without pickle -----------------------------------------------------------
#
# A training state is any nesting of dicts, lists and tuples holding tensors, numpy arrays and
# JSON values (optimizer.state_dict() has int keys and tuples, RNG states are uint8 tensors).
# Tensors become safetensors entries; the structure becomes JSON in which a few one-key objects
# mark what JSON cannot say directly:
#   {"__tensor__": key}   a tensor stored under ``key``      {"__ndarray__": key}  a numpy array
#   {"__tuple__": [...]}  a tuple                           {"__float__": "nan"}  nan / inf / -inf
#   {"__dict__": [[k, v], ...]}  a dict with non-string keys (or keys that look like these markers)

_MARKERS = ("__tensor__", "__ndarray__", "__tuple__", "__float__", "__dict__")


def flatten_state(obj, prefix: str = TRAIN_PREFIX) -> tuple[dict[str, torch.Tensor], object]:
    """Split ``obj`` into (tensors named ``prefix…``, a JSON-able structure referring to them).

    ``unflatten_state(structure, tensors)`` rebuilds an equal object (dict key types, tuples and
    tensor dtypes included), so ``optimizer.load_state_dict`` accepts the result unchanged.
    Tensors are copied to the CPU. Unsupported values raise ``ValueError``.
    """
    tensors: dict[str, torch.Tensor] = {}

    def name_for(path: list[str]) -> str:
        base = prefix + ".".join(path) if path else prefix.rstrip(".") or "tensor"
        name, n = base, 1
        while name in tensors:
            name, n = f"{base}#{n}", n + 1
        return name

    def encode(value, path: list[str]):
        if isinstance(value, torch.Tensor):
            name = name_for(path)
            tensors[name] = value.detach()
            return {"__tensor__": name}
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise ValueError(f"Cannot store the object array at '{'.'.join(path)}' without pickle.")
            name = name_for(path)
            tensors[name] = torch.from_numpy(np.ascontiguousarray(value).copy())
            return {"__ndarray__": name}
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, tuple):
            return {"__tuple__": [encode(v, path + [str(i)]) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [encode(v, path + [str(i)]) for i, v in enumerate(value)]
        if isinstance(value, Mapping):
            plain = all(isinstance(k, str) and k not in _MARKERS for k in value)
            if plain:
                return {k: encode(v, path + [k]) for k, v in value.items()}
            pairs = []
            for k, v in value.items():
                if not (k is None or isinstance(k, (bool, int, float, str))):
                    raise ValueError(f"Cannot store a dictionary key of type {type(k).__name__} at '{'.'.join(path)}'.")
                pairs.append([encode(k, path), encode(v, path + [str(k)])])
            return {"__dict__": pairs}
        raise ValueError(f"Cannot store a {type(value).__name__} at '{'.'.join(path) or prefix}' in a checkpoint.")

    return tensors, encode(obj, [])


def unflatten_state(structure, tensors: Mapping[str, torch.Tensor]):
    """Inverse of ``flatten_state``. A malformed structure or a missing tensor raises ``ValueError``."""

    def decode(value, depth: int):
        if depth > 64:
            raise ValueError("the training state is nested too deeply")
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, list):
            return [decode(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            raise ValueError(f"unexpected {type(value).__name__} in the training state")
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key in ("__tensor__", "__ndarray__"):
                if not isinstance(inner, str) or inner not in tensors:
                    raise ValueError(f"the training state refers to a tensor {inner!r} that is not in the file")
                t = tensors[inner]
                return t.numpy().copy() if key == "__ndarray__" else t
            if key == "__tuple__":
                if not isinstance(inner, list):
                    raise ValueError("a tuple in the training state is not a list")
                return tuple(decode(v, depth + 1) for v in inner)
            if key == "__float__":
                if inner not in ("nan", "inf", "-inf"):
                    raise ValueError(f"unexpected special number {inner!r} in the training state")
                return float(inner)
            if key == "__dict__":
                if not isinstance(inner, list) or not all(isinstance(p, list) and len(p) == 2 for p in inner):
                    raise ValueError("a dictionary in the training state is not a list of pairs")
                out = {}
                for k, v in inner:
                    k = decode(k, depth + 1)
                    if not (k is None or isinstance(k, (bool, int, float, str))):
                        raise ValueError("a dictionary key in the training state is not a simple value")
                    out[k] = decode(v, depth + 1)
                return out
        return {k: decode(v, depth + 1) for k, v in value.items()}

    return decode(structure, 0)


# --- saving ----------------------------------------------------------------------------------


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
    info.setdefault("app_version", _app_version())
    info.setdefault("git_commit", _git_commit())
    info.update(
        format=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        model_config=denoiser_config(model),
        schedule=schedule.to_dict(),
        prediction_type=prediction_type,
        saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        safetensors_version=_safetensors_version(),
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


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves either the old or the new file.

    Temporary file in the same folder (so ``os.replace`` is a rename on one file system), write,
    flush, fsync, ``os.replace``, then fsync the folder so the rename itself survives a power cut.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_temp_files(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(path.parent)


def _replace(src: str, dst: Path) -> None:
    # On Windows a reader holding the old file open makes the rename fail for a moment: retry briefly.
    for attempt in range(20):
        try:
            os.replace(src, dst)
            return
        except PermissionError:
            if os.name != "nt" or attempt == 19:
                raise
            time.sleep(0.05)


def _fsync_directory(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a folder for fsync; NTFS journals the rename
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_files_for(path: str | Path) -> list[Path]:
    """Temporary files that saves to ``path`` create (left behind only if a saving process was killed)."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))


def _remove_orphaned_temp_files(path: Path) -> None:
    """Delete temp files of earlier saves to ``path`` whose process is gone (killed mid-save)."""
    for tmp in temp_files_for(path):
        parts = tmp.name[len(path.name) + 2 :].split(".")
        try:
            pid = int(parts[0])
        except (ValueError, IndexError):
            continue
        if pid == os.getpid() or _process_alive(pid):
            if not (os.name == "nt" and _older_than(tmp, 600)):
                continue
        try:
            tmp.unlink()
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate a process on Windows; rely on the file's age instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _older_than(p: Path, seconds: float) -> bool:
    try:
        return time.time() - p.stat().st_mtime > seconds
    except OSError:
        return False


def _safetensors_version() -> str | None:
    try:
        import safetensors

        return safetensors.__version__
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None


def _app_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("diffusion-lab")
    except Exception:  # noqa: BLE001 - not installed as a package (a source checkout)
        return None


@lru_cache(maxsize=1)
def _git_commit() -> str | None:
    """The commit of the source checkout this code runs from, read from .git without running git."""
    try:
        git = Path(__file__).resolve().parent.parent / ".git"
        if git.is_file():  # a worktree: ".git" is a file "gitdir: <path>"
            text = git.read_text().strip()
            if not text.startswith("gitdir:"):
                return None
            git = (git.parent / text.split(":", 1)[1].strip()).resolve()
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.split(":", 1)[1].strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text().strip() or None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return None
    return None


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
        header, _ = _read_header(path)
        info = _parse_info(path, header)
        info.pop("training_state", None)
        info.pop("checksums", None)
        return info
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(
            path, f"it is damaged or not a Diffusion Lab checkpoint ({type(e).__name__}: {e})."
        ) from e


@dataclass(frozen=True)
class _Entry:
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int  # byte offsets in the whole file
    end: int


def _read_header(path: Path) -> tuple[dict, dict[str, _Entry]]:
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
    entries: dict[str, _Entry] = {}
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise CheckpointError(path, f"it is damaged: the description of tensor '{name}' is malformed.")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in _DTYPES:
            raise CheckpointError(path, f"tensor '{name}' has the unsupported or damaged data type {dtype!r}.")
        if not isinstance(shape, list) or not all(type(s) is int and s >= 0 for s in shape):
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has an invalid shape {shape!r}.")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has invalid data offsets.")
        start, end = offsets
        torch_dtype, itemsize = _DTYPES[dtype]
        if not 0 <= start <= end <= data_size:
            raise CheckpointError(
                path, f"tensor '{name}' lies beyond the end of the file: the file is truncated or damaged."
            )
        if end - start != math.prod(shape) * itemsize:
            raise CheckpointError(path, f"it is damaged: tensor '{name}' has a size that does not match its shape.")
        entries[name] = _Entry(torch_dtype, tuple(shape), data_start + start, data_start + end)
    # safetensors stores the tensors back to back; gaps or overlaps mean the file was tampered with.
    position = data_start
    for e in sorted(entries.values(), key=lambda e: (e.start, e.end)):
        if e.start != position:
            raise CheckpointError(path, "it is damaged: its tensor data overlaps or has gaps.")
        position = e.end
    if position != size:
        raise CheckpointError(path, "it is damaged: the file is longer or shorter than its tensors.")
    return meta or {}, entries


def _parse_info(path: Path, meta: dict) -> dict:
    """Decode and check the "diffusion_lab" JSON (everything but the model config against the weights)."""
    if METADATA_KEY not in meta:
        raise CheckpointError(
            path,
            "it is a safetensors file but not a Diffusion Lab checkpoint (it has no 'diffusion_lab' "
            "metadata); it may come from another program such as diffusers.",
        )
    try:
        info = json.loads(meta[METADATA_KEY])
    except (ValueError, RecursionError):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not valid JSON).") from None
    if not isinstance(info, dict):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not a JSON object).")
    if info.get("format") != FORMAT_NAME:
        raise CheckpointError(path, "its metadata does not identify it as a Diffusion Lab checkpoint.")
    version = info.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(path, f"its format version {version!r} is damaged.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"it was written in checkpoint format {version} by a newer Diffusion Lab; this version reads "
            f"format {FORMAT_VERSION}. Update Diffusion Lab to open it.",
        )
    if not isinstance(info.get("model_config"), dict):
        raise CheckpointError(path, "its metadata has no model settings ('model_config').")
    if info.get("prediction_type") not in PREDICTION_TYPES:
        raise CheckpointError(
            path, f"its prediction type {info.get('prediction_type')!r} is not one of {', '.join(PREDICTION_TYPES)}."
        )
    _check_metadata_types(path, info)
    checksums = info.get("checksums")
    if not (isinstance(checksums, dict) and all(_is_int(v) for v in checksums.values())):
        raise CheckpointError(path, "its metadata has no valid checksums for the stored tensors.")
    return info


def _is_int(v) -> bool:
    return type(v) is int


def _is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


# Conventional metadata values and the types they must have when present (None is always allowed).
_METADATA_TYPES = {
    "dataset": (lambda v: isinstance(v, str), "a text"),
    "class_names": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of texts"),
    "image_shape": (
        lambda v: isinstance(v, list) and 1 <= len(v) <= 4 and all(_is_int(s) and s > 0 for s in v),
        "a list of positive whole numbers",
    ),
    "step": (lambda v: _is_int(v) and v >= 0, "a whole number ≥ 0"),
    "wall_time_s": (lambda v: _is_number(v) and v >= 0, "a number of seconds ≥ 0"),
    "device": (lambda v: isinstance(v, str), "a text"),
    "recipe": (lambda v: isinstance(v, (dict, str)), "a table or a text"),
    "app_version": (lambda v: isinstance(v, str), "a text"),
    "git_commit": (lambda v: isinstance(v, str), "a text"),
    "torch_version": (lambda v: isinstance(v, str), "a text"),
    "schedule": (lambda v: isinstance(v, dict), "a table"),
}


def _check_metadata_types(path: Path, info: dict) -> None:
    for key, (ok, wanted) in _METADATA_TYPES.items():
        value = info.get(key)
        if value is not None and not ok(value):
            raise CheckpointError(path, f"its metadata value '{key}' should be {wanted}, not {value!r:.80}.")


def _make_schedule(path: Path, d) -> NoiseSchedule:
    if not isinstance(d, dict):
        raise CheckpointError(path, "its metadata has no noise schedule.")
    allowed = {"kind", "num_timesteps", "beta_start", "beta_end"}
    if not set(d) <= allowed:
        raise CheckpointError(path, f"its noise schedule has unknown settings: {', '.join(sorted(set(d) - allowed))}.")
    for k in ("beta_start", "beta_end"):
        if d.get(k) is not None and not (_is_number(d[k]) and 0 < d[k] < 1):
            raise CheckpointError(path, f"its noise schedule has an invalid {k} {d[k]!r}.")
    if not _is_int(d.get("num_timesteps")):
        raise CheckpointError(
            path, f"its noise schedule has an invalid number of timesteps {d.get('num_timesteps')!r}."
        )
    try:
        return make_schedule(**d)
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"its noise schedule is invalid: {e}") from None


class _TooManyModules(Exception):
    pass


class _ModuleBudget:
    """Abort building a network that registers far more layers than the file has tensors for.

    A corrupted setting such as num_res_blocks = 10¹² would otherwise loop (almost) forever even on
    the meta device. Only registrations from the loading thread count, so other threads are unaffected.
    """

    def __init__(self, limit: int):
        self.limit, self.count, self.thread = limit, 0, threading.get_ident()

    def __call__(self, *args):
        if threading.get_ident() == self.thread:
            self.count += 1
            if self.count > self.limit:
                raise _TooManyModules

    def __enter__(self):
        from torch.nn.modules import module

        self._handles = [
            module.register_module_module_registration_hook(self),
            module.register_module_parameter_registration_hook(self),
        ]
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()


class _SkipInit(TorchFunctionMode):
    """Skip random weight initialisation while rebuilding a network whose weights are loaded next.

    ``torch.nn.init`` functions return their tensor untouched (every parameter is then overwritten by
    ``load_state_dict(strict=True)``); in-place random fills of meta tensors are skipped too, because
    on the meta device they route through PyTorch's Python reference kernels, whose first use
    imports ``torch._dynamo`` (seconds of start-up for nothing).
    """

    INIT = {getattr(nn.init, n) for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")}
    META_FILLS = {
        torch.Tensor.normal_,
        torch.Tensor.uniform_,
        torch.Tensor.random_,
        torch.Tensor.exponential_,
        torch.Tensor.bernoulli_,
        torch.Tensor.fill_,
        torch.Tensor.zero_,
    }

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        t = args[0] if args else kwargs.get("tensor")
        if isinstance(t, torch.Tensor) and (func in self.INIT or (t.is_meta and func in self.META_FILLS)):
            return t
        return func(*args, **kwargs)


def _build_model(path: Path, config: dict, entries: dict[str, _Entry]) -> nn.Module:
    """Rebuild the denoiser, checking its tensor names and shapes on the meta device first."""
    from core.models.registry import build_denoiser

    stored = {k[len(MODEL_PREFIX) :]: e for k, e in entries.items() if k.startswith(MODEL_PREFIX)}
    if not stored:
        raise CheckpointError(path, "it contains no model weights.")
    budget = 20 * len(stored) + 200  # layers without weights (activations, containers) are allowed for generously

    def build(device: str) -> nn.Module:
        try:
            with _ModuleBudget(budget), _SkipInit(), torch.device(device):
                return build_denoiser(config)
        except _TooManyModules:
            raise CheckpointError(
                path, "its model settings describe a far larger network than the weights it contains."
            ) from None
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(path, f"its model settings cannot build a network: {e}") from None

    skeleton = build("meta")  # no memory is allocated, whatever sizes the config asks for
    expected = skeleton.state_dict()
    missing = sorted(set(expected) - set(stored))
    unexpected = sorted(set(stored) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. '{missing[0]}')")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. '{unexpected[0]}')")
        raise CheckpointError(path, f"its weights do not match its model settings: {' and '.join(parts)} tensors.")
    for name, t in expected.items():
        e = stored[name]
        if tuple(t.shape) != e.shape:
            raise CheckpointError(
                path,
                f"its weights do not match its model settings: '{name}' has shape {list(e.shape)} "
                f"in the file but the network needs {list(t.shape)}.",
            )
        if t.dtype.is_floating_point != e.dtype.is_floating_point:
            raise CheckpointError(path, f"it is damaged: '{name}' is stored with the wrong kind of number.")
    del skeleton
    return build("cpu")


def _read_tensors(path: Path, entries: dict[str, _Entry], names, checksums: dict) -> dict[str, torch.Tensor]:
    """Read the named tensors (offsets already checked against the file size) and verify their CRC-32."""
    out = {}
    with open(path, "rb") as f:
        for name in names:
            e = entries[name]
            f.seek(e.start)
            buf = f.read(e.end - e.start)
            if len(buf) != e.end - e.start:
                raise CheckpointError(path, "the file was truncated while it was being read.")
            if zlib.crc32(buf) != checksums.get(name):
                raise CheckpointError(
                    path, f"the data of tensor '{name}' is damaged (its checksum does not match); the file is corrupt."
                )
            if not buf:
                out[name] = torch.empty(e.shape, dtype=e.dtype)
                continue
            # safetensors data is little-endian, like every CPU torch runs on.
            out[name] = torch.frombuffer(bytearray(buf), dtype=e.dtype).reshape(e.shape)
    return out


def _load(path: Path, with_training_state: bool) -> Checkpoint:
    meta, entries = _read_header(path)
    info = _parse_info(path, meta)
    schedule = _make_schedule(path, info.get("schedule"))
    model = _build_model(path, info["model_config"], entries)
    if getattr(model, "prediction_type", None) != info["prediction_type"]:
        raise CheckpointError(path, "its prediction type disagrees with its model settings.")

    model_names = [k for k in entries if k.startswith(MODEL_PREFIX)]
    checksums = info.pop("checksums")
    if set(checksums) != set(entries):
        raise CheckpointError(path, "it is damaged: its list of tensors does not match the tensors it contains.")
    weights = _read_tensors(path, entries, model_names, checksums)
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
        tensors = _read_tensors(path, entries, train_names, checksums)
        try:
            training_state = unflatten_state(structure, tensors)
        except (ValueError, TypeError) as e:
            raise CheckpointError(path, f"its training state is damaged: {e}") from None
        if not isinstance(training_state, dict):
            raise CheckpointError(path, "its training state is damaged (not a table).")
    _check_class_names(path, info, model)
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


def _check_class_names(path: Path, info: dict, model: nn.Module) -> None:
    names = info.get("class_names")
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if names is not None and num_classes and len(names) != num_classes:
        raise CheckpointError(path, f"it names {len(names)} classes but its model was built for {num_classes} classes.")


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
