"""Progressive distillation: the target is what two teacher steps do, and a distilled student beats DDIM-N."""

import pytest
import torch

from core.diffusion import IdealDenoiser, ddim_step, denoise, make_schedule, sample_ddim
from core.diffusion.distillation import distillation_target, student_grid, truncated_snr_weight
from core.io import load_denoiser
from core.runtime.resources import resource_path
from core.training import TrainingControl
from core.training.distillation import (
    DistillConfig,
    DistillFinished,
    DistillRound,
    DistillStarted,
    DistillStep,
    distill,
)


def test_grids_nest_and_bad_counts_are_explained():
    schedule = make_schedule("cosine", 1000)
    student, teacher = student_grid(schedule, 8)
    assert len(student) == 9 and len(teacher) == 17 and teacher[::2] == student
    assert student[0] == 999 and student[-1] == -1
    with pytest.raises(ValueError, match="between 2 and T"):
        student_grid(schedule, 600)
    with pytest.raises(ValueError, match="power of two"):
        DistillConfig(teacher_steps=12)
    with pytest.raises(ValueError, match="2-D toy"):
        DistillConfig(dataset="fashion_mnist")
    assert DistillConfig(teacher_steps=32, final_steps=4).rounds == [16, 8, 4]
    assert truncated_snr_weight(schedule, 999) == 1.0 and truncated_snr_weight(schedule, 10) > 100


def test_one_student_ddim_step_with_the_target_lands_where_two_teacher_steps_land():
    schedule = make_schedule("linear", 200)
    g = torch.Generator().manual_seed(0)
    teacher = IdealDenoiser(torch.randn(6, 2, generator=g, dtype=torch.float64), schedule)
    z_t = torch.randn(50, 2, generator=g, dtype=torch.float64)
    student_ts, teacher_ts = student_grid(schedule, 4)
    for i in range(4):
        t, t_mid, t_next = student_ts[i], teacher_ts[2 * i + 1], student_ts[i + 1]
        target = distillation_target(teacher, schedule, z_t, t, t_mid, t_next)
        # the student's DDIM step with x̂_0 = x̃ (and ε̂ consistent with it, eq. 12) ...
        a = float(schedule.alphas_cumprod[t])
        eps = (z_t - a**0.5 * target) / (1 - a) ** 0.5
        one = ddim_step(schedule, z_t, target, eps, t, t_next)
        # ... equals two DDIM steps of the teacher
        x0, e = denoise(teacher, z_t, t, schedule, None)
        mid = ddim_step(schedule, z_t, x0, e, t, t_mid)
        x0, e = denoise(teacher, mid, t_mid, schedule, None)
        two = ddim_step(schedule, mid, x0, e, t_mid, t_next)
        assert torch.allclose(one, two, atol=1e-8)
    # and the full 4-step run of such a student is the teacher's 8-step DDIM
    x_T = torch.randn(50, 2, generator=g, dtype=torch.float64)
    assert not torch.allclose(sample_ddim(teacher, x_T, schedule, 4), sample_ddim(teacher, x_T, schedule, 8), atol=1e-3)


def test_a_distilled_two_step_student_beats_the_teachers_ddim_2():
    torch.set_num_threads(1)
    ckpt = load_denoiser(resource_path("models", "toy_two_moons.safetensors"))
    before = [p.clone() for p in ckpt.model.parameters()]
    config = DistillConfig(
        dataset="two_moons", teacher_steps=4, final_steps=2, steps_per_round=80, eval_points=600, log_every=40
    )
    events = list(distill(ckpt.model, ckpt.schedule, config))
    started = events[0]
    assert isinstance(started, DistillStarted) and started.rounds == [2] and started.teacher_steps == [2, 4]
    assert [e.step for e in events if isinstance(e, DistillStep)] == [40, 80]
    (round_1,) = [e for e in events if isinstance(e, DistillRound)]
    assert round_1.student_steps == 2 and round_1.student_points.shape == (600, 2)
    assert round_1.teacher_mmd == pytest.approx(started.teacher_mmd[0])
    assert round_1.student_mmd < 0.5 * round_1.teacher_mmd  # the point of distillation
    finished = events[-1]
    assert isinstance(finished, DistillFinished) and finished.reason == "completed" and finished.student_steps == 2
    assert all(torch.equal(a, b) for a, b in zip(before, ckpt.model.parameters(), strict=True))  # teacher untouched


def test_stopping_before_the_first_round_ends_without_a_student():
    ckpt = load_denoiser(resource_path("models", "toy_two_moons.safetensors"))
    control = TrainingControl()
    control.stop()
    config = DistillConfig(teacher_steps=4, final_steps=2, steps_per_round=50, eval_points=100)
    events = list(distill(ckpt.model, ckpt.schedule, config, control))
    assert isinstance(events[-1], DistillFinished) and events[-1].reason == "stopped" and events[-1].student is None
