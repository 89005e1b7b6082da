"""Looking inside a denoiser: its blocks in order, their tensor shapes, and their live activations.

The teacher's diagram of the U-Net (desktop_app/teacher/unet_diagram.py) is drawn from
``network_blocks(model)``, which reads the model's real module structure (``core.models.unet.UNet``:
time embedding, input conv, the encoder stages, the bottleneck, the decoder stages with their skip
connections, the output head; any other network: its top-level children in order). Clicking a block
shows what ``trace_shapes`` and ``record_activations`` measure with forward hooks
(``nn.Module.register_forward_hook``) during one real forward pass ``model(x_t, t, class_labels)``:
nothing is computed from formulas that could drift from the code, and the hooks are removed again
before either function returns, even when the forward pass raises. Only the calling thread's forward
pass is recorded: the app may be sampling from the same model on another thread meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from core.models.unet import Stage, UNet

__all__ = [
    "Activations",
    "Block",
    "BlockShapes",
    "network_blocks",
    "record_activations",
    "trace_shapes",
]

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Block:
    """One block of a network as the diagram draws it."""

    name: str  # the module's path in the model: "input_conv", "down.2", "mid.0", "up.4", "out_conv"
    part: str  # "embedding", "input", "encoder", "bottleneck", "decoder" or "output"
    label: str  # what it does, e.g. "ResBlock 24→48 + attention"
    parameters: int  # trainable numbers in the block
    skip: bool = False  # an encoder output kept for the decoder (U-Net skip connection)


@dataclass(frozen=True)
class BlockShapes:
    """The tensor shapes a block saw in one forward pass."""

    name: str
    inputs: tuple[Shape, ...]  # the shapes of its tensor arguments, in order
    output: Shape


@dataclass(frozen=True)
class Activations:
    """The outputs of the chosen blocks at one x_t (detached CPU float32 copies) and the network's output."""

    outputs: dict[str, torch.Tensor]
    prediction: torch.Tensor


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _stage_label(stage: Stage) -> str:
    parts = []
    if stage.res is not None:
        parts.append(f"ResBlock {stage.res.conv1.in_channels}→{stage.res.conv1.out_channels}")
    if stage.attn is not None:
        parts.append(f"attention ({stage.attn.num_heads} head{'s' if stage.attn.num_heads > 1 else ''})")
    if stage.resample is not None:
        word = "downsample ×½" if type(stage.resample).__name__ == "Downsample" else "upsample ×2"
        parts.append(word)
    return " + ".join(parts)


def network_blocks(model: nn.Module) -> list[Block]:
    """The blocks of ``model`` in the order data flows through them.

    A ``UNet`` gives its time (and class) embedding, input conv, every encoder stage (each of whose
    outputs is also a skip connection), the two bottleneck stages, every decoder stage and the output
    head (GroupNorm → SiLU → conv, hooked at its conv). Any other network gives its top-level children.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"Only a torch network can be inspected, not {type(model).__name__}.")
    if not isinstance(model, UNet):
        return [
            Block(name, "encoder", type(child).__name__, _parameters(child)) for name, child in model.named_children()
        ]
    blocks = [Block("time_embed", "embedding", "timestep embedding (sinusoid → MLP)", _parameters(model.time_embed))]
    if model.class_embed is not None:
        blocks.append(Block("class_embed", "embedding", "class embedding", _parameters(model.class_embed)))
    conv = model.input_conv
    blocks.append(
        Block("input_conv", "input", f"conv 3×3 {conv.in_channels}→{conv.out_channels}", _parameters(conv), True)
    )
    blocks += [Block(f"down.{i}", "encoder", _stage_label(s), _parameters(s), True) for i, s in enumerate(model.down)]
    blocks += [Block(f"mid.{i}", "bottleneck", _stage_label(s), _parameters(s)) for i, s in enumerate(model.mid)]
    blocks += [Block(f"up.{i}", "decoder", _stage_label(s), _parameters(s)) for i, s in enumerate(model.up)]
    out = model.out_conv
    blocks.append(
        Block(
            "out_conv",
            "output",
            f"GroupNorm → SiLU → conv 3×3 {out.in_channels}→{out.out_channels}",
            _parameters(model.out_norm) + _parameters(out),
        )
    )
    return blocks


def _shape(value) -> Shape | None:
    return tuple(value.shape) if torch.is_tensor(value) else None


@contextmanager
def _hooked(model: nn.Module, names: Sequence[str], record) -> Iterator[None]:
    modules = dict(model.named_modules())
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise ValueError(f"This network has no block called {', '.join(unknown)}.")
    handles = []
    thread = threading.get_ident()  # the same model may be sampling on another thread: ignore its calls

    def hook(name, args, out):
        if threading.get_ident() == thread:
            record(name, args, out)

    try:
        for name in names:
            handles.append(modules[name].register_forward_hook(lambda _m, args, out, name=name: hook(name, args, out)))
        yield
    finally:
        for handle in handles:
            handle.remove()


def _example_inputs(model: nn.Module, image_shape: Sequence[int], batch: int):
    if batch < 1:
        raise ValueError(f"The batch must hold at least one image, not {batch}.")
    x = torch.zeros(batch, *[int(s) for s in image_shape])
    t = torch.zeros(batch, dtype=torch.long)
    return x, t


@torch.no_grad()
def trace_shapes(model: nn.Module, image_shape: Sequence[int], *, batch: int = 1) -> dict[str, BlockShapes]:
    """Run ``model`` once on zeros of shape (batch, *image_shape) and return every block's shapes.

    ``image_shape`` is (C, H, W) for a U-Net, (2,) for the 2-D MLP. A size the network cannot take
    raises its own ``ValueError`` (e.g. a side that cannot be halved enough times).
    """
    names = [block.name for block in network_blocks(model)]
    found: dict[str, BlockShapes] = {}

    def record(name, args, out):
        inputs = tuple(shape for shape in (_shape(a) for a in args) if shape is not None)
        found[name] = BlockShapes(name, inputs, _shape(out) or ())

    x, t = _example_inputs(model, image_shape, batch)
    was_training = model.training
    model.eval()
    try:
        with _hooked(model, names, record):
            model(x, t)
    finally:
        model.train(was_training)
    return {name: found[name] for name in names if name in found}


@torch.no_grad()
def record_activations(
    model: nn.Module,
    x_t: torch.Tensor,
    t,
    class_labels: torch.Tensor | None = None,
    names: Sequence[str] | None = None,
) -> Activations:
    """The outputs of the blocks ``names`` (default: all of ``network_blocks``) while the model denoises ``x_t`` at ``t``.

    The model is called exactly as samplers call it (``model(x_t, t, class_labels)``, eval mode), so
    ``prediction`` is the network's real output (ε, x₀ or v) and each activation is what that block
    handed on to the next.
    """
    if not torch.is_tensor(x_t):
        raise ValueError("x_t must be a tensor of noisy images or points.")
    names = list(names) if names is not None else [block.name for block in network_blocks(model)]
    device = next(iter(model.parameters()), torch.zeros(())).device
    outputs: dict[str, torch.Tensor] = {}

    def record(name, _args, out):
        if torch.is_tensor(out):
            outputs[name] = out.detach().to("cpu", torch.float32).clone()

    if not torch.is_tensor(t):
        t = torch.full((x_t.shape[0],), int(t), dtype=torch.long)
    was_training = model.training
    model.eval()
    try:
        with _hooked(model, names, record):
            prediction = model(x_t.to(device), t.to(device), None if class_labels is None else class_labels.to(device))
    finally:
        model.train(was_training)
    return Activations({name: outputs[name] for name in names if name in outputs}, prediction.detach().cpu().float())
