"""Text-to-image with a loaded Stable Diffusion pipeline, run by the app's own samplers in a worker.

The worker adapts ``core.diffusion.latent.sample_latent`` (any sampler of ``SAMPLERS`` on latents,
with a per-step callback) to Qt signals; the maths is core's:

- the prompt and the negative prompt are encoded by the pipeline's text encoder
  (``core.models.stable_diffusion.encode_prompts``); the negative prompt takes the place of the
  "no class" row, so classifier-free guidance (Ho & Salimans 2022, eq. 6) pushes away from it:
  ε̃ = ε(z_t, ∅⁻) + w · (ε(z_t, c) − ε(z_t, ∅⁻));
- ``SDDenoiser`` puts the U-Net under the project's denoiser contract and ``ClassifierFreeGuidance``
  wraps it, as for every other model of the app;
- each step's prediction ẑ₀ is decoded by the autoencoder (𝒟(ẑ₀ / s), ``decode_latents``), and so
  is the latent z_t itself, so the timeline shows where the step is and where it is heading.

Every step is recorded as an ``SDFrame`` of numpy copies (the decoded pictures as float16 to halve
the memory of long runs of large images) and sent to the GUI in batches at most ``UPDATE_HZ`` times
a second. Cancel stops at the next step (the sampler raises ``SamplingCancelled``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from PySide6.QtCore import Signal, Slot
from torch import nn

from core.diffusion.guidance import ClassifierFreeGuidance
from core.diffusion.latent import LatentStep, sample_latent
from core.diffusion.samplers import SamplingCancelled
from core.models import stable_diffusion as sd
from core.runtime import set_threads
from desktop_app.views.stable_diffusion.loading import LoadedPipeline
from desktop_app.workers.base import UPDATE_INTERVAL_S, Worker


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str
    guidance_scale: float
    steps: int
    seed: int
    sampler: str
    size: int  # pixels, square
    images: int = 1
    decode_every: int = 1  # record (and decode) every n-th step and the last: decoding is costly on a CPU


@dataclass
class SDFrame:
    """One recorded step (numpy copies, safe on the GUI thread)."""

    index: int
    num_steps: int
    t: int
    z_t: np.ndarray  # float32 (B, 4, h, w): the scaled latent before the step
    decoded_z_t: np.ndarray  # float16 (B, 3, H, W): 𝒟(z_t / s), the noisy latent seen as pixels
    decoded_x0: np.ndarray  # float16 (B, 3, H, W): 𝒟(ẑ₀ / s), the x̂₀ preview


@dataclass
class SDResult:
    images: np.ndarray  # float32 (B, 3, H, W) in [−1, 1]
    seconds: float


def initial_latents(request: GenerationRequest, latent_shape: tuple[int, int, int]) -> torch.Tensor:
    """z_T ~ N(0, I) drawn on the CPU from the seed, so a seed gives the same start on every device."""
    generator = torch.Generator().manual_seed(int(request.seed))
    return torch.randn((request.images, *latent_shape), generator=generator)


class _HalfPrecision(nn.Module):
    """Runs a half-precision denoiser on float32 latents: the sampler's arithmetic stays in float32."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.prediction_type = model.prediction_type
        self.num_classes = model.num_classes

    def forward(self, x_t, t, class_labels=None):
        return self.model(x_t.half(), t, class_labels).float()


def guided_denoiser(loaded: LoadedPipeline, request: GenerationRequest) -> nn.Module:
    """The U-Net with the prompt, the negative prompt as "unconditional", and CFG at the request's scale."""
    encoded = sd.encode_prompts(loaded.pipeline, [request.prompt, request.negative_prompt])
    # encode_prompts returns [prompt, negative, ""]; the row after the prompts is the one CFG calls "no class".
    prompts = sd.EncodedPrompts([request.prompt], encoded.embeddings[:2])
    model: nn.Module = sd.SDDenoiser(loaded.pipeline, prompts)
    if loaded.dtype == torch.float16:
        model = _HalfPrecision(model)
    return ClassifierFreeGuidance(model, request.guidance_scale)


class GenerationWorker(Worker):
    """Samples one batch and records every step (module docstring).

    ``frames(list)``: new ``SDFrame`` records, batched; ``result(SDResult)``: the final images.
    """

    frames = Signal(list)
    result = Signal(object)

    def __init__(self, loaded: LoadedPipeline, request: GenerationRequest, threads: int | None = None) -> None:
        super().__init__()
        self.loaded = loaded
        self.request = request
        self.threads = threads
        self._buffer: list[SDFrame] = []
        self._last_emit = 0.0

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return sd.decode_latents(self.loaded.pipeline, z)

    def _on_step(self, step: LatentStep) -> bool:
        decoded_z_t = self._decode(step.z_t.to(self.loaded.device)).cpu()
        self._buffer.append(
            SDFrame(
                step.index,
                step.num_steps,
                step.t,
                step.z_t.numpy(),
                decoded_z_t.numpy().astype(np.float16),
                step.decoded_x0.numpy().astype(np.float16),
            )
        )
        now = time.perf_counter()
        if step.index == step.num_steps - 1 or now - self._last_emit >= UPDATE_INTERVAL_S:
            self._flush()
        return self.stop_requested

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self.frames.emit(batch)
        self._last_emit = time.perf_counter()

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            set_threads(self.threads)
            loaded, request = self.loaded, self.request
            start = time.perf_counter()
            model = guided_denoiser(loaded, request)
            z_T = initial_latents(request, sd.latent_shape(loaded.pipeline, request.size, request.size))
            generator = torch.Generator(device=loaded.device).manual_seed(int(request.seed) + 1)
            labels = torch.zeros(request.images, dtype=torch.long, device=loaded.device)
            _, images = sample_latent(
                model,
                self._decode,
                z_T.to(loaded.device),
                loaded.schedule,
                request.steps,
                sampler=request.sampler,
                cond={"class_labels": labels},
                generator=generator,
                on_step=self._on_step,
                decode_every=request.decode_every,
            )
            self._flush()
            self.result.emit(SDResult(images.float().cpu().numpy(), time.perf_counter() - start))
        except SamplingCancelled:
            self._flush()
            self.cancelled.emit()
        except Exception as error:  # reported to the user in words, never raised into Qt
            self._flush()
            self._fail(error)
        finally:
            self._finish()
