"""Train the noise-conditional classifiers p(c | x_t, t) that classifier guidance differentiates.

    python scripts/train_noisy_classifier.py                  # the shipped recipe (~9 CPU-minutes, 1 thread)
    python scripts/train_noisy_classifier.py --only toys      # only the 2-D toys (~1 minute)
    python scripts/train_noisy_classifier.py --steps 300      # a quick, weaker Fashion-MNIST classifier

Writes to ``resources/models/``:

- ``noisy_classifier_fmnist.safetensors``: ``core.models.noisy_classifier.NoisyClassifier`` (cnn) trained
  on Fashion-MNIST's 60,000 training images noised with the schedule of the shipped
  ``fmnist_unet.safetensors`` at t uniform on [0, T) (Dhariwal & Nichol 2021, §4.1).
- ``noisy_classifier_toy_<name>.safetensors`` for the labelled toys (two moons, eight Gaussians,
  spiral, rings): an MLP classifier on 20,000 noised points, with the schedule of ``toy_<name>``.

Each file's JSON header holds the config, the schedule, the class names, the denoiser it was built
for, the test accuracy by t range (fresh test data: Fashion-MNIST's test split; a new draw of the
toy with another seed), the recipe, steps, wall time, device, versions and git commit.

Recipe: AdamW (lr 2e-3, weight decay 0.01, 100 warm-up steps then cosine decay), cross-entropy,
Fashion-MNIST 1,800 steps of batch 128 (≈ 3.8 epochs), toys 3,000 steps of batch 256, seed 0.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import load_fashion_mnist, make_toy_2d  # noqa: E402
from core.io import load_denoiser  # noqa: E402
from core.models.noisy_classifier import NoisyClassifier, NoisyClassifierConfig, save_noisy_classifier  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training.noisy_classifier import accuracy_by_noise_level, train_noisy_classifier  # noqa: E402

LABELLED_TOYS = ("two_moons", "eight_gaussians", "spiral", "rings")


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)  # fmt: skip
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fit(model, x0, labels, schedule, *, steps, batch_size, lr, seed, name) -> float:
    started = time.perf_counter()
    for event in train_noisy_classifier(model, x0, labels, schedule, steps=steps, batch_size=batch_size, lr=lr,
                                        seed=seed):  # fmt: skip
        if event.step % 100 == 0 or event.step == steps:
            print(f"{name}: step {event.step}/{steps} loss {event.loss:.3f} batch accuracy {event.accuracy:.2f} "
                  f"({event.elapsed_s:.0f} s)", flush=True)  # fmt: skip
    return time.perf_counter() - started


def provenance(args, wall: float, steps: int, batch_size: int, denoiser: str, schedule, accuracy, test_set) -> dict:
    return {
        "denoiser": denoiser,
        "schedule": schedule.to_dict(),
        "test_set": test_set,
        "accuracy_by_t": [{"t_from": lo, "t_to": hi, "accuracy": round(acc, 4)} for lo, hi, acc in accuracy],
        "clean_accuracy": round(accuracy[0][2], 4),
        "steps": steps,
        "batch_size": batch_size,
        "wall_time_s": round(wall, 1),
        "recipe": "python scripts/train_noisy_classifier.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out_dir"),
        "device": f"cpu ({platform.processor() or platform.machine()}, {args.threads} thread(s))",
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
    }


def report(name: str, accuracy) -> None:
    print(name + ": test accuracy by t: " + ", ".join(f"[{lo},{hi}) {acc:.3f}" for lo, hi, acc in accuracy))


def train_fmnist(args) -> None:
    denoiser = load_denoiser(resource_path("models", "fmnist_unet.safetensors"))
    schedule = denoiser.schedule
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    model = NoisyClassifier(NoisyClassifierConfig(arch="cnn", num_classes=10, num_timesteps=schedule.num_timesteps))
    model.class_names = list(train.class_names)
    wall = fit(model, train.images, train.labels, schedule, steps=args.steps, batch_size=args.batch_size,
               lr=args.lr, seed=args.seed, name="fashion_mnist")  # fmt: skip
    accuracy = accuracy_by_noise_level(model, test.images, test.labels, schedule, seed=args.seed)
    report("fashion_mnist", accuracy)
    meta = provenance(args, wall, args.steps, args.batch_size, "fmnist_unet.safetensors", schedule, accuracy,
                      "Fashion-MNIST test split (10,000 images)")  # fmt: skip
    meta["dataset_name"] = "fashion_mnist"
    path = save_noisy_classifier(args.out_dir / "noisy_classifier_fmnist.safetensors", model, meta)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def train_toy(args, name: str) -> None:
    denoiser = load_denoiser(resource_path("models", f"toy_{name}.safetensors"))
    schedule = denoiser.schedule
    train = make_toy_2d(name, 20_000, seed=0)
    test = make_toy_2d(name, 5_000, seed=1)
    config = NoisyClassifierConfig(arch="mlp", data_dim=2, hidden=128, depth=3, num_classes=len(train.class_names),
                                   num_timesteps=schedule.num_timesteps)  # fmt: skip
    model = NoisyClassifier(config)
    model.class_names = list(train.class_names)
    wall = fit(model, train.points, train.labels, schedule, steps=args.toy_steps, batch_size=256, lr=args.lr,
               seed=args.seed, name=name)  # fmt: skip
    accuracy = accuracy_by_noise_level(model, test.points, test.labels, schedule, seed=args.seed)
    report(name, accuracy)
    meta = provenance(args, wall, args.toy_steps, 256, f"toy_{name}.safetensors", schedule, accuracy,
                      f"a fresh draw of 5,000 {name} points (seed 1)")  # fmt: skip
    meta["dataset_name"] = name
    path = save_noisy_classifier(args.out_dir / f"noisy_classifier_toy_{name}.safetensors", model, meta)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("all", "fmnist", "toys"), default="all")
    parser.add_argument("--steps", type=int, default=1800, help="Fashion-MNIST optimisation steps")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--toy-steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out-dir", type=Path, default=resource_path("models"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.only in ("all", "toys"):
        for name in LABELLED_TOYS:
            train_toy(args, name)
    if args.only in ("all", "fmnist"):
        train_fmnist(args)
    print(json.dumps({"done": True}))


if __name__ == "__main__":
    main()
