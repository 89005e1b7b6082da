"""Training text-to-image: the text encoder and the cross-attention U-Net learn together on captioned latents.

Rombach et al. 2022, §3.3, eq. 3: L = E_{ℰ(x), y, ε, t} ‖ε − ε_θ(z_t, t, τ_θ(y))‖², with τ_θ (the text
encoder) and ε_θ optimised jointly; here the network predicts v = √ᾱ ε − √(1−ᾱ) z_0 (Salimans & Ho
2022), the same loss in another parametrisation. The images are the coloured shapes, encoded once by
the frozen autoencoder (``encode_dataset``); each step draws a fresh caption for every image from its
own parameters (``core.data.captions``: every attribute kept with probability 1 − ``omit``), and
replaces it by the empty prompt with probability ``p_uncond`` (Ho & Salimans 2022: ~10 %), which is
what classifier-free guidance needs at sampling time.

``train_text_to_image`` is a generator of events (``StepEvent`` from the pixel loop, then
``TextToImageFinished``), stops at ``steps`` or when a CPU-time budget is spent, and keeps an EMA of
both networks (the EMA weights are the ones saved).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.data.captions import CAPTION_WORDS, caption_attributes, write_caption
from core.data.shapes import draw_shape_parameters, render_shapes
from core.diffusion.forward_process import q_sample
from core.diffusion.prediction import training_target
from core.diffusion.schedules import make_schedule
from core.io.autoencoder_file import load_autoencoder
from core.io.text_to_image_file import save_text_to_image
from core.models.text_unet import TextUNet, TextUNetConfig
from core.text import TextEncoder, TextEncoderConfig, Vocabulary
from core.training.control import TrainingControl
from core.training.events import StepEvent, TrainingDiverged
from core.training.objective import update_ema

KEEP_PATTERNS = 16  # every subset of (shape, colour, size, place) a caption may keep


@dataclass
class TextToImageConfig:
    """Every knob of a text-to-image run (stored in the checkpoint)."""

    num_images: int = 20000  # coloured shapes to train on (seed ``data_seed``)
    data_seed: int = 0
    steps: int = 4000
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    ema_decay: float = 0.999
    omit: float = 0.3  # probability of leaving each attribute out of a caption
    p_uncond: float = 0.1  # probability of the empty prompt (classifier-free guidance)
    schedule: str = "cosine"
    num_timesteps: int = 1000
    seed: int = 0
    cpu_budget_s: float | None = None  # stop when this process has used this much CPU time
    log_every: int = 50
    unet: dict | None = None  # TextUNetConfig overrides
    text_encoder: dict | None = None  # TextEncoderConfig overrides (vocab_size and max_tokens are set here)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TextToImageFinished:
    step: int
    reason: str  # "completed", "budget" or "stopped"
    elapsed_s: float
    cpu_s: float
    unet: TextUNet  # EMA weights, eval mode
    text_encoder: TextEncoder
    vocabulary: Vocabulary
    checkpoint_path: Path | None


def caption_token_table(params, vocabulary: Vocabulary) -> torch.Tensor:
    """Token ids (N, 16, L) of every image's caption under each of the 16 keep patterns (bit 0 shape,
    1 colour, 2 size, 3 place): a batch's captions are then one gather, not N strings."""
    table = torch.zeros((len(params), KEEP_PATTERNS, vocabulary.max_tokens), dtype=torch.long)
    for i in range(len(params)):
        attrs = caption_attributes(params, i)
        captions = [
            write_caption(attrs, shape=bool(k & 1), color=bool(k & 2), size=bool(k & 4), place=bool(k & 8))
            for k in range(KEEP_PATTERNS)
        ]
        table[i] = vocabulary.encode(captions, allow_empty=True).ids
    return table


def learning_rate(config: TextToImageConfig, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay by ``progress`` ∈ [0, 1] (steps or budget, whichever is further)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    return config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_text_to_image(
    config: TextToImageConfig,
    autoencoder_path: str | Path,
    control: TrainingControl | None = None,
    *,
    checkpoint_path: str | Path | None = None,
    metadata: dict | None = None,
) -> Iterator[StepEvent | TextToImageFinished]:
    """Train on the autoencoder's latents of ``config.num_images`` captioned shapes; save the EMA model."""
    torch.manual_seed(config.seed)
    autoencoder, ae_info = load_autoencoder(autoencoder_path)
    params = draw_shape_parameters(config.num_images, config.data_seed, autoencoder.config.image_size)
    with torch.no_grad():
        images = render_shapes(params)
        latents = torch.cat([autoencoder.encode_scaled(images[i : i + 500]) for i in range(0, len(images), 500)])
    del images
    vocabulary = Vocabulary(CAPTION_WORDS)
    table = caption_token_table(params, vocabulary)
    pad = vocabulary.index["<pad>"]
    empty = vocabulary.encode("", allow_empty=True).ids[0]

    text_cfg = {**(config.text_encoder or {}), "vocab_size": len(vocabulary), "max_tokens": vocabulary.max_tokens}
    text_encoder = TextEncoder(TextEncoderConfig(**text_cfg))
    unet_cfg = {"in_channels": latents.shape[1], "image_size": latents.shape[-1], **(config.unet or {})}
    unet_cfg.setdefault("context_width", text_encoder.config.width)
    unet = TextUNet(TextUNetConfig(**unet_cfg))
    schedule = make_schedule(config.schedule, config.num_timesteps)
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    parameters = [*unet.parameters(), *text_encoder.parameters()]
    optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    reason, step, losses = "completed", 0, []
    for step in range(1, config.steps + 1):
        if control is not None and control.stopped:
            reason = "stopped"
            break
        cpu = time.process_time() - start_cpu
        if config.cpu_budget_s and cpu >= config.cpu_budget_s:
            reason = "budget"
            break
        progress = max(step / config.steps, cpu / config.cpu_budget_s if config.cpu_budget_s else 0.0)
        lr = learning_rate(config, step - 1, progress)
        for group in optimiser.param_groups:
            group["lr"] = lr

        index = torch.randint(0, len(latents), (config.batch_size,), generator=generator)
        keep = (torch.rand(config.batch_size, 4, generator=generator) >= config.omit).long()
        pattern = keep[:, 0] + 2 * keep[:, 1] + 4 * keep[:, 2] + 8 * keep[:, 3]
        ids = table[index, pattern]
        uncond = torch.rand(config.batch_size, generator=generator) < config.p_uncond
        ids[uncond] = empty
        mask = ids != pad
        z0 = latents[index]
        t = torch.randint(0, schedule.num_timesteps, (config.batch_size,), generator=generator)
        eps = torch.randn(z0.shape, generator=generator)
        z_t = q_sample(schedule, z0, t, eps)
        output = unet(z_t, t, text_encoder(ids, mask), mask)
        loss = (output.float() - training_target(unet.prediction_type, z0, eps, t, schedule)).pow(2).mean()
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"The loss became {float(loss)} at step {step}; lower the learning rate.")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(parameters, 1.0))
        optimiser.step()
        update_ema(ema_unet, unet, min(config.ema_decay, (1 + step) / (10 + step)))
        update_ema(ema_text, text_encoder, min(config.ema_decay, (1 + step) / (10 + step)))
        losses.append(float(loss.detach()))
        if step % config.log_every == 0 or step == config.steps:
            elapsed = time.perf_counter() - start_wall
            yield StepEvent(
                step,
                config.steps,
                sum(losses) / len(losses),
                grad_norm,
                lr,
                step * config.batch_size / elapsed,
                elapsed,
            )
            losses.clear()
    else:
        step = config.steps
    if reason != "completed":
        step -= 1
    elapsed, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    path = None
    if checkpoint_path is not None:
        info = {
            "dataset": "shapes",
            "step": step,
            "stop_reason": reason,
            "wall_time_s": round(elapsed, 1),
            "cpu_time_s": round(cpu, 1),
            "threads": torch.get_num_threads(),
            "train_config": config.to_dict(),
            **(metadata or {}),
        }
        path = save_text_to_image(
            checkpoint_path,
            ema_unet,
            ema_text,
            vocabulary,
            schedule,
            autoencoder_info=ae_info,
            autoencoder_path=autoencoder_path,
            pixel_shape=(autoencoder.config.in_channels, params.size, params.size),
            metadata=info,
            dtype=torch.float16,
        )
    yield TextToImageFinished(step, reason, elapsed, cpu, ema_unet, ema_text, vocabulary, path)


__all__ = ["TextToImageConfig", "TextToImageFinished", "caption_token_table", "train_text_to_image"]
