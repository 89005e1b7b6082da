"""Training throughput of the U-Net presets against diffusers' ``UNet2DModel`` of matched size.

One training step = forward + backward + AdamW step on a batch of noisy 1×32×32 images with random
timesteps and class labels (10 classes + "no class"), ε-prediction MSE loss. Every model runs with
the same thread count, batch and resolution, in the same process, interleaved round by round so
that a background process slowing the machine hurts all models alike; the table reports the best
round (the least disturbed), the median, and images per CPU-second of this process. On a shared
machine the last is the steadiest number: with ``--threads 1`` it is the speed an idle core gives.

The reference for each preset is a ``UNet2DModel`` in the shape diffusers' own examples use for
small images: block_out_channels (c, 2c, 2c), attention in the two lower levels and the bottleneck,
``layers_per_block`` 1 or 2, with c chosen so its parameter count is the closest to ours. The two
models differ in where they put their parameters: ours puts more of them at the low resolutions
where a parameter costs few FLOPs, so the FLOPs per image are printed too.

Usage: python benchmarks/bench_unet_training.py [--threads N] [--batch 64] [--steps 5] [--warmup 2]
       [--rounds 3] [--presets tiny small base] [--no-diffusers]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.models import (  # noqa: E402
    UNET_PRESETS,
    UNet,
    count_parameters,  # noqa: E402
    preset_config,
)

NUM_CLASSES = 10
MODES = {  # name → (memory format, bf16 autocast)
    "fp32": (torch.contiguous_format, False),
    "channels_last": (torch.channels_last, False),
    "bf16 autocast": (torch.contiguous_format, True),
    "channels_last+bf16": (torch.channels_last, True),
}


def diffusers_reference(target_params: int):
    """The UNet2DModel of the (c, 2c, 2c) family whose parameter count is closest to ``target_params``."""
    from diffusers import UNet2DModel

    best = None
    for layers in (1, 2):
        for c in range(8, 257, 8):
            kwargs = dict(
                sample_size=32,
                in_channels=1,
                out_channels=1,
                block_out_channels=(c, 2 * c, 2 * c),
                layers_per_block=layers,
                down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
                norm_num_groups=8,
                attention_head_dim=32,  # same head width as our U-Net's default
                num_class_embeds=NUM_CLASSES + 1,
            )
            model = UNet2DModel(**kwargs)
            n = count_parameters(model)
            if best is None or abs(n - target_params) < abs(best[1] - target_params):
                best = (model, n, kwargs)
            if n > 2 * target_params:
                break
    return best


class DiffusersAdapter(torch.nn.Module):
    """Call a UNet2DModel with our denoiser signature."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x, t, class_labels=None):
        return self.model(x, t, class_labels=class_labels).sample


def forward_flops(model, batch) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    x, t, y = (b[:1] for b in batch)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, t, y)
    return counter.get_total_flops()


def make_batch(batch_size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 1, 32, 32, generator=g)
    t = torch.randint(0, 1000, (batch_size,), generator=g)
    y = torch.randint(0, NUM_CLASSES + 1, (batch_size,), generator=g)
    return x, t, y


class Runner:
    """A model, its optimiser and a fixed batch, set up for one precision mode."""

    def __init__(self, model, mode: str, batch):
        memory_format, self.autocast = MODES[mode]
        self.model = model.to(memory_format=memory_format).train()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4)
        x, self.t, self.y = batch
        self.x = x.contiguous(memory_format=memory_format)
        self.eps = torch.randn_like(self.x)

    def step(self) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            out = self.model(self.x, self.t, self.y)
        loss = torch.nn.functional.mse_loss(out.float(), self.eps)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def time_steps(self, steps: int) -> tuple[float, float]:
        """Seconds per step: wall clock, and CPU time of this process (all its threads)."""
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            self.step()
        return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


@dataclass
class Result:
    preset: str
    model: str  # "ours" or "diffusers"
    mode: str
    params: int
    flops: float  # forward FLOPs per image
    wall: list[float] = field(default_factory=list)  # seconds per step, one per round
    cpu: list[float] = field(default_factory=list)  # CPU-seconds per step, one per round

    def images_per_s(self, batch: int) -> float:
        return batch / min(self.wall)  # the least disturbed round


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--presets", nargs="+", default=list(UNET_PRESETS), choices=list(UNET_PRESETS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--no-diffusers", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    batch = make_batch(args.batch)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}×1×32×32, "
        f"{NUM_CLASSES} classes, {args.warmup} warm-up + {args.rounds}×{args.steps} timed steps per model"
    )

    results: list[Result] = []
    for name in args.presets:
        candidates: list[tuple[Result, Runner]] = []
        ours = UNet(preset_config(name, num_classes=NUM_CLASSES))
        n_ours, f_ours = count_parameters(ours), forward_flops(ours, batch)
        for mode in args.modes:
            model = UNet(preset_config(name, num_classes=NUM_CLASSES))
            candidates.append((Result(name, "ours", mode, n_ours, f_ours), Runner(model, mode, batch)))
        if not args.no_diffusers:
            reference, n_ref, kwargs = diffusers_reference(n_ours)
            f_ref = forward_flops(DiffusersAdapter(reference), batch)
            print(
                f"{name}: ours {n_ours:,} parameters; diffusers UNet2DModel {n_ref:,} parameters "
                f"(block_out_channels={kwargs['block_out_channels']}, layers_per_block={kwargs['layers_per_block']})",
                flush=True,
            )
            for mode in ("fp32", "channels_last"):
                model = DiffusersAdapter(UNet2DModel_from(kwargs))
                candidates.append((Result(name, "diffusers", mode, n_ref, f_ref), Runner(model, mode, batch)))

        for _, runner in candidates:
            for _ in range(args.warmup):
                runner.step()
        for _ in range(args.rounds):  # interleaved: a busy moment slows one round of every model alike
            for result, runner in candidates:
                wall, cpu = runner.time_steps(args.steps)
                result.wall.append(wall)
                result.cpu.append(cpu)
        results += [result for result, _ in candidates]
        del candidates

    print()
    print(f"{'model':<16} {'mode':<19} {'params':>10} {'GFLOP/img':>9} {'img/s':>7} {'img/s med':>9} {'img/CPU-s':>9}")
    for r in results:
        print(
            f"{r.model + ' ' + r.preset:<16} {r.mode:<19} {r.params:>10,} {r.flops / 1e9:>9.3f} "
            f"{r.images_per_s(args.batch):>7.1f} {args.batch / statistics.median(r.wall):>9.1f} "
            f"{args.batch / min(r.cpu):>9.1f}"
        )
    print("img/s: best round (wall clock); img/s med: median round; img/CPU-s: images per CPU-second of this process")
    if args.no_diffusers:
        return
    print()
    for name in args.presets:
        mine = [r for r in results if r.preset == name and r.model == "ours"]
        ref = {r.mode: r for r in results if r.preset == name and r.model == "diffusers"}
        fastest = max(mine, key=lambda r: r.images_per_s(args.batch))
        ref_best = max(ref.values(), key=lambda r: r.images_per_s(args.batch))
        ratio = fastest.images_per_s(args.batch) / ref_best.images_per_s(args.batch)
        print(
            f"{name}: ours ({fastest.mode}) {fastest.images_per_s(args.batch):.1f} img/s vs diffusers "
            f"({ref_best.mode}) {ref_best.images_per_s(args.batch):.1f} img/s: {ratio:.2f}x"
            + (
                f"; both fp32: {min(ref['fp32'].wall) / min(next(r for r in mine if r.mode == 'fp32').wall):.2f}x"
                if "fp32" in args.modes
                else ""
            )
        )


def UNet2DModel_from(kwargs: dict):  # noqa: N802 - named after the class it builds
    from diffusers import UNet2DModel

    return UNet2DModel(**kwargs)


if __name__ == "__main__":
    main()
