"""Few-step sampling on a 2-D toy: MMD² against steps for diffusion, flow matching, reflow and distillation.

    python benchmarks/bench_fast_sampling.py                      # two moons, the defaults below
    python benchmarks/bench_fast_sampling.py --dataset eight_gaussians --flow-steps 1500

Rows, all from the same noise and scored by ``core.evaluation.metrics.evaluate_points`` (unbiased MMD²
against as many fresh points of the true toy):

- **diffusion, DDIM** (the reference): the shipped toy model (resources/models/toy_<name>.safetensors);
- **flow matching, Euler**: the same MLP architecture trained here with the flow-matching loss
  (``core.training.flow.train_flow``);
- **reflow, Euler**: one reflow round on (ε, x̂_0) pairs from that model (Liu et al. 2023);
- **distilled**: progressive distillation of the shipped model, DDIM-16 → 8 → 4 → 2 → 1
  (``core.training.distillation.distill``), each student at its own step count.

Also prints the straightness of each ODE's paths (Liu et al.'s S and chord/length) and the floor:
real vs real at the same sample count. Training times are wall seconds with ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import make_toy_2d  # noqa: E402
from core.evaluation.fast_sampling import (  # noqa: E402
    FEW_STEPS,
    compare_transport,
    ddim_sampler,
    flow_paths,
    flow_sampler,
    mmd_by_steps,
)
from core.evaluation.metrics import mmd_rbf  # noqa: E402
from core.io import load_denoiser  # noqa: E402
from core.runtime.resources import resource_path  # noqa: E402
from core.training.distillation import DistillConfig, DistillRound, distill  # noqa: E402
from core.training.flow import FlowConfig, FlowFinished, reflow, train_flow  # noqa: E402


def _last(events, kind):
    out = None
    for event in events:
        if isinstance(event, kind):
            out = event
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="two_moons")
    parser.add_argument("--n", type=int, default=2000, help="samples per MMD")
    parser.add_argument("--flow-steps", type=int, default=1500)
    parser.add_argument("--reflow-steps", type=int, default=800)
    parser.add_argument("--distill-steps", type=int, default=300, help="optimizer steps per distillation round")
    parser.add_argument("--teacher-steps", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    ckpt = load_denoiser(resource_path("models", f"toy_{args.dataset}.safetensors"))
    config = FlowConfig(
        dataset=args.dataset, steps=args.flow_steps, preview_every=0, seed=args.seed, threads=args.threads
    )
    t0 = time.perf_counter()
    flow = _last(train_flow(config), FlowFinished).model
    flow_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    reflowed = _last(reflow(flow, dataclasses.replace(config, steps=args.reflow_steps)), FlowFinished).model
    reflow_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    distill_config = DistillConfig(
        dataset=args.dataset, teacher_steps=args.teacher_steps, steps_per_round=args.distill_steps,
        eval_points=args.n, seed=args.seed, threads=args.threads,
    )  # fmt: skip
    rounds = [e for e in distill(ckpt.model, ckpt.schedule, distill_config) if isinstance(e, DistillRound)]
    distill_s = time.perf_counter() - t0

    comparison = compare_transport(ckpt.model, ckpt.schedule, flow, args.dataset, num_points=args.n, seed=args.seed)
    noise = torch.randn((args.n, 2), generator=torch.Generator().manual_seed(args.seed))
    reflow_mmd = mmd_by_steps(flow_sampler(reflowed), noise, args.dataset, FEW_STEPS)
    reflow_paths = flow_paths(reflowed, noise)
    teacher_16 = mmd_by_steps(ddim_sampler(ckpt.model, ckpt.schedule), noise, args.dataset, [args.teacher_steps])[0]
    floor = mmd_rbf(
        make_toy_2d(args.dataset, args.n, seed=777).points, make_toy_2d(args.dataset, args.n, seed=12345).points
    )

    print(f"# Few-step sampling on {args.dataset}: MMD² (lower is better), n = {args.n}, seed {args.seed}")
    print(f"# floor, real vs real: {floor:.4f}; shipped model DDIM-{args.teacher_steps}: {teacher_16:.4f}")
    print(
        f"# training: flow {args.flow_steps} steps {flow_s:.0f} s, reflow {args.reflow_steps} steps {reflow_s:.0f} s, "
    )
    print(
        f"#   distillation {len(rounds)} rounds × {args.distill_steps} steps {distill_s:.0f} s ({args.threads} thread(s))"
    )
    distilled = {r.student_steps: r.student_mmd for r in rounds}
    print("| steps | diffusion DDIM (reference) | flow matching Euler | reflow Euler | distilled student |")
    print("|---:|---:|---:|---:|---:|")
    for i, n in enumerate(comparison.steps):
        d = f"{distilled[n]:.4f}" if n in distilled else "—"
        print(f"| {n} | {comparison.diffusion_mmd[i]:.4f} | {comparison.flow_mmd[i]:.4f} | {reflow_mmd[i]:.4f} | {d} |")
    print()
    print("| ODE paths (40 steps) | straightness S (0 = straight) | chord / length (1 = straight) |")
    print("|---|---:|---:|")
    for name, paths in (
        ("diffusion PF-ODE (DDIM, in z = x/(α+σ))", comparison.diffusion),
        ("flow matching", comparison.flow),
        ("reflow ×1", reflow_paths),
    ):
        print(f"| {name} | {paths.straightness.curvature:.4f} | {paths.straightness.length_ratio:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
