"""The Compare view's background work: three training loops, the measurements, the shipped models.

No maths here. ``CompareTrainingWorker`` drives ``core.training.train`` / ``train_gan`` / ``train_vae``
with pause / stop / save through their shared ``TrainingControl``; the functions below bundle the
calls of ``core.evaluation.compare`` that a ``CallWorker`` runs once the models are trained or loaded.
"""

from __future__ import annotations

import functools
from pathlib import Path

from core.evaluation.compare import draw_samples, interpolations, measure_images, measure_points
from core.evaluation.compare import load_shipped_models as load_shipped  # noqa: F401 - the view's loader
from core.io import save_checkpoint
from core.io.generative_checkpoints import save_generative
from core.training import TrainConfig, train
from core.training.gan import GANTrainConfig, train_gan
from core.training.vae import VAETrainConfig, train_vae
from desktop_app.workers import TrainingWorker

# The GAN's stability switch: (label, tooltip, GANTrainConfig settings)
GAN_SETTINGS = {
    "plain": ("Plain (non-saturating)", "Goodfellow et al. 2014's loss, Adam β₁ = 0.5", {}),
    "r1": ("R1 penalty γ = 1", "Mescheder et al. 2018: penalise D's gradient on real data", {"r1_gamma": 1.0}),
    "sn": (
        "Spectral norm in D",
        "Miyato et al. 2018: every layer of D 1-Lipschitz",
        {"model": {"spectral_norm": True}},
    ),
    "collapse": (
        "Collapse-prone (10 G steps per D step)",
        "G chases an almost fixed D (D's learning rate ÷ 10): it collapses onto one point",
        {"g_steps": 10, "lr_d": 1e-4},
    ),
}
# The diffusion MLP at the GAN's and VAE's size (72k parameters against 67k and 68k; bench_compare.py row 5)
SIZE_MATCHED = {"hidden_dim": 96, "num_blocks": 2}
MEASURE_POINTS = 2000  # samples per model in the 2-D table
MEASURE_IMAGES = 200  # samples per model in the image table (the benchmark uses more)
IMAGE_DDIM_STEPS = 20


class CompareTrainingWorker(TrainingWorker):
    """A TrainingWorker whose frequent events include the GAN's and the VAE's step events."""

    FREQUENT = ("StepEvent", "GANStep", "VAEStep", "TimestepLosses")


def training_worker(kind: str, dataset: str, steps: int, gan_setting: str = "plain") -> CompareTrainingWorker:
    """The worker that trains ``kind`` on the toy ``dataset`` for ``steps`` steps, one CPU thread each."""
    preview_every = max(25, steps // 20)
    common = dict(dataset=f"toy:{dataset}", steps=steps, log_every=5, preview_every=preview_every, threads=1)
    if kind == "diffusion":
        config = TrainConfig(
            class_conditional=False,
            batch_size=256,
            preview_count=8,
            preview_steps=20,
            model_options=SIZE_MATCHED,
            **common,
        )
        return CompareTrainingWorker(config, train_function=train)
    if kind == "gan":
        settings = dict(GAN_SETTINGS[gan_setting][2])
        config = GANTrainConfig(batch_size=256, landscape_every=preview_every, data_limit=8192, **settings, **common)
        return CompareTrainingWorker(config, train_function=train_gan)
    if kind == "vae":
        config = VAETrainConfig(
            batch_size=256, kl_warmup_steps=max(1, steps // 4), latents_every=preview_every, data_limit=8192, **common
        )
        return CompareTrainingWorker(config, train_function=train_vae)
    raise ValueError(f"Unknown kind of model {kind!r}.")


def measure_trained(
    models: dict, dataset: str, num_samples: int = MEASURE_POINTS, likelihood_points: int = 500
) -> dict:
    """kind → Measurement for the trained 2-D models (``models``: kind → (model, schedule or None))."""
    return {
        kind: measure_points(
            kind, model, dataset, schedule=schedule, n=num_samples, likelihood_points=likelihood_points
        )
        for kind, (model, schedule) in models.items()
    }


def shipped_previews(models: dict, count: int = 16, seed: int = 0) -> dict:
    """kind → (samples from fixed noise (count, 1, 32, 32), latent interpolation rows) for the image mode."""
    out = {}
    for kind, (model, schedule, _) in models.items():
        samples, _ = draw_samples(kind, model, count, schedule=schedule, steps=IMAGE_DDIM_STEPS, seed=seed)
        path = interpolations(kind, model, schedule, steps=IMAGE_DDIM_STEPS)
        out[kind] = (samples.clamp(-1, 1).numpy(), path.clamp(-1, 1).numpy())
    return out


def measure_shipped(models: dict, num_samples: int = MEASURE_IMAGES, likelihood_images: int = 50) -> dict:
    return {
        kind: measure_images(
            kind, model, schedule=schedule, n=num_samples, steps=IMAGE_DDIM_STEPS, likelihood_images=likelihood_images
        )
        for kind, (model, schedule, _) in models.items()
    }


def save_models(models: dict, folder: Path) -> list[Path]:
    """Write each trained model's sampling weights as ``<kind>.safetensors`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, (model, schedule) in models.items():
        path = folder / f"{kind}.safetensors"
        if kind == "diffusion":
            paths.append(save_checkpoint(path, model, schedule=schedule, metadata={"recipe": "Compare view"}))
        else:
            paths.append(save_generative(path, model, metadata={"recipe": "Compare view"}))
    return paths


def bind(function, *args, **kwargs):
    return functools.partial(function, *args, **kwargs)
