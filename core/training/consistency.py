"""Consistency distillation on 2-D toy data, as a generator of typed events.

``consistency_distill(teacher, schedule, ConsistencyConfig(...))`` trains a student, initialised from the
teacher, with ``core.diffusion.consistency.consistency_distillation_loss`` (Song et al. 2023, Alg. 2) and
an EMA target network, then scores it at 1, 2, 4 and 8 network evaluations (multistep consistency sampling)
beside the teacher's DDIM at the same NFE, from the same x_T: the comparison the Fast sampling view draws
next to progressive distillation.
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
from core.diffusion.consistency import (
    consistency_distillation_loss,
    consistency_grid,
    grid_sigma_min,
    sample_consistency,
    update_target,
)
from core.diffusion.samplers import sample_ddim
from core.diffusion.schedules import NoiseSchedule
from core.evaluation.metrics import evaluate_points
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import TrainingDiverged

CONSISTENCY_NFE = (1, 2, 4, 8)


@dataclass
class ConsistencyConfig:
    """Every knob of a consistency-distillation run; the defaults take well under a minute on a CPU."""

    dataset: str = "two_moons"
    steps: int = 600  # optimizer steps
    grid_points: int = 18  # N of the discretised ODE (the paper's CIFAR-10 setting)
    ema_decay: float = 0.0  # μ of the target network: 0 as in Song & Dhariwal 2023 ("Improved Techniques");
    # the original CD used 0.95, which on the toys needs several times more steps before one step works
    batch_size: int = 256
    learning_rate: float = 5e-4  # AdamW, cosine decay to 10%
    data_points: int = 20_000
    eval_points: int = 2000
    nfe: tuple[int, ...] = CONSISTENCY_NFE
    seed: int = 0
    log_every: int = 25
    threads: int | None = None

    def __post_init__(self):
        if self.dataset not in TOY_DATASETS:
            raise ValueError(
                f"Consistency distillation runs here on a 2-D toy; choose one of {', '.join(TOY_DATASETS)}."
            )
        for name in ("steps", "grid_points", "batch_size", "data_points", "eval_points", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if self.grid_points < 2:
            raise ValueError("The ODE grid needs at least 2 points.")
        if not 0.0 <= float(self.ema_decay) < 1.0:
            raise ValueError(f"The target network's EMA decay must lie in [0, 1), not {self.ema_decay!r}.")
        self.nfe = tuple(int(n) for n in self.nfe)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ConsistencyStep:
    step: int
    total_steps: int
    loss: float


@dataclass
class ConsistencyFinished:
    reason: str  # "completed" or "stopped"
    student: torch.nn.Module | None  # CPU, eval; None when stopped
    sigma_min: float  # the boundary noise level sampling must use
    nfe: list[int] = field(default_factory=list)
    student_mmd: list[float] = field(default_factory=list)  # multistep consistency sampling at each NFE
    teacher_mmd: list[float] = field(default_factory=list)  # the teacher's DDIM at the same NFE, same x_T
    student_points: np.ndarray | None = None  # one-step samples
    teacher_points: np.ndarray | None = None  # the teacher's DDIM-1 from the same x_T
    elapsed_s: float = 0.0


def _lr(config: ConsistencyConfig, step: int) -> float:
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, config.steps))))


def consistency_distill(
    teacher: torch.nn.Module, schedule: NoiseSchedule, config: ConsistencyConfig, control: TrainingControl | None = None
) -> Iterator[ConsistencyStep | ConsistencyFinished]:
    """Consistency distillation of ``teacher`` (left unchanged), yielding progress and a scored result."""
    control = control or TrainingControl()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    grid = consistency_grid(schedule, config.grid_points)
    sigma_min = grid_sigma_min(schedule, grid)
    teacher = copy.deepcopy(teacher).eval().requires_grad_(False)
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    target = copy.deepcopy(teacher).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=0.0)
    data = make_toy_2d(config.dataset, config.data_points, seed=config.seed).points
    generator = torch.Generator().manual_seed(config.seed + 1)
    t0 = time.perf_counter()
    loss_sum, loss_count = 0.0, 0
    for step in range(config.steps):
        if control.stopped:
            yield ConsistencyFinished("stopped", None, sigma_min, elapsed_s=time.perf_counter() - t0)
            return
        while control.paused and not control.stopped:
            control.wait_while_paused()
        idx = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
        eps = torch.randn((config.batch_size, data.shape[1]), generator=generator)
        index = torch.randint(0, len(grid) - 1, (config.batch_size,), generator=generator)
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, step)
        loss = consistency_distillation_loss(student, target, teacher, schedule, grid, data[idx], eps, index)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"The consistency loss became {loss.item()} at step {step}; lower the learning rate."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        update_target(target, student, config.ema_decay)
        loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
        if (step + 1) % config.log_every == 0 or step + 1 == config.steps:
            yield ConsistencyStep(step + 1, config.steps, loss_sum / loss_count)
            loss_sum, loss_count = 0.0, 0
    student.eval().requires_grad_(False)
    noise = torch.randn((config.eval_points, data.shape[1]), generator=torch.Generator().manual_seed(config.seed + 2))
    eval_seed = config.seed + 12345
    student_mmd, teacher_mmd, points = [], [], {}
    for n in config.nfe:
        x = sample_consistency(
            student, noise, schedule, n, sigma_min=sigma_min, generator=torch.Generator().manual_seed(3)
        )
        y = sample_ddim(teacher, noise, schedule, n)
        student_mmd.append(evaluate_points(x, config.dataset, seed=eval_seed)["mmd"])
        teacher_mmd.append(evaluate_points(y, config.dataset, seed=eval_seed)["mmd"])
        if n == min(config.nfe):
            points = {"student": x.numpy().copy(), "teacher": y.numpy().copy()}
    yield ConsistencyFinished(
        "completed", student, sigma_min, list(config.nfe), student_mmd, teacher_mmd, points.get("student"),
        points.get("teacher"), time.perf_counter() - t0,
    )  # fmt: skip
