"""Training a 2-D denoiser with learned variances (Improved DDPM's L_hybrid), and measuring what Σ_θ buys.

``train_learned_variance(LearnedVarianceConfig(...))`` trains the project's 2-D MLP (``core.models.mlp``)
with a second output head for v, on L_simple + λ L_vlb (``core.diffusion.learned_variance.hybrid_loss``),
yielding ``VarianceStep`` and ``VarianceFinished`` events like the other training generators.
``measure_variances`` then compares, for the *same* trained mean, the learned Σ_θ against the fixed
β̃_t and β_t: the σ_t curves over t, the full variational bound, and the MMD of DDPM ancestral sampling
at a few respaced step counts (Nichol & Dhariwal 2021, §3.1 and §4).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from core.data import TOY_DATASETS, make_toy_2d
from core.diffusion.learned_variance import (
    HYBRID_LAMBDA,
    LearnedVarianceDenoiser,
    hybrid_loss,
    reverse_std,
    sample_ddpm_learned,
    variational_bound,
)
from core.diffusion.schedules import NoiseSchedule, make_schedule
from core.evaluation.metrics import evaluate_points
from core.models.mlp import MLPConfig, MLPDenoiser
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import TrainingDiverged

FEW_ANCESTRAL_STEPS = (5, 10, 25, 100)  # respaced DDPM step counts the comparison samples with
VARIANCE_TITLES = {"learned": "learned Σ_θ", "posterior": "fixed β̃_t", "beta": "fixed β_t"}


@dataclass
class LearnedVarianceConfig:
    """Every knob of an L_hybrid run on a 2-D toy; the defaults train in 10–30 s on a CPU."""

    dataset: str = "two_moons"  # one of core.data.TOY_DATASETS
    schedule: str = "linear"  # DDPM's; where β_t and β̃_t differ most at few steps (Improved DDPM Fig. 8)
    num_timesteps: int = 1000
    steps: int = 1500  # optimizer steps
    batch_size: int = 256
    learning_rate: float = 3e-3  # AdamW peak; cosine decay to 10%
    hidden_dim: int = 128
    num_blocks: int = 3
    lam: float = HYBRID_LAMBDA  # λ of L_hybrid = L_simple + λ L_vlb
    data_points: int = 20_000
    seed: int = 0
    log_every: int = 25
    threads: int | None = None

    def __post_init__(self):
        if self.dataset not in TOY_DATASETS:
            raise ValueError(f"Learned variances train here on a 2-D toy; choose one of {', '.join(TOY_DATASETS)}.")
        for name in ("num_timesteps", "steps", "batch_size", "hidden_dim", "num_blocks", "data_points", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if not 0.0 <= float(self.lam) < 1.0:
            raise ValueError(f"λ must lie in [0, 1), not {self.lam!r} (the paper uses 0.001).")
        if not 0 < float(self.learning_rate) < 1:
            raise ValueError(f"The learning rate must be a number between 0 and 1, not {self.learning_rate!r}.")

    def make_schedule(self) -> NoiseSchedule:
        return make_schedule(self.schedule, self.num_timesteps)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VarianceStep:
    step: int
    total_steps: int
    loss: float  # L_hybrid
    l_simple: float
    l_t: float  # mean L_t of the drawn timesteps, bits per dimension
    elapsed_s: float


@dataclass
class VarianceFinished:
    step: int
    reason: str  # "completed" or "stopped"
    elapsed_s: float
    model: LearnedVarianceDenoiser  # CPU, eval mode
    schedule: NoiseSchedule
    dataset: str


VarianceEvent = VarianceStep | VarianceFinished


def build_learned_variance_model(config: LearnedVarianceConfig) -> LearnedVarianceDenoiser:
    """The 2-D MLP with its output layer widened to 2·d channels (ε̂ and v), zero-initialised (v starts at ½)."""
    net = MLPDenoiser(MLPConfig(hidden_dim=config.hidden_dim, num_blocks=config.num_blocks, prediction_type="eps"))
    net.output = nn.Linear(config.hidden_dim, 2 * net.config.data_dim)
    nn.init.zeros_(net.output.weight)
    nn.init.zeros_(net.output.bias)
    return LearnedVarianceDenoiser(net, net.config.data_dim)


def _lr(config: LearnedVarianceConfig, step: int) -> float:
    progress = step / max(1, config.steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_learned_variance(
    config: LearnedVarianceConfig, control: TrainingControl | None = None
) -> Iterator[VarianceEvent]:
    """Train ε̂ and Σ_θ together with L_hybrid (Improved DDPM eq. 16), yielding events."""
    control = control or TrainingControl()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    schedule = config.make_schedule()
    model = build_learned_variance_model(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed + 1)
    data = make_toy_2d(config.dataset, config.data_points, seed=config.seed).points
    t0 = time.perf_counter()
    step, reason = 0, "completed"
    sums = np.zeros(3)
    count = 0
    while step < config.steps:
        if control.stopped:
            reason = "stopped"
            break
        while control.paused and not control.stopped:
            control.wait_while_paused()
        idx = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
        x0 = data[idx]
        eps = torch.randn(x0.shape, generator=generator)
        t = torch.randint(0, schedule.num_timesteps, (config.batch_size,), generator=generator)
        for group in optimizer.param_groups:
            group["lr"] = _lr(config, step)
        loss, l_simple, l_t = hybrid_loss(model, schedule, x0, eps, t, config.lam)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"The hybrid loss became {loss.item()} at step {step}; lower the learning rate.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        sums += (loss.item(), l_simple, l_t)
        count += 1
        if step % config.log_every == 0 or step == config.steps:
            mean = sums / count
            yield VarianceStep(step, config.steps, *map(float, mean), time.perf_counter() - t0)
            sums[:], count = 0.0, 0
    model.eval().requires_grad_(False)
    yield VarianceFinished(step, reason, time.perf_counter() - t0, model, schedule, config.dataset)


@dataclass
class VarianceComparison:
    """One trained mean with three reverse variances: learned Σ_θ, fixed β̃_t, fixed β_t."""

    timesteps: np.ndarray  # the t at which σ_t is drawn
    sigma: dict[str, np.ndarray]  # "learned" / "posterior" / "beta" → σ_t at those t
    vlb_bits_per_dim: dict[str, float]  # the full bound of each on held-out points
    steps: list[int]  # respaced DDPM step counts
    mmd: dict[str, list[float]]  # MMD² of ancestral samples at each step count


def clip_bound(dataset: str) -> float:
    """x̂_0 is clipped to 1.2 × the largest |coordinate| of the (standardised) toy, its "[−1, 1]"."""
    return 1.2 * float(make_toy_2d(dataset, 20_000, seed=0).points.abs().max())


@torch.no_grad()
def measure_variances(
    model: LearnedVarianceDenoiser, schedule: NoiseSchedule, dataset: str, *, vlb_points: int = 100,
    sample_points: int = 1000, steps: Sequence[int] = FEW_ANCESTRAL_STEPS, sigma_points: int = 60, seed: int = 0,
) -> VarianceComparison:  # fmt: skip
    """σ_t curves, VLB and few-step MMD of the learned Σ_θ beside the fixed variances, same mean, same noise."""
    held_out = make_toy_2d(dataset, vlb_points, seed=seed + 777).points
    ts = np.unique(np.geomspace(1, schedule.num_timesteps, sigma_points).astype(int) - 1)
    sigma = {
        "learned": reverse_std(model, schedule, held_out, ts, generator=torch.Generator().manual_seed(seed)).numpy(),
        "posterior": schedule.posterior_log_variance_clipped[ts].mul(0.5).exp().numpy(),
        "beta": schedule.betas[ts].sqrt().numpy(),
    }
    bounds = variational_bound(model, schedule, held_out, generator=torch.Generator().manual_seed(seed + 1))
    noise = torch.randn((sample_points, 2), generator=torch.Generator().manual_seed(seed + 2))
    clip = clip_bound(dataset)
    mmd: dict[str, list[float]] = {kind: [] for kind in VARIANCE_TITLES}
    for n in steps:
        for kind in VARIANCE_TITLES:
            x = sample_ddpm_learned(
                model, noise, schedule, int(n), variance=kind, clip=clip,
                generator=torch.Generator().manual_seed(seed + 3),
            )  # fmt: skip
            mmd[kind].append(evaluate_points(x, dataset, seed=12345)["mmd"])
    return VarianceComparison(ts, sigma, {k: b.bits_per_dim for k, b in bounds.items()}, [int(n) for n in steps], mmd)
