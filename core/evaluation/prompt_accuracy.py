"""Do text-to-image samples show what their prompts say? Shape and colour accuracy, judged by a classifier.

For each prompt, images are generated (guided DDIM on latents, ``TextToImageModel.generate``) and the
project's shape/colour classifier (``core.models.attribute_classifier``, trained on the procedural
shapes whose labels are exact) names each image's shape and colour. Shape accuracy is the fraction
of images whose predicted shape is the one the prompt names, over the prompts that name a shape;
colour accuracy likewise. Chance is 1/5 for shapes and 1/6 for colours (what an unconditional model
would score: the five shapes and six colours are equally likely in the data). This is the automatic
part of how text-to-image models are judged (a "CLIP score" with an exact, task-specific judge).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from core.data.shapes import SHAPE_COLORS, SHAPE_NAMES

COLOR_NAMES = list(SHAPE_COLORS)


def evaluation_prompts() -> list[str]:
    """The 30 prompts "a {colour} {shape}": every colour with every shape once."""
    return [f"a {color} {shape}" for shape in SHAPE_NAMES for color in COLOR_NAMES]


def prompt_targets(prompt: str) -> tuple[int | None, int | None]:
    """(shape index, colour index) the prompt names, None where it names none."""
    words = prompt.lower().replace(",", " ").split()
    shape = next((SHAPE_NAMES.index(w) for w in words if w in SHAPE_NAMES), None)
    color = next((COLOR_NAMES.index(w) for w in words if w in COLOR_NAMES), None)
    return shape, color


@dataclass
class PromptAccuracy:
    shape_accuracy: float  # fraction of images showing the prompt's shape (NaN if no prompt names one)
    color_accuracy: float
    num_shape_images: int
    num_color_images: int
    chance_shape: float = 1.0 / len(SHAPE_NAMES)
    chance_color: float = 1.0 / len(SHAPE_COLORS)
    prompts: list[str] = field(default_factory=list)  # one per image
    predicted_shapes: list[str] = field(default_factory=list)
    predicted_colors: list[str] = field(default_factory=list)


@torch.no_grad()
def prompt_accuracy(
    model,
    prompts: list[str] | None = None,
    classifier=None,
    *,
    samples_per_prompt: int = 1,
    steps: int = 20,
    guidance_scale: float = 3.0,
    seed: int = 0,
    batch_size: int = 64,
) -> PromptAccuracy:
    """Generate ``samples_per_prompt`` images per prompt with ``model`` (a ``TextToImageModel``) and score
    them with ``classifier`` (an ``AttributeClassifier``; its ``predict`` names shape and colour)."""
    if classifier is None:
        raise ValueError("prompt_accuracy needs the shape/colour classifier to judge the images.")
    prompts = evaluation_prompts() if prompts is None else list(prompts)
    if not prompts or samples_per_prompt < 1:
        raise ValueError("Give at least one prompt and at least one sample per prompt.")
    every = [p for p in prompts for _ in range(samples_per_prompt)]
    shapes, colors = [], []
    for start in range(0, len(every), batch_size):
        images = model.generate(every[start : start + batch_size], steps, guidance_scale, seed + start)
        s, c = classifier.predict(images)
        shapes += s.tolist()
        colors += c.tolist()
    targets = [prompt_targets(p) for p in every]
    shape_hits = [s == t[0] for s, t in zip(shapes, targets, strict=True) if t[0] is not None]
    color_hits = [c == t[1] for c, t in zip(colors, targets, strict=True) if t[1] is not None]
    return PromptAccuracy(
        shape_accuracy=sum(shape_hits) / len(shape_hits) if shape_hits else float("nan"),
        color_accuracy=sum(color_hits) / len(color_hits) if color_hits else float("nan"),
        num_shape_images=len(shape_hits),
        num_color_images=len(color_hits),
        prompts=every,
        predicted_shapes=[SHAPE_NAMES[s] for s in shapes],
        predicted_colors=[COLOR_NAMES[c] for c in colors],
    )


__all__ = ["PromptAccuracy", "evaluation_prompts", "prompt_accuracy", "prompt_targets"]
