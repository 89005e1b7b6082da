"""Training a 2-D denoiser with VDM's continuous-time VLB, with a learned or a fixed log-SNR schedule.

``train_vdm(VDMConfig(learned=True))`` trains the project's 2-D MLP (told γ_t instead of t) together with
a monotone γ_η(t) (``core.diffusion.learned_schedule.MonotoneLogSNR``): the denoiser and the endpoints
γ_0, γ_1 on the bound itself, the shape of γ on the variance of the bound's one-sample estimate (Kingma et al.
2021, §5.2). With ``learned=False`` the schedule is VDM's fixed linear γ between the initial endpoints, the
baseline of their comparison. ``evaluate_vdm`` gives the bound on held-out points and the spread of its
estimate, the two numbers the learned schedule is meant to lower.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from core.data import TOY_DATASETS, make_toy_2d
from core.diffusion.learned_schedule import (
    LinearLogSNR,
    MonotoneLogSNR,
    continuous_vlb,
    split_schedule_parameters,
    stratified_times,
)
from core.models.mlp import MLPConfig, MLPDenoiser
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import TrainingDiverged

LOG2 = math.log(2.0)


@dataclass
class VDMConfig:
    """Every knob of a continuous-time VLB run on a 2-D toy."""

    dataset: str = "two_moons"
    learned: bool = True  # learn γ_η(t) (True) or keep VDM's fixed linear γ (False)
    gamma_0: float = -10.0  # initial γ at t = 0 (log-SNR +10: almost clean)
    gamma_1: float = 8.0  # initial γ at t = 1 (log-SNR −8: almost pure noise)
    steps: int = 1000
    batch_size: int = 256
    learning_rate: float = 3e-3
    schedule_learning_rate: float = 1e-2
    hidden_dim: int = 128
    num_blocks: int = 3
    data_points: int = 20_000
    seed: int = 0
    log_every: int = 25
    threads: int | None = None

    def __post_init__(self):
        if self.dataset not in TOY_DATASETS:
            raise ValueError(f"The learned schedule trains here on a 2-D toy; choose one of {', '.join(TOY_DATASETS)}.")
        for name in ("steps", "batch_size", "hidden_dim", "num_blocks", "data_points", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if not self.gamma_0 < self.gamma_1:
            raise ValueError("γ_0 must be below γ_1: log-SNR falls from the data end to the noise end.")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VDMStep:
    step: int
    total_steps: int
    bits_per_dim: float  # mean VLB estimate of the last minibatches
    estimate_std: float  # spread of the per-example estimate (bits per dimension)
    gamma_0: float
    gamma_1: float
    elapsed_s: float


@dataclass
class VDMFinished:
    step: int
    reason: str
    elapsed_s: float
    denoiser: torch.nn.Module
    gamma: torch.nn.Module  # γ(t); MonotoneLogSNR or LinearLogSNR
    config: VDMConfig


def _lr(base: float, step: int, total: int) -> float:
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / max(1, total))))


def train_vdm(config: VDMConfig, control: TrainingControl | None = None) -> Iterator[VDMStep | VDMFinished]:
    """Minimise VDM's continuous-time VLB; with ``learned`` the schedule's shape minimises the estimate's variance."""
    control = control or TrainingControl()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    denoiser = MLPDenoiser(MLPConfig(hidden_dim=config.hidden_dim, num_blocks=config.num_blocks))
    gamma = (
        MonotoneLogSNR(config.gamma_0, config.gamma_1)
        if config.learned
        else LinearLogSNR(config.gamma_0, config.gamma_1)
    )
    endpoints, shape = split_schedule_parameters(gamma)
    optimizer = torch.optim.AdamW(
        [
            {"params": list(denoiser.parameters()), "lr": config.learning_rate, "base": config.learning_rate},
            *(
                [
                    {
                        "params": endpoints + shape,
                        "lr": config.schedule_learning_rate,
                        "base": config.schedule_learning_rate,
                    }
                ]
                if endpoints
                else []
            ),
        ],
        weight_decay=0.0,
    )
    data = make_toy_2d(config.dataset, config.data_points, seed=config.seed).points
    dim = data.shape[1]
    generator = torch.Generator().manual_seed(config.seed + 1)
    t0 = time.perf_counter()
    step, reason, window = 0, "completed", []
    while step < config.steps:
        if control.stopped:
            reason = "stopped"
            break
        while control.paused and not control.stopped:
            control.wait_while_paused()
        idx = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
        x = data[idx]
        eps = torch.randn(x.shape, generator=generator)
        t = stratified_times(config.batch_size, generator)
        for group in optimizer.param_groups:
            group["lr"] = _lr(group["base"], step, config.steps)
        terms = continuous_vlb(denoiser, gamma, x, eps, t)
        total = terms["total"]
        loss = total.mean()
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"The VLB became {loss.item()} at step {step}; lower the learning rate.")
        optimizer.zero_grad(set_to_none=True)
        shape_grads = (
            torch.autograd.grad(terms["diffusion"].square().mean(), shape, retain_graph=True) if shape else ()
        )  # VDM §5.2: η follows ∇_η E[L²] = ∇_η Var[L], since E[L] does not depend on η
        loss.backward()
        for p, g in zip(shape, shape_grads, strict=True):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(denoiser.parameters(), 1.0)
        if shape:
            torch.nn.utils.clip_grad_norm_(shape, 1.0)
        optimizer.step()
        step += 1
        window.append(total.detach() / (dim * LOG2))
        if step % config.log_every == 0 or step == config.steps:
            values = torch.cat(window)
            window = []
            g0, g1 = (float(v) for v in gamma(torch.tensor([0.0, 1.0])).detach())
            yield VDMStep(
                step, config.steps, float(values.mean()), float(values.std()), g0, g1, time.perf_counter() - t0
            )
    denoiser.eval().requires_grad_(False)
    gamma.eval().requires_grad_(False)
    yield VDMFinished(step, reason, time.perf_counter() - t0, denoiser, gamma, config)


@dataclass
class VDMEvaluation:
    bits_per_dim: float  # the continuous VLB on held-out points (mean of the estimates)
    estimate_std: float  # the spread of one-sample estimates (bits per dimension)
    standard_error: float  # of the mean
    log_snr: np.ndarray  # (K,) λ(t) = −γ(t) on ``times``
    times: np.ndarray


def evaluate_vdm(
    denoiser, gamma, dataset: str, *, points: int = 2000, repeats: int = 4, seed: int = 0, grid: int = 101
) -> VDMEvaluation:
    """VDM's bound on ``points`` held-out points, ``repeats`` draws of (t, ε) each, in bits per dimension."""
    x = make_toy_2d(dataset, points, seed=seed + 999).points
    generator = torch.Generator().manual_seed(seed)
    estimates = []
    for _ in range(repeats):
        eps = torch.randn(x.shape, generator=generator)
        t = torch.rand(points, generator=generator)
        terms = continuous_vlb(denoiser, gamma, x, eps, t, create_graph=False)
        estimates.append(terms["total"].detach() / (x.shape[1] * LOG2))
    values = torch.cat(estimates).double()
    times = torch.linspace(0.0, 1.0, grid)
    with torch.no_grad():
        log_snr = (-gamma(times)).numpy()
    return VDMEvaluation(
        float(values.mean()),
        float(values.std()),
        float(values.std() / math.sqrt(values.numel())),
        log_snr,
        times.numpy(),
    )
