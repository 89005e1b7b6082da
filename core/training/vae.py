"""Training a VAE by maximising the ELBO: a generator of typed events, driven like diffusion training.

Each step draws a minibatch, one reparameterised z per example, and minimises
−ELBO = −E_q[log p(x|z)] + KL(q(z|x) ‖ N(0, I)) (Kingma & Welling 2014, eq. 10; ``core.models.vae``),
averaged over the batch, with AdamW. ``kl_warmup_steps`` weights the KL by β rising from 0 to 1 first
(Bowman et al. 2016, §3.1): without it a VAE with a flexible decoder on 8 Gaussians can settle on
"posterior collapse" (KL ≈ 0, the decoder ignores z and draws one broad Gaussian). NaN stops training with an explanation; the control object
pauses, stops and saves between steps exactly as for ``core.training.train``.

For 2-D data with a 2-D latent the loop also yields ``VAELatents``: the encoder means of data points
(coloured by mixture component) and the decoder's manifold (the decoded mean of a latent grid).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data import ImageDataset, PointDataset
from core.data.batches import MinibatchSampler
from core.io.generative_checkpoints import save_generative
from core.models.registry import count_parameters
from core.models.vae import VAE, VAEConfig, elbo_terms, sample_vae, sample_vae_noisy  # noqa: F401 - re-exported
from core.runtime.device import describe_device, set_threads
from core.training.control import TrainingControl
from core.training.events import CheckpointSaved, Finished, Preview, Started
from core.training.generative import (
    VAELatents,
    VAEStep,
    between_steps,
    check_finite,
    latent_grid,
    prepare_run,
    sample_shape,
)
from core.training.history import LossHistory

KIND = "vae"
DIVERGED_ADVICE = "Try a smaller learning rate (for example half) or keep gradient clipping on."


@dataclass
class VAETrainConfig:
    """Every knob of a VAE run; the defaults train an MLP VAE on 8 Gaussians in seconds on a CPU."""

    dataset: str = "toy:eight_gaussians"
    model: dict = field(default_factory=dict)  # VAEConfig settings (arch and data shape are filled in)
    steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 1e-3
    grad_clip: float = 1.0
    kl_warmup_steps: int = (
        0  # the KL's weight rises 0 → 1 over these steps (Bowman et al. 2016), against posterior collapse
    )
    data_limit: int | None = None
    seed: int = 0
    log_every: int = 10
    preview_every: int = 100
    preview_count: int = 512
    latents_every: int = 0  # a VAELatents every this many steps (0: none)
    checkpoint_path: str | None = None
    checkpoint_every: int = 0
    time_budget_s: float = 0.0
    threads: int | None = None
    recipe: str | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"The learning rate must be between 0 and 1, not {self.learning_rate!r}.")
        if not isinstance(self.model, dict):
            raise ValueError("model must be a table of VAE settings (see core.models.vae.VAEConfig).")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> VAETrainConfig:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"Unknown VAE training settings: {', '.join(sorted(unknown))}.")
        return cls(**d)


def vae_config_for(config: VAETrainConfig, data) -> VAEConfig:
    """An MLP VAE for points, a convolutional VAE for images (config.model overrides)."""
    settings = dict(config.model)
    if isinstance(data, ImageDataset):
        settings.setdefault("arch", "conv")
        settings.setdefault("latent_dim", 16)
        settings.update(channels=data.images.shape[1], image_size=data.images.shape[2])
    else:
        settings.setdefault("arch", "mlp")
        settings.update(data_dim=data.points.shape[1])
    return VAEConfig.from_dict(settings)


@torch.no_grad()
def vae_latents(vae: VAE, step: int, points: torch.Tensor, labels, grid_size: int = 15) -> VAELatents:
    """Encoder means of ``points`` and, for a 2-D latent and 2-D data, the decoded latent grid."""
    mu, _ = vae.encode(points)
    mapped = None
    if vae.latent_dim == 2 and vae.config.arch == "mlp":
        mapped = vae.sample(latent_grid(grid_size).reshape(-1, 2)).reshape(grid_size, grid_size, -1).numpy()
    return VAELatents(step, mu.numpy(), None if labels is None else np.asarray(labels), mapped)


def train_vae(
    config: VAETrainConfig,
    control: TrainingControl | None = None,
    *,
    resume_from: str | Path | None = None,
    data: ImageDataset | PointDataset | None = None,
    checkpoint_dir: str | Path | None = None,
) -> Iterator:
    """Train a VAE, yielding ``Started``, ``VAEStep``, ``Preview``, ``VAELatents``, ``CheckpointSaved``,
    ``Paused``/``Resumed`` and ``Finished`` (whose ``model`` is the VAE, ``schedule`` None).

    ``data`` trains on a dataset already in memory instead of ``config.dataset`` (a drawing, a test set).
    ``checkpoint_dir``: where autosaves go when ``config.checkpoint_path`` is not set (as for ``train``).
    """
    control = control or TrainingControl()
    config, resumed, data = prepare_run(KIND, config, resume_from, checkpoint_dir, data)
    set_threads(config.threads)
    is_image = isinstance(data, ImageDataset)
    torch.manual_seed(config.seed)
    vae = VAE(vae_config_for(config, data))
    optimizer = torch.optim.AdamW(vae.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed + 1)
    start_step, elapsed_before, history = 0, 0.0, LossHistory()
    if resumed is not None:
        state = resumed.training_state
        vae.load_state_dict(resumed.model.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        history = LossHistory.from_state(state["loss_history"])
    sampler = MinibatchSampler(data, config.batch_size, seed=config.seed, start_step=start_step)
    preview_n = min(config.preview_count, 64) if is_image else config.preview_count
    preview_z = torch.randn((preview_n, vae.latent_dim), generator=torch.Generator().manual_seed(config.seed + 2))
    probe = torch.Generator().manual_seed(config.seed + 3)
    probe_index = torch.randperm(len(data), generator=probe)[:1000]
    probe_x = (data.images if is_image else data.points)[probe_index]
    probe_labels = None if data.labels is None else data.labels[probe_index].numpy()
    yield Started(
        config, count_parameters(vae), describe_device("cpu"), getattr(data, "name", config.dataset), len(data),
        list(data.class_names or []), sample_shape(data), start_step, history,
    )  # fmt: skip

    t0 = time.perf_counter()
    step, last, loss_value = start_step, (t0, start_step), None

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    def metadata() -> dict:
        return {
            "dataset": config.dataset, "dataset_name": getattr(data, "name", config.dataset),
            "image_shape": list(sample_shape(data)), "step": step, "wall_time_s": round(elapsed(), 2),
            "device": "cpu", "train_config": config.to_dict(), "recipe": config.recipe, "last_loss": loss_value,
        }  # fmt: skip

    def save(path: str, reason: str) -> CheckpointSaved:
        state = {
            "optimizer": optimizer.state_dict(), "generator": generator.get_state().clone(),
            "torch_rng": torch.get_rng_state(), "step": step, "elapsed_s": elapsed(),
            "loss_history": history.to_state(),
        }  # fmt: skip
        save_generative(path, vae, metadata=metadata(), training_state=state)
        return CheckpointSaved(step, str(path), reason)

    vae.train()
    while step < config.steps:
        if config.time_budget_s and elapsed() >= config.time_budget_s:
            break
        yield from between_steps(control, step, save)
        if control.stopped:
            break
        x, _ = sampler.next_batch()
        recon, kl = elbo_terms(vae, x, generator)
        loss = (kl - recon).mean()  # −ELBO (what is reported, whatever the warm-up)
        check_finite(loss.detach(), step, "negative ELBO", DIVERGED_ADVICE)
        beta = min(1.0, (step + 1) / config.kl_warmup_steps) if config.kl_warmup_steps else 1.0
        optimizer.zero_grad(set_to_none=True)
        (beta * kl - recon).mean().backward()
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(vae.parameters(), max_norm))
        optimizer.step()
        step += 1
        loss_value = float(loss.detach())

        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            rate = (step - last[1]) * config.batch_size / max(now - last[0], 1e-9)
            last = (now, step)
            history.append(step, loss_value, grad_norm)
            yield VAEStep(
                step, config.steps, loss_value, grad_norm, config.learning_rate, rate, elapsed(),
                float(-recon.detach().mean()), float(kl.detach().mean()),
            )  # fmt: skip
        if config.preview_every and (step % config.preview_every == 0 or step == config.steps):
            with torch.no_grad():
                yield Preview(step, vae.sample(preview_z).numpy(), None)
        if config.latents_every and (step % config.latents_every == 0 or step == config.steps):
            yield vae_latents(vae, step, probe_x, probe_labels)
        if config.checkpoint_path and config.checkpoint_every and step % config.checkpoint_every == 0:
            yield save(config.checkpoint_path, "autosave")

    for path in control.take_save_requests():
        yield save(path, "requested")
    reason = "stopped" if control.stopped else "completed"
    final_path = None
    if config.checkpoint_path and step > start_step:
        final_path = config.checkpoint_path
        yield save(final_path, "final")
    yield Finished(step, reason, elapsed(), copy.deepcopy(vae).eval(), None, metadata(), final_path)
