"""The registry of denoising networks: build one from a config dict, and read a model's config back.

Checkpoints store ``denoiser_config(model)`` as JSON and rebuild the network with
``build_denoiser(config)`` before loading the weights (as nanoGPT stores ``model_args`` and
diffusers its ``config.json``), so a checkpoint never needs pickled code.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from core.models.gan import GAN, GANConfig
from core.models.mlp import MLPConfig, MLPDenoiser
from core.models.unet import UNet, UNetConfig
from core.models.vae import VAE, VAEConfig

# arch name → (config dataclass, network class)
ARCHITECTURES = {
    "unet": (UNetConfig, UNet),
    "mlp": (MLPConfig, MLPDenoiser),
}

# The other kinds of generative model (compared with diffusion in the Compare view). A checkpoint
# records its kind, and loads only as that kind: a GAN is not a denoiser, and vice versa.
MODEL_KINDS = ("diffusion", "gan", "vae")
GENERATIVE_MODELS = {
    "gan": (GANConfig, GAN),
    "vae": (VAEConfig, VAE),
}
KIND_NAMES = {"diffusion": "a diffusion model", "gan": "a GAN", "vae": "a VAE"}


@runtime_checkable
class Denoiser(Protocol):
    """What every denoiser in Diffusion Lab provides (docs/ARCHITECTURE.md, "Denoiser contract").

    - ``model(x_t, t, class_labels=None)`` returns a tensor shaped like ``x_t``: images (B, C, H, W)
      for the U-Net, points (B, D) for the MLP. ``t`` is a (B,) float or long tensor of timesteps
      in [0, T) (a number or 0-d tensor is broadcast). ``class_labels`` is a (B,) long tensor or
      None; index ``num_classes`` (and None) mean "no class", for classifier-free guidance.
    - ``prediction_type``: what the output is, "eps", "x0" or "v" (converted in core/prediction.py).
    - ``num_classes``: the number of classes it is conditioned on, 0 when unconditional.
    - ``config``: a dataclass with ``to_dict()``, so ``denoiser_config`` can store it.
    """

    prediction_type: str
    num_classes: int

    def __call__(
        self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor: ...


def build_denoiser(config: dict) -> nn.Module:
    """Build the network a config dict describes: ``{"arch": "unet" | "mlp", **its settings}``."""
    if not isinstance(config, dict):
        raise ValueError(f"A denoiser is built from a dictionary of settings, not from {type(config).__name__}.")
    settings = dict(config)
    arch = settings.pop("arch", None)
    if arch not in ARCHITECTURES:
        raise ValueError(
            f'Unknown denoiser architecture {arch!r}: the config\'s "arch" must be one of {", ".join(ARCHITECTURES)}.'
        )
    config_cls, model_cls = ARCHITECTURES[arch]
    return model_cls(config_cls.from_dict(settings))


def denoiser_config(model: nn.Module) -> dict:
    """The JSON-serialisable config dict (with "arch") that ``build_denoiser`` turns back into ``model``'s shape."""
    for arch, (_, model_cls) in ARCHITECTURES.items():
        if isinstance(model, model_cls):
            return {"arch": arch, **model.config.to_dict()}
    raise ValueError(f"{type(model).__name__} is not a Diffusion Lab denoiser (known: UNet, MLPDenoiser).")


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def build_generative(kind: str, config: dict) -> nn.Module:
    """Build the GAN or VAE a config dict describes (``kind`` is "gan" or "vae")."""
    if kind not in GENERATIVE_MODELS:
        raise ValueError(f"Unknown kind of model {kind!r}: one of {', '.join(GENERATIVE_MODELS)}.")
    if not isinstance(config, dict):
        raise ValueError(f"A {kind.upper()} is built from a dictionary of settings, not from {type(config).__name__}.")
    config_cls, model_cls = GENERATIVE_MODELS[kind]
    return model_cls(config_cls.from_dict(config))


def model_kind(model: nn.Module) -> str:
    """ "diffusion", "gan" or "vae": what kind of generative model ``model`` is."""
    model = getattr(model, "_orig_mod", model)
    for kind, (_, model_cls) in GENERATIVE_MODELS.items():
        if isinstance(model, model_cls):
            return kind
    return "diffusion"
