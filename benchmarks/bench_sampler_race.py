"""Quality vs NFE of every sampler on the shipped models (core.evaluation.sampler_race.quality_vs_nfe).

For each model it prints, per sampler and NFE budget, the headline metric (MMD² for the 2-D toys;
FID, class accuracy and recall for Fashion-MNIST), the seconds spent sampling, and the real-vs-real
floor at the same sample count. The reference to read the numbers against is that floor (and, for
Fashion-MNIST, docs/quality.md's table measured with bench_quality.py at 1,000 samples).

    python benchmarks/bench_sampler_race.py                      # the 2-D toys, 1,000 samples each
    python benchmarks/bench_sampler_race.py --models fmnist_unet --samples 200 --lanes ddim dpmpp_2m
"""

from __future__ import annotations

import argparse
import time

import torch

from core.evaluation.sampler_race import DEFAULT_NFES, LANES, QualityFinished, quality_vs_nfe
from core.io import load_denoiser
from core.runtime import resources_dir

TOYS = ("toy_spiral", "toy_two_moons", "toy_eight_gaussians", "toy_rings", "toy_checkerboard", "toy_swiss_roll")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(TOYS))
    parser.add_argument("--lanes", nargs="+", default=list(LANES), choices=list(LANES))
    parser.add_argument("--nfes", nargs="+", type=int, default=list(DEFAULT_NFES))
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name in args.models:
        checkpoint = load_denoiser(resources_dir() / "models" / f"{name}.safetensors")
        dataset = str(checkpoint.metadata.get("dataset_name") or "").removeprefix("toy:") or None
        started = time.perf_counter()
        events = quality_vs_nfe(checkpoint.model, checkpoint.schedule, args.lanes, args.nfes,
                                num_samples=args.samples, dataset=dataset)  # fmt: skip
        result = next(e for e in events if isinstance(e, QualityFinished)).result
        extra = ("class_accuracy", "recall") if result.kind == "images" else ()
        print(f"\n{name}: {result.metric} at {result.num_samples} samples "
              f"(floor, real vs real: {result.floor[result.metric]:.4g}); {time.perf_counter() - started:.0f} s")  # fmt: skip
        print(f"{'sampler':32s}" + "".join(f"{'NFE ' + str(n):>12s}" for n in args.nfes) + f"{'s @ max NFE':>13s}")
        for lane in args.lanes:
            mine = [p for p in result.points if p.lane == lane]
            cells = "".join(f"{p.metrics[result.metric]:12.4g}" for p in mine)
            print(f"{LANES[lane].label:32s}{cells}{mine[-1].seconds:13.2f}")
            for key in extra:
                print(f"{'  ' + key:32s}" + "".join(f"{p.metrics.get(key, float('nan')):12.3f}" for p in mine))


if __name__ == "__main__":
    main()
