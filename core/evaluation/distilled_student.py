"""A distilled few-step student beside its teacher: which sampler a checkpoint is made for, and
samples of both from the same x_T.

A progressive-distillation student (Salimans & Ho 2022; ``scripts/distil_fmnist.py``) is only good
with the sampler and step count it was distilled for: its one DDIM step stands for two of its
teacher's. Its checkpoint says so in its metadata (``sampler``, ``sampling_steps``, ``spacing``), and
``native_sampling`` reads that back so the app samples it that way. ``student_beside_teacher`` draws
the rows the Fast sampling view shows and the gate test checks: the teacher with the student's few
steps, the student, and the teacher with many steps, all from one x_T and the same labels.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch

from core.diffusion.samplers import SAMPLERS
from core.evaluation.metrics import sample_images
from core.io import load_denoiser
from core.runtime.resources import resource_path

STUDENT_PATTERN = "*_distilled_*step.safetensors"  # how scripts/distil_fmnist.py names a shipped student


@dataclass(frozen=True)
class NativeSampling:
    """The sampler a checkpoint was distilled for."""

    sampler: str  # a key of core.diffusion.SAMPLERS
    steps: int
    spacing: str = "trailing"


def native_sampling(metadata: dict | None) -> NativeSampling | None:
    """The sampler and steps a checkpoint's metadata names (a distilled student's), or None for an ordinary model."""
    metadata = metadata or {}
    sampler, steps = metadata.get("sampler"), metadata.get("sampling_steps")
    if sampler not in SAMPLERS or isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        return None
    return NativeSampling(sampler, steps, str(metadata.get("spacing", "trailing")))


@dataclass
class SampleRow:
    label: str  # e.g. "teacher, DDIM-4"
    steps: int
    images: torch.Tensor  # (n, C, H, W) in [−1, 1]
    labels: torch.Tensor | None  # the classes asked for


def student_beside_teacher(
    student, teacher, schedule, *, n: int = 10, seed: int = 0, teacher_steps: int = 50
) -> list[SampleRow]:
    """Teacher with the student's steps, the student, the teacher with ``teacher_steps``: one x_T, one label list.

    ``student`` is a loaded checkpoint (its ``metadata`` names its steps); ``teacher`` a denoiser that
    shares the student's schedule. ``sample_images`` draws x_T from ``seed`` in the same order for
    every row, so row i, column j of each row start from the same noise.
    """
    native = native_sampling(student.metadata)
    if native is None:
        raise ValueError(f"{student.path.name} is not a distilled student: its file names no sampler and step count.")
    if n < 1:
        raise ValueError(f"Draw at least one sample, not {n}.")
    rows = []
    for label, model, steps in (
        (f"teacher, DDIM-{native.steps}", teacher, native.steps),
        (f"student, {native.steps} steps", student.model, native.steps),
        (f"teacher, DDIM-{teacher_steps}", teacher, teacher_steps),
    ):
        images, labels = sample_images(model, schedule, n, sampler=native.sampler, steps=steps, seed=seed)
        rows.append(SampleRow(label, steps, images, labels))
    return rows


def shipped_students(folder: str | Path | None = None) -> list[Path]:
    """The distilled students in ``folder`` (default: the bundled ``resources/models``), fewest steps first."""
    folder = Path(folder) if folder is not None else resource_path("models")
    found = [p for p in folder.glob(STUDENT_PATTERN) if p.is_file()]
    return sorted(found, key=lambda p: (int("".join(c for c in p.stem.rpartition("_")[2] if c.isdigit()) or 0), p.name))


def load_teacher_of(student):
    """The checkpoint a student was distilled from: the bundled file its metadata names, checked by SHA-256."""
    info = (student.metadata or {}).get("distillation") or {}
    name, digest = info.get("teacher_file"), info.get("teacher_sha256")
    if not name:
        raise ValueError(f"{student.path.name} does not say which model it was distilled from.")
    path = resource_path("models", Path(name).name)
    if not path.is_file():
        raise ValueError(f"{student.path.name} was distilled from {name}, which is not in {path.parent}.")
    if digest and hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        raise ValueError(
            f"{path.name} is not the teacher {student.path.name} was distilled from (its contents changed)."
        )
    return load_denoiser(path)


def compare_with_teacher(student_path: str | Path, *, n: int = 8, seed: int = 0, teacher_steps: int = 50):
    """Load a student file and its teacher and draw ``student_beside_teacher`` (for a worker thread)."""
    student = load_denoiser(student_path)
    teacher = load_teacher_of(student)
    return student_beside_teacher(student, teacher.model, teacher.schedule, n=n, seed=seed, teacher_steps=teacher_steps)
