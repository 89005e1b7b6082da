"""What the GAN and VAE training loops share: their events, data, the 2-D grids they draw on, and the
cooperative pause / stop / save handling of a ``TrainingControl``.

The loops (``core.training.gan.train_gan``, ``core.training.vae.train_vae``) yield the same events as
diffusion training where the meaning is the same (``Started``, ``Preview``, ``CheckpointSaved``,
``Paused``, ``Resumed``, ``Finished``); their step events are ``StepEvent``\\ s with the extra losses
of each objective, so a loss curve that shows ``event.loss`` works for all three.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.data import ImageDataset, PointDataset, get_dataset
from core.training.control import TrainingControl
from core.training.events import CheckpointSaved, Paused, Resumed, StepEvent, TrainingDiverged, TrainingError

GRID_LIMIT = 2.5  # the toys lie in [−2, 2]²; the 2-D panels show [−2.5, 2.5]²


@dataclass
class GANStep(StepEvent):
    """``loss`` is the discriminator's loss; the generator's is ``g_loss`` (non-saturating)."""

    g_loss: float
    d_real: float  # mean D(x) = sigmoid(logit) on real data: 1 = sure it is real
    d_fake: float  # mean D(G(z)) on generated samples
    r1: float  # the R1 penalty's value (0 when off)


@dataclass
class VAEStep(StepEvent):
    """``loss`` is −ELBO per example (nats); ``recon`` = −E_q[log p(x|z)], ``kl`` = KL(q(z|x) ‖ p(z))."""

    recon: float
    kl: float


@dataclass
class GANLandscape:
    """GAN Lab's picture (Kahng et al. 2019) for a 2-D GAN: what D thinks of every point of the plane,
    and where G sends a grid of latent points."""

    step: int
    extent: float  # the heat map covers [−extent, extent]²
    d_prob: np.ndarray  # (R, R) sigmoid(D(x)) on a regular grid, row = y, column = x
    latent_grid: np.ndarray  # (L, L, latent 2) the latent points
    mapped_grid: np.ndarray  # (L, L, 2) G(latent_grid)


@dataclass
class VAELatents:
    """The VAE's encoder means of data points and its decoder's manifold (decoded latent grid)."""

    step: int
    means: np.ndarray  # (N, latent_dim) μ_φ(x) of data points
    labels: np.ndarray | None  # their labels (mixture component, class) or None
    mapped_grid: np.ndarray | None  # (L, L, 2) decoder mean of a latent grid (2-D data and latent only)


def load_data(dataset: str, limit: int | None = None) -> ImageDataset | PointDataset:
    """A dataset spec ("toy:eight_gaussians", "fashion_mnist", …) → its data, optionally only the first ``limit``."""
    if dataset.startswith("toy:"):
        return get_dataset(dataset, n=limit or 20_000)
    if dataset == "fashion_mnist":
        return get_dataset(dataset, limit=limit)
    return get_dataset(dataset)


def plane_grid(resolution: int, extent: float = GRID_LIMIT) -> torch.Tensor:
    """(R·R, 2) points of a regular grid over [−extent, extent]², x fastest (row-major image order)."""
    axis = torch.linspace(-extent, extent, resolution)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)


def latent_grid(size: int, extent: float = 2.0) -> torch.Tensor:
    """(L, L, 2) latent points spanning ±``extent`` standard deviations of N(0, I)."""
    return plane_grid(size, extent).reshape(size, size, 2)


def check_finite(value: torch.Tensor, step: int, what: str, advice: str) -> None:
    """Raise ``TrainingDiverged`` (with what to change) when ``value`` is NaN or infinite."""
    if not bool(torch.isfinite(value).all()):
        raise TrainingDiverged(
            f"The {what} became {float(value)} at step {step + 1}, so training stopped. {advice} "
            "The last saved checkpoint was not touched."
        )


def between_steps(
    control: TrainingControl, step: int, save: Callable[[str, str], CheckpointSaved]
) -> Iterator[Paused | Resumed | CheckpointSaved]:
    """Honour pause and "save now" between two optimizer steps (stop is read by the loop itself)."""
    if control.paused and not control.stopped:
        yield Paused(step)
        while control.paused and not control.stopped:
            control.wait_while_paused(0.1)
        yield Resumed(step)
    for path in control.take_save_requests():
        yield save(path, "requested")


def check_resumable(name: str, state: dict | None, metadata: dict) -> dict:
    """The stored run settings of a checkpoint to resume, or a TrainingError saying why it cannot be."""
    if not state:
        raise TrainingError(f"{name} holds only sampling weights, not a training state to resume.")
    if not isinstance(metadata.get("train_config"), dict):
        raise TrainingError(f"{name} does not record the settings it was trained with, so it cannot be resumed.")
    return metadata["train_config"]


def sample_shape(data) -> tuple[int, ...]:
    return tuple(data.images.shape[1:]) if isinstance(data, ImageDataset) else (data.points.shape[1],)


def prepare_run(kind: str, config, resume_from, checkpoint_dir, data):
    """What a GAN or VAE run starts from: ``(config, resumed, data)``.

    Resuming takes the saved run's settings, except how long and how it reports (steps, autosaves,
    previews, logging, threads), which stay the caller's; without a checkpoint path, autosaves go to
    ``checkpoint_dir``; ``data`` (a dataset in memory) replaces ``config.dataset`` when given.
    """
    import dataclasses
    from pathlib import Path

    from core.io.generative_checkpoints import load_generative

    resumed = None
    if resume_from is not None:
        resumed = load_generative(resume_from, kind, with_training_state=True)
        saved = check_resumable(Path(resume_from).name, resumed.training_state, resumed.metadata)
        keep = {"steps", "checkpoint_every", "checkpoint_path", "preview_every", "log_every", "threads"}
        config = dataclasses.replace(type(config).from_dict(saved), **{k: getattr(config, k) for k in keep})
    if config.checkpoint_path is None and checkpoint_dir is not None:
        config = dataclasses.replace(config, checkpoint_path=str(Path(checkpoint_dir) / f"{kind}_autosave.safetensors"))
    data = data if data is not None else load_data(config.dataset, config.data_limit)
    return config, resumed, data
