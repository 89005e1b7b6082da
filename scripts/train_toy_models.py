"""Train the shipped 2-D toy models: one small MLP denoiser per toy in ``core.data.TOY_DATASETS``.

    python scripts/train_toy_models.py                     # all toys (each well under a minute on a CPU)
    python scripts/train_toy_models.py --only two_moons    # one toy

Trains with ``core.training.train`` and writes ``resources/models/toy_<name>.safetensors`` (sampling
weights only; metadata: recipe, steps, wall and CPU time, device, versions, git commit), then scores each
model with ``core.evaluation.metrics.evaluate_points`` (DDIM 50 samples against fresh true samples) beside an
untrained network of the same shape, the numbers ``tests/test_quality_gate.py`` gates on.

Toys with natural labels (two moons, eight Gaussians, spiral, rings) train class-conditional with
10% label dropout, so the app can show classifier-free guidance on them; the others are unconditional.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import TOY_DATASETS, make_toy_2d  # noqa: E402
from core.diffusion import sample_ddim  # noqa: E402
from core.evaluation import metrics  # noqa: E402
from core.io import save_checkpoint  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training import Finished, TrainConfig, train  # noqa: E402

# Optimizer steps per toy (batch 256); the checkerboard's sharp edges need more to pass its gate with margin.
TOY_STEPS = {"checkerboard": 4000}
DEFAULT_STEPS = 1500
TRAIN_POINTS = 50_000  # fresh points per toy (more than the 8,192 default, so nothing is memorised)


def toy_config(name: str, args) -> TrainConfig:
    """The shipped recipe for one toy (the same for all of them but the number of steps)."""
    steps = args.steps or TOY_STEPS.get(name, DEFAULT_STEPS)
    command = (
        f"python scripts/train_toy_models.py --only {name} --steps {steps} --batch-size {args.batch_size} "
        f"--lr {args.lr} --seed {args.seed} --threads {args.threads}"
    )
    return TrainConfig(
        dataset=f"toy:{name}",
        dataset_options={"n": TRAIN_POINTS, "seed": args.seed},
        model="mlp",
        model_options={"hidden_dim": 128},  # ≈ 0.2M parameters: 0.7 MB shipped instead of 2.8 MB at 256
        schedule="cosine",
        num_timesteps=1000,
        # v-prediction (Salimans & Ho 2022): x̂_0 = √ᾱ x_t − √(1−ᾱ) v needs no division by √ᾱ, so DDIM's
        # first step from t = T−1 (ᾱ ≈ 2e-9 in the cosine schedule) stays stable. With ε-prediction that
        # step divides the network's error by √ᾱ ≈ 5e-5 and unclipped 2-D samples explode.
        prediction_type="v",
        class_conditional=True,  # only used when the toy has labels
        label_dropout=0.1,
        learning_rate=args.lr,
        warmup_steps=100,
        lr_decay="cosine",
        batch_size=args.batch_size,
        steps=steps,
        ema_decay=0.995,
        grad_clip=1.0,
        precision="fp32",
        device="cpu",
        threads=args.threads,
        seed=args.seed,
        log_every=100,
        preview_every=0,
        checkpoint_path=None,  # saved below with the sampling weights only (no optimizer state)
        recipe=command,
    )


@torch.no_grad()
def sample_like_data(model, schedule, name: str, n: int, seed: int) -> torch.Tensor:
    """DDIM-50 samples; a conditional model gets the labels of a true draw, so class proportions match."""
    truth = make_toy_2d(name, n, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    cond = {"class_labels": truth.labels} if getattr(model, "num_classes", 0) and truth.labels is not None else None
    x_T = torch.randn((n, 2), generator=generator)
    return sample_ddim(model, x_T, schedule, 50, generator=generator, cond=cond)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=list(TOY_DATASETS), choices=TOY_DATASETS)
    parser.add_argument("--steps", type=int, default=None, help="steps per toy (default: TOY_STEPS or 1500)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=resource_path("models"))
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)

    for name in args.only:
        started, cpu_started = time.perf_counter(), time.process_time()
        finished = None
        for event in train(toy_config(name, args)):
            if isinstance(event, Finished):
                finished = event
        wall = time.perf_counter() - started
        model, schedule = finished.model, finished.schedule
        cpu_s = time.process_time() - cpu_started
        path = save_checkpoint(
            args.out_dir / f"toy_{name}.safetensors",
            model,
            schedule=schedule,
            metadata={**finished.metadata, "cpu_time_s": round(cpu_s, 1), "threads": args.threads},
        )
        path.chmod(0o644)
        trained = metrics.evaluate_points(sample_like_data(model, schedule, name, 2000, seed=1), name)
        untrained = metrics.evaluate_points(
            sample_like_data(metrics.untrained_like(model), schedule, name, 2000, seed=1), name
        )
        print(
            f"{name:16s} {finished.step} steps in {wall:5.1f} s ({cpu_s:.0f} s CPU)   MMD² trained {trained['mmd']:.5f} "
            f"untrained {untrained['mmd']:.4f}   NN sample→data {trained['nn_sample_to_data']:.4f} "
            f"(untrained {untrained['nn_sample_to_data']:.4f})   → {path}",
            flush=True,
        )


if __name__ == "__main__":
    main()
