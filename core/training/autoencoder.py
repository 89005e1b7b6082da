"""Training the KL-regularised autoencoder of latent diffusion: a generator of events, like ``train``.

Objective (Rombach et al. 2022, §3.1, the "KL-reg." autoencoder without its perceptual and GAN
terms, which a 32×32 classroom model does not need):

    L = |x − 𝒟(z)|₁ + β · KL(q(z|x) ‖ N(0, I)),   z ~ q(z|x) = N(μ(x), σ²(x))

with both terms averaged per element (pixels, latent elements) and a small β (``kl_weight``).
At the end the scale factor 1/std(μ) is measured on the training images (SD §4.3.2) and stored in the
model; the reconstruction error (mean squared error per pixel, and PSNR) is measured on held-out images.

``train_autoencoder(config, control)`` yields ``AutoencoderStarted``, ``AutoencoderStep``,
``AutoencoderPreview`` (a few held-out images and their reconstructions), ``CheckpointSaved``,
``Paused``/``Resumed`` and ``AutoencoderFinished``; pausing, stopping and "save now" use the same
``TrainingControl`` as the diffusion loop.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.data import get_dataset
from core.data.fashion_mnist import load_fashion_mnist
from core.data.shapes import make_shapes
from core.io.autoencoder_file import save_autoencoder
from core.models.autoencoder import Autoencoder, AutoencoderConfig, kl_to_standard_normal, measure_scale_factor
from core.runtime.device import set_threads
from core.training.control import TrainingControl
from core.training.events import CheckpointSaved, Paused, Resumed, TrainingDiverged


@dataclass
class AutoencoderTrainConfig:
    """Every setting of an autoencoder run; the defaults are the shipped shapes recipe."""

    dataset: str = "shapes"  # "shapes" or "fashion_mnist" (padded to 32×32)
    dataset_options: dict = field(default_factory=dict)  # extra keyword arguments for the dataset loader
    model_options: dict = field(default_factory=dict)  # overrides of AutoencoderConfig (channels, latent_channels…)
    kl_weight: float = 1e-4  # β: small, so the latent stays detailed (LDM's "KL-reg." autoencoder)
    learning_rate: float = 2e-3  # AdamW peak, cosine decay to 10 %
    warmup_steps: int = 50
    batch_size: int = 32
    steps: int = 3000
    time_budget_s: float | None = None  # stop after this much training time (wall clock)
    cpu_budget_s: float | None = None  # stop after this much CPU time of this process (all its threads)
    seed: int = 0
    threads: int | None = None
    log_every: int = 10
    preview_every: int = 200  # show held-out reconstructions every this many steps (0: never)
    preview_count: int = 8
    held_out_count: int = 512  # images the reconstruction error is measured on
    checkpoint_path: str | None = None  # where the final model is written (None: not written)
    recipe: str = ""

    def __post_init__(self):
        if self.dataset not in ("shapes", "fashion_mnist"):
            raise ValueError(f"The autoencoder trains on 'shapes' or 'fashion_mnist', not {self.dataset!r}.")
        for name in ("batch_size", "steps", "log_every", "preview_count", "held_out_count"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1.")
        if not 0 < float(self.learning_rate) < 1:
            raise ValueError(f"The learning rate should be a small positive number, not {self.learning_rate}.")
        if not 0 <= float(self.kl_weight) < 1:
            raise ValueError(f"The KL weight should be a small number ≥ 0 such as 1e-4, not {self.kl_weight}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class AutoencoderStarted:
    config: AutoencoderTrainConfig
    num_parameters: int
    dataset_size: int
    image_shape: tuple[int, int, int]
    latent_shape: tuple[int, int, int]


@dataclass
class AutoencoderStep:
    step: int
    total_steps: int
    loss: float  # the objective: L1 + β·KL
    reconstruction_l1: float  # mean |x − x̃| per pixel
    kl: float  # KL per latent element
    images_per_s: float
    elapsed_s: float


@dataclass
class AutoencoderPreview:
    step: int
    images: np.ndarray  # (N, C, H, W) held-out originals in [−1, 1]
    reconstructions: np.ndarray  # (N, C, H, W) 𝒟(μ(x))


@dataclass
class AutoencoderFinished:
    step: int
    reason: str  # "completed" or "stopped"
    elapsed_s: float
    model: Autoencoder  # CPU, eval mode, scale factor measured
    metadata: dict  # what is stored in the file: scale factor, reconstruction error, recipe…
    checkpoint_path: str | None


def training_images(config: AutoencoderTrainConfig) -> torch.Tensor:
    return get_dataset(config.dataset, **config.dataset_options).images


def held_out_images(config: AutoencoderTrainConfig) -> torch.Tensor:
    """Images the model never trained on: shapes from another seed, or Fashion-MNIST's test split."""
    n = config.held_out_count
    if config.dataset == "shapes":
        size = int(config.dataset_options.get("size", 32))
        return make_shapes(n, seed=int(config.dataset_options.get("seed", 0)) + 10_000, size=size).images
    return load_fashion_mnist("test", pad_to=32, limit=n).images


@torch.no_grad()
def reconstruction_error(model: Autoencoder, images: torch.Tensor, batch_size: int = 256) -> dict:
    """Mean squared error per pixel of 𝒟(μ(x)) against x (pixels in [−1, 1]) and its PSNR in dB (peak 2)."""
    total, count = 0.0, 0
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        x_rec = model.decode(model.encode(x).mode())
        total += float((x_rec - x).pow(2).sum(dtype=torch.float64))
        count += x.numel()
    mse = total / count
    return {"mse": mse, "psnr_db": 10.0 * math.log10(4.0 / mse) if mse > 0 else float("inf")}


def _lr_at(config: AutoencoderTrainConfig, step: int, elapsed: float, cpu: float) -> float:
    """Linear warm-up, then cosine decay to 10 % by steps or by a time budget, whichever is furthest."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    if config.time_budget_s:
        progress = max(progress, elapsed / config.time_budget_s)
    if config.cpu_budget_s:
        progress = max(progress, cpu / config.cpu_budget_s)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def train_autoencoder(
    config: AutoencoderTrainConfig, control: TrainingControl | None = None
) -> Iterator[
    AutoencoderStarted | AutoencoderStep | AutoencoderPreview | CheckpointSaved | Paused | Resumed | AutoencoderFinished
]:
    """Train an autoencoder on the CPU, yielding events (see the module docstring)."""
    control = control or TrainingControl()
    set_threads(config.threads)
    images = training_images(config)
    held_out = held_out_images(config)
    torch.manual_seed(config.seed)
    model_config = AutoencoderConfig.from_dict(
        {"in_channels": images.shape[1], "image_size": images.shape[-1], **config.model_options}
    )
    model = Autoencoder(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed + 1)
    preview = held_out[: config.preview_count]
    yield AutoencoderStarted(
        config,
        sum(p.numel() for p in model.parameters()),
        len(images),
        tuple(images.shape[1:]),
        model_config.latent_shape,
    )

    t0, cpu0 = time.perf_counter(), time.process_time()
    last_time, last_step = t0, 0
    step = 0
    order = torch.randperm(len(images), generator=generator)
    cursor = 0

    def metadata(elapsed: float, finished_model: Autoencoder) -> dict:
        error = reconstruction_error(finished_model, held_out)
        return {
            "kind": "autoencoder",
            "dataset": config.dataset,
            "image_shape": list(images.shape[1:]),
            "latent_shape": list(model_config.latent_shape),
            "step": step,
            "wall_time_s": round(elapsed, 1),
            "cpu_time_s": round(time.process_time() - cpu0, 1),
            "held_out_mse": error["mse"],
            "held_out_psnr_db": error["psnr_db"],
            "held_out_count": len(held_out),
            "train_config": config.to_dict(),
            "recipe": config.recipe,
        }

    def snapshot() -> Autoencoder:
        frozen = copy.deepcopy(model).eval().requires_grad_(False)
        frozen.scale_factor.fill_(measure_scale_factor(frozen, images[:2048]))
        return frozen

    model.train()
    while step < config.steps:
        if config.time_budget_s and time.perf_counter() - t0 >= config.time_budget_s:
            break
        if config.cpu_budget_s and time.process_time() - cpu0 >= config.cpu_budget_s:
            break
        if control.paused and not control.stopped:
            yield Paused(step)
            while control.paused and not control.stopped:
                control.wait_while_paused(0.1)
            yield Resumed(step)
        for path in control.take_save_requests():
            frozen = snapshot()
            written = save_autoencoder(path, frozen, metadata(time.perf_counter() - t0, frozen))
            yield CheckpointSaved(step, str(written), "requested")
        if control.stopped:
            break
        if cursor + config.batch_size > len(images):
            order, cursor = torch.randperm(len(images), generator=generator), 0
        x = images[order[cursor : cursor + config.batch_size]]
        cursor += config.batch_size

        reconstruction, posterior = model(x, generator)
        l1 = (reconstruction - x).abs().mean()
        kl = kl_to_standard_normal(posterior).mean() / math.prod(model_config.latent_shape)  # per latent element
        loss = l1 + config.kl_weight * kl
        if not bool(torch.isfinite(loss)):
            raise TrainingDiverged(
                f"The autoencoder's loss became {float(loss)} at step {step + 1}; try a smaller learning rate."
            )
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(config, step, time.perf_counter() - t0, time.process_time() - cpu0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1

        if step % config.log_every == 0 or step == config.steps:
            now = time.perf_counter()
            rate = (step - last_step) * config.batch_size / max(now - last_time, 1e-9)
            last_time, last_step = now, step
            yield AutoencoderStep(step, config.steps, loss.item(), l1.item(), kl.item(), rate, now - t0)
        if config.preview_every and (step % config.preview_every == 0 or step == config.steps):
            model.eval()
            with torch.no_grad():
                rec = model.decode(model.encode(preview).mode())
            model.train()
            yield AutoencoderPreview(step, preview.numpy().copy(), rec.numpy())

    elapsed = time.perf_counter() - t0
    final = snapshot()
    info = metadata(elapsed, final)
    info["scale_factor"] = float(final.scale_factor)
    path = None
    if config.checkpoint_path and step > 0:
        path = str(save_autoencoder(config.checkpoint_path, final, info))
        yield CheckpointSaved(step, path, "final")
    reason = "completed" if step >= config.steps or not control.stopped else "stopped"
    yield AutoencoderFinished(step, reason, elapsed, final, info, path)


def autoencoder_file_name(dataset: str) -> str:
    return {"shapes": "shapes_autoencoder.safetensors", "fashion_mnist": "fmnist_autoencoder.safetensors"}[dataset]


def latent_models_dir(root: str | Path) -> Path:
    """Where the latent-diffusion files live under a models folder (apart from the Generate view's list)."""
    return Path(root) / "latent"
