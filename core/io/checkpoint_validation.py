"""Checking a checkpoint before trusting it.

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
import threading
import zlib
from pathlib import Path

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from core.diffusion.prediction import PREDICTION_TYPES
from core.diffusion.schedules import NoiseSchedule, make_schedule
from core.io.checkpoint_format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    MODEL_PREFIX,
    CheckpointError,
    TensorEntry,
    is_int,
    is_number,
)


def parse_info(path: Path, meta: dict, kind: str = "diffusion") -> dict:
    """Decode and check the "diffusion_lab" JSON (everything but the model config against the weights).

    ``kind`` is the kind of model the caller can use ("diffusion", "gan" or "vae"); a file of another
    kind (its ``model_kind``, "diffusion" when absent) is refused in words.
    """
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
    check_kind(path, info, kind)
    if not isinstance(info.get("model_config"), dict):
        raise CheckpointError(path, "its metadata has no model settings ('model_config').")
    if kind == "diffusion" and info.get("prediction_type") not in PREDICTION_TYPES:  # GANs/VAEs have none
        raise CheckpointError(
            path, f"its prediction type {info.get('prediction_type')!r} is not one of {', '.join(PREDICTION_TYPES)}."
        )
    _check_metadata_types(path, info)
    checksums = info.get("checksums")
    if not (isinstance(checksums, dict) and all(is_int(v) for v in checksums.values())):
        raise CheckpointError(path, "its metadata has no valid checksums for the stored tensors.")
    return info


_KIND_NAMES = {"diffusion": "a diffusion model", "gan": "a GAN", "vae": "a VAE"}


def check_kind(path: Path, info: dict, kind: str) -> None:
    """Refuse a checkpoint of another kind of model (a GAN opened as a diffusion model, …)."""
    stored = info.get("model_kind", "diffusion")
    if stored not in _KIND_NAMES:
        raise CheckpointError(path, f"its kind of model {stored!r} is unknown (diffusion, gan or vae).")
    if stored != kind:
        raise CheckpointError(
            path,
            f"it holds {_KIND_NAMES[stored]}, not {_KIND_NAMES[kind]}; open it where {_KIND_NAMES[stored]} "
            "is used (GANs and VAEs: the Compare view).",
        )


# Conventional metadata values and the types they must have when present (None is always allowed).
_METADATA_TYPES = {
    "dataset": (lambda v: isinstance(v, str), "a text"),
    "class_names": (lambda v: isinstance(v, list) and all(isinstance(c, str) for c in v), "a list of texts"),
    "image_shape": (
        lambda v: isinstance(v, list) and 1 <= len(v) <= 4 and all(is_int(s) and s > 0 for s in v),
        "a list of positive whole numbers",
    ),
    "step": (lambda v: is_int(v) and v >= 0, "a whole number ≥ 0"),
    "wall_time_s": (lambda v: is_number(v) and v >= 0, "a number of seconds ≥ 0"),
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


def schedule_from(path: Path, d) -> NoiseSchedule:
    if not isinstance(d, dict):
        raise CheckpointError(path, "its metadata has no noise schedule.")
    allowed = {"kind", "num_timesteps", "beta_start", "beta_end"}
    if not set(d) <= allowed:
        raise CheckpointError(path, f"its noise schedule has unknown settings: {', '.join(sorted(set(d) - allowed))}.")
    for k in ("beta_start", "beta_end"):
        if d.get(k) is not None and not (is_number(d[k]) and 0 < d[k] < 1):
            raise CheckpointError(path, f"its noise schedule has an invalid {k} {d[k]!r}.")
    if not is_int(d.get("num_timesteps")):
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


def build_model(path: Path, config: dict, entries: dict[str, TensorEntry], kind: str = "diffusion") -> nn.Module:
    """Rebuild the network, checking its tensor names and shapes on the meta device first."""
    from core.models.registry import build_denoiser, build_generative

    def make(settings: dict) -> nn.Module:
        return build_denoiser(settings) if kind == "diffusion" else build_generative(kind, settings)

    stored = {k[len(MODEL_PREFIX) :]: e for k, e in entries.items() if k.startswith(MODEL_PREFIX)}
    if not stored:
        raise CheckpointError(path, "it contains no model weights.")
    budget = 20 * len(stored) + 200  # layers without weights (activations, containers) are allowed for generously

    def build(device: str) -> nn.Module:
        try:
            with _ModuleBudget(budget), _SkipInit(), torch.device(device):
                return make(config)
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


def read_tensors(path: Path, entries: dict[str, TensorEntry], names, checksums: dict) -> dict[str, torch.Tensor]:
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


def check_class_names(path: Path, info: dict, model: nn.Module) -> None:
    names = info.get("class_names")
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if names is not None and num_classes and len(names) != num_classes:
        raise CheckpointError(path, f"it names {len(names)} classes but its model was built for {num_classes} classes.")
