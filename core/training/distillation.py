"""Progressive distillation rounds on 2-D toy data, as a generator of typed events.

``distill(teacher, schedule, DistillConfig(...))`` runs Salimans & Ho 2022's Alg. 2 round after
round: the round-k student starts as a copy of its teacher, learns with
``core.diffusion.distillation.distillation_loss`` to do in N DDIM steps what the teacher does in 2N,
and becomes the next teacher (N halves). After each round it yields ``DistillRound`` with the MMD of
the student's N-step samples and of the *original* teacher's DDIM-N samples from the same x_T, the
comparison the paper's Fig. 4 makes.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from core.data import TOY_DATASETS, make_toy_2d
from core.diffusion.distillation import distillation_loss, student_grid
from core.diffusion.samplers import sample_ddim
from core.diffusion.schedules import NoiseSchedule
from core.evaluation.metrics import evaluate_points
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import TrainingDiverged


@dataclass
class DistillConfig:
    """Every knob of a progressive-distillation run; the defaults take a few seconds per round on a CPU."""

    dataset: str = "two_moons"  # the toy the teacher was trained on (core.data.TOY_DATASETS)
    teacher_steps: int = 32  # 2N of the first round; each round halves it
    final_steps: int = 1  # stop after the round whose student takes this many steps
    steps_per_round: int = 300  # optimizer steps per round
    batch_size: int = 256
    learning_rate: float = 5e-4  # AdamW, cosine decay to 10% within each round
    data_points: int = 20_000
    eval_points: int = 2000  # samples scored with MMD after each round
    seed: int = 0
    log_every: int = 25
    threads: int | None = None

    def __post_init__(self):
        if self.dataset not in TOY_DATASETS:
            raise ValueError(f"Distillation here runs on a 2-D toy; choose one of {', '.join(TOY_DATASETS)}.")
        for name in ("teacher_steps", "final_steps", "steps_per_round", "batch_size", "data_points", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if self.teacher_steps < 2 or self.teacher_steps & (self.teacher_steps - 1):
            raise ValueError(f"The teacher's steps must be a power of two (2, 4, 8, …), not {self.teacher_steps}.")
        if self.final_steps >= self.teacher_steps or self.final_steps & (self.final_steps - 1):
            raise ValueError("The final student's steps must be a power of two below the teacher's.")
        if self.eval_points < 2:
            raise ValueError("MMD needs at least 2 evaluation points.")

    @property
    def rounds(self) -> list[int]:
        """The student step counts, round by round: teacher_steps/2, /4, … final_steps."""
        out, n = [], self.teacher_steps // 2
        while n >= self.final_steps:
            out.append(n)
            n //= 2
        return out

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DistillStarted:
    rounds: list[int]  # student steps of each round
    teacher_steps: list[int]  # the steps at which the original teacher was scored
    teacher_mmd: list[float]  # the original teacher's DDIM MMD at those steps


@dataclass
class DistillStep:
    round: int
    step: int
    total_steps: int
    loss: float


@dataclass
class DistillRound:
    round: int  # 1-based
    student_steps: int
    student_mmd: float  # the new student with student_steps DDIM steps
    teacher_mmd: float  # the original teacher with the same number of steps, same x_T
    student_points: np.ndarray  # (n, 2) samples, for drawing beside the teacher's
    teacher_points: np.ndarray
    elapsed_s: float


@dataclass
class DistillFinished:
    reason: str  # "completed" or "stopped"
    student: torch.nn.Module | None  # the last round's student (CPU, eval) or None if no round finished
    student_steps: int
    history: list[DistillRound] = field(default_factory=list)


DistillEvent = DistillStarted | DistillStep | DistillRound | DistillFinished


def _lr(config: DistillConfig, step: int) -> float:
    progress = step / max(1, config.steps_per_round)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _mmd(model, noise, schedule, steps, dataset, seed) -> tuple[float, np.ndarray]:
    x = sample_ddim(model, noise, schedule, steps)
    return evaluate_points(x, dataset, seed=seed)["mmd"], x.numpy().copy()


def distill(
    teacher: torch.nn.Module, schedule: NoiseSchedule, config: DistillConfig, control: TrainingControl | None = None
) -> Iterator[DistillEvent]:
    """Progressive distillation of ``teacher`` (a denoiser, left unchanged), yielding events."""
    control = control or TrainingControl()
    set_threads(config.threads)
    student_grid(schedule, config.teacher_steps // 2)  # checks that the first teacher's grid exists
    data = make_toy_2d(config.dataset, config.data_points, seed=config.seed).points
    generator = torch.Generator().manual_seed(config.seed + 1)
    eval_noise = torch.randn((config.eval_points, 2), generator=torch.Generator().manual_seed(config.seed + 2))
    eval_seed = config.seed + 12345
    original = copy.deepcopy(teacher).eval().requires_grad_(False)
    rounds = config.rounds
    teacher_steps = sorted({config.teacher_steps, *rounds})
    teacher_scores = {n: _mmd(original, eval_noise, schedule, n, config.dataset, eval_seed) for n in teacher_steps}
    yield DistillStarted(rounds, teacher_steps, [teacher_scores[n][0] for n in teacher_steps])

    t0 = time.perf_counter()
    current_teacher, student, history, reason = original, None, [], "completed"
    for k, n in enumerate(rounds, start=1):
        student = copy.deepcopy(current_teacher).train().requires_grad_(True)
        optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=0.0)
        loss_sum, loss_count = 0.0, 0
        for step in range(config.steps_per_round):
            if control.stopped:
                reason = "stopped"
                break
            while control.paused and not control.stopped:
                control.wait_while_paused()
            idx = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
            eps = torch.randn((config.batch_size, 2), generator=generator)
            index = int(torch.randint(0, n, (1,), generator=generator))
            for group in optimizer.param_groups:
                group["lr"] = _lr(config, step)
            loss = distillation_loss(student, current_teacher, schedule, data[idx], eps, index, n)
            if not torch.isfinite(loss):
                raise TrainingDiverged(
                    f"The distillation loss became {loss.item()} in round {k}; lower the learning rate."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
            if (step + 1) % config.log_every == 0:
                yield DistillStep(k, step + 1, config.steps_per_round, loss_sum / loss_count)
                loss_sum, loss_count = 0.0, 0
        if reason == "stopped":
            student = current_teacher if history else None
            break
        student.eval().requires_grad_(False)
        mmd, points = _mmd(student, eval_noise, schedule, n, config.dataset, eval_seed)
        teacher_mmd, teacher_points = teacher_scores[n]
        event = DistillRound(k, n, mmd, teacher_mmd, points, teacher_points, time.perf_counter() - t0)
        history.append(event)
        yield event
        current_teacher = student
    steps = history[-1].student_steps if history else config.teacher_steps
    yield DistillFinished(reason, student if history else None, steps, history)
