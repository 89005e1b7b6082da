"""Scaling of ``train()`` from one process to several (DistributedDataParallel), steps/s and images/s.

Each configuration runs the project's real training loop (``core.training.train`` with a
``DistributedContext``) in ``N`` processes started by ``torch.multiprocessing``, as ``torchrun``
would: Gloo on the CPU (one thread per process by default), NCCL on CUDA GPUs (one GPU per process).
Rank 0 times the steps after a warm-up. Two ways to add processes are measured:

* strong scaling: the same global batch shared by N processes (each computes 1/N of it);
* weak scaling: each process keeps the one-process batch, so the global batch grows N times.

The reference is the one-process run of the same configuration, printed first; "efficiency" is the
speed-up in images/s divided by N (1.00 = perfect). On a CPU, N processes need N free cores: on a
shared machine the load average printed with the table says how much the numbers can be trusted.

Usage: python benchmarks/bench_distributed.py [--device cpu|cuda] [--processes 1 2] [--batch 64]
       [--steps 10] [--warmup 3] [--preset tiny] [--dataset fashion_mnist] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _config(args, global_batch: int, steps: int):
    from core.training import TrainConfig

    options = {"limit": args.limit} if args.dataset == "fashion_mnist" else {}
    return TrainConfig(
        dataset=args.dataset,
        dataset_options=options,
        model=args.preset,
        batch_size=global_batch,
        steps=steps,
        warmup_steps=0,
        preview_every=0,
        checkpoint_every=0,
        threads=args.threads if args.device == "cpu" else None,
        device=args.device,
        precision="fp32",
    )


def _worker(rank: int, world_size: int, args, global_batch: int, folder: str) -> None:
    from core.training import StepEvent, train
    from core.training import distributed as dist

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    world = dist.start(
        rank,
        world_size,
        backend="nccl" if args.device == "cuda" else "gloo",
        init_method=f"file://{Path(folder) / 'rendezvous'}",
    )
    times = []
    for event in train(_config(args, global_batch, args.warmup + args.steps), distributed=world):
        if isinstance(event, StepEvent):
            if args.device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter())
    if rank == 0:
        seconds = times[-1] - times[args.warmup - 1]
        (Path(folder) / "result.json").write_text(json.dumps({"seconds": seconds, "steps": args.steps}))
    dist.stop(world)


def measure(args, world_size: int, global_batch: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_worker, args=(world_size, args, global_batch, folder), nprocs=world_size, join=True)
        result = json.loads((Path(folder) / "result.json").read_text())
    steps_per_s = result["steps"] / result["seconds"]
    return {"steps_per_s": steps_per_s, "images_per_s": steps_per_s * global_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=64, help="the one-process batch (default 64)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--preset", default="tiny", help="network: a U-Net preset, or mlp with a toy dataset")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--limit", type=int, default=2048, help="Fashion-MNIST images to load")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per process")
    args = parser.parse_args()
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (the first step is timed from the end of the warm-up).")
    if args.device == "cuda" and torch.cuda.device_count() < max(args.processes):
        parser.error(
            f"{max(args.processes)} processes need as many GPUs; this machine has {torch.cuda.device_count()}."
        )

    where = f"{torch.cuda.get_device_name(0)}" if args.device == "cuda" else f"CPU, {args.threads} thread(s)/process"
    print(f"train() with DDP: {args.dataset}, preset {args.preset}, {args.steps} timed steps on {where}")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} before")
    print(f"{'scaling':<8} {'processes':>9} {'global batch':>12} {'steps/s':>8} {'images/s':>9} {'efficiency':>10}")
    reference = measure(args, 1, args.batch)
    print(
        f"{'(ref)':<8} {1:>9} {args.batch:>12} {reference['steps_per_s']:>8.2f} {reference['images_per_s']:>9.1f} {1.0:>10.2f}"
    )
    for n in (p for p in args.processes if p > 1):
        for label, global_batch in (("strong", args.batch), ("weak", args.batch * n)):
            r = measure(args, n, global_batch)
            efficiency = r["images_per_s"] / reference["images_per_s"] / n
            print(
                f"{label:<8} {n:>9} {global_batch:>12} {r['steps_per_s']:>8.2f} {r['images_per_s']:>9.1f} "
                f"{efficiency:>10.2f}"
            )
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
