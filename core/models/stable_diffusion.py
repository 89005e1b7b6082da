"""Stable Diffusion from a folder on disk (optional: the ``[sd]`` extra, diffusers + transformers).

Latent diffusion (Rombach et al. 2022): the denoiser works on the 4-channel latents of an
autoencoder, conditioned on CLIP text embeddings through cross-attention. This module loads such a
pipeline from a local folder in diffusers' layout (never from a hub: ``local_files_only``) and
presents its U-Net under the project's one denoiser contract, so the app's own samplers and
classifier-free guidance drive it like any other model:

    SDDenoiser(x_t, t, class_labels)  # class_labels index the prompts; index num_classes = "" (no prompt)

diffusers and transformers are imported only inside the functions here, so nothing else in the
app (nor ``import core``) ever loads them; without the extra, loading says how to install it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from core.diffusion.schedules import NoiseSchedule, schedule_from_betas

EXTRA_HINT = 'pip install "diffusion-lab[sd]"  (it adds diffusers and transformers)'
# The parts of a diffusers Stable Diffusion folder, each with the file that describes it.
REQUIRED_PARTS = {
    "unet": "config.json",
    "vae": "config.json",
    "text_encoder": "config.json",
    "tokenizer": "tokenizer_config.json",
    "scheduler": "scheduler_config.json",
}
_PREDICTIONS = {"epsilon": "eps", "v_prediction": "v", "sample": "x0"}


class StableDiffusionError(ValueError):
    """A Stable Diffusion folder that cannot be used, or a missing extra, said in words."""


def check_sd_folder(folder: str | Path) -> dict:
    """Check that ``folder`` looks like a saved diffusers Stable Diffusion pipeline; returns model_index.json."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StableDiffusionError(f"{folder} is not a folder. Choose the folder that holds model_index.json.")
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise StableDiffusionError(
            f"{folder.name} has no model_index.json, so it is not a saved Stable Diffusion pipeline "
            "(choose the folder that contains model_index.json, unet/, vae/, text_encoder/ …)."
        )
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StableDiffusionError(f"{folder.name}/model_index.json could not be read as JSON ({e}).") from None
    name = str(index.get("_class_name", "")) if isinstance(index, dict) else ""
    if "StableDiffusion" not in name:
        raise StableDiffusionError(
            f"{folder.name} holds a '{name or 'unknown'}' pipeline, not a Stable Diffusion text-to-image one."
        )
    for part, description in REQUIRED_PARTS.items():
        if not (folder / part / description).is_file():
            raise StableDiffusionError(
                f"{folder.name} is incomplete: {part}/{description} is missing, so the {part} cannot be loaded."
            )
    return index


def _diffusers():
    try:
        import diffusers
        import transformers  # noqa: F401 - the text encoder and tokenizer come from it
    except ImportError as e:
        raise StableDiffusionError(
            f"Stable Diffusion needs the optional packages diffusers and transformers ({e.name} is missing). "
            f"Install them with: {EXTRA_HINT}"
        ) from None
    return diffusers


def load_sd_pipeline(folder: str | Path, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """The diffusers ``StableDiffusionPipeline`` saved in ``folder`` (read from disk only, no hub)."""
    check_sd_folder(folder)
    diffusers = _diffusers()
    try:
        pipeline = diffusers.StableDiffusionPipeline.from_pretrained(
            str(folder), local_files_only=True, safety_checker=None, requires_safety_checker=False, torch_dtype=dtype
        )
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise StableDiffusionError(f"The pipeline in {Path(folder).name} could not be loaded: {e}") from None
    pipeline.set_progress_bar_config(disable=True)
    return pipeline.to(device)


def schedule_of(pipeline) -> NoiseSchedule:
    """The pipeline's noise schedule as a ``NoiseSchedule`` (its β_t), so the project's samplers apply."""
    betas = getattr(pipeline.scheduler, "betas", None)
    if betas is None:
        raise StableDiffusionError(
            f"The pipeline's scheduler ({type(pipeline.scheduler).__name__}) has no discrete β schedule, "
            "so the app's samplers cannot run it."
        )
    config = pipeline.scheduler.config
    return schedule_from_betas(betas.double().numpy(), kind=str(config.get("beta_schedule", "custom")))


@dataclass
class EncodedPrompts:
    """CLIP embeddings of the prompts followed by the empty prompt (the "no class" row)."""

    prompts: list[str]
    embeddings: torch.Tensor  # (len(prompts) + 1, tokens, width)


@torch.no_grad()
def encode_prompts(pipeline, prompts: list[str]) -> EncodedPrompts:
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise StableDiffusionError("Give at least one prompt (text) to generate from.")
    tokenizer, encoder = pipeline.tokenizer, pipeline.text_encoder
    tokens = tokenizer(
        [*prompts, ""],
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    )
    embeddings = encoder(tokens.input_ids.to(encoder.device))[0]
    return EncodedPrompts(list(prompts), embeddings)


class SDDenoiser(nn.Module):
    """The pipeline's U-Net under the project's denoiser contract (``model(x_t, t, class_labels)``).

    ``class_labels[i]`` picks prompt ``i`` for sample ``i``; ``num_classes`` (= the number of prompts)
    picks the empty prompt, which is what classifier-free guidance uses as "unconditional".
    """

    def __init__(self, pipeline, prompts: EncodedPrompts):
        super().__init__()
        self.unet = pipeline.unet
        self.embeddings = prompts.embeddings
        self.num_classes = len(prompts.prompts)
        prediction = pipeline.scheduler.config.get("prediction_type", "epsilon")
        if prediction not in _PREDICTIONS:
            raise StableDiffusionError(f"This pipeline predicts '{prediction}', which the app does not know.")
        self.prediction_type = _PREDICTIONS[prediction]

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if class_labels is None:
            class_labels = torch.full((x_t.shape[0],), self.num_classes, dtype=torch.long)
        context = self.embeddings[class_labels.to(self.embeddings.device)].to(x_t.dtype)
        t = torch.as_tensor(t, device=x_t.device).expand(x_t.shape[0])
        return self.unet(x_t, t, encoder_hidden_states=context).sample


def latent_shape(pipeline, height: int, width: int) -> tuple[int, int, int]:
    """(channels, h, w) of the latents of an image of ``height`` × ``width`` pixels."""
    factor = pipeline.vae_scale_factor
    if height % factor or width % factor:
        raise StableDiffusionError(f"Image sizes must be multiples of {factor} for this model.")
    return (pipeline.unet.config.in_channels, height // factor, width // factor)


@torch.no_grad()
def decode_latents(pipeline, latents: torch.Tensor) -> torch.Tensor:
    """Latents → images in [−1, 1] (B, 3, H, W) through the autoencoder's decoder."""
    vae = pipeline.vae
    return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor).sample.clamp(-1, 1).float()


__all__ = [
    "EXTRA_HINT",
    "EncodedPrompts",
    "SDDenoiser",
    "StableDiffusionError",
    "check_sd_folder",
    "decode_latents",
    "encode_prompts",
    "latent_shape",
    "load_sd_pipeline",
    "schedule_of",
]
