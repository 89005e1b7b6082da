"""A latent-diffusion checkpoint: a denoiser checkpoint that names its autoencoder by content hash.

The denoiser is saved as every checkpoint is (``core.io.checkpoints``); its metadata carries
``latent_diffusion``: the autoencoder's ``weights_sha256``, its file name, the scale factor the
latents were multiplied by and the pixel image shape. Loading looks for an autoencoder with that hash
(the recorded file name beside the checkpoint first, then every autoencoder in the folders given)
and refuses, in words, to go on without it: the latents mean nothing without the decoder they were
made with, and a different autoencoder (even one trained by the same recipe) decodes them to noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from core.io.autoencoder_file import load_autoencoder, read_autoencoder_metadata
from core.io.checkpoint_format import Checkpoint, CheckpointError
from core.io.checkpoints import load_checkpoint
from core.models.autoencoder import Autoencoder

LATENT_KEY = "latent_diffusion"


@dataclass
class LatentCheckpoint:
    """A latent denoiser with the autoencoder whose latents it was trained on."""

    checkpoint: Checkpoint  # the denoiser (works on scaled latents) and its schedule
    autoencoder: Autoencoder  # frozen, eval mode, CPU
    autoencoder_info: dict  # the autoencoder file's metadata
    autoencoder_path: Path

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return self.checkpoint.data_shape

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.checkpoint.metadata[LATENT_KEY]["pixel_shape"])


def latent_reference(autoencoder_info: dict, autoencoder_path: str | Path, pixel_shape) -> dict:
    """What a latent checkpoint stores about its autoencoder (under ``LATENT_KEY``)."""
    return {
        LATENT_KEY: {
            "autoencoder_sha256": autoencoder_info["weights_sha256"],
            "autoencoder_file": Path(autoencoder_path).name,
            "scale_factor": float(autoencoder_info["scale_factor"]),
            "pixel_shape": [int(s) for s in pixel_shape],
        }
    }


def is_latent_checkpoint(metadata: dict) -> bool:
    return isinstance(metadata.get(LATENT_KEY), dict)


def find_autoencoder(sha256: str, candidates: list[Path]) -> Path | None:
    """The first file among ``candidates`` that is an autoencoder with these weights (headers only)."""
    for path in candidates:
        try:
            if path.is_file() and read_autoencoder_metadata(path).get("weights_sha256") == sha256:
                return path
        except (CheckpointError, OSError):
            continue
    return None


def load_latent_checkpoint(path: str | Path, search_dirs: list[str | Path] = ()) -> LatentCheckpoint:
    """Load a latent denoiser and find its autoencoder by hash (``CheckpointError`` in words if absent)."""
    path = Path(path)
    checkpoint = load_checkpoint(path)
    ref = checkpoint.metadata.get(LATENT_KEY)
    if not isinstance(ref, dict):
        raise CheckpointError(
            path, "it is a pixel-space model, not a latent-diffusion model (it names no autoencoder)."
        )
    autoencoder, info, found = locate_autoencoder(path, ref, search_dirs, "a latent-diffusion model")
    if tuple(autoencoder.config.latent_shape) != tuple(checkpoint.data_shape):
        raise CheckpointError(
            path,
            f"its latents {list(checkpoint.data_shape)} do not match its autoencoder's {list(autoencoder.config.latent_shape)}.",
        )
    return LatentCheckpoint(checkpoint, autoencoder, info, found)


def locate_autoencoder(path: Path, ref: dict, search_dirs, what: str) -> tuple[Autoencoder, dict, Path]:
    """The autoencoder that ``ref`` (a model's ``LATENT_KEY`` entry) names by content hash, looked for beside
    ``path`` and in ``search_dirs``: (model, its metadata, its file). ``what`` names the model in the
    ``CheckpointError`` that explains a missing or mismatched one ("a text-to-image model")."""
    sha, name = ref.get("autoencoder_sha256"), ref.get("autoencoder_file")
    if not isinstance(sha, str) or not isinstance(name, str):
        raise CheckpointError(path, "its reference to an autoencoder is damaged.")
    folders = [path.parent, *(Path(d) for d in search_dirs)]
    candidates = [folder / Path(name).name for folder in folders]
    for folder in folders:
        try:
            candidates += sorted(p for p in folder.glob("*.safetensors") if p not in candidates and p != path)
        except OSError:
            continue
    found = find_autoencoder(sha, candidates)
    if found is None:
        raise CheckpointError(
            path,
            f"it is {what} that works only with the autoencoder it was trained with "
            f"('{name}', content hash {sha[:12]}…), and no file with those weights is in "
            f"{', '.join(str(f) for f in folders)}. Put that autoencoder file beside it; "
            "another autoencoder, even one trained by the same recipe, would decode its latents to noise.",
        )
    autoencoder, info = load_autoencoder(found)
    if not math.isclose(float(ref.get("scale_factor", float("nan"))), info["scale_factor"], rel_tol=1e-6):
        raise CheckpointError(path, "its latent scale factor disagrees with its autoencoder's.")
    return autoencoder, info, found
