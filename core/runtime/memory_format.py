"""Channels-last or not: chosen by measuring the model on this machine, once per model.

oneDNN's convolutions can run faster on NHWC ("channels last") tensors than on NCHW ones, but how
much depends on the CPU, the thread count and the network's size: the U-Net table in
``core/models/unet.py`` measured +10–25 % for the tiny preset and nothing for the larger ones, and
the shipped Fashion-MNIST U-Net runs 16 % faster per CPU-second in channels-last on the reference
machine. A constant tuned on one machine would be wrong on another, so ``fastest_inference_model``
times both layouts (interleaved, so a busy machine slows both alike) on a small example batch and
keeps the faster one, only when it wins by more than ``MARGIN``.

The result is a *copy* of the model in that layout, for inference only: the original keeps its
contiguous weights (safetensors refuses to save non-contiguous tensors), and a model that two
views share is never changed under the other's feet. Copies are cached per model object.
"""

from __future__ import annotations

import copy
import statistics
import time
import weakref

import torch
from torch import nn

MARGIN = 0.05  # channels-last must be at least 5 % faster to be chosen (else: noise)
TRIALS = 5  # interleaved timed calls per layout, after one warm-up call each

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (format name, model to run)


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d | nn.ConvTranspose2d) for m in model.modules())


def time_layouts(layouts: dict[str, nn.Module], args: tuple, kwargs: dict | None = None,
                 trials: int = TRIALS) -> dict[str, float]:  # fmt: skip
    """Median seconds of one forward call of each model in ``layouts``, timed in turn (interleaved)."""
    kwargs = kwargs or {}
    times: dict[str, list[float]] = {name: [] for name in layouts}
    with torch.inference_mode():
        for trial in range(trials + 1):
            for name, candidate in layouts.items():
                start = time.perf_counter()
                candidate(*args, **kwargs)
                if trial:  # the first call of each warms oneDNN's caches and is not counted
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def fastest_inference_model(model: nn.Module, args: tuple, kwargs: dict | None = None) -> tuple[nn.Module, str]:
    """The model to run for inference and the name of its layout, measured on the first call per model.

    Models without 2-D convolutions (the 2-D point MLPs) and models off the CPU are returned as they
    are: the choice only matters for oneDNN's convolutions.
    """
    cached = _cache.get(model)
    if cached is not None:
        return cached[1], cached[0]
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type != "cpu" or not has_convolutions(model):
        choice = ("contiguous", model)
    else:
        channels_last = copy.deepcopy(model).to(memory_format=torch.channels_last)
        seconds = time_layouts({"contiguous": model, "channels_last": channels_last}, args, kwargs)
        if seconds["channels_last"] < (1.0 - MARGIN) * seconds["contiguous"]:
            choice = ("channels_last", channels_last)
        else:
            choice = ("contiguous", model)
    _cache[model] = choice
    return choice[1], choice[0]


def fastest_denoiser(model: nn.Module, x: torch.Tensor, num_timesteps: int, cond: dict | None = None,
                     rows: int = 4) -> nn.Module:  # fmt: skip
    """``fastest_inference_model`` for a denoiser called as ``model(x_t, t, **cond)`` on batches like ``x``.

    Timed on the first ``rows`` rows at the middle timestep; per-row conditioning tensors are cut to
    match, anything else (a guidance scale, a shared embedding) is passed as it is.
    """
    rows = min(len(x), rows)
    example_cond = {k: v[:rows] if torch.is_tensor(v) and v.ndim and len(v) == len(x) else v
                    for k, v in (cond or {}).items()}  # fmt: skip
    t = torch.full((rows,), num_timesteps // 2, dtype=torch.long, device=x.device)
    return fastest_inference_model(model, (x[:rows], t), example_cond)[0]
