"""Train the Fashion-MNIST feature network used by the metrics, and bundle its reference statistics.

    python scripts/train_classifier.py                 # the shipped recipe (~6 minutes on 1 CPU core)
    python scripts/train_classifier.py --epochs 1      # a quicker, slightly weaker network

Writes two files to ``resources/models/``:

- ``fmnist_classifier.safetensors``: weights of ``core.models.classifier.FashionClassifier`` with JSON
  metadata (config, test accuracy, recipe, steps, wall time, device, versions, git commit).
- ``fmnist_reference_stats.npz``: features of the *reference half* of the test split (5,000 images
  chosen by a fixed permutation), their mean and covariance (for FID) and the indices of both halves.
  Generated samples are compared against the reference half; the other half ("held-out half") gives
  the real-vs-real floor, so the floor never compares a set of images with itself.

Recipe: AdamW (lr 3e-3, weight decay 0.01, 100 warm-up steps then cosine decay), batch 256, no
augmentation, cross-entropy, 4 epochs over the 60,000 training images, seed 0. One thread by default:
on a 2-core machine shared with a training run, two threads measured 2–3× *slower* per image
(they wait on each other), see ``--threads``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import load_fashion_mnist  # noqa: E402
from core.models import ClassifierConfig, FashionClassifier  # noqa: E402
from core.runtime import resource_path  # noqa: E402

REFERENCE_SPLIT_SEED = 2024  # permutation that splits the test set into reference / held-out halves
METADATA_KEY = "diffusion_lab"


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@torch.no_grad()
def batched(fn, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    return torch.cat([fn(images[i : i + batch_size]) for i in range(0, len(images), batch_size)])


def lr_at(step: int, total: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to zero (Loshchilov & Hutter 2017)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * 0.5 * (1.0 + math.cos(math.pi * progress))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reference-size", type=int, default=5000, help="test images in the reference half")
    parser.add_argument("--out-dir", type=Path, default=resource_path("models"))
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train = load_fashion_mnist("train")
    test = load_fashion_mnist("test")
    channels_last = torch.channels_last  # measured ~1.4× faster than contiguous for this CNN on the CPU
    model = FashionClassifier(ClassifierConfig()).to(memory_format=channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = len(train) // args.batch_size
    total_steps = args.epochs * steps_per_epoch
    generator = torch.Generator().manual_seed(args.seed)

    started = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train), generator=generator)
        running, seen = 0.0, 0
        for b in range(steps_per_epoch):
            index = order[b * args.batch_size : (b + 1) * args.batch_size]
            x = train.images[index].contiguous(memory_format=channels_last)
            y = train.labels[index]
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step, total_steps, args.lr, args.warmup)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += loss.item() * len(y)
            seen += len(y)
            step += 1
            if step % 50 == 0:
                print(
                    f"epoch {epoch + 1} step {step}/{total_steps} loss {running / seen:.4f} "
                    f"({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
        model.eval()
        accuracy = (batched(model.logits, test.images).argmax(1) == test.labels).float().mean().item()
        print(f"epoch {epoch + 1}: train loss {running / seen:.4f}, test accuracy {accuracy:.4f}", flush=True)
    wall = time.perf_counter() - started

    model = model.to(memory_format=torch.contiguous_format).eval()
    logits = batched(model.logits, test.images)
    test_accuracy = (logits.argmax(1) == test.labels).float().mean().item()

    # Reference statistics of the real test split (reference half), in float64 for the covariance.
    permutation = np.random.default_rng(REFERENCE_SPLIT_SEED).permutation(len(test))
    reference_indices = np.sort(permutation[: args.reference_size])
    heldout_indices = np.sort(permutation[args.reference_size : 2 * args.reference_size])
    features = batched(model.features, test.images[torch.from_numpy(reference_indices)]).numpy()
    mu = features.astype(np.float64).mean(0)
    sigma = np.cov(features.astype(np.float64), rowvar=False)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "kind": "fashion_mnist_classifier",
        "config": model.config.to_dict(),
        "test_accuracy": round(test_accuracy, 5),
        "recipe": "python scripts/train_classifier.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out_dir"),
        "steps": total_steps,
        "epochs": args.epochs,
        "wall_time_s": round(wall, 1),
        "device": f"cpu ({platform.processor() or platform.machine()}, {args.threads} thread(s))",
        "torch_version": torch.__version__,
        "git_commit": git_commit(),
    }
    weights_path = args.out_dir / "fmnist_classifier.safetensors"
    save_file(state, str(weights_path), metadata={METADATA_KEY: json.dumps(metadata)})
    weights_path.chmod(0o644)
    weights_sha256 = hashlib.sha256(weights_path.read_bytes()).hexdigest()

    stats_path = args.out_dir / "fmnist_reference_stats.npz"
    np.savez_compressed(
        stats_path,
        features=features.astype(np.float32),
        labels=test.labels.numpy()[reference_indices].astype(np.int64),
        mu=mu,
        sigma=sigma,
        reference_indices=reference_indices.astype(np.int64),
        heldout_indices=heldout_indices.astype(np.int64),
        classifier_sha256=np.array(weights_sha256),
    )
    print(f"test accuracy {test_accuracy:.4f}; {total_steps} steps in {wall:.0f} s")
    print(f"wrote {weights_path} and {stats_path}")


if __name__ == "__main__":
    main()
