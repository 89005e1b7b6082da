"""Score & likelihood view: field redraw time at a new t, and the exact 2-D NLL time per 1,000 points.

References (issue 12): redrawing a 32×32 grid of arrows at a new t, p95 < 16 ms on the CPU with the
shipped MLP; the exact (PF-ODE, exact divergence) NLL of 1,000 points in < 10 s on 2 cores.

Cases:
- ``learned field``: ``score_field`` of the shipped eight-Gaussians MLP on 32×32 points (one forward pass);
- ``learned + exact``: the same plus the ideal denoiser's score over 500 training points (as the view);
- ``view redraw, new t``: from moving the t-slider in ``ScoreView`` to the field drawn and painted (both fields,
  the error heat map, x_t samples). The fields are computed by a worker (``score/field_frames.py``), so the wall
  time is the latency and the CPU column is what the GUI thread itself paid (pushing arrays, painting);
- ``view, t seen before``: the same t again, drawn from the view's frame cache;
- ``NLL``: ``log_likelihood`` of 1,000 held-out points, RK4 with the default steps, exact divergence and
  Hutchinson with one probe.

Wall time includes waiting for a CPU when the machine is busy; the CPU time of the thread
(``time.thread_time``) is printed beside it, as the cost a quiet machine would see.

``--images`` instead prints the numbers of the view's "Image models" page for docs/quality.md: the VLB at the
panel's defaults with its time, ideal vs learned denoiser over t, nearest-training-image distances.

``--toys`` instead prints the NLL table of docs/quality.md: every shipped 2-D model on 1,000 held-out points of
its own distribution, beside the true NLL where the density is known in closed form (eight Gaussians: a
Gaussian mixture; checkerboard: uniform on eight squares).

Run: ``python benchmarks/bench_score.py [--threads 1] [--redraws 60] [--nll-steps 32] [--toys] [--images]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.data.toys import make_toy_2d  # noqa: E402
from core.diffusion.ideal_denoiser import IdealDenoiser  # noqa: E402
from core.diffusion.likelihood import DEFAULT_ODE_STEPS, log_likelihood  # noqa: E402
from core.diffusion.score import GaussianMixture, score_field  # noqa: E402
from core.io import load_denoiser  # noqa: E402

MODEL = Path(__file__).resolve().parent.parent / "resources" / "models" / "toy_eight_gaussians.safetensors"
TARGET_REDRAW_P95_MS = 16.0
TARGET_NLL_S = 10.0


def _times(fn, ts) -> tuple[np.ndarray, np.ndarray]:
    wall, cpu = [], []
    for t in ts:
        w0, c0 = time.perf_counter(), time.thread_time()
        fn(int(t))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.thread_time() - c0)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3


def _row(name: str, wall: np.ndarray, cpu: np.ndarray) -> None:
    print(
        f"{name:<20} wall p50 {np.percentile(wall, 50):7.2f} ms  p95 {np.percentile(wall, 95):7.2f} ms   "
        f"cpu p50 {np.percentile(cpu, 50):7.2f} ms  p95 {np.percentile(cpu, 95):7.2f} ms   "
        f"(reference: p95 < {TARGET_REDRAW_P95_MS:g} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--redraws", type=int, default=60)
    parser.add_argument("--nll-steps", type=int, default=DEFAULT_ODE_STEPS)
    parser.add_argument("--skip-nll", action="store_true")
    parser.add_argument("--toys", action="store_true", help="the NLL table of every shipped 2-D model")
    parser.add_argument("--images", action="store_true", help="the Image models page's three measurements")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.toys:
        toy_table(args.nll_steps)
        return
    if args.images:
        image_models()
        return
    checkpoint = load_denoiser(MODEL)
    model, schedule = checkpoint.model, checkpoint.schedule
    data = make_toy_2d("eight_gaussians", 50_000, seed=0).points[:500].clone()
    ideal = IdealDenoiser(data, schedule)
    ts = np.random.default_rng(0).integers(0, schedule.num_timesteps, args.redraws)
    print(f"torch threads: {args.threads}; model: {MODEL.name}; {args.redraws} redraws at random t")
    score_field(model, schedule, 10, data=ideal)  # warm-up
    _row("learned field", *_times(lambda t: score_field(model, schedule, t), ts))
    _row("learned + exact", *_times(lambda t: score_field(model, schedule, t, data=ideal), ts))

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from desktop_app.views.score_view import ScoreView

    app = QApplication.instance() or QApplication([])
    settings = QSettings(str(Path(os.environ.get("TMPDIR", "/tmp")) / "bench_score.ini"), QSettings.Format.IniFormat)
    settings.setValue("score/model", MODEL.stem)
    view = ScoreView(settings)
    view.resize(1000, 720)
    view.show()
    app.processEvents()

    from PySide6.QtCore import QEventLoop

    def redraw(t: int) -> None:
        """Move the slider and wait (without spinning) until the field at t is drawn and painted."""
        view.scrubber.setValue(t)
        while view.drawn_t != t:
            app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
        app.processEvents()  # the repaint

    while view.drawn_t is None:
        app.processEvents(QEventLoop.ProcessEventsFlag.WaitForMoreEvents)
    _row("view redraw, new t", *_times(redraw, ts))
    _row("view, t seen before", *_times(redraw, ts))  # from the frame cache: what the GUI thread pays to draw
    view.shutdown()

    if args.skip_nll:
        return
    points = make_toy_2d("eight_gaussians", 1000, seed=1000).points
    for divergence in ("exact", "hutchinson"):
        w0, c0 = time.perf_counter(), time.process_time()
        result = log_likelihood(model, points, schedule, steps=args.nll_steps, divergence=divergence)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        print(
            f"NLL {divergence:<10} 1,000 points, {result.nfe} evaluations: {wall:6.2f} s wall, {cpu:6.2f} s cpu; "
            f"NLL {result.nll:.3f} nats = {result.bits_per_dim:.3f} bits/dim   (reference: < {TARGET_NLL_S:g} s on 2 cores)"
        )


def true_nll(name: str, points: torch.Tensor) -> float | None:
    """−mean log p(x) under the toy's own density where it is known in closed form (standardised coordinates)."""
    if name == "eight_gaussians":  # centres 2(cos, sin)(kπ/4), std 0.2, scaled by the toy's spread 1.428
        angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
        centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1) / 1.428
        return float(-GaussianMixture(centres, torch.full((8,), 0.2 / 1.428), torch.ones(8)).log_prob(points).mean())
    if name == "checkerboard":  # uniform on 8 unit squares, scaled by 1/1.155: density 1.155² / 8 inside
        return math.log(8.0 / 1.155**2)
    return None


def toy_table(steps: int) -> None:
    print(f"| Model | NLL, nats (exact div., RK4 {steps}) | bits/dim | true NLL | time |")
    print("|---|---:|---:|---:|---:|")
    for path in sorted(MODEL.parent.glob("toy_*.safetensors")):
        checkpoint = load_denoiser(path)
        name = checkpoint.metadata["dataset_name"]
        points = make_toy_2d(name, 1000, seed=1000).points
        w0 = time.perf_counter()
        result = log_likelihood(checkpoint.model, points, checkpoint.schedule, steps=steps)
        wall = time.perf_counter() - w0
        true = true_nll(name, points)
        true_text = "—" if true is None else f"{true:.3f}"
        print(f"| {path.stem} | {result.nll:.3f} | {result.bits_per_dim:.3f} | {true_text} | {wall:.1f} s |")


def image_models(samples: int = 20, searched: int = 10_000) -> None:
    """What the view's "Image models" page shows, at its defaults (the bound, the gap) and for 20 samples."""
    from core.data import get_dataset
    from core.evaluation import load_feature_network, sample_images
    from core.evaluation.denoiser_gap import denoiser_gap, gap_timesteps
    from core.evaluation.held_out_vlb import VLBSummary, held_out_images, iterate_held_out_vlb
    from core.evaluation.nearest_neighbours import neighbour_study
    from desktop_app.views.score.denoiser_gap_panel import TEST_SET, TRAIN_SET
    from desktop_app.views.score.image_common import image_model_path
    from desktop_app.views.score.vlb_panel import DEFAULT_IMAGES

    checkpoint = load_denoiser(image_model_path())
    model, schedule = checkpoint.model, checkpoint.schedule
    w0 = time.perf_counter()
    *_, bound = iterate_held_out_vlb(model, held_out_images(DEFAULT_IMAGES), schedule)
    s = VLBSummary.of(bound)
    print(f"VLB (view defaults: {DEFAULT_IMAGES} test images, t = 0…{s.exact_up_to} + 16 strata): {s.total:.3f} bits/dim "
          f"(L_0 {s.decoder:.3f}, Σ exact {s.exact_terms:.3f}, Σ strata {s.strata_terms:.3f}) in "
          f"{time.perf_counter() - w0:.1f} s")  # fmt: skip

    reference = get_dataset("fashion_mnist", split="train", pad_to=32, limit=5000).images
    pick = torch.randperm(5000, generator=torch.Generator().manual_seed(0))[:8]
    sets = {TRAIN_SET: reference[pick], TEST_SET: held_out_images(8)}
    w0 = time.perf_counter()
    gap = denoiser_gap(model, reference, sets, schedule, gap_timesteps(schedule, 12))
    print(
        f"Ideal vs learned (8 + 8 images, ideal over 5,000 training images, 12 t) in {time.perf_counter() - w0:.1f} s"
    )
    print("| t | gap, training images | gap, test images | network → x_0 (test) | ideal → x_0 (test) |")
    print("|---:|---:|---:|---:|---:|")
    for k, t in enumerate(gap.timesteps.tolist()):
        print(f"| {t} | {gap.gap[TRAIN_SET][k]:.3f} | {gap.gap[TEST_SET][k]:.3f} | "
              f"{gap.learned_error[TEST_SET][k]:.3f} | {gap.ideal_error[TEST_SET][k]:.3f} |")  # fmt: skip

    w0 = time.perf_counter()
    generated, _ = sample_images(model, schedule, samples, sampler="ddim", steps=20, seed=1)
    training = get_dataset("fashion_mnist", split="train", pad_to=32, limit=searched).images
    study = neighbour_study(generated, held_out_images(50), training, load_feature_network(), 3)
    m = study.median_nearest()
    print(f"Nearest of {searched:,} training images ({samples} DDIM-20 samples, 50 test images) in "
          f"{time.perf_counter() - w0:.1f} s: pixels samples {m['generated, pixels']:.2f} / test {m['test, pixels']:.2f}; "
          f"features samples {m['generated, features']:.2f} / test {m['test, features']:.2f}; "
          f"smallest sample distance {float(study.generated_pixel.nearest.min()):.2f} (pixels)")  # fmt: skip


if __name__ == "__main__":
    main()
