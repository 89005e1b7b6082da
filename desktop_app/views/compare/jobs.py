"""The Compare view's background work: three training loops, the measurements, the shipped models.

No maths here. ``CompareTrainingWorker`` drives ``core.training.train`` / ``train_gan`` / ``train_vae``
with pause / stop / save through their shared ``TrainingControl``; the functions below bundle the
calls of ``core.evaluation.compare`` that a ``CallWorker`` runs once the models are trained or loaded.
"""

from __future__ import annotations

import functools
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from core.data import TOY_DATASETS
from core.evaluation.compare import draw_samples, interpolations, measure_images, measure_points
from core.evaluation.compare import load_shipped_models as load_shipped  # noqa: F401 - the view's loader
from core.evaluation.fid_history import describe_time_to_fid, shared_threshold, shipped_fid_histories
from core.io import save_checkpoint
from core.io.checkpoint_format import METADATA_KEY, CheckpointError, read_header
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


def training_worker(
    kind: str, dataset: str, steps: int, gan_setting: str = "plain", *, resume_from=None, checkpoint_dir=None
) -> CompareTrainingWorker:
    """The worker that trains ``kind`` on the toy ``dataset`` for ``steps`` steps, one CPU thread each.

    ``checkpoint_dir``: where the run's final checkpoint (with its training state) is written, so a
    stopped run can be saved resumable. ``resume_from``: a checkpoint saved with its training state;
    the run continues it (its own settings, this view's ``steps`` as the total)."""
    extra = dict(resume_from=resume_from, checkpoint_dir=checkpoint_dir)
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
        return CompareTrainingWorker(config, train_function=train, **extra)
    if kind == "gan":
        settings = dict(GAN_SETTINGS[gan_setting][2])
        config = GANTrainConfig(batch_size=256, landscape_every=preview_every, data_limit=8192, **settings, **common)
        return CompareTrainingWorker(config, train_function=train_gan, **extra)
    if kind == "vae":
        config = VAETrainConfig(
            batch_size=256, kl_warmup_steps=max(1, steps // 4), latents_every=preview_every, data_limit=8192, **common
        )
        return CompareTrainingWorker(config, train_function=train_vae, **extra)
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


def save_models(models: dict, folder: Path, checkpoints: dict | None = None) -> list[Path]:
    """Write each trained model as ``<kind>.safetensors`` in ``folder``: a copy of its run's final
    checkpoint (``checkpoints``: kind → path, with the training state, so it can be resumed) where
    there is one, else its sampling weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, (model, schedule) in models.items():
        path = folder / f"{kind}.safetensors"
        final = (checkpoints or {}).get(kind)
        if final and Path(final).is_file():
            paths.append(Path(shutil.copyfile(final, path)))
        elif kind == "diffusion":
            paths.append(save_checkpoint(path, model, schedule=schedule, metadata={"recipe": "Compare view"}))
        else:
            paths.append(save_generative(path, model, metadata={"recipe": "Compare view"}))
    return paths


@dataclass(frozen=True)
class ResumePlan:
    """What a saved run is, read from its file's header: which column resumes it, on which toy, from which step."""

    path: Path
    kind: str  # "diffusion", "gan" or "vae"
    dataset: str  # a core.data toy name ("eight_gaussians")
    step: int


def resume_plan(path) -> ResumePlan:
    """Read a checkpoint's kind, data and step without loading it; ValueError in words when the Compare
    view cannot resume it (not a checkpoint, weights only, or not trained on a 2-D toy)."""
    path = Path(path)
    header, _ = read_header(path)  # CheckpointError (a ValueError) names the file and the problem
    try:
        info = json.loads(header.get(METADATA_KEY, "{}"))
    except ValueError:
        raise CheckpointError(path, "its description is damaged (not valid JSON).") from None
    config = info.get("train_config")
    if not isinstance(config, dict) or "training_state" not in info:
        raise ValueError(
            f"{path.name} holds only a model's weights, not a run that can be continued. "
            "Save during or after training in this view to get a resumable file."
        )
    dataset = str(config.get("dataset", ""))
    if not dataset.startswith("toy:") or dataset.removeprefix("toy:") not in TOY_DATASETS:
        raise ValueError(
            f"{path.name} was trained on {dataset or 'unknown data'}; this view continues runs on the 2-D toys."
        )
    return ResumePlan(
        path, str(info.get("model_kind", "diffusion")), dataset.removeprefix("toy:"), int(info.get("step", 0))
    )


def resume_plans(paths) -> tuple[list[ResumePlan], str]:
    """The plans of the chosen files and their common toy; ValueError when they do not go together."""
    plans = [resume_plan(p) for p in paths]
    kinds, datasets = [p.kind for p in plans], {p.dataset for p in plans}
    if not plans or len(set(kinds)) < len(kinds) or len(datasets) > 1:
        raise ValueError("choose at most one run of each kind, all trained on the same data.")
    return plans, datasets.pop()


def time_to_fid_cells(shipped: dict) -> tuple[float | None, dict[str, str]]:
    """(X, kind → "time to FID ≤ X" text) from the FID histories recorded for the shipped models."""
    histories = shipped_fid_histories({kind: meta for kind, (_, _, meta) in shipped.items()})
    threshold = shared_threshold(histories.values())  # an X all three reach, so all three can be compared
    return threshold, {kind: describe_time_to_fid(h, threshold) for kind, h in histories.items()}


def bind(function, *args, **kwargs):
    return functools.partial(function, *args, **kwargs)
