"""Small pieces shared by the denoising networks: the timestep embedding and input checks.

The sinusoidal embedding is the Transformer's positional encoding (Vaswani et al. 2017, §3.5)
applied to the diffusion timestep, as in DDPM (Ho et al. 2020, Appendix B) and ADM
(Dhariwal & Nichol 2021). The ordering [cos | sin] follows ADM's ``timestep_embedding``.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from core.diffusion.prediction import check_prediction_type


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal features of the timesteps ``t`` (shape (B,)), returned as (B, ``dim``) float32.

    Frequency k is max_period^(−k / (dim/2)); the features are cos(t·f_k) then sin(t·f_k).
    An odd ``dim`` gets one zero column so the width is exactly ``dim``.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


def broadcast_timesteps(t, batch_size: int, device: torch.device) -> torch.Tensor:
    """Return ``t`` as a (batch_size,) tensor: accepts a Python number, a 0-d tensor or a (B,) tensor."""
    if not torch.is_tensor(t):
        t = torch.tensor(float(t), device=device)
    t = t.to(device)
    if t.ndim == 0:
        return t.expand(batch_size)
    if t.ndim == 1 and t.shape[0] in (1, batch_size):
        return t.expand(batch_size)
    raise ValueError(
        f"The timesteps must be a number or a tensor of shape ({batch_size},) for a batch of {batch_size}, "
        f"not shape {tuple(t.shape)}."
    )


def class_indices(class_labels, num_classes: int, batch_size: int, device: torch.device) -> torch.Tensor | None:
    """Check ``class_labels`` and return them as a (B,) long tensor, ``None`` meaning "no class".

    Index ``num_classes`` is the learned "no class" entry used by classifier-free guidance
    (Ho & Salimans 2022), so ``None`` becomes a batch of that index.
    """
    if num_classes == 0:
        if class_labels is not None:
            raise ValueError("This model was built without classes, so it cannot take class labels; pass None.")
        return None
    if class_labels is None:
        return torch.full((batch_size,), num_classes, dtype=torch.long, device=device)
    if not torch.is_tensor(class_labels):
        class_labels = torch.as_tensor(class_labels)
    if class_labels.is_floating_point() or class_labels.is_complex():
        raise ValueError("Class labels must be whole numbers (a long tensor), not floating-point values.")
    class_labels = class_labels.to(device=device, dtype=torch.long)
    if class_labels.ndim == 0:
        class_labels = class_labels.expand(batch_size)
    if class_labels.shape != (batch_size,):
        raise ValueError(
            f"Class labels must have shape ({batch_size},) for a batch of {batch_size}, not {tuple(class_labels.shape)}."
        )
    if batch_size and (int(class_labels.min()) < 0 or int(class_labels.max()) > num_classes):
        raise ValueError(
            f'Class labels must lie between 0 and {num_classes - 1}, or be {num_classes} for "no class"; '
            f"got values from {int(class_labels.min())} to {int(class_labels.max())}."
        )
    return class_labels


def config_from_dict(cls, d: dict):
    """Build the config dataclass ``cls`` from ``d``, refusing keys it does not know (ValueError)."""
    if not isinstance(d, dict):
        raise ValueError(f"A {cls.__name__} is read from a dictionary, not from {type(d).__name__}.")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(
            f"Unknown {cls.__name__} settings: {', '.join(unknown)}. Known ones: {', '.join(sorted(names))}."
        )
    fixed = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()}
    return cls(**fixed)


def check_dropout_and_prediction_type(dropout, prediction_type) -> float:
    """The checks every network config shares: dropout is a probability in [0, 1) (returned as a float)
    and the prediction type is one of "eps", "x0", "v". Raises ValueError in words otherwise."""
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), not {dropout!r}.")
    if not isinstance(prediction_type, str):
        raise ValueError(f"prediction_type must be one of eps, x0, v, not {prediction_type!r}.")
    check_prediction_type(prediction_type)
    return float(dropout)
