"""Training a GAN: a generator of typed events, driven like diffusion training.

Each step updates the discriminator D on a real and a generated batch, then the generator G
(``g_steps`` times), with the losses of Goodfellow et al. 2014:

    L_D = E_x[softplus(−D(x))] + E_z[softplus(D(G(z)))]          (−log σ(D(x)) − log(1 − σ(D(G(z)))))
    L_G = E_z[softplus(−D(G(z)))]                                  (the non-saturating loss, their §3)

optionally with the R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do actually
Converge?", eq. 9): L_D += γ/2 · E_x[‖∇_x D(x)‖²] on real data, computed every step. Adam with
β₁ = 0.5 as DCGAN (Radford et al. 2016) recommends. NaN stops training with an explanation; the
control object pauses, stops and saves between steps exactly as for ``core.training.train``.

For 2-D data the loop also yields ``GANLandscape`` events: D's probability over the plane and the
image of a latent grid under G (the GAN Lab picture), so mode collapse can be watched happening.
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
import torch.nn.functional as F  # noqa: N812

from core.data import ImageDataset, PointDataset
from core.data.batches import MinibatchSampler
from core.io.generative_checkpoints import save_generative
from core.models.gan import GAN, GANConfig, sample_gan  # noqa: F401 - sample_gan re-exported
from core.models.registry import count_parameters
from core.runtime.device import describe_device, set_threads
from core.training.control import TrainingControl
from core.training.events import Finished, Preview, Started
from core.training.generative import (
    GANLandscape,
    GANStep,
    between_steps,
    check_finite,
    latent_grid,
    plane_grid,
    prepare_run,
    sample_shape,
)
from core.training.history import LossHistory

KIND = "gan"
DIVERGED_ADVICE = (
    "GAN losses blow up when the two networks' learning rates are too high or too unequal: try a "
    "smaller learning rate, spectral normalisation, or the R1 penalty."
)


@dataclass
class GANTrainConfig:
    """Every knob of a GAN run; the defaults train an MLP GAN on 8 Gaussians in seconds on a CPU."""

    dataset: str = "toy:eight_gaussians"  # a core.data spec: "toy:<name>" or "fashion_mnist"
    model: dict = field(default_factory=dict)  # GANConfig settings (arch and data shape are filled in)
    steps: int = 2000
    batch_size: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    beta1: float = 0.5  # Adam's β₁ (DCGAN: 0.5)
    beta2: float = 0.999
    r1_gamma: float = 0.0  # R1 weight γ (0: off)
    g_steps: int = 1  # generator updates per discriminator update (large values invite collapse)
    data_limit: int | None = None  # points drawn from a toy / first images of a dataset (None: default)
    seed: int = 0
    log_every: int = 10
    preview_every: int = 100  # a Preview from fixed latents every this many steps (0: none)
    preview_count: int = 512  # points (2-D) or images in a preview
    landscape_every: int = 0  # a GANLandscape every this many steps (2-D only; 0: none)
    landscape_resolution: int = 64
    checkpoint_path: str | None = None
    checkpoint_every: int = 0
    time_budget_s: float = 0.0  # stop after this many seconds (0: no limit)
    threads: int | None = None
    recipe: str | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "g_steps", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, not {value!r}.")
        for name in ("lr_g", "lr_d"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} (a learning rate) must be between 0 and 1, not {getattr(self, name)!r}.")
        if self.r1_gamma < 0:
            raise ValueError(f"The R1 weight γ must be 0 (off) or positive, not {self.r1_gamma!r}.")
        if not isinstance(self.model, dict):
            raise ValueError("model must be a table of GAN settings (see core.models.gan.GANConfig).")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GANTrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"Unknown GAN training settings: {', '.join(sorted(unknown))}.")
        return cls(**d)


def gan_config_for(config: GANTrainConfig, data) -> GANConfig:
    """The network for this data: an MLP GAN for points, a DCGAN for images (config.model overrides)."""
    settings = dict(config.model)
    if isinstance(data, ImageDataset):
        settings.setdefault("arch", "dcgan")
        settings.setdefault("latent_dim", 64)
        settings.update(channels=data.images.shape[1], image_size=data.images.shape[2])
    else:
        settings.setdefault("arch", "mlp")
        settings.update(data_dim=data.points.shape[1])
    return GANConfig.from_dict(settings)


def discriminator_loss(
    gan: GAN, real: torch.Tensor, fake: torch.Tensor, r1_gamma: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(L_D, logits on real, logits on fake, R1 value): the module docstring's L_D (+ γ/2 · R1)."""
    if r1_gamma > 0:
        real = real.detach().requires_grad_(True)
    real_logits = gan.discriminate(real)
    fake_logits = gan.discriminate(fake.detach())
    loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    r1 = torch.zeros(())
    if r1_gamma > 0:
        (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
        r1 = grad.pow(2).reshape(grad.shape[0], -1).sum(dim=1).mean()  # Mescheder et al. eq. 9
        loss = loss + 0.5 * r1_gamma * r1
    return loss, real_logits.detach(), fake_logits.detach(), r1.detach()


def generator_loss(gan: GAN, fake: torch.Tensor) -> torch.Tensor:
    """The non-saturating generator loss E_z[−log σ(D(G(z)))] (Goodfellow et al. 2014, §3)."""
    return F.softplus(-gan.discriminate(fake)).mean()


@torch.no_grad()
def gan_landscape(gan: GAN, step: int, resolution: int = 64, latent_size: int = 15) -> GANLandscape:
    """D's probability on a grid over the plane and G's image of a latent grid (2-D GANs with 2-D latents)."""
    points = plane_grid(resolution)
    prob = torch.sigmoid(gan.discriminate(points)).reshape(resolution, resolution)
    latents = latent_grid(latent_size) if gan.latent_dim == 2 else None
    if latents is None:  # a higher-dimensional latent: a grid in its first two coordinates
        flat = torch.zeros(latent_size * latent_size, gan.latent_dim)
        flat[:, :2] = latent_grid(latent_size).reshape(-1, 2)
        latents = flat.reshape(latent_size, latent_size, gan.latent_dim)
    mapped = gan.generate(latents.reshape(-1, gan.latent_dim)).reshape(latent_size, latent_size, -1)
    return GANLandscape(step, 2.5, prob.numpy(), latents[..., :2].numpy(), mapped.numpy())


def train_gan(
    config: GANTrainConfig,
    control: TrainingControl | None = None,
    *,
    resume_from: str | Path | None = None,
    data: ImageDataset | PointDataset | None = None,
    checkpoint_dir: str | Path | None = None,
) -> Iterator:
    """Train a GAN, yielding ``Started``, ``GANStep``, ``Preview``, ``GANLandscape``, ``CheckpointSaved``,
    ``Paused``/``Resumed`` and ``Finished`` (whose ``model`` is the GAN, ``schedule`` None).

    ``data`` trains on a dataset already in memory instead of ``config.dataset`` (a drawing, a test set).
    ``checkpoint_dir``: where autosaves go when ``config.checkpoint_path`` is not set (as for ``train``).
    """
    control = control or TrainingControl()
    config, resumed, data = prepare_run(KIND, config, resume_from, checkpoint_dir, data)
    set_threads(config.threads)
    is_image = isinstance(data, ImageDataset)
    torch.manual_seed(config.seed)
    gan = GAN(gan_config_for(config, data))
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(gan.generator.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(gan.discriminator.parameters(), lr=config.lr_d, betas=betas)
    generator = torch.Generator().manual_seed(config.seed + 1)
    start_step, elapsed_before, history = 0, 0.0, LossHistory()
    if resumed is not None:
        state = resumed.training_state
        gan.load_state_dict(resumed.model.state_dict())
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_step, elapsed_before = int(state["step"]), float(state["elapsed_s"])
        history = LossHistory.from_state(state["loss_history"])
    sampler = MinibatchSampler(data, config.batch_size, seed=config.seed, start_step=start_step)
    preview_n = min(config.preview_count, 64) if is_image else config.preview_count
    preview_z = gan.sample_latents(preview_n, torch.Generator().manual_seed(config.seed + 2))
    yield Started(
        config, count_parameters(gan), describe_device("cpu"), getattr(data, "name", config.dataset), len(data),
        list(data.class_names or []), sample_shape(data), start_step, history,
    )  # fmt: skip

    t0 = time.perf_counter()
    step, last = start_step, (t0, start_step)
    d_loss_value = g_loss_value = None

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - t0

    def metadata() -> dict:
        return {
            "dataset": config.dataset, "dataset_name": getattr(data, "name", config.dataset),
            "image_shape": list(sample_shape(data)), "step": step, "wall_time_s": round(elapsed(), 2),
            "device": "cpu", "train_config": config.to_dict(), "recipe": config.recipe,
            "last_d_loss": d_loss_value, "last_g_loss": g_loss_value,
        }  # fmt: skip

    def save(path: str, reason: str):
        from core.training.events import CheckpointSaved

        state = {
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "generator": generator.get_state().clone(),
            "torch_rng": torch.get_rng_state(), "step": step, "elapsed_s": elapsed(),
            "loss_history": history.to_state(),
        }  # fmt: skip
        save_generative(path, gan, metadata=metadata(), training_state=state)
        return CheckpointSaved(step, str(path), reason)

    gan.train()
    while step < config.steps:
        if config.time_budget_s and elapsed() >= config.time_budget_s:
            break
        yield from between_steps(control, step, save)
        if control.stopped:
            break
        real, _ = sampler.next_batch()
        z = torch.randn((real.shape[0], gan.latent_dim), generator=generator)
        fake = gan.generate(z)
        d_loss, real_logits, fake_logits, r1 = discriminator_loss(gan, real, fake, config.r1_gamma)
        check_finite(d_loss.detach(), step, "discriminator's loss", DIVERGED_ADVICE)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(gan.discriminator.parameters(), float("inf")))
        opt_d.step()
        gan.discriminator.requires_grad_(False)  # G's step must not move D
        for _ in range(config.g_steps):
            z = torch.randn((real.shape[0], gan.latent_dim), generator=generator)
            g_loss = generator_loss(gan, gan.generate(z))
            check_finite(g_loss.detach(), step, "generator's loss", DIVERGED_ADVICE)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        gan.discriminator.requires_grad_(True)
        step += 1
        d_loss_value, g_loss_value = float(d_loss.detach()), float(g_loss.detach())

        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            rate = (step - last[1]) * config.batch_size / max(now - last[0], 1e-9)
            last = (now, step)
            history.append(step, d_loss_value, grad_norm)
            yield GANStep(
                step, config.steps, d_loss_value, grad_norm, config.lr_d, rate, elapsed(), g_loss_value,
                float(torch.sigmoid(real_logits).mean()), float(torch.sigmoid(fake_logits).mean()), float(r1),
            )  # fmt: skip
        if config.preview_every and (step % config.preview_every == 0 or step == config.steps):
            yield Preview(step, _samples(gan, preview_z), None)
        if not is_image and config.landscape_every and (step % config.landscape_every == 0 or step == config.steps):
            yield gan_landscape(gan, step, config.landscape_resolution)
        if config.checkpoint_path and config.checkpoint_every and step % config.checkpoint_every == 0:
            yield save(config.checkpoint_path, "autosave")

    for path in control.take_save_requests():
        yield save(path, "requested")
    reason = "stopped" if control.stopped else "completed"
    final_path = None
    if config.checkpoint_path and step > start_step:
        final_path = config.checkpoint_path
        yield save(final_path, "final")
    model = copy.deepcopy(gan).eval()
    yield Finished(step, reason, elapsed(), model, None, metadata(), final_path)


@torch.no_grad()
def _samples(gan: GAN, z: torch.Tensor) -> np.ndarray:
    was_training = gan.training
    gan.eval()  # BatchNorm uses its running statistics, as sampling after training will
    out = gan.generate(z).float().numpy()
    gan.train(was_training)
    return out
