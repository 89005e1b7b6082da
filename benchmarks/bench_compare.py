"""Diffusion vs GAN vs VAE, measured: the table of docs/quality.md ("Diffusion vs GAN vs VAE").

    python benchmarks/bench_compare.py --points          # 2-D: train the three on 8 Gaussians, measure
    python benchmarks/bench_compare.py --images          # the shipped Fashion-MNIST models
    python benchmarks/bench_compare.py --points --images --threads 1
    python benchmarks/bench_compare.py --time-to-fid     # training time to a FID, from the recorded histories

2-D: the Compare view's recipe (core defaults of each loop, 1,500 steps, batch 256, one thread), plus
the GAN with R1 and the known-collapsing setting (300 steps of 10 generator updates each), each measured with ``core.evaluation.compare`` on
2,000 samples (likelihood on 500 held-out points). Images: the shipped U-Net (DDIM 50 steps), GAN and
VAE, 1,000 samples each (``--n``) against the reference half of the test split (FID, precision, recall) and
the likelihood of 200 held-out images in bits/dim. Prints the training compute each took (recorded in
the checkpoints for the shipped models) beside the numbers.

Reference (docs/quality.md): on 8 Gaussians the diffusion model and the R1 GAN cover 8/8 modes, the
collapse-prone GAN ≤ 1; the VAE covers the modes with a low high-quality fraction (blurry between them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.evaluation.compare import load_shipped_models, measure_images, measure_points  # noqa: E402
from core.training import Finished, TrainConfig, train  # noqa: E402
from core.training.gan import GANTrainConfig, train_gan  # noqa: E402
from core.training.vae import VAETrainConfig, train_vae  # noqa: E402

STEPS = 1500


def row(name: str, m, seconds: float | None, images: bool) -> str:
    unit = "bits/dim" if images else "nats"
    nll = "cannot compute" if m.nll is None else f"{m.nll:.3f} {unit}"
    if m.elbo_nll is not None:
        nll = f"≤ {m.nll:.3f} (−ELBO {m.elbo_nll:.3f}) {unit}"
    first = (
        f"FID {m.fid:6.1f}"
        if images
        else f"modes {m.modes.modes_covered}/8, HQ {100 * m.modes.high_quality_fraction:3.0f}%"
    )
    compute = f"{seconds:6.0f} s" if seconds is not None else "   —"
    return (
        f"| {name:<28} | {first} | P {m.precision:.2f} | R {m.recall:.2f} | "
        + (f"MMD² {m.mmd:.3f} | " if m.mmd is not None else "")
        + f"NLL {nll} | {m.seconds_per_sample:.2g} s/sample ({m.network_calls_per_sample} calls) | "
        f"{m.parameters:,} params ({m.sampling_parameters:,} to sample) | train {compute} |"
    )


def train_to_end(events) -> tuple[object, object, float]:
    cpu = time.process_time()
    for event in events:
        if isinstance(event, Finished):
            return event.model, event.schedule, time.process_time() - cpu
    raise RuntimeError("training ended without a Finished event")


def bench_points(threads: int, only: list[str] | None = None) -> None:
    common = dict(dataset="toy:eight_gaussians", steps=STEPS, preview_every=0, log_every=100, threads=threads)
    runs = {
        "Diffusion (MLP, DDIM 50)": (
            "diffusion",
            lambda: train(TrainConfig(class_conditional=False, batch_size=256, **common)),
        ),
        "GAN (plain)": ("gan", lambda: train_gan(GANTrainConfig(batch_size=256, data_limit=8192, **common))),
        "GAN (R1 γ = 1)": (
            "gan",
            lambda: train_gan(GANTrainConfig(batch_size=256, data_limit=8192, r1_gamma=1.0, **common)),
        ),
        "GAN (collapse-prone)": (
            "gan",
            lambda: train_gan(
                GANTrainConfig(batch_size=256, data_limit=8192, g_steps=10, lr_d=1e-4, **{**common, "steps": 300})
            ),
        ),
        "VAE": (
            "vae",
            lambda: train_vae(VAETrainConfig(batch_size=256, data_limit=8192, kl_warmup_steps=STEPS // 4, **common)),
        ),
        "Diffusion, size-matched (MLP 96 × 2)": (
            "diffusion",
            lambda: train(
                TrainConfig(
                    class_conditional=False, batch_size=256, model_options={"hidden_dim": 96, "num_blocks": 2}, **common
                )
            ),
        ),
    }
    print(f"8 Gaussians, {STEPS} steps each, {threads} thread(s); CPU seconds of training in the last column")
    for index, (name, (kind, make)) in enumerate(runs.items()):
        if only and str(index) not in only:
            continue
        model, schedule, seconds = train_to_end(make())
        m = measure_points(kind, model, "eight_gaussians", schedule=schedule, n=2000, likelihood_points=500)
        print(row(name, m, seconds, images=False), flush=True)


def bench_images(n: int, steps: int, likelihood: int, kinds: list[str]) -> None:
    print(
        f"Fashion-MNIST, shipped models, {n} samples each (diffusion: DDIM {steps}, unconditional); "
        f"likelihood of {likelihood} held-out test images; training compute from each file's metadata"
    )
    for kind, (model, schedule, meta) in load_shipped_models(kinds).items():
        m = measure_images(kind, model, schedule=schedule, n=n, steps=steps, likelihood_images=likelihood)
        seconds = meta.get("cpu_seconds") or meta.get("wall_time_s")
        print(row(kind, m, seconds, images=True), f"steps {meta.get('step')}", flush=True)


def bench_time_to_fid() -> None:
    """The recorded FID histories (scripts/train_gan.py, train_vae.py, diffusion_fid_history.py) and the
    training time each model took to first reach a FID all three reach."""
    from core.evaluation.fid_history import describe_time_to_fid, shared_threshold, shipped_fid_histories

    histories = shipped_fid_histories()
    threshold = shared_threshold(histories.values())
    print(f"Training time to FID ≤ {threshold} (CPU-seconds at 1 thread; FID of 100 samples at each snapshot)")
    for kind, history in histories.items():
        points = ", ".join(f"{p.cpu_s:.0f} s: {p.fid:.1f}" for p in history) or "no history recorded"
        print(f"| {kind:<9} | {describe_time_to_fid(history, threshold)} | {points} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", action="store_true")
    parser.add_argument("--images", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--time-to-fid", action="store_true", help="only the recorded FID histories (no sampling)")
    parser.add_argument("--n", type=int, default=1000, help="image samples per model")
    parser.add_argument("--steps", type=int, default=50, help="DDIM steps of the diffusion model (images)")
    parser.add_argument("--likelihood", type=int, default=200, help="held-out test images for NLL / bounds")
    parser.add_argument("--runs", nargs="+", default=None, help="2-D: only these rows, by index 0-5")
    parser.add_argument("--kinds", nargs="+", default=["diffusion", "gan", "vae"], help="which shipped models")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.points or not (args.images or args.time_to_fid):
        bench_points(args.threads, args.runs)
    if args.images:
        bench_images(args.n, args.steps, args.likelihood, args.kinds)
    if args.images or args.time_to_fid:
        bench_time_to_fid()


if __name__ == "__main__":
    main()
