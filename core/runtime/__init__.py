"""Where the work runs and where the app's files are: device and precision selection, the resources folder.

The names are loaded on first use (PEP 562): ``core.runtime.resources`` imports no torch, and the
app's window finds its resources folder through it before torch is loaded on a background thread.
Importing this package must not import ``core.runtime.device`` (and with it torch) as a side effect.
"""

from __future__ import annotations

import importlib

_NAMES = {
    "DEVICE_CHOICES": "device",
    "PRECISION_CHOICES": "device",
    "autocast_context": "device",
    "bf16_supported_on_cpu": "device",
    "cpu_count": "device",
    "describe_device": "device",
    "mps_available": "device",
    "resolve_precision": "device",
    "select_device": "device",
    "set_threads": "device",
    "RESOURCES_ENV_VAR": "resources",
    "resource_path": "resources",
    "resources_dir": "resources",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'core.runtime' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.runtime.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_NAMES))
