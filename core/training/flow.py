"""Training a flow-matching (rectified-flow) model on 2-D toy data: a generator of typed events.

``train_flow(FlowConfig(...))`` trains the project's 2-D MLP (``core.models.mlp``) as a velocity field
with the conditional flow-matching loss of ``core.diffusion.flow_matching`` (Lipman et al. 2023,
eq. 23) and yields ``FlowStep`` / ``FlowPreview`` / ``FlowFinished`` events, as ``train`` does for
diffusion, so the tests, the benchmark and the desktop app drive the same loop. Stop and pause are
the cooperative flags of a ``TrainingControl``.

``reflow(model, config)`` is one round of Liu et al. 2023's reflow (Alg. 1): draw noise, push it
through the trained ODE to get pairs (ε, x̂_0), and go on training the same network on those fixed
pairs (Liu et al. initialise the k-th rectified flow from the (k−1)-th).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import torch

from core.data import TOY_DATASETS, make_toy_2d
from core.diffusion.flow_matching import (
    VelocityNetwork,
    flow_matching_loss,
    reflow_pairs,
    sample_flow_euler,
    sample_flow_times,
)
from core.models.mlp import MLPConfig, MLPDenoiser
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import TrainingDiverged


@dataclass
class FlowConfig:
    """Every knob of a flow-matching run on a 2-D toy; the defaults train in a few seconds on a CPU."""

    dataset: str = "two_moons"  # one of core.data.TOY_DATASETS
    steps: int = 800  # optimizer steps
    batch_size: int = 256
    learning_rate: float = 3e-3  # AdamW peak; cosine decay to 10% at the end
    hidden_dim: int = 128  # MLP width (core.models.mlp.MLPConfig)
    num_blocks: int = 3
    grad_clip: float = 1.0
    data_points: int = 20_000  # size of the training set drawn from the toy
    seed: int = 0
    log_every: int = 20  # a FlowStep every this many steps
    preview_every: int = 200  # a FlowPreview every this many steps (0: none)
    preview_points: int = 1000
    preview_steps: int = 20  # Euler steps of the preview ODE
    reflow_pairs: int = 20_000  # reflow: how many (ε, x̂_0) pairs to draw
    reflow_ode_steps: int = 40  # reflow: Heun steps that produce the pairs
    threads: int | None = None

    def __post_init__(self):
        if self.dataset not in TOY_DATASETS:
            raise ValueError(
                f"Flow matching trains on a 2-D toy; choose one of {', '.join(TOY_DATASETS)}, not {self.dataset!r}."
            )
        for name in ("steps", "batch_size", "hidden_dim", "num_blocks", "data_points", "log_every", "preview_points"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < 1):
            raise ValueError(f"The learning rate must be a number between 0 and 1, not {self.learning_rate!r}.")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FlowStep:
    step: int
    total_steps: int
    loss: float
    lr: float
    elapsed_s: float


@dataclass
class FlowPreview:
    step: int
    points: np.ndarray  # (N, 2) samples of the current ODE from fixed noise


@dataclass
class FlowFinished:
    step: int
    reason: str  # "completed" or "stopped"
    elapsed_s: float
    model: VelocityNetwork  # on the CPU, in eval mode
    reflow_round: int  # 0 for flow matching from independent pairs, k after k reflow rounds


FlowEvent = FlowStep | FlowPreview | FlowFinished


def build_velocity_model(config: FlowConfig) -> VelocityNetwork:
    """The 2-D MLP of core.models.mlp as a velocity field (its output head is zero at the start)."""
    net = MLPDenoiser(MLPConfig(hidden_dim=config.hidden_dim, num_blocks=config.num_blocks, prediction_type="v"))
    return VelocityNetwork(net)


def _lr(config: FlowConfig, step: int) -> float:
    progress = step / max(1, config.steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_flow(
    config: FlowConfig,
    control: TrainingControl | None = None,
    *,
    model: VelocityNetwork | None = None,
    pairs: tuple[torch.Tensor, torch.Tensor] | None = None,
    reflow_round: int = 0,
) -> Iterator[FlowEvent]:
    """Train a velocity field with the flow-matching loss, yielding events.

    Without ``pairs`` each minibatch joins data points with fresh independent noise (1-rectified flow).
    With ``pairs = (noise, x0)`` the couplings are fixed (reflow). ``model`` continues an existing network
    (a copy is trained; the caller's model is left as it was).
    """
    control = control or TrainingControl()
    set_threads(config.threads)
    torch.manual_seed(config.seed)
    model = build_velocity_model(config) if model is None else copy.deepcopy(model)
    model.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed + 1)
    if pairs is None:
        data = make_toy_2d(config.dataset, config.data_points, seed=config.seed).points
        noise_pool = None
    else:
        noise_pool, data = (p.detach().float().cpu() for p in pairs)
        if noise_pool.shape != data.shape:
            raise ValueError("Reflow pairs must be noise and samples of the same shape.")
    preview_noise = torch.randn((config.preview_points, 2), generator=torch.Generator().manual_seed(config.seed + 2))

    t0 = time.perf_counter()
    step, reason, loss_sum, loss_count = 0, "completed", 0.0, 0
    while step < config.steps:
        if control.stopped:
            reason = "stopped"
            break
        while control.paused and not control.stopped:
            control.wait_while_paused()
        idx = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
        x0 = data[idx]
        eps = torch.randn(x0.shape, generator=generator) if noise_pool is None else noise_pool[idx]
        t = sample_flow_times(config.batch_size, generator)
        lr = _lr(config, step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss = flow_matching_loss(model, x0, eps, t)
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"The flow-matching loss became {loss.item()} at step {step}; lower the learning rate."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        step += 1
        loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
        if step % config.log_every == 0 or step == config.steps:
            yield FlowStep(step, config.steps, loss_sum / loss_count, lr, time.perf_counter() - t0)
            loss_sum, loss_count = 0.0, 0
        if config.preview_every and (step % config.preview_every == 0 or step == config.steps):
            model.eval()
            points = sample_flow_euler(model, preview_noise, None, config.preview_steps)
            model.train()
            yield FlowPreview(step, points.numpy().copy())
    model.eval().requires_grad_(False)
    yield FlowFinished(step, reason, time.perf_counter() - t0, model, reflow_round)


def reflow(
    model: VelocityNetwork, config: FlowConfig, control: TrainingControl | None = None, *, reflow_round: int = 1
) -> Iterator[FlowEvent]:
    """One reflow round (Liu et al. 2023, Alg. 1): pairs (ε, ODE(ε)) from ``model``, then train on them."""
    noise = torch.randn((config.reflow_pairs, 2), generator=torch.Generator().manual_seed(config.seed + 3))
    set_threads(config.threads)
    model.eval()
    # (ε, x̂_0): the loss then joins each x̂_0 (t = 0) to the very noise it came from (t = 1)
    pairs = reflow_pairs(model, noise, config.reflow_ode_steps, method="heun")
    yield from train_flow(config, control, model=model, pairs=pairs, reflow_round=reflow_round)
