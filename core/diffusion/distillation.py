"""Progressive distillation (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of
Diffusion Models"): teach a student to take in one DDIM step what its teacher takes in two.

One round (their Alg. 2) with a teacher that samples with 2N DDIM steps and a student with N:
pick a student timestep t and its successor t'' on the student's N-step grid, and the teacher's
midpoint t' between them on its 2N-step grid (with "trailing" spacing the N-step grid is every other
point of the 2N-step grid, so t' always exists). From z_t = α_t x + σ_t ε::

    z_{t'}  = DDIM step of the teacher  t → t'
    z_{t''} = DDIM step of the teacher  t' → t''
    x̃       = (z_{t''} − (σ_{t''}/σ_t) z_t) / (α_{t''} − (σ_{t''}/σ_t) α_t)      (Alg. 2, the target)

x̃ is the x̂_0 with which one DDIM step of the student from z_t lands exactly where the teacher's two
steps did. The student regresses it with the truncated-SNR weight max(SNR_t, 1) (their eq. 10, §4),
which equals the ε-loss where SNR > 1 and keeps a finite weight where SNR → 0. Then the student
becomes the next round's teacher and N halves: 2N → N → N/2 → …

Only the maths is here (no data, no optimizer); the training rounds are ``core.training.distillation``.
"""

from __future__ import annotations

import math

import torch

from core.diffusion.prediction import split_output
from core.diffusion.samplers import ddim_step, denoise, make_timesteps
from core.diffusion.schedules import NoiseSchedule

SPACING = "trailing"  # the grids of 2N and N steps nest only for trailing (or leading) spacing


def _alpha_sigma(schedule: NoiseSchedule, t: int) -> tuple[float, float]:
    if t < 0:
        return 1.0, 0.0
    a = float(schedule.alphas_cumprod[t])
    return math.sqrt(a), math.sqrt(1.0 - a)


def student_grid(schedule: NoiseSchedule, student_steps: int) -> tuple[list[int], list[int]]:
    """The student's N timesteps and the teacher's 2N, each ending at −1 (the clean sample).

    Raises ValueError when the grids do not nest (2N > T, or a rounding mismatch of the spacing).
    """
    n = int(student_steps)
    if n < 1 or 2 * n > schedule.num_timesteps:
        raise ValueError(
            f"A student with {student_steps} steps needs a teacher with {2 * n} steps, "
            f"which must be between 2 and T = {schedule.num_timesteps}."
        )
    student = make_timesteps(schedule, n, SPACING) + [-1]
    teacher = make_timesteps(schedule, 2 * n, SPACING) + [-1]
    if teacher[::2] != student:
        raise ValueError(f"The {2 * n}-step and {n}-step timestep grids do not nest for T = {schedule.num_timesteps}.")
    return student, teacher


@torch.no_grad()
def distillation_target(
    teacher, schedule: NoiseSchedule, z_t: torch.Tensor, t: int, t_mid: int, t_next: int, cond=None, clip_x0=None
):
    """x̃ of Salimans & Ho 2022, Alg. 2: the x̂_0 that makes one DDIM step t → t_next match two teacher steps.

    ``clip_x0`` ("clip" for images) makes the two teacher steps those of the DDIM the app samples with,
    x̂_0 clipped to [−1, 1], so the student learns the trajectory it is compared against.
    """
    x0, eps = denoise(teacher, z_t, t, schedule, cond, clip_x0)
    z_mid = ddim_step(schedule, z_t, x0, eps, t, t_mid)
    x0, eps = denoise(teacher, z_mid, t_mid, schedule, cond, clip_x0)
    z_next = ddim_step(schedule, z_mid, x0, eps, t_mid, t_next)
    a_t, s_t = _alpha_sigma(schedule, t)
    a_n, s_n = _alpha_sigma(schedule, t_next)
    ratio = s_n / s_t
    return (z_next - ratio * z_t) / (a_n - ratio * a_t)


def truncated_snr_weight(schedule: NoiseSchedule, t: int) -> float:
    """max(SNR_t, 1): Salimans & Ho 2022's "truncated SNR" weighting of the x-space loss (eq. 10)."""
    return max(float(schedule.snr[t]), 1.0)


def distillation_loss(
    student, teacher, schedule: NoiseSchedule, x0: torch.Tensor, eps: torch.Tensor, index: int, student_steps: int,
    cond=None, clip_x0=None,
) -> torch.Tensor:  # fmt: skip
    """The weighted loss of one minibatch at the student's ``index``-th timestep (all points share it)."""
    student_ts, teacher_ts = student_grid(schedule, student_steps)
    t, t_mid, t_next = student_ts[index], teacher_ts[2 * index + 1], student_ts[index + 1]
    a, s = _alpha_sigma(schedule, t)
    z_t = a * x0 + s * eps  # q_sample (DDPM eq. 4)
    target = distillation_target(teacher, schedule, z_t, t, t_mid, t_next, cond, clip_x0)
    t_batch = torch.full((x0.shape[0],), t, dtype=torch.long)
    output = student(z_t, t_batch, **(cond or {}))
    pred_x0 = split_output(output, z_t, t_batch, schedule, student.prediction_type).pred_x0
    return truncated_snr_weight(schedule, t) * (pred_x0 - target).square().mean()
