"""Training and scoring the noise-conditional classifier p(c | x_t, t) that classifier guidance uses.

Dhariwal & Nichol (2021, §4.1) train their classifier on noisy images: each example is a clean
(x_0, c) from the data set, a timestep t drawn uniformly from the diffusion model's T timesteps and
x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (DDPM eq. 4, ``q_sample``) from *that model's* schedule, so that the
classifier sees exactly the x_t the sampler will ask it about. The loss is the cross-entropy of c.

``train_noisy_classifier`` is a generator of ``ClassifierStep`` events (the loop pattern of
``core.training.loop``: the caller prints, plots or stops between steps); ``accuracy_by_noise_level``
measures accuracy on a held-out set in ranges of t with fixed noise, the number a student should
read next to the guidance results (near chance at t → T, where x_t holds almost no signal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812

from core.diffusion.forward_process import q_sample
from core.diffusion.schedules import NoiseSchedule
from core.models.noisy_classifier import NoisyClassifier

# t ranges the accuracy is reported in (half-open [lo, hi) on T = 1000; scaled for other T)
DEFAULT_T_RANGES = ((0, 1), (1, 200), (200, 400), (400, 600), (600, 800), (800, 1000))


@dataclass(frozen=True)
class ClassifierStep:
    """One optimisation step of the noisy classifier."""

    step: int
    total_steps: int
    loss: float  # cross-entropy of this batch
    accuracy: float  # on this (noisy) batch
    lr: float
    elapsed_s: float


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to zero (Loshchilov & Hutter 2017)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1.0 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def noisy_batch(
    schedule: NoiseSchedule, x0: torch.Tensor, generator: torch.Generator, t: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_t, t) for a batch of clean ``x0``: t uniform on [0, T) unless given, x_t by DDPM eq. 4."""
    if t is None:
        t = torch.randint(0, schedule.num_timesteps, (x0.shape[0],), generator=generator)
    noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
    return q_sample(schedule, x0, t, noise), t


def train_noisy_classifier(
    model: NoisyClassifier,
    x0: torch.Tensor,
    labels: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.01,
    warmup: int = 100,
    seed: int = 0,
) -> Iterator[ClassifierStep]:
    """Train ``model`` in place on noisy copies of (``x0``, ``labels``); yields a ``ClassifierStep`` per step.

    AdamW with a cosine learning rate. Every batch draws fresh examples, timesteps and noise from a
    generator seeded with ``seed``, so a run is reproducible. The model is left in eval mode.
    """
    if schedule.num_timesteps != model.num_timesteps:
        raise ValueError(f"The classifier is built for T = {model.num_timesteps} timesteps, "
                         f"the schedule has T = {schedule.num_timesteps}.")  # fmt: skip
    if x0.shape[0] != labels.shape[0] or x0.shape[0] == 0:
        raise ValueError(f"Got {x0.shape[0]} examples and {labels.shape[0]} labels; they must match (and not be 0).")
    if int(labels.max()) >= model.num_classes or int(labels.min()) < 0:
        raise ValueError(f"Labels must lie between 0 and {model.num_classes - 1} for this classifier.")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    model.train()
    started = time.perf_counter()
    for step in range(steps):
        index = torch.randint(0, x0.shape[0], (batch_size,), generator=generator)
        x_t, t = noisy_batch(schedule, x0[index], generator)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr, warmup)
        logits = model(x_t, t)
        loss = F.cross_entropy(logits, labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        accuracy = (logits.argmax(1) == labels[index]).float().mean().item()
        yield ClassifierStep(step + 1, steps, loss.item(), accuracy, optimizer.param_groups[0]["lr"],
                             time.perf_counter() - started)  # fmt: skip
    model.eval()


@torch.no_grad()
def accuracy_by_noise_level(
    model: NoisyClassifier,
    x0: torch.Tensor,
    labels: torch.Tensor,
    schedule: NoiseSchedule,
    t_ranges=DEFAULT_T_RANGES,
    *,
    seed: int = 0,
    batch_size: int = 1000,
) -> list[tuple[int, int, float]]:
    """Accuracy of ``model`` on noisy copies of a held-out set, one number per t range [lo, hi).

    Every example gets one t drawn uniformly in the range and one fixed noise draw (seeded), so the
    numbers are reproducible. Ranges are given on T = 1000 and scaled to the schedule's T. The range
    (0, 1) is t = 0, where x_t is nearly the clean image (the "clean" accuracy).
    """
    T = schedule.num_timesteps
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    results = []
    for lo, hi in t_ranges:
        lo_t, hi_t = int(lo * T / 1000), max(int(lo * T / 1000) + 1, int(hi * T / 1000))
        correct = 0
        for start in range(0, x0.shape[0], batch_size):
            xb, yb = x0[start : start + batch_size], labels[start : start + batch_size]
            t = torch.randint(lo_t, hi_t, (xb.shape[0],), generator=generator)
            x_t, _ = noisy_batch(schedule, xb, generator, t)
            correct += int((model(x_t, t).argmax(1) == yb).sum())
        results.append((lo, hi, correct / max(1, x0.shape[0])))
    return results
