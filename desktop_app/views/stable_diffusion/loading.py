"""Loading a Stable Diffusion folder for the view: the pipeline, its schedule, and where it runs.

Runs in a ``CallWorker`` (reading a real model takes seconds). diffusers and transformers are
imported only inside ``core.models.stable_diffusion``'s functions, when a folder is loaded, so
importing this module (and the view) never loads them. ``extra_installed`` answers without
importing either package, so the view can say how to install the extra before anyone picks a folder.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from core.diffusion.schedules import NoiseSchedule
from core.models import stable_diffusion as sd
from core.runtime.device import describe_device, select_device

# diffusers' scheduler classes → the app's sampler that follows the same update (preselected).
SCHEDULER_SAMPLERS = {
    "DDIMScheduler": "ddim",
    "PNDMScheduler": "ddim",  # PLMS is not in the app; DDIM is its deterministic one-step cousin
    "DDPMScheduler": "ddpm",
    "EulerDiscreteScheduler": "euler",
    "HeunDiscreteScheduler": "heun",
    "DPMSolverMultistepScheduler": "dpmpp_2m",
    "UniPCMultistepScheduler": "unipc",
    "DEISMultistepScheduler": "deis",
}


def extra_installed() -> bool:
    """True when diffusers and transformers can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("diffusers", "transformers"))


@dataclass
class LoadedPipeline:
    """A pipeline ready to sample from, and what the view tells the user about it."""

    folder: Path
    pipeline: object  # diffusers.StableDiffusionPipeline (typed loosely: diffusers is optional)
    schedule: NoiseSchedule
    device: torch.device
    dtype: torch.dtype
    image_size: int  # the size the U-Net was trained at, in pixels
    size_step: int  # image sizes must be multiples of this (the autoencoder's downsampling factor)
    latent_channels: int
    scheduler_name: str
    default_sampler: str
    prediction_type: str

    def describe(self) -> str:
        unet = sum(p.numel() for p in self.pipeline.unet.parameters())
        precision = "half precision" if self.dtype == torch.float16 else "float32"
        return (
            f"{self.folder.name}: a {unet / 1e6:.1f}M-parameter U-Net on {self.latent_channels}-channel latents "
            f"(1/{self.size_step} of the image size), {self.schedule.num_timesteps} timesteps, predicts "
            f"{self.prediction_type}; its own scheduler is {self.scheduler_name}. Running on "
            f"{describe_device(self.device)} in {precision}."
        )


def load_folder(folder: str | Path, device: str | torch.device = "auto") -> LoadedPipeline:
    """Check and load ``folder`` (StableDiffusionError in words when it cannot be used)."""
    folder = Path(folder)
    device = select_device(device)
    # Half precision halves the memory of a real model on a GPU; the CPU computes in float32.
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    pipeline = sd.load_sd_pipeline(folder, device=device, dtype=dtype)
    try:
        schedule = sd.schedule_of(pipeline)
    except ValueError as e:  # e.g. a zero-terminal-SNR schedule (β_T = 1) the app's samplers cannot start from
        raise sd.StableDiffusionError(f"The app's samplers cannot use this pipeline's noise schedule: {e}") from None
    factor = int(pipeline.vae_scale_factor)
    channels = sd.latent_shape(pipeline, factor, factor)[0]
    scheduler_name = type(pipeline.scheduler).__name__
    prediction = pipeline.scheduler.config.get("prediction_type", "epsilon")
    return LoadedPipeline(
        folder=folder,
        pipeline=pipeline,
        schedule=schedule,
        device=device,
        dtype=dtype,
        image_size=int(pipeline.unet.config.sample_size) * factor,
        size_step=factor,
        latent_channels=channels,
        scheduler_name=scheduler_name,
        default_sampler=SCHEDULER_SAMPLERS.get(scheduler_name, "ddim"),
        prediction_type={"epsilon": "the noise ε", "v_prediction": "v", "sample": "x₀"}.get(prediction, prediction),
    )
