"""Captions for the coloured shapes, written from each image's own parameters.

"a small red circle at the top left", "a large blue square", "a green shape in the centre": every
caption is true of its image, because it is read off the numbers that drew it (``ShapeParameters``).
Attributes are dropped at random (each with probability ``omit``, the shape word becoming "shape"
when the kind is dropped), so a text-conditional model also learns partial prompts, as image-caption
data is partial in the wild. A caption that would say nothing ("a shape") is written as the empty
string: the "no prompt" condition of classifier-free guidance.

Size and place are quantised to words: the radius in thirds of its range (small / medium / large),
the centre in thirds of the image (top / middle / bottom × left / centre / right; a shape whose
centre is in the middle third both ways is "in the centre").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.shapes import SHAPE_COLORS, SHAPE_NAMES, ShapeParameters

SIZE_WORDS = ("small", "medium", "large")
ROW_WORDS = ("top", None, "bottom")
COLUMN_WORDS = ("left", None, "right")
# Every word a caption can contain, in a fixed order (the text model's vocabulary is built from it).
CAPTION_WORDS: tuple[str, ...] = (
    "a",
    "shape",
    *SIZE_WORDS,
    *SHAPE_COLORS,
    *SHAPE_NAMES,
    "at",
    "in",
    "the",
    "top",
    "bottom",
    "left",
    "right",
    "centre",
)


@dataclass(frozen=True)
class CaptionAttributes:
    """The words one image's parameters give, before any are dropped (``None``: no word for it)."""

    shape: str
    color: str
    size: str
    row: str | None  # "top", "bottom" or None (middle third)
    column: str | None  # "left", "right" or None (middle third)

    @property
    def place(self) -> str:
        """ "at the top left", "at the bottom", "at the right", or "in the centre"."""
        words = [w for w in (self.row, self.column) if w]
        return f"at the {' '.join(words)}" if words else "in the centre"


def size_word(radius: float, image_size: int) -> str:
    """small / medium / large: ``make_shapes`` draws radii uniformly in [0.2, 0.4] × size; thirds of that."""
    fraction = (float(radius) / image_size - 0.2) / 0.2
    return SIZE_WORDS[min(2, max(0, int(fraction * 3)))]


def _third(position: float, image_size: int, words: tuple) -> str | None:
    return words[min(2, max(0, int(3 * float(position) / image_size)))]


def caption_attributes(params: ShapeParameters, index: int) -> CaptionAttributes:
    """The words for image ``index`` of ``params``."""
    return CaptionAttributes(
        shape=SHAPE_NAMES[int(params.kind[index])],
        color=list(SHAPE_COLORS)[int(params.color[index])],
        size=size_word(params.radius[index], params.size),
        row=_third(params.cy[index], params.size, ROW_WORDS),
        column=_third(params.cx[index], params.size, COLUMN_WORDS),
    )


def write_caption(
    attributes: CaptionAttributes, *, shape: bool = True, color: bool = True, size: bool = True, place: bool = True
) -> str:
    """The caption saying the attributes asked for: "a small red circle at the top left"; "" if none."""
    words = ["a"]
    if size:
        words.append(attributes.size)
    if color:
        words.append(attributes.color)
    words.append(attributes.shape if shape else "shape")
    if place:
        words.append(attributes.place)
    caption = " ".join(words)
    return "" if caption == "a shape" else caption


def make_captions(params: ShapeParameters, *, omit: float = 0.3, seed: int = 0) -> list[str]:
    """One caption per image of ``params``; each attribute is left out with probability ``omit``.

    ``omit = 0`` gives full captions. The same ``seed`` gives the same captions.
    """
    if not 0.0 <= float(omit) <= 1.0:
        raise ValueError(f"omit is a probability between 0 and 1, not {omit!r}.")
    rng = np.random.default_rng(seed)
    keep = rng.random((len(params), 4)) >= omit  # shape, colour, size, place
    return [
        write_caption(caption_attributes(params, i), shape=k[0], color=k[1], size=k[2], place=k[3])
        for i, k in enumerate(keep.tolist())
    ]


__all__ = [
    "CAPTION_WORDS",
    "COLUMN_WORDS",
    "CaptionAttributes",
    "ROW_WORDS",
    "SIZE_WORDS",
    "caption_attributes",
    "make_captions",
    "size_word",
    "write_caption",
]
