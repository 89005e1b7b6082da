"""Time the guidance sweep and print its fidelity/diversity table for the shipped Fashion-MNIST model.

    python benchmarks/bench_guidance.py                                # 10 per class, 20 DDIM steps
    python benchmarks/bench_guidance.py --per-class 4 --steps 10       # quick
    python benchmarks/bench_guidance.py --interval 200 800             # guidance only for t in [200, 800]
    python benchmarks/bench_guidance.py --scrub                        # only: the view's scrub frame time

Runs ``core.evaluation.guidance_sweep`` (the code behind the Guidance view's sweep tab): the same
x_T sampled with deterministic DDIM at each scale, scored by the project's classifier against the
reference half of the Fashion-MNIST test split, with held-out real images of the same classes as
the floor. Prints the sweep's wall time beside the reference below (the view's default sweep on the
2-core reference machine), and the table that docs/quality.md records.

Cost: every step evaluates the U-Net twice (ε_u and ε_c) for every sample at every scale, so a sweep
costs 2 × scales × classes × per-class × steps image evaluations (default: 24,000).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.evaluation.guidance_sweep import DEFAULT_SCALES, SweepFinished, guidance_sweep  # noqa: E402
from core.io import load_denoiser  # noqa: E402
from core.runtime import resource_path  # noqa: E402

# The run recorded in docs/quality.md (defaults: 6 scales × 100 samples × 20 steps, 1 thread) on the 2-core
# machine while ~6 other jobs shared it: 2,004 s wall, about 7–8 CPU-minutes by ps (≈ 18–20 ms of CPU per image evaluation).
REFERENCE = "reference: docs/quality.md run, defaults, 1 thread, busy 2-core machine: 2004 s wall (≈ 7–8 CPU-min by ps)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scales", type=float, nargs="+", default=list(DEFAULT_SCALES))
    parser.add_argument("--interval", type=int, nargs=2, default=None, metavar=("T_LO", "T_HI"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--scrub", action="store_true", help="time the Guidance view's scrubbing instead")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.scrub:
        return time_scrubbing()

    checkpoint = load_denoiser(resource_path("models", "fmnist_unet.safetensors"))
    evaluations = 2 * len(args.scales) * 10 * args.per_class * args.steps
    print(f"guidance sweep: scales {args.scales}, {args.per_class} per class, {args.steps} DDIM steps, "
          f"interval {args.interval}, {args.threads} thread(s); {evaluations:,} image evaluations")  # fmt: skip
    started = time.perf_counter()
    result = None
    for event in guidance_sweep(
        checkpoint.model, checkpoint.schedule, args.scales, per_class=args.per_class, steps=args.steps,
        seed=args.seed, interval=args.interval, batch_size=args.batch_size,
    ):  # fmt: skip
        if isinstance(event, SweepFinished):
            result = event.result
    seconds = time.perf_counter() - started
    print(f"sweep time: {seconds:.1f} s ({1000 * seconds / evaluations:.1f} ms per image evaluation)")
    print(REFERENCE)
    print()
    print("| w | class accuracy | precision | recall | per-class spread ÷ real |")
    print("|---|---|---|---|---|")
    for m in result.metrics:
        print(f"| {m.scale:g} | {m.class_accuracy:.3f} | {m.precision:.3f} | {m.recall:.3f} | {m.feature_spread:.3f} |")
    f = result.floor
    print(f"| real held-out | {f.class_accuracy:.3f} | {f.precision:.3f} | {f.recall:.3f} | {f.feature_spread:.3f} |")
    return 0


def time_scrubbing(steps: int = 50) -> int:
    """Record a 50-step guided run in the Guidance view (offscreen), then time showing every step.

    Showing a step draws ten 2×2 image grids from the recorded frame: no network call. The budget is
    the scrubber's (p95 < 8 ms per frame, ``bench_scrubber.py``).
    """
    import os

    import numpy as np

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from desktop_app.views.guidance_view import GuidanceView

    view = GuidanceView(QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat))
    view.resize(1280, 760)
    view.show()
    view.setup.steps_spin.setValue(steps)
    view.run_trace()
    while view.is_running():
        app.processEvents()
    app.processEvents()
    times = []
    for _ in range(4):
        for position in range(len(view.frames())):
            start = time.perf_counter()
            view.scrubber.setValue(position)
            view.repaint()  # paint now, as a frame on screen would
            times.append(1000 * (time.perf_counter() - start))
    view.shutdown()
    p50, p95 = np.percentile(times, [50, 95])
    print(f"Guidance view scrub ({len(view.frames())} recorded steps, 10 panels): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
    print("reference: the scrubber's frame budget, p95 < 8 ms (bench_scrubber.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
