"""Editing with a trained denoiser: inpainting (RePaint / replacement), SDEdit and super-resolution.

None of these methods retrains anything: they run the same reverse process as the samplers
(``core.diffusion.samplers``) and change what happens between two steps.

- **Replacement inpainting** (Song et al. 2021, "Score-Based Generative Modeling through SDEs",
  App. I.2; the baseline of RePaint): after every reverse step x_t → x_{t−1}, the *known* pixels are
  overwritten by a fresh forward sample of the input at the new noise level,
  x_{t−1}^known ~ q(x_{t−1} | x_0) = N(√ᾱ_{t−1} x_0, (1−ᾱ_{t−1}) I)  (DDPM eq. 4),
  and the hole keeps the model's x_{t−1}^unknown ~ p_θ(x_{t−1} | x_t).
- **RePaint** (Lugmayr et al. 2022, Alg. 1): the same combination
  x_{t−1} = m ⊙ x_{t−1}^known + (1 − m) ⊙ x_{t−1}^unknown  (RePaint eq. 8), plus *resampling*: every
  ``jump_length`` steps the merged x is pushed back up the chain, x_{t+j} ~ q(x_{t+j} | x_t)
  (DDPM eq. 4 between two noisy levels), and denoised again, ``resamplings`` times in all, so the
  hole gets several chances to agree with the known part (RePaint §4.2, "jumps"). With
  ``resamplings = 1`` RePaint is exactly the replacement method.
- **SDEdit** (Meng et al. 2022, Alg. 1): noise a guide image to x_{t₀} = √ᾱ_{t₀} x_guide + √(1−ᾱ_{t₀}) ε
  and run the reverse process from t₀. A small strength t₀ keeps the guide (faithful); a large one
  forgets it (realistic, but another image).
- **Super-resolution by projection** (ILVR, Choi et al. 2021, eq. 8): after every step the low
  frequencies of x_{t−1} are replaced by those of the noisy low-resolution input,
  x_{t−1} ← x_{t−1} − U(D(x_{t−1})) + U(D(y_{t−1})),  y_{t−1} ~ q(y_{t−1} | U(y)),
  with D = average pooling and U = nearest upsampling, so D(U(z)) = z and the final projection makes
  the result's downsample equal the low-resolution input.
- **Colourisation** (``core/diffusion/colourisation.py``) is the same projected sampler
  (``projected_ddpm``) with the grey-level measurement instead of the downsample.

Every function takes the samplers' arguments (model, schedule, steps, generator, callback, cond,
clip_x0, spacing) and calls ``callback(SamplerStep)`` once per network evaluation, so
``TrajectoryRecorder`` records the reverse timeline of an edit like that of a sampling run. A
RePaint jump shows up there as t going up between two positions. Masks are 1 in the *hole* (the
pixels to fill) and 0 where the input is kept.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional

from core.diffusion.samplers import _noise_like, _report, ddim_step, ddpm_step, denoise, make_timesteps
from core.diffusion.schedules import NoiseSchedule

EDIT_METHODS = ("repaint", "replace", "sdedit", "super_resolution", "colourise")
EDIT_LABELS = {
    "repaint": "RePaint (with resampling)",
    "replace": "Replace the known part",
    "sdedit": "SDEdit",
    "super_resolution": "Super-resolution (projection)",
    "colourise": "Colourised (projection)",  # core/diffusion/colourisation.py, on projected_ddpm below
}
DEFAULT_JUMP_LENGTH = 5  # sampler steps between a RePaint jump's start and end (RePaint uses 10 of 250)
DEFAULT_RESAMPLINGS = 3  # RePaint's U: how often each jump segment is denoised (1 = no resampling)


# --- checks ---------------------------------------------------------------------------------------


def _check_images(name: str, x: torch.Tensor) -> None:
    if not torch.is_tensor(x) or x.ndim != 4:
        raise ValueError(f"The {name} must be a batch of images (B, C, H, W).")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"The {name} contains NaN or infinite values.")


def check_hole_mask(hole: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The hole as a bool tensor that broadcasts against ``x`` (True = fill, False = keep).

    Accepts (H, W), (1 or C, H, W) or (1 or B, 1 or C, H, W), any dtype (values > 0.5 are the hole).
    An empty or a full hole is refused with a sentence: there is nothing to fill, or nothing to keep.
    """
    hole = torch.as_tensor(hole).to(x.device)
    while hole.ndim < 4:
        hole = hole.unsqueeze(0)
    h, w = x.shape[-2:]
    if (
        hole.ndim != 4
        or tuple(hole.shape[-2:]) != (h, w)
        or hole.shape[0] not in (1, x.shape[0])
        or hole.shape[1] not in (1, x.shape[1])
    ):
        raise ValueError(
            f"The mask has shape {tuple(hole.shape)} but the images are {tuple(x.shape)}: "
            f"paint the mask on the {h}×{w} image the model sees."
        )
    hole = hole > 0.5 if hole.dtype != torch.bool else hole
    if not bool(hole.any()):
        raise ValueError("The mask is empty: paint over the part of the image the model should fill in.")
    if bool(hole.all()):
        raise ValueError(
            "The mask covers the whole image, so nothing of the input is kept (that is plain generation). "
            "Leave some pixels unpainted, or use Invert."
        )
    return hole


def _check_resampling(jump_length: int, resamplings: int) -> tuple[int, int]:
    jump_length, resamplings = int(jump_length), int(resamplings)
    if jump_length < 1:
        raise ValueError(f"A RePaint jump must span at least one step, not {jump_length}.")
    if not 1 <= resamplings <= 20:
        raise ValueError(f"RePaint's number of resamplings must be between 1 (none) and 20, not {resamplings}.")
    return jump_length, resamplings


# --- the forward process between two noisy levels -------------------------------------------------


def _alpha_bar(schedule: NoiseSchedule, t: int) -> float:
    return 1.0 if t < 0 else float(schedule.alphas_cumprod[t])


def q_sample_at(x_0: torch.Tensor, schedule: NoiseSchedule, t: int, noise: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4) at one integer timestep; t = −1 returns x_0 itself."""
    if t < 0:
        return x_0
    a = _alpha_bar(schedule, t)
    return math.sqrt(a) * x_0 + math.sqrt(1.0 - a) * noise


def renoise(x_s: torch.Tensor, schedule: NoiseSchedule, s: int, t: int, noise: torch.Tensor) -> torch.Tensor:
    """x_t ~ q(x_t | x_s) for t > s: x_t = √(ᾱ_t/ᾱ_s) x_s + √(1 − ᾱ_t/ᾱ_s) ε (RePaint's jump back up)."""
    ratio = _alpha_bar(schedule, t) / _alpha_bar(schedule, s)
    return math.sqrt(ratio) * x_s + math.sqrt(max(1.0 - ratio, 0.0)) * noise


# --- inpainting -----------------------------------------------------------------------------------


def repaint_moves(steps: int, jump_length: int = DEFAULT_JUMP_LENGTH, resamplings: int = DEFAULT_RESAMPLINGS):
    """The RePaint walk over the sampler's grid positions 0 (noise) … ``steps`` (clean), as (from, to) pairs.

    ``to = from + 1`` is a denoising step; ``to < from`` is a jump back up by ``jump_length`` positions.
    Every position that is a multiple of ``jump_length`` (strictly between the ends) sends the walk
    back ``resamplings − 1`` times (Lugmayr et al. 2022, the schedule of their Fig. 3).
    """
    jump_length, resamplings = _check_resampling(jump_length, resamplings)
    jumps_left = {p: resamplings - 1 for p in range(jump_length, steps, jump_length)}
    moves, p = [], 0
    while p < steps:
        moves.append((p, p + 1))
        p += 1
        if jumps_left.get(p, 0) > 0:
            jumps_left[p] -= 1
            moves.append((p, p - jump_length))
            p -= jump_length
    return moves


def repaint_evaluations(steps: int, jump_length: int = DEFAULT_JUMP_LENGTH, resamplings: int = DEFAULT_RESAMPLINGS):
    """Network evaluations of a RePaint run: its denoising moves."""
    return sum(1 for a, b in repaint_moves(steps, jump_length, resamplings) if b > a)


@torch.no_grad()
def inpaint_repaint(
    model,
    x_known,
    hole,
    schedule,
    steps=50,
    *,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    spacing="trailing",
    jump_length=DEFAULT_JUMP_LENGTH,
    resamplings=DEFAULT_RESAMPLINGS,
    x_T=None,
):
    """Fill ``hole`` of ``x_known`` (B, C, H, W) by RePaint (Lugmayr et al. 2022, Alg. 1). See the module docstring.

    Unknown part: DDPM ancestral steps (Ho et al. 2020, Alg. 2) on the sampler's timestep grid.
    Returns x_0 whose kept pixels equal ``x_known`` exactly.
    """
    _check_images("image to inpaint", x_known)
    hole = check_hole_mask(hole, x_known)
    ts = make_timesteps(schedule, steps, spacing) + [-1]  # grid position p has timestep ts[p]
    moves = repaint_moves(len(ts) - 1, jump_length, resamplings)
    n = sum(1 for a, b in moves if b > a)
    x = _noise_like(x_known, generator) if x_T is None else x_T.clone()
    x = torch.where(hole, x, q_sample_at(x_known, schedule, ts[0], _noise_like(x_known, generator)))
    index = 0
    for p, q in moves:
        t, t_next = ts[p], ts[q]
        if q < p:  # jump back up the chain: x_{t_next} ~ q(x_{t_next} | x_t)  (RePaint Alg. 1, line 10)
            x = renoise(x, schedule, t, t_next, _noise_like(x, generator))
            continue
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        noise = _noise_like(x, generator) if t_next >= 0 else None
        unknown = ddpm_step(schedule, x, pred_x0, t, t_next, "posterior", noise)  # RePaint eq. 7
        known = q_sample_at(x_known, schedule, t_next, _noise_like(x, generator))  # RePaint eq. 6
        x_next = torch.where(hole, unknown, known)  # RePaint eq. 8
        _report(callback, index, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x, index = x_next, index + 1
    return x


@torch.no_grad()
def inpaint_replace(
    model,
    x_known,
    hole,
    schedule,
    steps=50,
    *,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    spacing="trailing",
    x_T=None,
):
    """The replacement method (Song et al. 2021, App. I.2): RePaint without resampling jumps."""
    return inpaint_repaint(
        model, x_known, hole, schedule, steps, generator=generator, callback=callback, cond=cond,
        clip_x0=clip_x0, spacing=spacing, jump_length=1, resamplings=1, x_T=x_T,
    )  # fmt: skip


# --- SDEdit ---------------------------------------------------------------------------------------


def sdedit_start(schedule: NoiseSchedule, strength: float) -> int:
    """The timestep t₀ SDEdit starts from for a strength in [0, 1]: −1 (nothing to do) … T − 1 (pure noise)."""
    try:
        strength = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"The SDEdit strength must be a number between 0 and 1, not {strength!r}.") from None
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"The SDEdit strength must lie between 0 (keep the input) and 1 (pure noise), not {strength}.")
    return int(round(strength * schedule.num_timesteps)) - 1


def sdedit_timesteps(schedule: NoiseSchedule, strength: float, steps: int) -> list[int]:
    """Decreasing timesteps from t₀ to 0: ``steps`` × strength of them (at least one), evenly spaced."""
    t0 = sdedit_start(schedule, strength)
    if t0 < 0:
        return []
    steps = max(1, min(t0 + 1, int(math.ceil(int(steps) * (t0 + 1) / schedule.num_timesteps))))
    grid = torch.linspace(t0, 0, steps).round().long().tolist()
    return list(dict.fromkeys(int(t) for t in grid))


@torch.no_grad()
def sdedit(
    model,
    x_guide,
    schedule,
    steps=50,
    *,
    strength=0.5,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    eta=1.0,
    noise=None,
):
    """SDEdit (Meng et al. 2022, Alg. 1): noise ``x_guide`` to t₀ = strength·T, then denoise it.

    The reverse steps are DDIM eq. 12 with ``eta`` (1: as random as DDPM, which SDEdit's SDE solver
    is; 0: deterministic). ``steps`` is the number of steps a full run from t = T − 1 would take; a
    run from t₀ takes that fraction of them. Strength 0 returns the input unchanged.
    """
    _check_images("guide image", x_guide)
    ts = sdedit_timesteps(schedule, strength, steps)
    if not ts:
        return x_guide.clone()
    eps = _noise_like(x_guide, generator) if noise is None else noise
    x = q_sample_at(x_guide, schedule, ts[0], eps)  # SDEdit Alg. 1, line 2
    n = len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        z = _noise_like(x, generator) if (eta > 0 and t_next >= 0) else None
        x_next = ddim_step(schedule, x, pred_x0, pred_eps, t, t_next, float(eta), z)
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x


def faithfulness_distance(edited: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """Root-mean-square difference per image (B,), in the images' [−1, 1] units: 0 = unchanged, 2 = inverted."""
    diff = (edited.float() - guide.float()).reshape(edited.shape[0], -1)
    return diff.pow(2).mean(dim=1).sqrt()


# --- super-resolution -----------------------------------------------------------------------------


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """D: average over factor×factor blocks (what a low-resolution camera pixel records)."""
    return functional.avg_pool2d(x, int(factor)) if factor > 1 else x


def upsample_nearest(x: torch.Tensor, factor: int) -> torch.Tensor:
    """U: each pixel repeated in a factor×factor block, so that D(U(z)) = z exactly."""
    return functional.interpolate(x, scale_factor=int(factor), mode="nearest") if factor > 1 else x


def upsample_bicubic(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The classical baseline: bicubic interpolation (clamped to [−1, 1])."""
    return functional.interpolate(x, scale_factor=int(factor), mode="bicubic", align_corners=False).clamp(-1.0, 1.0)


def project_low_resolution(x: torch.Tensor, y_low: torch.Tensor, factor: int) -> torch.Tensor:
    """x − U(D(x)) + U(y): the closest image to x (in L2) whose downsample is y (ILVR eq. 8 at one level)."""
    return x - upsample_nearest(downsample(x, factor), factor) + upsample_nearest(y_low, factor)


@torch.no_grad()
def super_resolve(
    model,
    y_low,
    schedule,
    steps=50,
    *,
    image_size,
    generator=None,
    callback=None,
    cond=None,
    clip_x0=None,
    spacing="trailing",
    x_T=None,
):
    """Upscale ``y_low`` (B, C, h, w) to ``image_size`` by ILVR projection (Choi et al. 2021, Alg. 1).

    DDPM ancestral steps; after each one the result is projected onto the images whose downsample
    equals the (equally noised) low-resolution input. The returned x_0 satisfies D(x_0) = y_low.
    """
    _check_images("low-resolution image", y_low)
    h, w = y_low.shape[-2:]
    size = int(image_size)
    if size % h or size % w or size // h != size // w or size // h < 1:
        raise ValueError(
            f"The low-resolution image is {h}×{w}; it must divide the model's {size}×{size} images evenly "
            f"(for example {size // 2}×{size // 2})."
        )
    factor = size // h
    shape = (y_low.shape[0], y_low.shape[1], size, size)
    y_up = upsample_nearest(y_low, factor)
    return projected_ddpm(
        model, shape, y_up, lambda x, y_next: project_low_resolution(x, downsample(y_next, factor), factor),
        schedule, steps, generator=generator, callback=callback, cond=cond, clip_x0=clip_x0, spacing=spacing, x_T=x_T,
    )  # fmt: skip


@torch.no_grad()
def projected_ddpm(model, shape, y_lifted, project, schedule, steps=50, *, generator=None, callback=None, cond=None,
                   clip_x0=None, spacing="trailing", x_T=None):  # fmt: skip
    """DDPM ancestral sampling with a projection onto a linear constraint after every step (ILVR).

    ``y_lifted`` is the measurement lifted to image space (any x_0 meeting the constraint); at each
    step it is noised to the new level, y_{t−1} ~ q(y_{t−1} | y_lifted) (DDPM eq. 4), and
    ``project(x_{t−1}, y_{t−1})`` returns the closest image to x_{t−1} that agrees with y_{t−1} on
    what the measurement sees. At the last step y_{−1} = y_lifted, so the result meets the
    constraint exactly.
    """
    ts = make_timesteps(schedule, steps, spacing)
    x = (
        torch.randn(shape, generator=generator, dtype=y_lifted.dtype, device=y_lifted.device)
        if x_T is None
        else x_T.clone()
    )
    n = len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        pred_x0, pred_eps = denoise(model, x, t, schedule, cond, clip_x0)
        noise = _noise_like(x, generator) if t_next >= 0 else None
        x_next = ddpm_step(schedule, x, pred_x0, t, t_next, "posterior", noise)
        y_next = q_sample_at(y_lifted, schedule, t_next, _noise_like(x, generator))
        x_next = project(x_next, y_next)
        _report(callback, i, n, t, t_next, x, pred_x0, pred_eps, x_next)
        x = x_next
    return x
