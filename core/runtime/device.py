"""Where the computation runs: device choice, CPU thread count and mixed precision.

``select_device("auto")`` prefers a CUDA GPU, then Apple's MPS, then the CPU. Asking explicitly for
a device that is not there is an error with a sentence that says why, not a silent fallback.

Mixed precision (Micikevicius et al. 2018, "Mixed Precision Training"): ``autocast_context`` runs
matrix products in bfloat16 or float16 while the weights and the optimizer stay in float32.
float16 needs a gradient scaler (CUDA only); bfloat16 has float32's exponent range and needs none.
"""

from __future__ import annotations

import contextlib
import operator
import os
from functools import lru_cache

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(preference: str | torch.device | None = "auto") -> torch.device:
    """The device to compute on: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:1" or "mps".

    Raises ``ValueError`` when the requested device does not exist on this computer.
    """
    if isinstance(preference, torch.device):
        preference = str(preference)
    choice = (preference or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = choice.partition(":")
    if kind == "cpu" and not index:
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "A CUDA GPU was requested but none is available (no NVIDIA GPU, or this PyTorch is the "
                "CPU-only build). Use --device cpu or auto."
            )
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise ValueError(
                    f"There is no GPU '{choice}': this computer has {torch.cuda.device_count()} CUDA GPU(s), "
                    f"numbered from cuda:0."
                )
            return torch.device("cuda", int(index))
        return torch.device("cuda")
    if kind == "mps" and not index:
        if not mps_available():
            raise ValueError(
                "Apple's MPS GPU was requested but is not available here (it needs a Mac with Apple "
                "silicon or a recent AMD GPU). Use --device cpu or auto."
            )
        return torch.device("mps")
    raise ValueError(f"Unknown device '{preference}'. Choose one of: {', '.join(DEVICE_CHOICES)}.")


def set_threads(n: int | None) -> int:
    """Use ``n`` CPU threads for torch's intra-op parallelism (None keeps the current setting).

    Returns the thread count now in effect.
    """
    if n is None:
        return torch.get_num_threads()
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)  # ints and numpy integers; refuses 2.5 and "2"
    except TypeError:
        raise ValueError(f"The number of threads must be a whole number, not {n!r}.") from None
    if n < 1:
        raise ValueError(f"The number of threads must be at least 1, not {n}.")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch.get_num_threads()


def cpu_count() -> int:
    """CPUs this process may use (respects affinity masks and containers where the OS tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def describe_device(device: torch.device | str) -> str:
    """A short human description, e.g. "CPU (2 threads)" or "CUDA: NVIDIA H100 80GB HBM3 (79 GB)"."""
    device = torch.device(device)
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"CPU ({n} thread{'s' if n != 1 else ''})"
    if device.type == "cuda":
        try:
            index = device.index if device.index is not None else torch.cuda.current_device()
            props = torch.cuda.get_device_properties(index)
            return f"CUDA: {props.name} ({props.total_memory / 2**30:.0f} GB)"
        except (RuntimeError, AssertionError):
            return "CUDA GPU"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return str(device)


@lru_cache(maxsize=1)
def bf16_supported_on_cpu() -> bool:
    """Whether this CPU has native bfloat16 instructions that oneDNN uses (AVX-512 BF16, AMX, ARM BF16).

    bf16 autocast *works* on every CPU (PyTorch emulates it), but is only reliably faster with native
    support; whether it pays off for a given model is for a benchmark to decide.
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(device: torch.device | str, precision: str = "auto") -> str:
    """The concrete precision ("fp32", "bf16" or "fp16") that ``precision`` means on ``device``.

    "auto" is bf16 on CUDA GPUs that support it (fp16 on older ones) and fp32 elsewhere: on the
    project's reference CPU fp32 measured fastest for training (see ``core/unet.py``), and MPS
    autocast support varies between PyTorch versions.
    """
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"Unknown precision '{precision}'. Choose one of: {', '.join(PRECISION_CHOICES)}.")
    device = torch.device(device)
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 mixed precision needs a GPU; on the CPU use fp32 or bf16.")
    return precision


def autocast_context(device: torch.device | str, precision: str = "auto"):
    """A context manager running the forward pass in ``precision``: ``torch.autocast`` or a no-op for fp32."""
    device = torch.device(device)
    resolved = resolve_precision(device, precision)
    if resolved == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=_AUTOCAST_DTYPES[resolved])
