"""A small residual MLP denoiser for 2-D toy data (swiss roll, two moons, 8 Gaussians...).

The 2-D experiments of the diffusion literature (Sohl-Dickstein et al. 2015, Fig. 1; the swiss-roll
notebooks that followed DDPM) use a few fully connected layers conditioned on the timestep. Here:

    h = Linear(x)                               x ∈ ℝ^data_dim
    h = h + Block(h, emb)   (num_blocks times)  emb = MLP(sinusoidal(t)) [+ class embedding]
    out = Linear(SiLU(LayerNorm(h)))            zero-initialised, so training starts from output 0

where Block(h, emb) = Linear(SiLU(Linear(LN(h)) + W·emb)), a pre-norm residual block. Class
conditioning uses the same convention as the U-Net: ``num_classes + 1`` embedding rows, the last
being the learned "no class" entry for classifier-free guidance (Ho & Salimans 2022).

On 2 CPU threads a training step of the default model on a batch of 1,024 points takes a few
milliseconds, so a swiss roll trains in well under a minute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn

from core.models.layers import (
    broadcast_timesteps,
    check_dropout_and_prediction_type,
    class_indices,
    config_from_dict,
    timestep_embedding,
)


@dataclass
class MLPConfig:
    """Everything that defines an MLP denoiser; stored in checkpoints and rebuilt with ``MLPDenoiser(config)``."""

    data_dim: int = 2  # dimension of a data point (2 for the toy datasets)
    hidden_dim: int = 256  # width of the residual stream
    num_blocks: int = 3  # residual blocks
    time_embed_dim: int = 64  # sinusoidal features of t before the embedding MLP
    dropout: float = 0.0  # dropout inside each block
    num_classes: int = 0  # number of classes for conditioning; 0 makes an unconditional model
    prediction_type: str = "eps"  # what the network outputs: "eps", "x0" or "v"

    def __post_init__(self):
        for name, minimum in (
            ("data_dim", 1),
            ("hidden_dim", 1),
            ("num_blocks", 1),
            ("time_embed_dim", 2),
            ("num_classes", 0),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")
        self.dropout = check_dropout_and_prediction_type(self.dropout, self.prediction_type)

    def to_dict(self) -> dict:
        """JSON-ready settings; ``MLPConfig.from_dict`` reads them back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MLPConfig:
        """Rebuild a config from ``to_dict()``'s output; unknown keys or bad values raise ValueError."""
        return config_from_dict(cls, d)


class ResidualBlock(nn.Module):
    """Pre-norm residual block: h + Linear(Dropout(SiLU(Linear(LN(h)) + W·emb)))."""

    def __init__(self, dim: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, dim)
        self.emb_proj = nn.Linear(emb_dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(dim, dim)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``emb`` is the already SiLU-activated time(+class) embedding, shape (B, emb_dim)."""
        return h + self.fc2(self.dropout(F.silu(self.fc1(self.norm(h)) + self.emb_proj(emb))))


class MLPDenoiser(nn.Module):
    """ε/x_0/v-predicting MLP called as ``model(x_t, t, class_labels=None)`` with x_t of shape (B, data_dim)."""

    def __init__(self, config: MLPConfig | None = None):
        super().__init__()
        config = config if config is not None else MLPConfig()
        if not isinstance(config, MLPConfig):
            raise ValueError(f"MLPDenoiser expects an MLPConfig, not {type(config).__name__}.")
        self.config = config
        self.prediction_type = config.prediction_type
        self.num_classes = config.num_classes
        dim = config.hidden_dim

        self.time_embed = nn.Sequential(nn.Linear(config.time_embed_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        # Row num_classes is the learned "no class" embedding (classifier-free guidance).
        self.class_embed = nn.Embedding(config.num_classes + 1, dim) if config.num_classes > 0 else None
        self.input = nn.Linear(config.data_dim, dim)
        self.blocks = nn.ModuleList(ResidualBlock(dim, dim, config.dropout) for _ in range(config.num_blocks))
        self.out_norm = nn.LayerNorm(dim)
        self.output = nn.Linear(dim, config.data_dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x: torch.Tensor, t, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Predict ``prediction_type`` for noisy points ``x`` (B, data_dim) at timesteps ``t`` (B,)."""
        if not torch.is_tensor(x) or x.ndim != 2 or x.shape[1] != self.config.data_dim:
            raise ValueError(
                f"The MLP denoiser takes points shaped (batch, {self.config.data_dim}), "
                f"not {tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}."
            )
        b = x.shape[0]
        t = broadcast_timesteps(t, b, x.device)
        emb = self.time_embed(timestep_embedding(t, self.config.time_embed_dim))
        labels = class_indices(class_labels, self.num_classes, b, x.device)
        if labels is not None:
            emb = emb + self.class_embed(labels)
        emb = F.silu(emb)
        h = self.input(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.output(F.silu(self.out_norm(h)))
