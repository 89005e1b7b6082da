"""Few-step sampling on a 2-D toy: MMD² against steps for diffusion, flow matching, reflow and distillation.

    python benchmarks/bench_fast_sampling.py                      # two moons, the defaults below
    python benchmarks/bench_fast_sampling.py --dataset eight_gaussians --flow-steps 1500
    python benchmarks/bench_fast_sampling.py --parts consistency,variance,schedule   # only the learned parts

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

The other parts (``--parts``):

- **consistency**: consistency distillation of the shipped model (Song et al. 2023,
  ``core.training.consistency``) at 1/2/4/8 NFE beside the teacher's DDIM at the same NFE;
- **variance**: a model trained with learned variances (Improved DDPM's L_hybrid,
  ``core.training.learned_variance``); its full VLB and its DDPM MMD at 5–100 respaced steps with the
  learned Σ_θ against the fixed β̃_t and β_t (the same mean);
- **schedule**: VDM's continuous-time VLB trained with a learned monotone log-SNR schedule against the fixed
  linear one (``core.training.learned_schedule``): the bound and the spread of its one-sample estimate.
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
from core.training.consistency import ConsistencyConfig, ConsistencyFinished, consistency_distill  # noqa: E402
from core.training.distillation import DistillConfig, DistillRound, distill  # noqa: E402
from core.training.flow import FlowConfig, FlowFinished, reflow, train_flow  # noqa: E402
from core.training.learned_schedule import VDMConfig, VDMFinished, evaluate_vdm, train_vdm  # noqa: E402
from core.training.learned_variance import (  # noqa: E402
    VARIANCE_TITLES,
    LearnedVarianceConfig,
    VarianceFinished,
    measure_variances,
    train_learned_variance,
)

PARTS = ("flow", "consistency", "variance", "schedule")


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
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--consistency-steps", type=int, default=1200, help="= 4 distillation rounds × 300")
    parser.add_argument("--variance-steps", type=int, default=1500)
    parser.add_argument("--vdm-steps", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    if "flow" in parts:
        bench_flow_and_distillation(args)
    if "consistency" in parts:
        bench_consistency(args)
    if "variance" in parts:
        bench_learned_variance(args)
    if "schedule" in parts:
        bench_learned_schedule(args)
    return 0


def bench_flow_and_distillation(args) -> None:

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
    print()


def bench_consistency(args) -> None:
    ckpt = load_denoiser(resource_path("models", f"toy_{args.dataset}.safetensors"))
    config = ConsistencyConfig(
        dataset=args.dataset, steps=args.consistency_steps, eval_points=args.n, seed=args.seed, threads=args.threads
    )
    t0 = time.perf_counter()
    done = _last(consistency_distill(ckpt.model, ckpt.schedule, config), ConsistencyFinished)
    elapsed = time.perf_counter() - t0
    print(f"# Consistency distillation of toy_{args.dataset}: {config.steps} steps, N = {config.grid_points}, "
          f"μ = {config.ema_decay}, {elapsed:.0f} s ({args.threads} thread(s)); MMD², n = {args.n}")  # fmt: skip
    print("| NFE | teacher DDIM (reference) | consistency model |")
    print("|---:|---:|---:|")
    for n, teacher, student in zip(done.nfe, done.teacher_mmd, done.student_mmd, strict=True):
        print(f"| {n} | {teacher:.4f} | {student:.4f} |")
    print()


def bench_learned_variance(args) -> None:
    config = LearnedVarianceConfig(
        dataset=args.dataset, steps=args.variance_steps, seed=args.seed, threads=args.threads
    )
    t0 = time.perf_counter()
    done = _last(train_learned_variance(config), VarianceFinished)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = measure_variances(done.model, done.schedule, args.dataset, vlb_points=500, sample_points=args.n)
    measure_s = time.perf_counter() - t0
    print(f"# Learned variances (L_hybrid, λ = {config.lam}) on {args.dataset}: {config.steps} steps "
          f"{train_s:.0f} s, measured in {measure_s:.0f} s; {config.schedule} schedule, T = {config.num_timesteps}")  # fmt: skip
    kinds = list(VARIANCE_TITLES)
    print("| | " + " | ".join(VARIANCE_TITLES[k] for k in kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    print(
        "| VLB, bits/dim (500 held-out points) | "
        + " | ".join(f"{result.vlb_bits_per_dim[k]:.3f}" for k in kinds)
        + " |"
    )
    for i, n in enumerate(result.steps):
        print(f"| DDPM-{n} MMD² | " + " | ".join(f"{result.mmd[k][i]:.4f}" for k in kinds) + " |")
    print()


def bench_learned_schedule(args) -> None:
    print(f"# VDM continuous-time VLB on {args.dataset}: {args.vdm_steps} steps each, evaluated on 2,000 held-out "
          "points × 4 draws of (t, ε)")  # fmt: skip
    print("| schedule | VLB, bits/dim | ± standard error | spread of one estimate (std) | γ₀ → γ₁ | train s |")
    print("|---|---:|---:|---:|---|---:|")
    for learned in (False, True):
        config = VDMConfig(dataset=args.dataset, learned=learned, steps=args.vdm_steps, seed=args.seed,
                           threads=args.threads)  # fmt: skip
        t0 = time.perf_counter()
        done = _last(train_vdm(config), VDMFinished)
        elapsed = time.perf_counter() - t0
        result = evaluate_vdm(done.denoiser, done.gamma, args.dataset)
        name = "learned γ_η (monotone network)" if learned else "fixed linear γ"
        ends = f"{-result.log_snr[0]:.2f} → {-result.log_snr[-1]:.2f}"
        print(f"| {name} | {result.bits_per_dim:.3f} | {result.standard_error:.3f} | {result.estimate_std:.2f} | "
              f"{ends} | {elapsed:.0f} |")  # fmt: skip
    print()


if __name__ == "__main__":
    raise SystemExit(main())
