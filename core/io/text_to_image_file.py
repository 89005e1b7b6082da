"""A text-to-image model on disk, and ``TextToImageModel``: prompts in, a traced latent DDIM run out.

Usage (what the Latent view's prompt box does)::

    from core.io.text_to_image_file import load_text_to_image
    from core.text import PromptError

    model = load_text_to_image("resources/models/latent/shapes_text_unet.safetensors")
    model.vocabulary.words                      # the words it knows (to show the student)
    model.check_prompt("a small red circle")    # ['<start>', 'a', 'small', 'red', 'circle'] or PromptError
    for event in model.trace(["a red circle", "a blue square"], steps=50, guidance_scale=3.0, seed=0):
        if isinstance(event, TextToImageStep):  # event.z_t, .pred_z0, .decoded_x0 (B,3,32,32),
            ...                                 # .attention (B, L, 8, 8): per token, L = max_tokens
        else:                                   # TextToImageResult: .z0, .images (B, 3, 32, 32)
            ...

``trace`` is a generator, so ``EventStreamWorker`` runs it and can stop it between steps. Tokens of
``attention[i]`` are ``model.check_prompt(prompts[i])`` (``<start>`` first); padded positions get 0.

File layout (one safetensors file, checked like every checkpoint): ``unet.*`` the cross-attention
U-Net (``core.models.text_unet``), ``text.*`` the text encoder (``core.text``), both stored as the
dtype they were saved in (the shipped file: float16, loaded as float32); the header's JSON under
``"diffusion_lab"`` has ``format = "diffusion_lab.text_to_image"``, both configs, the vocabulary,
the noise schedule, per-tensor CRC-32s, ``weights_sha256`` (of the U-Net and text encoder together)
and, under ``latent_diffusion``, the autoencoder's content hash as a latent checkpoint records it
(``core.io.latent_checkpoint``): loading finds that autoencoder by hash and refuses, in words, to
go on without it. The text encoder lives in the same file, so they cannot be separated.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from core.diffusion.schedules import NoiseSchedule, make_schedule
from core.diffusion.text_to_image import TextToImageResult, TextToImageStep, trace_text_to_image
from core.io.autoencoder_file import load_autoencoder, save_autoencoder
from core.io.checkpoint_format import (
    METADATA_KEY,
    SUFFIX,
    CheckpointError,
    read_header,
    tensor_crc32,
    write_safetensors,
)
from core.io.checkpoint_validation import read_tensors, schedule_from
from core.io.latent_checkpoint import LATENT_KEY, latent_reference, locate_autoencoder
from core.io.provenance import app_version, git_commit
from core.models.autoencoder import Autoencoder, AutoencoderConfig
from core.models.text_unet import PromptDenoiser, TextUNet, TextUNetConfig
from core.text import PromptError, TextEncoder, TextEncoderConfig, Vocabulary

TEXT_TO_IMAGE_FORMAT = "diffusion_lab.text_to_image"
TEXT_TO_IMAGE_FORMAT_VERSION = 1
UNET_PREFIX, TEXT_PREFIX = "unet.", "text."
MAX_PROMPTS = 64


def _state(unet: TextUNet, text_encoder: TextEncoder) -> dict[str, torch.Tensor]:
    tensors = {UNET_PREFIX + k: v for k, v in unet.state_dict().items()}
    tensors.update({TEXT_PREFIX + k: v for k, v in text_encoder.state_dict().items()})
    return tensors


def _weights(unet: TextUNet, text_encoder: TextEncoder, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().to(dtype).contiguous() for k, v in _state(unet, text_encoder).items()}


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the stored weights (sorted names, dtype, shape, bytes): the model's identity."""
    digest = hashlib.sha256()
    for name, t in sorted(tensors.items()):
        flat = t.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()


def save_text_to_image(
    path: str | Path,
    unet: TextUNet,
    text_encoder: TextEncoder,
    vocabulary: Vocabulary,
    schedule: NoiseSchedule,
    *,
    autoencoder_info: dict,
    autoencoder_path: str | Path,
    pixel_shape,
    metadata: dict | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write the U-Net, the text encoder and their settings atomically; ``dtype=torch.float16`` halves the file."""
    path = Path(path)
    if path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    if dtype not in (torch.float32, torch.float16):
        raise ValueError("A text-to-image model is stored as float32 or float16.")
    if text_encoder.config.vocab_size != len(vocabulary) or text_encoder.config.max_tokens != vocabulary.max_tokens:
        raise ValueError("The text encoder was built for another vocabulary than the one given.")
    tensors = _weights(unet, text_encoder, dtype)
    info = dict(metadata or {})
    info.setdefault("app_version", app_version())
    info.setdefault("git_commit", git_commit())
    info.update(latent_reference(autoencoder_info, autoencoder_path, pixel_shape))
    info.update(
        format=TEXT_TO_IMAGE_FORMAT,
        format_version=TEXT_TO_IMAGE_FORMAT_VERSION,
        unet_config=unet.config.to_dict(),
        text_encoder_config=text_encoder.config.to_dict(),
        vocabulary=vocabulary.to_dict(),
        schedule=schedule.to_dict(),
        prediction_type=unet.prediction_type,
        weights_sha256=weights_sha256(tensors),
        saved_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        torch_version=torch.__version__,
        python_version=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        checksums={name: tensor_crc32(t) for name, t in tensors.items()},
    )
    return write_safetensors(path, tensors, info, "model")


def read_text_to_image_metadata(path: str | Path) -> dict:
    """The model's metadata from the header alone (``CheckpointError`` if it is not a text-to-image model)."""
    path = Path(path)
    meta, _ = read_header(path)
    return _parse(path, meta)


def is_text_to_image_file(path: str | Path) -> bool:
    try:
        read_text_to_image_metadata(path)
    except (CheckpointError, OSError):
        return False
    return True


def _parse(path: Path, meta: dict) -> dict:
    if METADATA_KEY not in meta:
        raise CheckpointError(path, "it is a safetensors file but not a Diffusion Lab model.")
    try:
        info = json.loads(meta[METADATA_KEY])
    except (ValueError, RecursionError):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not valid JSON).") from None
    if not isinstance(info, dict):
        raise CheckpointError(path, "its Diffusion Lab metadata is damaged (not a JSON object).")
    if info.get("format") != TEXT_TO_IMAGE_FORMAT:
        raise CheckpointError(path, "it is not a text-to-image model (its format says it is something else).")
    version = info.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(path, f"its format version {version!r} is damaged.")
    if version > TEXT_TO_IMAGE_FORMAT_VERSION:
        raise CheckpointError(path, f"it was written by a newer Diffusion Lab (text-to-image format {version}).")
    for key in ("unet_config", "text_encoder_config", "vocabulary", "schedule", LATENT_KEY):
        if not isinstance(info.get(key), dict):
            raise CheckpointError(path, f"its metadata has no valid '{key}'.")
    checksums = info.get("checksums")
    if not (isinstance(checksums, dict) and all(type(v) is int for v in checksums.values())):
        raise CheckpointError(path, "its metadata has no valid checksums for the stored tensors.")
    if not isinstance(info.get("weights_sha256"), str):
        raise CheckpointError(path, "its metadata has no content hash ('weights_sha256').")
    return info


@dataclass
class TextToImageModel:
    """A loaded text-to-image model: vocabulary → text encoder → cross-attention U-Net → autoencoder decoder.

    Everything is on the CPU in eval mode with gradients off. See the module docstring for usage.
    """

    unet: TextUNet
    text_encoder: TextEncoder
    vocabulary: Vocabulary
    schedule: NoiseSchedule
    autoencoder: Autoencoder
    metadata: dict
    path: Path
    autoencoder_path: Path

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.autoencoder.config.latent_shape)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, s = self.autoencoder.config.in_channels, self.autoencoder.config.image_size
        return (c, s, s)

    def check_prompt(self, text: str) -> list[str]:
        """The prompt's tokens (``<start>`` first) or ``PromptError`` saying what is wrong, in words."""
        return self.vocabulary.check(text)

    @torch.no_grad()
    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Context (P + 1, L, width) and mask (P + 1, L): the prompts, then the empty prompt (no text)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        if not prompts or len(prompts) > MAX_PROMPTS:
            raise PromptError(f"Give between 1 and {MAX_PROMPTS} prompts.")
        for p in prompts:
            self.vocabulary.check(p)
        encoded = self.vocabulary.encode([*prompts, ""], allow_empty=True)
        return self.text_encoder(encoded.ids, encoded.mask), encoded.mask

    def denoiser(self, prompts: list[str]) -> PromptDenoiser:
        """The U-Net under the denoiser contract: label i = prompt i, label len(prompts) = the empty prompt."""
        context, mask = self.encode_prompts(prompts)
        return PromptDenoiser(self.unet, context, mask)

    def start_noise(self, n: int, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(int(seed))
        return torch.randn((n, *self.latent_shape), generator=generator)

    def trace(
        self,
        prompts: list[str],
        steps: int = 50,
        guidance_scale: float = 3.0,
        seed: int = 0,
        *,
        record_attention: bool = True,
        eta: float = 0.0,
        decode_every: int = 1,
    ) -> Iterator[TextToImageStep | TextToImageResult]:
        """One image per prompt from seeded noise: a ``TextToImageStep`` per step, then ``TextToImageResult``.

        Raises ``PromptError`` (before any work) for a prompt the vocabulary cannot read.
        """
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= self.schedule.num_timesteps:
            raise ValueError(f"The number of steps must be a whole number from 1 to {self.schedule.num_timesteps}.")
        denoiser = self.denoiser(prompts)
        z_T = self.start_noise(len(prompts), seed)
        labels = torch.arange(len(prompts))
        generator = torch.Generator().manual_seed(int(seed) + 1)
        with self.unet.recording_attention(record_attention):
            yield from trace_text_to_image(
                denoiser,
                self.autoencoder.decode_scaled,
                z_T,
                self.schedule,
                steps,
                labels,
                guidance_scale=guidance_scale,
                eta=eta,
                generator=generator,
                attention=self.unet.attention_maps if record_attention else None,
                decode_every=decode_every,
            )

    @torch.no_grad()
    def generate(self, prompts: list[str], steps: int = 50, guidance_scale: float = 3.0, seed: int = 0) -> torch.Tensor:
        """Just the images (B, C, H, W) in about [−1, 1]: ``trace`` without recording or decoding each step."""
        result = None
        for event in self.trace(prompts, steps, guidance_scale, seed, record_attention=False, decode_every=steps):
            result = event
        return result.images


def load_text_to_image(path: str | Path, search_dirs: list[str | Path] = ()) -> TextToImageModel:
    """Load a text-to-image model and find its autoencoder by hash (beside it, then in ``search_dirs``)."""
    path = Path(path)
    try:
        return _load(path, search_dirs)
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - one clear error type for any damaged file
        raise CheckpointError(path, f"it is damaged or not a text-to-image model ({type(e).__name__}: {e}).") from e


def _load(path: Path, search_dirs) -> TextToImageModel:
    meta, entries = read_header(path)
    info = _parse(path, meta)
    try:
        unet_config = TextUNetConfig.from_dict(info["unet_config"])
        text_config = TextEncoderConfig.from_dict(info["text_encoder_config"])
        vocabulary = Vocabulary.from_dict(info["vocabulary"])
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"its model settings are invalid: {e}") from None
    too_big = max(unet_config.base_channels * max(unet_config.channel_mult), text_config.width) > 4096
    if too_big or text_config.vocab_size > 100_000 or text_config.max_tokens > 1024 or text_config.layers > 64:
        raise CheckpointError(path, "its settings describe an implausibly large network.")
    if text_config.vocab_size != len(vocabulary) or text_config.max_tokens != vocabulary.max_tokens:
        raise CheckpointError(path, "its text encoder does not match its vocabulary.")
    if text_config.width != unet_config.context_width:
        raise CheckpointError(path, "its text encoder's width does not match its U-Net's cross-attention.")
    schedule = schedule_from(path, info["schedule"])
    with torch.device("meta"):
        expected = _state(TextUNet(unet_config), TextEncoder(text_config))
    if set(entries) != set(expected):
        raise CheckpointError(path, "its weights do not match its settings (tensor names differ).")
    for name, t in expected.items():
        if tuple(t.shape) != entries[name].shape or entries[name].dtype not in (torch.float32, torch.float16):
            raise CheckpointError(path, f"its weights do not match its settings: '{name}' has the wrong shape or type.")
    checksums = info.pop("checksums")
    if set(checksums) != set(entries):
        raise CheckpointError(path, "it is damaged: its list of tensors does not match the tensors it contains.")
    weights = read_tensors(path, entries, sorted(entries), checksums)
    if weights_sha256(weights) != info["weights_sha256"]:
        raise CheckpointError(path, "its weights do not match the content hash it records; the file was altered.")
    for name, t in weights.items():
        if not math.isfinite(float(t.sum(dtype=torch.float64))):
            raise CheckpointError(path, f"its weights contain NaN or infinite values ('{name}').")
    unet, text_encoder = TextUNet(unet_config), TextEncoder(text_config)
    unet.load_state_dict({k[len(UNET_PREFIX) :]: v.float() for k, v in weights.items() if k.startswith(UNET_PREFIX)})
    text_encoder.load_state_dict(
        {k[len(TEXT_PREFIX) :]: v.float() for k, v in weights.items() if k.startswith(TEXT_PREFIX)}
    )
    autoencoder, autoencoder_info, autoencoder_path = locate_autoencoder(
        path, info[LATENT_KEY], search_dirs, "a text-to-image model"
    )
    if tuple(autoencoder.config.latent_shape) != (
        unet_config.in_channels,
        unet_config.image_size,
        unet_config.image_size,
    ):
        raise CheckpointError(path, "its U-Net's latents do not match its autoencoder's.")
    unet.eval().requires_grad_(False)
    text_encoder.eval().requires_grad_(False)
    return TextToImageModel(unet, text_encoder, vocabulary, schedule, autoencoder, info, path, autoencoder_path)


def make_tiny_text_to_image(folder: str | Path | None = None, *, seed: int = 0) -> Path:
    """A randomly initialised (untrained) tiny text-to-image model and its autoencoder, written to ``folder``
    (a new temporary folder if None): the path of the model. For fast app tests; it draws noise-like pictures."""
    from core.data.captions import CAPTION_WORDS  # data sits beside io's models; only this helper needs it

    folder = Path(tempfile.mkdtemp(prefix="tiny_text_to_image_")) if folder is None else Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    autoencoder = Autoencoder(AutoencoderConfig(in_channels=3, image_size=32, channels=(8, 8, 8), num_groups=4))
    ae_path = save_autoencoder(folder / "tiny_autoencoder.safetensors", autoencoder, {"dataset": "shapes (untrained)"})
    _, ae_info = load_autoencoder(ae_path)
    vocabulary = Vocabulary(CAPTION_WORDS)
    text_encoder = TextEncoder(TextEncoderConfig(vocab_size=len(vocabulary), width=16, heads=2))
    unet = TextUNet(TextUNetConfig(base_channels=8, context_width=16, attention_head_channels=8, num_groups=4))
    for p in unet.parameters():  # zero-initialised output layers would make every prediction 0: perturb them
        torch.nn.init.normal_(p, std=0.05) if p.abs().sum() == 0 else None
    return save_text_to_image(
        folder / "tiny_text_unet.safetensors",
        unet,
        text_encoder,
        vocabulary,
        make_schedule("cosine", 1000),
        autoencoder_info=ae_info,
        autoencoder_path=ae_path,
        pixel_shape=(3, 32, 32),
        metadata={"dataset": "shapes", "recipe": "make_tiny_text_to_image (untrained, for tests)"},
    )


__all__ = [
    "TEXT_TO_IMAGE_FORMAT",
    "TextToImageModel",
    "TextToImageResult",
    "TextToImageStep",
    "is_text_to_image_file",
    "load_text_to_image",
    "make_tiny_text_to_image",
    "read_text_to_image_metadata",
    "save_text_to_image",
    "weights_sha256",
]
