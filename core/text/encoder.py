"""A tiny text encoder trained with the denoiser: token embeddings → a small Transformer → one vector per token.

Stable Diffusion's text encoder is CLIP's (Radford et al. 2021): a 12-layer Transformer whose
per-token outputs (77 × 768) are the keys and values of the U-Net's cross-attention (Rombach et al.
2022, eq. 3). Here the same shape at toy size: a learned embedding per word plus a learned position
embedding, then ``layers`` pre-norm Transformer blocks (Vaswani et al. 2017; pre-norm as in GPT-2),
with the padding masked out of self-attention. It is trained jointly with the U-Net on the diffusion
loss alone (as Imagen's ablations and LDM's own BERT-style encoder did), so it learns exactly what
the denoiser needs to tell captions apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn

from core.text.vocabulary import EncodedPrompts


@dataclass
class TextEncoderConfig:
    """Everything that defines a text encoder (stored in the checkpoint)."""

    vocab_size: int = 32  # number of tokens, <pad> and <start> included
    max_tokens: int = 12  # the longest sequence (position embeddings)
    width: int = 64  # d_model: the width of every token vector
    layers: int = 1  # Transformer blocks
    heads: int = 4  # attention heads; must divide width

    def __post_init__(self):
        for name in ("vocab_size", "max_tokens", "width", "layers", "heads"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} cannot be split into {self.heads} attention heads.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TextEncoderConfig:
        if not isinstance(d, dict) or set(d) - set(cls.__dataclass_fields__):
            raise ValueError(f"Unknown text-encoder settings: {sorted(set(d) - set(cls.__dataclass_fields__))}.")
        return cls(**d)


class _Block(nn.Module):
    """x + MHSA(LN(x)) then x + MLP(LN(x)), padding keys masked out."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        x = x + self.proj(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """``encoder(ids, mask) → (B, L, width)``: one context vector per token; padded positions are zeroed."""

    def __init__(self, config: TextEncoderConfig | None = None):
        super().__init__()
        self.config = config if config is not None else TextEncoderConfig()
        c = self.config
        self.token_embed = nn.Embedding(c.vocab_size, c.width)
        self.position_embed = nn.Parameter(torch.randn(c.max_tokens, c.width) * 0.02)
        self.blocks = nn.ModuleList(_Block(c.width, c.heads) for _ in range(c.layers))
        self.out_norm = nn.LayerNorm(c.width)
        nn.init.normal_(self.token_embed.weight, std=0.02)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if ids.ndim != 2 or ids.shape != mask.shape:
            raise ValueError("The text encoder takes token ids and a mask, both shaped (batch, tokens).")
        if ids.shape[1] > self.config.max_tokens:
            raise ValueError(f"This text encoder reads at most {self.config.max_tokens} tokens.")
        x = self.token_embed(ids) + self.position_embed[: ids.shape[1]]
        for block in self.blocks:
            x = block(x, mask)
        return self.out_norm(x) * mask[..., None]

    def encode(self, prompts: EncodedPrompts) -> torch.Tensor:
        return self(prompts.ids, prompts.mask)
