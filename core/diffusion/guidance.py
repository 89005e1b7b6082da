"""Guidance: steer a class-conditional denoiser towards its class.

Classifier-free guidance (Ho & Salimans 2022): one network trained with the class label dropped to
a "no class" entry some of the time predicts both ε(x_t, c) and ε(x_t, ∅). Sampling uses

    ε̃ = ε(x_t, ∅) + w · (ε(x_t, c) − ε(x_t, ∅))

(the ``diffusers`` convention: w = 1 is the plain conditional model, w = 0 the unconditional one,
w > 1 trades diversity for fidelity to the class). Every conversion in ``core.diffusion.prediction`` is affine
in the network output at a fixed x_t, so mixing x_0- or v-outputs the same way is the same guidance.
"""

from __future__ import annotations

import torch
from torch import nn


class ClassifierFreeGuidance(nn.Module):
    """Wrap a conditional denoiser so any sampler samples with guidance scale ``scale``."""

    def __init__(self, model: nn.Module, scale: float):
        super().__init__()
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        if num_classes <= 0:
            raise ValueError("Guidance needs a class-conditional model; this one was trained without classes.")
        scale = float(scale)
        if not 0.0 <= scale <= 50.0:
            raise ValueError(f"The guidance scale must be between 0 and 50, not {scale}.")
        self.model = model
        self.scale = scale
        self.prediction_type = model.prediction_type
        self.num_classes = num_classes

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if class_labels is None:
            return self.model(x_t, t, class_labels=None)
        if self.scale == 1.0:
            return self.model(x_t, t, class_labels=class_labels)
        null = torch.full_like(class_labels, self.num_classes)
        if self.scale == 0.0:
            return self.model(x_t, t, class_labels=null)
        out = self.model(torch.cat([x_t, x_t]), torch.cat([t, t]), class_labels=torch.cat([class_labels, null]))
        cond, uncond = out.chunk(2)
        return uncond + self.scale * (cond - uncond)
