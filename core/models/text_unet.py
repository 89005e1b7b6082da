"""A U-Net for 8×8×4 latents whose spatial positions attend to the words of a prompt (cross-attention).

Rombach et al. 2022, §3.3 and eq. 3: conditioning enters the latent U-Net through cross-attention,

    Attention(Q, K, V) = softmax(Q Kᵀ / √d) · V,   Q = W_Q · φ(z_t),  K = W_K · τ(y),  V = W_V · τ(y),

where φ(z_t) are the U-Net's features at each spatial position (the queries) and τ(y) the text
encoder's per-token vectors (keys and values). Each row of softmax(Q Kᵀ / √d) is a distribution over
the prompt's tokens: how much each image position "reads" each word. Those rows, averaged over heads,
are the attention maps per token that prompt-to-prompt (Hertz et al. 2022) visualises; here they can be
recorded at every step (``record_attention``), and are not computed at all when recording is off
(``F.scaled_dot_product_attention`` fuses them away).

The ResNet blocks, time embedding, down- and upsampling are the image U-Net's (``core.models.unet``);
every residual branch ends in a zeroed layer (ADM), so the network starts as the identity. Layout for
8×8 latents with ``channel_mult = (1, 2)``: [res + cross] at 8×8 → down → [res + cross] at 4×4 →
middle [res + self-attention + cross + res] → the mirror image upwards with skip connections.

``PromptDenoiser`` puts a ``TextUNet`` and a batch of encoded prompts under the project's one denoiser
contract, ``model(z_t, t, class_labels)``: label ``i`` is prompt ``i``, label ``num_classes`` the empty
prompt, so ``ClassifierFreeGuidance`` and every sampler drive it unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn

from core.models.layers import broadcast_timesteps, check_dropout_and_prediction_type, timestep_embedding
from core.models.unet import Downsample, ResBlock, SelfAttention, Upsample, zero_module


@dataclass
class TextUNetConfig:
    """Everything that defines a text-conditional latent U-Net (stored in its checkpoint)."""

    in_channels: int = 4  # latent channels
    image_size: int = 8  # latent side
    base_channels: int = 32  # width of the first level
    channel_mult: tuple[int, ...] = (1, 2)  # width of each level as a multiple of base_channels
    context_width: int = 64  # width of the text encoder's token vectors
    attention_head_channels: int = 32  # channels per cross-attention head
    num_groups: int = 8  # GroupNorm groups; must divide every width
    time_embed_mult: int = 4  # time-embedding width = time_embed_mult · base_channels
    dropout: float = 0.0
    prediction_type: str = "v"  # "eps", "x0" or "v"

    def __post_init__(self):
        if isinstance(self.channel_mult, list):
            self.channel_mult = tuple(self.channel_mult)
        for name in ("in_channels", "image_size", "base_channels", "context_width", "attention_head_channels"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
        for name in ("num_groups", "time_embed_mult"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, not {value!r}.")
        if not isinstance(self.channel_mult, tuple) or not self.channel_mult:
            raise ValueError("channel_mult must be a non-empty list of positive whole numbers, e.g. (1, 2).")
        for m in self.channel_mult:
            if isinstance(m, bool) or not isinstance(m, int) or m < 1 or (m * self.base_channels) % self.num_groups:
                raise ValueError(f"every level's width must be a multiple of num_groups ({self.num_groups}).")
        if self.image_size % 2 ** (len(self.channel_mult) - 1):
            raise ValueError(f"latent side {self.image_size} cannot be halved {len(self.channel_mult) - 1} times.")
        self.dropout = check_dropout_and_prediction_type(self.dropout, self.prediction_type)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TextUNetConfig:
        if not isinstance(d, dict) or set(d) - set(cls.__dataclass_fields__):
            raise ValueError(f"Unknown text U-Net settings: {sorted(set(d) - set(cls.__dataclass_fields__))}.")
        return cls(**d)


class CrossAttention(nn.Module):
    """Spatial positions (queries) attend to text tokens (keys, values): LDM eq. 3, with a residual.

    ``mask`` (B, L) bool hides padding tokens. When ``record`` is True the attention probabilities,
    averaged over heads, are kept in ``last_maps`` as (B, L, h, w): at every position they sum to 1
    over the tokens.
    """

    def __init__(self, channels: int, context_width: int, head_channels: int, groups: int):
        super().__init__()
        self.heads = max(1, channels // head_channels)
        self.norm = nn.GroupNorm(groups, channels)
        self.to_q = nn.Conv2d(channels, channels, 1)
        self.to_kv = nn.Linear(context_width, 2 * channels)
        self.proj = zero_module(nn.Conv2d(channels, channels, 1))
        self.record = False
        self.last_maps: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        d = c // self.heads
        q = self.to_q(self.norm(x)).reshape(b, self.heads, d, h * w).transpose(-1, -2)  # (B, heads, N, d)
        k, v = self.to_kv(context).reshape(b, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)  # (B, heads, L, d)
        key_mask = mask[:, None, None, :]
        if self.record:
            scores = (q @ k.transpose(-1, -2)) * d**-0.5
            probs = scores.masked_fill(~key_mask, float("-inf")).softmax(dim=-1)  # (B, heads, N, L)
            out = probs @ v
            self.last_maps = probs.mean(dim=1).transpose(1, 2).reshape(b, -1, h, w).detach()
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class _Level(nn.Module):
    """A ResNet block followed by cross-attention (and optionally a resampling)."""

    def __init__(self, res: ResBlock, cross: CrossAttention, resample: nn.Module | None = None):
        super().__init__()
        self.res, self.cross, self.resample = res, cross, resample

    def forward(self, h, emb, context, mask):
        h = self.cross(self.res(h, emb), context, mask)
        return self.resample(h) if self.resample is not None else h


class TextUNet(nn.Module):
    """``unet(z_t, t, context, mask)``: the prediction for latents conditioned on per-token text vectors."""

    def __init__(self, config: TextUNetConfig | None = None):
        super().__init__()
        self.config = config if config is not None else TextUNetConfig()
        c = self.config
        self.prediction_type = c.prediction_type
        base = c.base_channels
        emb_dim = c.time_embed_mult * base
        widths = [m * base for m in c.channel_mult]

        def res(i: int, o: int) -> ResBlock:
            return ResBlock(i, o, emb_dim, c.dropout, c.num_groups, True)

        def cross(ch: int) -> CrossAttention:
            return CrossAttention(ch, c.context_width, c.attention_head_channels, c.num_groups)

        self.time_embed = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.input_conv = nn.Conv2d(c.in_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        skips, ch = [base], base
        for level, width in enumerate(widths):
            last = level == len(widths) - 1
            self.down.append(_Level(res(ch, width), cross(width)))
            ch = width
            skips.append(ch)
            if not last:
                self.down.append(_Level(nn.Identity(), nn.Identity(), Downsample(ch)))
                skips.append(ch)
        self.mid_res1 = res(ch, ch)
        self.mid_self = SelfAttention(ch, c.attention_head_channels, c.num_groups)
        self.mid_cross = cross(ch)
        self.mid_res2 = res(ch, ch)
        self.up = nn.ModuleList()
        for level in reversed(range(len(widths))):
            for i in range(2):
                upsample = Upsample(widths[level]) if level > 0 and i == 1 else None
                self.up.append(_Level(res(ch + skips.pop(), widths[level]), cross(widths[level]), upsample))
                ch = widths[level]
        self.out_norm = nn.GroupNorm(c.num_groups, ch)
        self.out_conv = zero_module(nn.Conv2d(ch, c.in_channels, 3, padding=1))

    def cross_attentions(self) -> dict[str, CrossAttention]:
        """Every cross-attention layer by its module name, in data-flow order."""
        return {name: m for name, m in self.named_modules() if isinstance(m, CrossAttention)}

    @contextmanager
    def recording_attention(self, on: bool = True):
        """Within the block, every forward pass keeps its attention maps (``attention_maps()`` reads them)."""
        layers = self.cross_attentions().values()
        for layer in layers:
            layer.record, layer.last_maps = on, None
        try:
            yield self
        finally:
            for layer in layers:
                layer.record = False

    def attention_maps(self, size: int | None = None) -> torch.Tensor | None:
        """The last forward pass's maps, every layer's upsampled to ``size`` (default: the latent side) and
        averaged: (B, L, size, size), summing to 1 over tokens at every position; None if not recorded."""
        maps = [m.last_maps for m in self.cross_attentions().values() if m.last_maps is not None]
        if not maps:
            return None
        size = size or self.config.image_size
        return torch.stack([F.interpolate(m, size=(size, size), mode="nearest") for m in maps]).mean(dim=0)

    def forward(self, x: torch.Tensor, t, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != self.config.in_channels:
            raise ValueError(f"The text U-Net takes latents shaped (batch, {self.config.in_channels}, h, w).")
        if context.ndim != 3 or context.shape[0] != x.shape[0] or mask.shape != context.shape[:2]:
            raise ValueError("The text context must be (batch, tokens, width) with a (batch, tokens) mask.")
        t = broadcast_timesteps(t, x.shape[0], x.device)
        emb = F.silu(self.time_embed(timestep_embedding(t, self.config.base_channels)))
        h = self.input_conv(x)
        skips = [h]
        for stage in self.down:
            h = stage.resample(h) if stage.resample is not None else stage(h, emb, context, mask)
            skips.append(h)
        h = self.mid_res1(h, emb)
        h = self.mid_cross(self.mid_self(h), context, mask)
        h = self.mid_res2(h, emb)
        for stage in self.up:
            h = stage(torch.cat([h, skips.pop()], dim=1), emb, context, mask)
        return self.out_conv(F.silu(self.out_norm(h)))


class PromptDenoiser(nn.Module):
    """A ``TextUNet`` with fixed encoded prompts under the denoiser contract ``model(z_t, t, class_labels)``.

    ``context`` (P + 1, L, width) and ``mask`` (P + 1, L) hold the P prompts then the empty prompt;
    ``class_labels[i] = j`` conditions sample i on prompt j, ``num_classes`` (= P) on the empty prompt.
    """

    def __init__(self, unet: TextUNet, context: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.unet = unet
        self.context, self.mask = context, mask
        self.num_classes = context.shape[0] - 1
        self.prediction_type = unet.prediction_type

    def forward(self, x_t: torch.Tensor, t, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        if class_labels is None:
            class_labels = torch.full((x_t.shape[0],), self.num_classes, dtype=torch.long)
        labels = class_labels.to(self.context.device)
        return self.unet(x_t, t, self.context[labels], self.mask[labels])


__all__ = ["CrossAttention", "PromptDenoiser", "TextUNet", "TextUNetConfig"]
