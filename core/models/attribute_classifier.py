"""A small CNN that names a coloured shape's kind and colour: the judge of text-to-image samples.

Two heads on one convolutional trunk (3×32×32 → 16 → 32 → 64 channels, stride-2 convolutions, global
average pooling, so position and size do not matter): logits over ``SHAPE_NAMES`` and over the colours
of ``SHAPE_COLORS``. Trained by ``scripts/train_attribute_classifier.py`` on the procedural shapes
(whose true labels are exact) with a little noise, so it also reads slightly imperfect generated images.
``core.evaluation.prompt_accuracy`` uses it to measure whether samples show what their prompts say.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn


@dataclass
class AttributeClassifierConfig:
    num_shapes: int = 5
    num_colors: int = 6
    width: int = 16  # channels of the first level; the next ones have 2× and 4×

    def __post_init__(self):
        for name in ("num_shapes", "num_colors", "width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
                raise ValueError(f"{name} must be a whole number from 1 to 4096, not {value!r}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AttributeClassifierConfig:
        if not isinstance(d, dict) or set(d) - set(cls.__dataclass_fields__):
            raise ValueError("unknown attribute-classifier settings.")
        return cls(**d)


class AttributeClassifier(nn.Module):
    """``classifier(images) → (shape logits (B, num_shapes), colour logits (B, num_colors))``; images in [−1, 1]."""

    def __init__(self, config: AttributeClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or AttributeClassifierConfig()
        w = config.width
        self.trunk = nn.Sequential(
            nn.Conv2d(3, w, 3, padding=1),
            nn.GroupNorm(4, w),
            nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),
            nn.GroupNorm(4, 2 * w),
            nn.SiLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1),
            nn.GroupNorm(4, 4 * w),
            nn.SiLU(),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
            nn.SiLU(),
        )
        self.shape_head = nn.Linear(4 * w, config.num_shapes)
        self.color_head = nn.Linear(4 * w, config.num_colors)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"The attribute classifier takes RGB images (B, 3, H, W), not {tuple(images.shape)}.")
        features = F.adaptive_avg_pool2d(self.trunk(images), 1).flatten(1)
        return self.shape_head(features), self.color_head(features)

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Predicted (shape index, colour index), each (B,) long."""
        shape_logits, color_logits = self(images.clamp(-1, 1))
        return shape_logits.argmax(dim=1), color_logits.argmax(dim=1)
