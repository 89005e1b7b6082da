"""The shipped few-step Fashion-MNIST student (scripts/distil_fmnist.py) and the code that reads it back.

The gate: from the same x_T, the 4-step student lands much nearer the teacher's DDIM-8 (what it was
distilled to reproduce) than the teacher's own DDIM-4 does, and the shipped classifier recognises the
classes it was asked for. Plus the small pieces: the sampler a checkpoint names, the teacher found by
hash, the clipped distillation target against a hand-written DDIM.
"""

from __future__ import annotations

import hashlib
import math
from types import SimpleNamespace

import pytest
import torch

from core.diffusion import make_schedule
from core.diffusion.distillation import distillation_target
from core.evaluation.distilled_student import (
    NativeSampling,
    load_teacher_of,
    native_sampling,
    shipped_students,
)
from core.evaluation.metrics import class_accuracy, sample_images
from core.io import load_denoiser
from core.runtime.resources import resource_path

torch.set_num_threads(1)
STUDENT = resource_path("models", "fmnist_unet_distilled_4step.safetensors")
TEACHER = resource_path("models", "fmnist_unet.safetensors")


def test_native_sampling_reads_what_a_student_names_and_nothing_from_an_ordinary_model():
    assert native_sampling({"sampler": "ddim", "sampling_steps": 4}) == NativeSampling("ddim", 4, "trailing")
    assert native_sampling({"sampler": "ddim", "sampling_steps": 8, "spacing": "leading"}).spacing == "leading"
    for metadata in (None, {}, {"step": 3582}, {"sampler": "ddim"}, {"sampler": "nope", "sampling_steps": 4},
                     {"sampler": "ddim", "sampling_steps": 0}, {"sampler": "ddim", "sampling_steps": True},
                     {"sampler": "ddim", "sampling_steps": "4"}):  # fmt: skip
        assert native_sampling(metadata) is None, metadata


def test_shipped_students_are_listed_fewest_steps_first(tmp_path):
    for name in ("m_distilled_8step", "m_distilled_2step", "m_distilled_16step", "m_other"):
        (tmp_path / f"{name}.safetensors").write_bytes(b"")
    assert [p.stem for p in shipped_students(tmp_path)] == [
        "m_distilled_2step",
        "m_distilled_8step",
        "m_distilled_16step",
    ]


def test_the_teacher_must_be_the_file_the_student_names(tmp_path):
    student = SimpleNamespace(path=tmp_path / "s.safetensors", metadata={})
    with pytest.raises(ValueError, match="does not say"):
        load_teacher_of(student)
    student.metadata = {"distillation": {"teacher_file": TEACHER.name, "teacher_sha256": "0" * 64}}
    with pytest.raises(ValueError, match="contents changed"):
        load_teacher_of(student)
    student.metadata["distillation"]["teacher_file"] = "no_such_model.safetensors"
    with pytest.raises(ValueError, match="which is not in"):
        load_teacher_of(student)


class _Overshooting(torch.nn.Module):
    """Predicts x̂_0 = 3 z: far outside [−1, 1], so clipping changes every step."""

    prediction_type, num_classes = "x0", 0

    def forward(self, x, t, class_labels=None):
        return 3.0 * x


def test_the_clipped_target_is_two_clipped_ddim_steps_by_hand():
    schedule = make_schedule("cosine", 1000)
    z = torch.randn((4, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    t, t_mid, t_next = 749, 499, 249
    abar = [float(schedule.alphas_cumprod[s]) for s in (t, t_mid, t_next)]

    def step(x, a, a_prev):  # DDIM eq. 12 with η = 0 and x̂_0 clipped, ε̂ recomputed from it
        x0 = (3.0 * x).clamp(-1, 1)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        return math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps

    z_next = step(step(z, abar[0], abar[1]), abar[1], abar[2])
    ratio = math.sqrt(1 - abar[2]) / math.sqrt(1 - abar[0])
    expected = (z_next - ratio * z) / (math.sqrt(abar[2]) - ratio * math.sqrt(abar[0]))  # Salimans & Ho, Alg. 2
    got = distillation_target(_Overshooting(), schedule, z, t, t_mid, t_next, clip_x0="clip")
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    unclipped = distillation_target(_Overshooting(), schedule, z, t, t_mid, t_next)
    assert (unclipped - got).abs().max() > 0.1  # the option matters for this teacher


def test_the_shipped_student_says_how_to_sample_it_and_names_its_teacher_by_hash():
    assert STUDENT.is_file(), "the distilled student is not shipped; run scripts/distil_fmnist.py"
    assert STUDENT.stat().st_size < 5_000_000
    student = load_denoiser(STUDENT)
    assert native_sampling(student.metadata) == NativeSampling("ddim", 4, "trailing")
    info = student.metadata["distillation"]
    assert info["teacher_sha256"] == hashlib.sha256(TEACHER.read_bytes()).hexdigest()
    assert [r["student_steps"] for r in info["rounds"]] == [4] and info["rounds"][0]["cpu_s"] > 0
    rows = {r["row"]: r for r in student.metadata["evaluation"]["rows"]}
    assert rows["student, 4 steps"]["fid"] < 1.5 * rows["teacher DDIM-50"]["fid"]  # the target, as measured


def test_gate_the_student_follows_the_teachers_8_step_path_in_4_steps_and_draws_the_asked_classes():
    student = load_denoiser(STUDENT)
    teacher = load_teacher_of(student)
    n, seed = 16, 7  # the same x_T and labels for every call (sample_images draws them from the seed)

    def draw(model, steps, count=n):
        return sample_images(model, teacher.schedule, count, steps=steps, seed=seed)

    target, labels = draw(teacher.model, 8)
    error_teacher_4 = (draw(teacher.model, 4)[0] - target).square().mean().item()
    error_student_4 = (draw(student.model, 4)[0] - target).square().mean().item()
    # measured 0.27–0.29 of the teacher's error (seeds 7, 8); an undistilled copy of the teacher scores 1.0
    assert error_student_4 < 0.5 * error_teacher_4, (error_student_4, error_teacher_4)

    images, labels = draw(student.model, 4, count=32)
    assert class_accuracy(images, labels) >= 0.75  # 0.87 on 200 samples, the teacher's DDIM-50 0.88
