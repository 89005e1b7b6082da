"""A noise-conditional classifier p(c | x_t, t): what classifier guidance differentiates.

Classifier guidance (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis", §4)
adds s·∇_x log p(c | x_t) to the score of an (unconditional) diffusion model. The gradient must be
taken at the *noisy* x_t the sampler is at, so the classifier is trained on noisy inputs
x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε at random t of the diffusion model's own schedule and is told t (as the
denoisers are, through the sinusoidal timestep embedding of ``core.models.layers``). A clean-image
classifier (``core.models.classifier``) would be asked about inputs it never saw.

Two networks, one config (``NoisyClassifierConfig.arch``):

- ``"cnn"`` for images (the project's Fashion-MNIST convention: float (B, 1, 32, 32), the 28×28
  garments padded to 32; the input is x_t itself, never clamped)::

      x_t → [conv3·GN·FiLM(t)·SiLU, conv3·GN·SiLU] ×3 stages (16, 32, 64 ch), avg-pool 2 after each
          → flatten (64·4·4) → linear 128 → SiLU → linear num_classes

  FiLM (scale and shift of each channel from the timestep embedding) is ADM's scale-shift norm.
  SiLU rather than ReLU: guidance uses the input gradient, and a smooth activation gives a smooth one.
- ``"mlp"`` for 2-D points: [x_t, emb(t)] → (linear·SiLU) × depth → linear num_classes.

Weights are stored as safetensors with a JSON header (``save_noisy_classifier`` /
``load_noisy_classifier``): the config, the schedule the classifier was trained on, the class names,
its measured accuracy and the recipe. The header has no ``image_shape`` key, so the model library
never offers a classifier as a denoiser.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from core.models.layers import broadcast_timesteps, config_from_dict, timestep_embedding

METADATA_KEY = "diffusion_lab"
FILE_KIND = "noisy_classifier"


class NoisyClassifierError(ValueError):
    """A noisy-classifier file that is missing, damaged or not a noisy classifier (message names the file)."""


@dataclass
class NoisyClassifierConfig:
    """Shape of a noise-conditional classifier; stored in its weights file so the loader rebuilds it."""

    arch: str = "cnn"  # "cnn" (images) or "mlp" (2-D points)
    in_channels: int = 1  # cnn: image channels
    image_size: int = 32  # cnn: side of the square images (Fashion-MNIST padded to 32)
    data_dim: int = 2  # mlp: dimension of the points
    widths: tuple[int, ...] = (16, 32, 64)  # cnn: channels of the stages (each halves the side)
    hidden: int = 128  # width of the head (cnn) or of every hidden layer (mlp)
    depth: int = 3  # mlp: hidden layers
    time_dim: int = 64  # sinusoidal timestep features
    num_classes: int = 10
    num_timesteps: int = 1000  # T of the schedule it was trained on (t is given in [0, T))

    def __post_init__(self):
        self.widths = tuple(int(w) for w in self.widths)
        if self.arch not in ("cnn", "mlp"):
            raise ValueError(f"A noisy classifier is a 'cnn' (images) or an 'mlp' (points), not {self.arch!r}.")
        if self.num_classes < 2:
            raise ValueError(f"A classifier needs at least two classes, not {self.num_classes}.")
        if self.arch == "cnn" and self.image_size % (2 ** len(self.widths)):
            raise ValueError(f"The image side {self.image_size} must be divisible by 2^{len(self.widths)}.")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> NoisyClassifierConfig:
        return config_from_dict(cls, d)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input: (C, H, W) for images, (D,) for points."""
        if self.arch == "cnn":
            return (self.in_channels, self.image_size, self.image_size)
        return (self.data_dim,)


class _FiLMStage(nn.Module):
    """Two 3×3 convolutions with GroupNorm; the first is scaled and shifted by the timestep (ADM's FiLM)."""

    def __init__(self, channels_in: int, channels: int, emb_dim: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels, 3, padding=1)
        self.norm1 = nn.GroupNorm(min(8, channels), channels)
        self.film = nn.Linear(emb_dim, 2 * channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(min(8, channels), channels)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(emb)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(self.conv1(h)) * (1.0 + scale) + shift)
        h = F.silu(self.norm2(self.conv2(h)))
        return F.avg_pool2d(h, 2)


class NoisyClassifier(nn.Module):
    """p(c | x_t, t) as logits: ``classifier(x_t, t)`` → (B, num_classes). See the module docstring."""

    def __init__(self, config: NoisyClassifierConfig | None = None):
        super().__init__()
        self.config = config = config or NoisyClassifierConfig()
        self.num_classes = config.num_classes
        self.num_timesteps = config.num_timesteps
        self.input_shape = config.input_shape
        self.class_names: list[str] = []
        emb = config.hidden
        self.time_mlp = nn.Sequential(nn.Linear(config.time_dim, emb), nn.SiLU(), nn.Linear(emb, emb))
        if config.arch == "cnn":
            stages, channels = [], config.in_channels
            for width in config.widths:
                stages.append(_FiLMStage(channels, width, emb))
                channels = width
            self.stages = nn.ModuleList(stages)
            side = config.image_size // 2 ** len(config.widths)
            self.head = nn.Sequential(
                nn.Flatten(), nn.Linear(channels * side * side, config.hidden), nn.SiLU(),
                nn.Linear(config.hidden, config.num_classes),
            )  # fmt: skip
        else:
            layers: list[nn.Module] = [nn.Linear(config.data_dim + emb, config.hidden), nn.SiLU()]
            for _ in range(config.depth - 1):
                layers += [nn.Linear(config.hidden, config.hidden), nn.SiLU()]
            layers.append(nn.Linear(config.hidden, config.num_classes))
            self.mlp = nn.Sequential(*layers)

    def check_input(self, x_t: torch.Tensor) -> None:
        """ValueError in words when ``x_t`` is not a batch of what this classifier was trained on."""
        if not torch.is_tensor(x_t) or tuple(x_t.shape[1:]) != self.input_shape or x_t.ndim < 2:
            got = tuple(x_t.shape[1:]) if torch.is_tensor(x_t) else type(x_t).__name__
            raise ValueError(f"This classifier was trained on inputs of shape {describe_shape(self.input_shape)}; "
                             f"got {describe_shape(got) if isinstance(got, tuple) else got}.")  # fmt: skip

    def forward(self, x_t: torch.Tensor, t) -> torch.Tensor:
        self.check_input(x_t)
        t = broadcast_timesteps(t, x_t.shape[0], x_t.device)
        emb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        if self.config.arch == "mlp":
            return self.mlp(torch.cat([x_t, emb], dim=1))
        h = x_t
        for stage in self.stages:
            h = stage(h, emb)
        return self.head(h)


def describe_shape(shape: tuple[int, ...]) -> str:
    """(1, 32, 32) → '1×32×32 images', (2,) → '2-D points'."""
    if len(shape) == 1:
        return f"{shape[0]}-D points"
    return "×".join(str(s) for s in shape) + " images"


# --- files ----------------------------------------------------------------------------------------


def save_noisy_classifier(path: str | Path, model: NoisyClassifier, metadata: dict) -> Path:
    """Write ``model``'s weights and ``metadata`` (plus its config) as one safetensors file."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"kind": FILE_KIND, "config": model.config.to_dict(), "class_names": list(model.class_names), **metadata}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={METADATA_KEY: json.dumps(header)})
    tmp.chmod(0o644)  # a shipped resource: readable by everyone, like the other bundled weights
    tmp.replace(path)
    return path


def load_noisy_classifier(path: str | Path) -> NoisyClassifier:
    """Rebuild a ``NoisyClassifier`` from its file (eval mode, CPU, no gradients to its weights).

    The header is kept as ``model.metadata`` (schedule, accuracy, recipe); ``model.class_names``
    names its classes. Raises ``NoisyClassifierError`` in words for a missing or foreign file.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise NoisyClassifierError(
            f"{path}: the noisy classifier is missing; run `python scripts/train_noisy_classifier.py` to create it."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            header = json.loads((f.metadata() or {})[METADATA_KEY])
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
        raise NoisyClassifierError(
            f"{path}: not a file written by scripts/train_noisy_classifier.py ({error})."
        ) from error
    if header.get("kind") != FILE_KIND:
        raise NoisyClassifierError(f"{path}: this file holds a {header.get('kind', 'different model')}, "
                                   "not a noise-conditional classifier.")  # fmt: skip
    try:
        model = NoisyClassifier(NoisyClassifierConfig.from_dict(header["config"]))
        model.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as error:
        raise NoisyClassifierError(f"{path}: the weights do not fit the classifier they describe ({error}).") from error
    model.class_names = [str(n) for n in header.get("class_names", [])]
    model.metadata = header
    return model.eval().requires_grad_(False)
