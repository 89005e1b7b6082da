"""The U-Net denoiser for images, after DDPM and ADM, kept lean so it trains on a laptop CPU.

Architecture (Ho et al. 2020, Appendix B; Dhariwal & Nichol 2021, "Diffusion Models Beat GANs", §3):

- the timestep goes through a sinusoidal embedding and a two-layer MLP; an optional class
  embedding (``num_classes + 1`` rows, the last being the learned "no class" entry that
  classifier-free guidance needs, Ho & Salimans 2022) is added to it;
- an encoder of levels at halving resolution, each ``num_res_blocks`` ResNet blocks (GroupNorm,
  SiLU, 3×3 conv, time embedding injected by ADM's scale-shift norm GN(h)·(1 + s) + b);
- self-attention (``F.scaled_dot_product_attention``) at the feature-map sides listed in
  ``attention_resolutions`` and in the bottleneck;
- a decoder that mirrors the encoder with ``num_res_blocks + 1`` blocks per level, each taking one
  skip connection from the encoder (concatenated channels), as in ADM;
- the last conv and every residual branch's last conv start at zero (ADM's ``zero_module``), so
  each block starts as the identity and the network starts by predicting 0; this speeds early
  training noticeably.

Speed on a CPU, measured with ``benchmarks/bench_unet_training.py`` on this project's 2-core AMD EPYC
(Zen 3: AVX2, no AVX-512-BF16/AMX), torch 2.13: training step (forward + backward + AdamW), batch 64,
1×32×32, 10 classes. The machine was shared with a training run, so the steadiest figure is images
per CPU-second with 1 thread (the speed an idle core gives); diffusers' ``UNet2DModel`` in the
(c, 2c, 2c) shape of its examples with the closest parameter count is the reference:

======= ======= ========== ============= ================= ================ ===============
preset  params  GFLOP/img  fp32 (img/s)  channels_last     bf16 autocast    diffusers fp32
======= ======= ========== ============= ================= ================ ===============
tiny    0.33M   0.09       95–108        119–129           11               85–89 (0.29M)
small   1.80M   0.37       40–44         44                2.8              21 (1.78M)
base    7.17M   1.38       13.4          13.5              not measured     5.8 (7.24M)
======= ======= ========== ============= ================= ================ ===============

- bf16 autocast is 8–14× *slower* here: this CPU has no bf16 instructions, so oneDNN's bf16
  convolutions are emulated. ``DEFAULT_CPU_AUTOCAST`` is therefore False (enable it only on CPUs
  with AVX-512-BF16 or AMX, after measuring).
- channels_last gave +10–25% for "tiny" and nothing measurable for "small" and "base";
  it also makes the conv weights non-contiguous (safetensors refuses those), so the default stays
  the contiguous format (``DEFAULT_MEMORY_FORMAT``).
- Against diffusers at the same parameter count: about 2× for "small", 2.3× for "base", only
  1.1–1.4× for "tiny" (at 0.3M parameters the step is bound by memory traffic and per-layer
  overhead, not by FLOPs). With 2 threads on the busy machine: 1.2×, 1.4–1.8× and 1.6–1.7×.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias
from torch import nn
from torch.utils.checkpoint import checkpoint

from core.models.layers import (
    broadcast_timesteps,
    check_dropout_and_prediction_type,
    class_indices,
    config_from_dict,
    timestep_embedding,
)

# What measured fastest for CPU training on this project's reference machine (see the module docstring).
DEFAULT_MEMORY_FORMAT = torch.contiguous_format
DEFAULT_CPU_AUTOCAST = False


@dataclass
class UNetConfig:
    """Everything that defines a U-Net; stored in checkpoints and rebuilt with ``UNet(config)``.

    The defaults are the "small" preset for 1-channel 32×32 images.
    """

    in_channels: int = 1  # image channels: 1 for grayscale, 3 for RGB
    out_channels: int | None = None  # channels the network predicts; None means the same as in_channels
    image_size: int = 32  # side of the training images; decides which levels get attention
    base_channels: int = 24  # width of the first level (ADM's model_channels)
    channel_mult: tuple[int, ...] = (1, 2, 2, 4)  # width of each level as a multiple of base_channels
    num_res_blocks: int = 1  # ResNet blocks per encoder level (the decoder has one more per level)
    attention_resolutions: tuple[int, ...] = (16, 8)  # feature-map sides with self-attention; others are ignored
    attention_head_channels: int = 32  # channels per attention head (ADM's num_head_channels)
    mid_attention: bool = True  # self-attention in the bottleneck between its two ResNet blocks
    dropout: float = 0.0  # dropout inside ResNet blocks (DDPM used 0.1 on CIFAR-10)
    num_groups: int = 8  # GroupNorm groups; must divide every level's width
    scale_shift_norm: bool = True  # ADM's GN(h)·(1 + scale) + shift; False adds the embedding (DDPM)
    time_embed_mult: int = 4  # time-embedding width = time_embed_mult · base_channels (DDPM: 4)
    num_classes: int = 0  # number of classes for conditioning; 0 makes an unconditional model
    prediction_type: str = "eps"  # what the network outputs: "eps", "x0" or "v"
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~30% slower

    def __post_init__(self):
        if isinstance(self.channel_mult, list):
            self.channel_mult = tuple(self.channel_mult)
        if isinstance(self.attention_resolutions, list):
            self.attention_resolutions = tuple(self.attention_resolutions)
        _check_int("in_channels", self.in_channels, 1)
        if self.out_channels is not None:
            _check_int("out_channels", self.out_channels, 1)
        _check_int("image_size", self.image_size, 1)
        _check_int("base_channels", self.base_channels, 1)
        if not isinstance(self.channel_mult, tuple) or not self.channel_mult:
            raise ValueError("channel_mult must be a non-empty list of positive whole numbers, e.g. (1, 2, 2).")
        for m in self.channel_mult:
            _check_int("each channel_mult entry", m, 1)
        _check_int("num_res_blocks", self.num_res_blocks, 1)
        if not isinstance(self.attention_resolutions, tuple):
            raise ValueError("attention_resolutions must be a list of feature-map sides, e.g. (16, 8).")
        for r in self.attention_resolutions:
            _check_int("each attention resolution", r, 1)
        _check_int("attention_head_channels", self.attention_head_channels, 1)
        _check_int("num_groups", self.num_groups, 1)
        _check_int("time_embed_mult", self.time_embed_mult, 1)
        _check_int("num_classes", self.num_classes, 0)
        for name in ("mid_attention", "scale_shift_norm", "gradient_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, not {getattr(self, name)!r}.")
        self.dropout = check_dropout_and_prediction_type(self.dropout, self.prediction_type)
        factor = 2 ** (len(self.channel_mult) - 1)
        if self.image_size % factor:
            raise ValueError(
                f"image_size {self.image_size} cannot be halved {len(self.channel_mult) - 1} times; "
                f"with {len(self.channel_mult)} levels it must be a multiple of {factor}."
            )
        for m in self.channel_mult:
            width = m * self.base_channels
            if width % self.num_groups:
                raise ValueError(
                    f"A level of width {width} channels cannot be split into {self.num_groups} GroupNorm groups; "
                    "choose num_groups dividing base_channels × every channel_mult."
                )
            heads = max(1, width // self.attention_head_channels)
            if width % heads:
                raise ValueError(
                    f"A level of width {width} channels cannot be split into {heads} attention heads; "
                    "choose attention_head_channels dividing every level's width."
                )

    @property
    def levels(self) -> int:
        return len(self.channel_mult)

    @property
    def resolution_divisor(self) -> int:
        """Image sides must be multiples of this so every level can be halved exactly."""
        return 2 ** (self.levels - 1)

    def to_dict(self) -> dict:
        """JSON-ready settings (tuples as lists); ``UNetConfig.from_dict`` reads them back."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> UNetConfig:
        """Rebuild a config from ``to_dict()``'s output; unknown keys or bad values raise ValueError."""
        return config_from_dict(cls, d)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, not {value!r}.")


# Presets for 32×32 images (parameter counts for 1 channel and 10 classes; printed by
# benchmarks/bench_unet_training.py and checked by tests/test_unet.py). All have four levels
# (32 → 16 → 8 → 4, as DDPM's CIFAR-10 model) and put their widest layers at the low resolutions,
# where a parameter costs 16-64× fewer FLOPs than at 32×32: at the same parameter count they need
# about half the FLOPs of the (c, 2c, 2c) shape of diffusers' examples, which is what makes them
# train about twice as fast on a CPU.
UNET_PRESETS: dict[str, dict] = {
    # 0.34M parameters, 0.09 GFLOP per image: a quick demo model.
    "tiny": dict(base_channels=16, channel_mult=(1, 1, 2, 2), num_res_blocks=1, attention_resolutions=(16, 8)),
    # 1.8M parameters, 0.37 GFLOP per image.
    "small": dict(base_channels=24, channel_mult=(1, 2, 2, 4), num_res_blocks=1, attention_resolutions=(16, 8)),
    # 7.2M parameters, 1.4 GFLOP per image: for instructors who pretrain on a stronger machine.
    "base": dict(base_channels=48, channel_mult=(1, 2, 2, 4), num_res_blocks=1, attention_resolutions=(16, 8)),
}


def preset_config(name: str, **overrides) -> UNetConfig:
    """The ``UNetConfig`` of preset ``name`` ("tiny", "small" or "base") with ``overrides`` applied."""
    if name not in UNET_PRESETS:
        raise ValueError(f"Unknown U-Net preset '{name}'. Choose one of: {', '.join(UNET_PRESETS)}.")
    return UNetConfig.from_dict({**UNET_PRESETS[name], **overrides})


# --- building blocks ----------------------------------------------------------------------------


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a layer's parameters (ADM): a residual branch ending in it starts as the identity."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GN → SiLU → conv3×3 → GN with time/class conditioning → SiLU → dropout → conv3×3, plus the skip.

    With ``scale_shift_norm`` the embedding gives a per-channel scale and shift applied after the
    second GroupNorm (ADM §3, "adaptive group normalisation"); otherwise it is added before it (DDPM).
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float, groups: int, scale_shift: bool):
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_ch if scale_shift else out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_module(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``emb`` is the already SiLU-activated time(+class) embedding, shape (B, emb_dim)."""
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.emb_proj(emb)[:, :, None, None].to(h.dtype)
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H·W positions of a feature map, with a residual connection."""

    def __init__(self, channels: int, head_channels: int, groups: int):
        super().__init__()
        self.num_heads = max(1, channels // head_channels)
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = zero_module(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # (B, 3, heads, head_dim, N) → q, k, v as (B, heads, N, head_dim)
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q kᵀ / √d) v
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halve the resolution with a stride-2 3×3 conv (DDPM)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour upsampling then a 3×3 conv (DDPM)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Stage(nn.Module):
    """One step of the U-Net: an optional ResNet block, optional attention, optional resampling."""

    def __init__(
        self, res: ResBlock | None = None, attn: SelfAttention | None = None, resample: nn.Module | None = None
    ):
        super().__init__()
        self.res = res
        self.attn = attn
        self.resample = resample

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.res is not None:
            h = self.res(h, emb)
        if self.attn is not None:
            h = self.attn(h)
        if self.resample is not None:
            h = self.resample(h)
        return h


# --- the network --------------------------------------------------------------------------------


class UNet(nn.Module):
    """ε/x_0/v-predicting U-Net called as ``model(x_t, t, class_labels=None)`` (see docs/ARCHITECTURE.md)."""

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        config = config if config is not None else UNetConfig()
        if not isinstance(config, UNetConfig):
            raise ValueError(f"UNet expects a UNetConfig, not {type(config).__name__}.")
        self.config = config
        self.prediction_type = config.prediction_type
        self.num_classes = config.num_classes
        self.in_channels = config.in_channels
        self.gradient_checkpointing = config.gradient_checkpointing

        base = config.base_channels
        emb_dim = config.time_embed_mult * base
        widths = [m * base for m in config.channel_mult]

        def res(i: int, o: int) -> ResBlock:
            return ResBlock(i, o, emb_dim, config.dropout, config.num_groups, config.scale_shift_norm)

        def attn(ch: int, resolution: int) -> SelfAttention | None:
            if resolution in config.attention_resolutions:
                return SelfAttention(ch, config.attention_head_channels, config.num_groups)
            return None

        self.time_embed = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # Row num_classes is the learned "no class" embedding (classifier-free guidance).
        self.class_embed = nn.Embedding(config.num_classes + 1, emb_dim) if config.num_classes > 0 else None

        self.input_conv = nn.Conv2d(config.in_channels, base, 3, padding=1)
        self.down = nn.ModuleList()
        skip_channels = [base]
        ch, resolution = base, config.image_size
        for level, width in enumerate(widths):
            for _ in range(config.num_res_blocks):
                self.down.append(Stage(res(ch, width), attn(width, resolution)))
                ch = width
                skip_channels.append(ch)
            if level < config.levels - 1:
                self.down.append(Stage(resample=Downsample(ch)))
                skip_channels.append(ch)
                resolution //= 2

        mid_attn = (
            SelfAttention(ch, config.attention_head_channels, config.num_groups) if config.mid_attention else None
        )
        self.mid = nn.ModuleList([Stage(res(ch, ch), mid_attn), Stage(res(ch, ch))])

        self.up = nn.ModuleList()
        for level in reversed(range(config.levels)):
            width = widths[level]
            for i in range(config.num_res_blocks + 1):
                upsample = Upsample(width) if level > 0 and i == config.num_res_blocks else None
                self.up.append(Stage(res(ch + skip_channels.pop(), width), attn(width, resolution), upsample))
                ch = width
            if level > 0:
                resolution *= 2

        self.out_norm = nn.GroupNorm(config.num_groups, ch)
        self.out_conv = zero_module(nn.Conv2d(ch, config.out_channels or config.in_channels, 3, padding=1))

    def _run(self, stage: Stage, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(stage, h, emb, use_reentrant=False)
        return stage(h, emb)

    def forward(self, x: torch.Tensor, t, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Predict ``prediction_type`` for noisy images ``x`` (B, C, H, W) at timesteps ``t`` (B,).

        ``class_labels`` (B,) long, or None for "no class". Under ``torch.autocast`` the output has
        the autocast dtype; compute the loss in float32 (``out.float()``).
        """
        if not torch.is_tensor(x) or x.ndim != 4:
            raise ValueError("The U-Net takes a batch of images shaped (batch, channels, height, width).")
        b, c, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"This U-Net was built for {self.in_channels}-channel images, not {c}-channel ones.")
        div = self.config.resolution_divisor
        if h % div or w % div:
            raise ValueError(
                f"Image size {h}×{w} cannot be halved {self.config.levels - 1} times: height and width must be "
                f"multiples of {div} (pad 28×28 images to 32×32)."
            )
        t = broadcast_timesteps(t, b, x.device)
        emb = self.time_embed(timestep_embedding(t, self.config.base_channels))
        labels = class_indices(class_labels, self.num_classes, b, x.device)
        if labels is not None:
            emb = emb + self.class_embed(labels)
        emb = F.silu(emb)  # every ResBlock applies SiLU before its projection (ADM); do it once here

        h = self.input_conv(x)
        skips = [h]
        for stage in self.down:
            h = self._run(stage, h, emb)
            skips.append(h)
        for stage in self.mid:
            h = self._run(stage, h, emb)
        for stage in self.up:
            h = self._run(stage, torch.cat([h, skips.pop()], dim=1), emb)
        return self.out_conv(F.silu(self.out_norm(h)))
