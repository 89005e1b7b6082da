"""Training state without pickle: nested dicts/lists of tensors and JSON values ⇄ flat tensors + JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch

from core.io.checkpoint_format import TRAIN_PREFIX

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
