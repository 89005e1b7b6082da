"""Colourisation with an unconditional RGB denoiser: projection onto the grey image's constraint.

A grey picture is a linear measurement of a colour one: y = A x with A the Rec. 601 luma,
y = 0.299 R + 0.587 G + 0.114 B (the weights sum to 1, so [−1, 1] maps to [−1, 1]). Every colour
image with that luma is an equally good answer to the measurement; the denoiser supplies which of
them look like its training data. As for super-resolution (``editing.super_resolve``, ILVR, Choi et
al. 2021), each DDPM step is followed by the projection onto the images that agree with the grey
input noised to the same level (``editing.projected_ddpm``):

    x ← x + w (y − wᵀx) / ‖w‖²   per pixel, w = (0.299, 0.587, 0.114)

the closest image to x (in L2) whose luma is y; ``lift_grey`` = w y / ‖w‖² is the smallest colour
image with luma y (it is what the projection of a black image gives). This is the null-space view of
restoration used by DDRM / DDNM (Kawar et al. 2022, Wang et al. 2023): the denoiser only decides the
part of x that A cannot see, the chroma. The result's luma equals the input exactly.

Colours of equal luma cannot be told apart by the measurement: on the shapes dataset red (luma 97)
and blue (95) are the same grey, so a grey red circle may come back blue. That is the lesson, not a
bug; ``colour_accuracy`` measures it against the true colours.
"""

from __future__ import annotations

import torch

from core.diffusion.editing import _check_images, projected_ddpm

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as Pillow's convert("L")


def _weights(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(LUMA, dtype=like.dtype, device=like.device).reshape(1, 3, 1, 1)


def to_grey(x: torch.Tensor) -> torch.Tensor:
    """A: (B, 3, H, W) colour → (B, 1, H, W) luma."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"Greying needs colour images (B, 3, H, W); got shape {tuple(x.shape)}.")
    return (x * _weights(x)).sum(dim=1, keepdim=True)


def lift_grey(y: torch.Tensor) -> torch.Tensor:
    """Aᵀ(AAᵀ)⁻¹ y: the colour image of least norm whose luma is y (B, 1, H, W) → (B, 3, H, W)."""
    w = _weights(y)
    return y * w / w.pow(2).sum()


def project_grey(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The closest colour image to x whose luma is y: x + w (y − wᵀx) / ‖w‖²."""
    return x + lift_grey(y - to_grey(x))


def colourise(model, grey, schedule, steps=50, *, generator=None, callback=None, cond=None, clip_x0=None,
              spacing="trailing", x_T=None):  # fmt: skip
    """Colour images (B, 3, H, W) whose luma is ``grey`` (B, 1, H, W), in [−1, 1], by projected DDPM."""
    _check_images("grey image", grey)
    if grey.shape[1] != 1:
        raise ValueError(f"Colourisation starts from a grey image (1 channel); this one has {grey.shape[1]}.")
    shape = (grey.shape[0], 3, *grey.shape[-2:])
    return projected_ddpm(
        model, shape, lift_grey(grey), lambda x, y_lifted: project_grey(x, to_grey(y_lifted)), schedule, steps, generator=generator, callback=callback,
        cond=cond, clip_x0=clip_x0, spacing=spacing, x_T=x_T,
    )  # fmt: skip


def dominant_colour(images: torch.Tensor, palette: torch.Tensor, foreground: torch.Tensor) -> torch.Tensor:
    """Index into ``palette`` (K, 3) in [−1, 1] nearest to each image's mean colour over ``foreground`` (B,)."""
    fg = foreground.float()  # (B, 1, H, W), 1 on the shape
    mean = (images * fg).sum(dim=(2, 3)) / fg.sum(dim=(2, 3)).clamp_min(1.0)  # (B, 3)
    return torch.cdist(mean, palette.to(mean)).argmin(dim=1)


def colour_accuracy(
    coloured: torch.Tensor, truth: torch.Tensor, palette: torch.Tensor, threshold: float = -0.9
) -> float:
    """Fraction of images whose mean shape colour is nearest the same palette colour as the truth's.

    The shape is where the *grey* image (shared by both) is brighter than ``threshold``: the shapes
    sit on black (−1).
    """
    shape = to_grey(truth) > threshold
    return float((dominant_colour(coloured, palette, shape) == dominant_colour(truth, palette, shape)).float().mean())
