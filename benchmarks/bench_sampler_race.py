"""Quality vs NFE of every sampler on the shipped models (core.evaluation.sampler_race.quality_vs_nfe).

For each model it prints, per sampler and NFE budget, the headline metric (MMD² for the 2-D toys;
FID, class accuracy, precision and recall for Fashion-MNIST), the seconds spent sampling, and the
real-vs-real floor at the same sample count. The reference to read the numbers against is that floor
(and, for Fashion-MNIST, docs/quality.md's table measured with bench_quality.py at 1,000 samples).
``--json`` writes the measured table (with its provenance) where the Sampler race view finds it:
``resources/models/<model>_sampler_quality.json`` is shown in its quality plot for that model.

    python benchmarks/bench_sampler_race.py                      # the 2-D toys, 1,000 samples each
    python benchmarks/bench_sampler_race.py --models fmnist_unet --samples 100 --nfes 5 10 20 \\
        --lanes ddim dpmpp_2m dpmpp_3m unipc deis --json resources/models/fmnist_unet_sampler_quality.json
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from datetime import date
from pathlib import Path

import torch

from core.evaluation.sampler_quality import QualityFinished, quality_table, quality_vs_nfe
from core.evaluation.sampler_race import DEFAULT_NFES, LANES, RACE_SPACINGS
from core.io import load_denoiser
from core.runtime import resources_dir

TOYS = ("toy_spiral", "toy_two_moons", "toy_eight_gaussians", "toy_rings", "toy_checkerboard", "toy_swiss_roll")


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(args, seconds: float, cpu_seconds: float) -> dict:
    """How the table was measured, stored beside it."""
    return {
        "command": "python benchmarks/bench_sampler_race.py " + " ".join(args.argv),
        "date": date.today().isoformat(),
        "commit": _commit(),
        "threads": args.threads,
        "machine": f"{platform.machine()} ({platform.processor() or 'cpu'})",
        "wall_seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "guidance": "none (class-conditional, w = 1), class-balanced labels, x̂₀ clipped to [−1, 1]",
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TOYS))
    parser.add_argument("--lanes", nargs="+", default=list(LANES), choices=list(LANES))
    parser.add_argument("--nfes", nargs="+", type=int, default=list(DEFAULT_NFES))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--spacing", default="default", choices=list(RACE_SPACINGS), help="default: each sampler's own")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the last model's table here")
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else __import__("sys").argv[1:]
    torch.set_num_threads(args.threads)
    for name in args.models:
        checkpoint = load_denoiser(resources_dir() / "models" / f"{name}.safetensors")
        dataset = str(checkpoint.metadata.get("dataset_name") or "").removeprefix("toy:") or None
        started, cpu_started = time.perf_counter(), time.process_time()
        events = quality_vs_nfe(checkpoint.model, checkpoint.schedule, args.lanes, args.nfes,
                                num_samples=args.samples, dataset=dataset, batch_size=args.batch,
                                spacing=args.spacing)  # fmt: skip
        result = next(e for e in events if isinstance(e, QualityFinished)).result
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        extra = ("class_accuracy", "precision", "recall") if result.kind == "images" else ()
        floor = result.floor
        print(f"\n{name}: {result.metric} at {result.num_samples} samples "
              f"(floor, real vs real: {floor[result.metric]:.4g}"
              + "".join(f", {k} {floor[k]:.3f}" for k in extra if k in floor)
              + f"); {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU")  # fmt: skip
        print(f"{'sampler':32s}" + "".join(f"{'NFE ' + str(n):>12s}" for n in args.nfes) + f"{'s @ max NFE':>13s}")
        for lane in args.lanes:
            mine = [p for p in result.points if p.lane == lane]
            cells = "".join(f"{p.metrics[result.metric]:12.4g}" for p in mine)
            print(f"{LANES[lane].label:32s}{cells}{mine[-1].seconds:13.2f}")
            for key in extra:
                print(f"{'  ' + key:32s}" + "".join(f"{p.metrics.get(key, float('nan')):12.3f}" for p in mine))
        if args.json is not None:
            table = quality_table(result, {"model": name, **provenance(args, seconds, cpu_seconds)})
            args.json.write_text(json.dumps(table, indent=1) + "\n")
            print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
