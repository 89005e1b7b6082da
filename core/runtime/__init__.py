"""Where the work runs and where the app's files are: device and precision selection, the resources folder."""

from core.runtime.device import (
    DEVICE_CHOICES,
    PRECISION_CHOICES,
    autocast_context,
    bf16_supported_on_cpu,
    cpu_count,
    describe_device,
    mps_available,
    resolve_precision,
    select_device,
    set_threads,
)
from core.runtime.resources import (
    RESOURCES_ENV_VAR,
    resource_path,
    resources_dir,
)

__all__ = [
    "DEVICE_CHOICES",
    "PRECISION_CHOICES",
    "RESOURCES_ENV_VAR",
    "autocast_context",
    "bf16_supported_on_cpu",
    "cpu_count",
    "describe_device",
    "mps_available",
    "resolve_precision",
    "resource_path",
    "resources_dir",
    "select_device",
    "set_threads",
]
