"""Distil the shipped Fashion-MNIST U-Net into a few-step student (progressive distillation) on a CPU.

    python scripts/distil_fmnist.py train                 # the shipped recipe: DDIM-8 teacher → 4-step student,
                                                          # 600 steps, ≈ 16 CPU-minutes on one thread
    python scripts/distil_fmnist.py train --final-steps 2 --steps-per-round 300   # one more round: 2 steps
    python scripts/distil_fmnist.py evaluate              # FID / class accuracy, 200 samples (teacher vs students)
    python scripts/distil_fmnist.py ship 4                # the 4-step student into resources/models/ (float16)

Salimans & Ho 2022 ("Progressive Distillation for Fast Sampling of Diffusion Models") halve the
steps from 1,024 to 4 in eight rounds of 50k optimizer steps on TPUs. That is hours per round on a
CPU, so this recipe starts where the target is: the teacher's own DDIM-8 (its FID is already close to
its DDIM-50, see docs/quality.md) and distils it into a 4-step student in one round, with the
student initialised from the teacher (their §4). The loss is theirs (Alg. 2 with the truncated-SNR
weight max(SNR_t, 1), eq. 10; ``core.diffusion.distillation``), on the v-parameterised network the
teacher already is. Every student minibatch shares one timestep of the student's grid; 10 % of the
labels are replaced by "no class" so the unconditional half, which classifier-free guidance needs,
is distilled too. The teacher's two DDIM steps clip x̂_0 to [−1, 1], as the app samples.

Each finished round is a checkpoint ``<work>/round_<N>step.safetensors`` with its provenance
(teacher file and SHA-256, the rounds so far, optimizer steps, batch, learning rate, CPU seconds,
and the sampler/steps the app must use); a rerun skips finished rounds and resumes a round from its
``round_<N>step.partial.pt`` (saved every ``--save-every`` steps), so the job can be stopped any time.
One thread by default (the machine is shared; see scripts/train_classifier.py).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import load_fashion_mnist  # noqa: E402
from core.diffusion.distillation import distillation_loss, student_grid  # noqa: E402
from core.evaluation.metrics import evaluate_images, real_vs_real_images, sample_images  # noqa: E402
from core.io import load_denoiser, save_checkpoint  # noqa: E402
from core.io.provenance import git_commit  # noqa: E402
from core.runtime import resource_path  # noqa: E402

TEACHER = "fmnist_unet.safetensors"
SHIPPED = "fmnist_unet_distilled_{n}step.safetensors"
NULL_LABEL_FRACTION = 0.1  # as the teacher's label dropout (its train_config): CFG needs "no class"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def round_steps(teacher_steps: int, final_steps: int) -> list[int]:
    out, n = [], teacher_steps // 2
    while n >= final_steps:
        out.append(n)
        n //= 2
    return out


def save_half(path: Path, model: torch.nn.Module, schedule, metadata: dict) -> None:
    """Save ``model`` with float16 weights (half the bundle's bytes; loading casts them back to float32) and
    round ``model`` itself the same way, so what is evaluated and used next is exactly what the file holds."""
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    save_checkpoint(
        path, copy.deepcopy(model).half(), schedule=schedule, metadata={**metadata, "stored_dtype": "float16"}
    )


def learning_rate(base: float, step: int, total: int, warmup: int = 20) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``base`` by the end of the round."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def log(work: Path, text: str) -> None:
    line = f"{time.strftime('%H:%M:%S')} {text}"
    print(line, flush=True)
    with open(work / "log.txt", "a") as f:
        f.write(line + "\n")


def run_round(
    args, teacher, schedule, data, labels, n: int, work: Path, provenance: dict
) -> tuple[torch.nn.Module, dict]:
    """One round: a student of ``n`` steps learns the teacher's 2n-step DDIM. Resumes from its partial file."""
    student_grid(schedule, n)  # checks that the grids nest before any work
    partial = work / f"round_{n}step.partial.pt"
    student = copy.deepcopy(teacher).train().requires_grad_(True)
    ema = copy.deepcopy(teacher).eval().requires_grad_(False)
    optimizer = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(args.seed + n)
    start, cpu_before, losses = 0, 0.0, []
    if partial.is_file():
        state = torch.load(partial, weights_only=False)
        student.load_state_dict(state["student"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        start, cpu_before, losses = state["step"], state["cpu_s"], state["losses"]
        log(work, f"round {n}: resuming at step {start}")
    cpu0 = time.process_time()
    null = int(teacher.num_classes)
    for step in range(start, args.steps_per_round):
        idx = torch.randint(0, data.shape[0], (args.batch_size,), generator=generator)
        x0 = data[idx]
        y = labels[idx].clone()
        y[torch.rand(args.batch_size, generator=generator) < NULL_LABEL_FRACTION] = null
        eps = torch.randn(x0.shape, generator=generator)
        index = int(torch.randint(0, n, (1,), generator=generator))
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args.lr, step, args.steps_per_round)
        loss = distillation_loss(
            student, teacher, schedule, x0, eps, index, n, cond={"class_labels": y}, clip_x0="clip"
        )
        if not torch.isfinite(loss):
            raise RuntimeError(f"The distillation loss became {loss.item()} at step {step}; lower --lr.")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        optimizer.step()
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), student.parameters(), strict=True):
                p_ema.lerp_(p, 1.0 - args.ema)
        losses.append(loss.item())
        done = step + 1
        if done % args.log_every == 0:
            recent = losses[-args.log_every :]
            cpu = cpu_before + time.process_time() - cpu0
            log(
                work,
                f"round {n}: step {done}/{args.steps_per_round} loss {sum(recent) / len(recent):.4f} cpu {cpu / 60:.1f} min",
            )
        if done % args.save_every == 0 and done < args.steps_per_round:
            state = {
                "student": student.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                "generator": generator.get_state(), "step": done, "losses": losses,
                "cpu_s": cpu_before + time.process_time() - cpu0,
            }  # fmt: skip
            torch.save(state, partial.with_suffix(".tmp"))
            partial.with_suffix(".tmp").replace(partial)
    cpu_s = cpu_before + time.process_time() - cpu0
    record = {"student_steps": n, "teacher_steps": 2 * n, "optimizer_steps": args.steps_per_round,
              "batch_size": args.batch_size, "learning_rate": args.lr, "ema_decay": args.ema, "cpu_s": round(cpu_s, 1),
              "final_loss": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 5)}  # fmt: skip
    rounds = provenance.get("distillation", {}).get("rounds", []) + [record]
    metadata = dict(provenance)
    metadata["distillation"] = {**provenance.get("distillation", {}), "rounds": rounds}
    metadata.update(
        sampler="ddim", sampling_steps=n, spacing="trailing", clip_x0="clip", step=sum(r["optimizer_steps"] for r in rounds),
        wall_time_s=round(sum(r["cpu_s"] for r in rounds), 1), device="cpu",
        recipe=f"python scripts/distil_fmnist.py {' '.join(sys.argv[1:])}", git_commit=git_commit(),
    )  # fmt: skip
    ema = ema.eval().requires_grad_(False)
    save_half(work / f"round_{n}step.safetensors", ema, schedule, metadata)
    partial.unlink(missing_ok=True)
    return ema, metadata


def train(args) -> None:
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    teacher_path = resource_path("models", TEACHER)
    checkpoint = load_denoiser(teacher_path)
    teacher, schedule = checkpoint.model.eval().requires_grad_(False), checkpoint.schedule
    keep = ("dataset", "dataset_name", "class_names", "image_shape")
    provenance = {k: checkpoint.metadata[k] for k in keep if k in checkpoint.metadata}
    provenance["distillation"] = {
        "method": "progressive distillation (Salimans & Ho 2022, Alg. 2, truncated-SNR weight)",
        "teacher_file": TEACHER, "teacher_sha256": sha256(teacher_path), "first_teacher_steps": args.teacher_steps,
        "null_label_fraction": NULL_LABEL_FRACTION, "seed": args.seed,
    }  # fmt: skip
    dataset = load_fashion_mnist("train")
    log(work, f"teacher {TEACHER}, rounds {round_steps(args.teacher_steps, args.final_steps)}, threads {args.threads}")
    for n in round_steps(args.teacher_steps, args.final_steps):
        done = work / f"round_{n}step.safetensors"
        if done.is_file():
            finished = load_denoiser(done)
            teacher, provenance = finished.model.eval().requires_grad_(False), finished.metadata
            log(work, f"round {n}: already done ({done.name}), used as the next teacher")
            continue
        teacher, provenance = run_round(args, teacher, schedule, dataset.images, dataset.labels, n, work, provenance)
        log(work, f"round {n}: saved {done.name}")
        scores = evaluate_images(*sample_images(teacher, schedule, args.samples, steps=n, seed=args.eval_seed))
        log(work, f"round {n}: student DDIM-{n} on {args.samples} samples: FID {scores['fid']:.2f}, "
                  f"class accuracy {scores['class_accuracy']:.3f}")  # fmt: skip


def evaluation_file(work: Path, samples: int, seed: int) -> Path:
    return work / (f"evaluation_{samples}.json" if seed == 0 else f"evaluation_{samples}_seed{seed}.json")


def evaluate(args) -> None:
    """FID and class accuracy, same sample count and seed for every row, with the real-vs-real floor.

    Rows already in ``<work>/evaluation_<samples>.json`` for the same seed are reused (the teacher's rows
    do not change when a student is added); a student row is recomputed when its file changed.
    """
    torch.set_num_threads(args.threads)
    work = Path(args.work)
    out = evaluation_file(work, args.samples, args.eval_seed)
    cache = {}
    if out.is_file():
        saved = json.loads(out.read_text())
        if saved["seed"] == args.eval_seed:
            cache = {(r["row"], r.get("sha256")): r for r in saved["rows"]}
    checkpoint = load_denoiser(resource_path("models", TEACHER))
    table = []

    def row(name: str, steps: int, score, sha: str | None = None, **extra) -> None:
        if (name, sha) not in cache:
            t0 = time.process_time()
            cache[name, sha] = {"row": name, "steps": steps, "sha256": sha, **extra, **score(),
                                "cpu_s": round(time.process_time() - t0, 1)}  # fmt: skip
            print(f"{name}: FID {cache[name, sha]['fid']:.2f}", flush=True)
        table.append(cache[name, sha])
        out.write_text(json.dumps({"samples": args.samples, "seed": args.eval_seed, "rows": table}, indent=1))

    def sampled(model, schedule, steps):
        return lambda: evaluate_images(*sample_images(model, schedule, args.samples, steps=steps, seed=args.eval_seed))

    row("real vs real (floor)", 0, lambda: real_vs_real_images(args.samples, seed=args.eval_seed))
    students = sorted(work.glob("round_*step.safetensors"), key=lambda p: -int(p.name[6:].split("step")[0]))
    student_steps = [int(p.name[6:].split("step")[0]) for p in students]
    for steps in sorted({50, *args.teacher_eval_steps, *student_steps}, reverse=True):
        row(f"teacher DDIM-{steps}", steps, sampled(checkpoint.model, checkpoint.schedule, steps))
    for path, steps in zip(students, student_steps, strict=True):
        student = load_denoiser(path)
        cpu = sum(r["cpu_s"] for r in student.metadata["distillation"]["rounds"])
        row(f"student, {steps} steps", steps, sampled(student.model, student.schedule, steps), sha256(path),
            distillation_cpu_min=round(cpu / 60, 1))  # fmt: skip
    print("| Row | steps | FID | KID | class accuracy | precision | recall |\n|---|---:|---:|---:|---:|---:|---:|")
    for r in table:
        print(f"| {r['row']} | {r['steps'] or '—'} | {r['fid']:.2f} | {r['kid']:.4f} | {r.get('class_accuracy', 0):.2f} "
              f"| {r['precision']:.2f} | {r['recall']:.2f} |")  # fmt: skip


def ship(args) -> None:
    """Copy a round's student into resources/models with the evaluation rows that concern it in its metadata."""
    source = Path(args.work) / f"round_{args.steps}step.safetensors"
    if not source.is_file():
        raise SystemExit(f"{source} does not exist; run `train` first.")
    student = load_denoiser(source)
    metadata = dict(student.metadata)
    table = evaluation_file(Path(args.work), args.samples, args.eval_seed)
    if table.is_file():
        saved = json.loads(table.read_text())
        wanted = {"real vs real (floor)", "teacher DDIM-50", f"teacher DDIM-{args.steps}"}
        digest = sha256(source)
        keys = ("row", "steps", "fid", "kid", "class_accuracy", "precision", "recall")
        rows = [{k: r.get(k) for k in keys} for r in saved["rows"] if r["row"] in wanted or r.get("sha256") == digest]
        metadata["evaluation"] = {"samples": saved["samples"], "seed": saved["seed"], "rows": rows}
    else:
        print(f"warning: {table} is missing; the shipped file carries no measured FID")
    target = resource_path("models", SHIPPED.format(n=args.steps))
    save_half(target, student.model, student.schedule, metadata)  # its weights are float16 already: no change
    target.chmod(0o644)
    print(f"{target} ({target.stat().st_size / 1e6:.2f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="runs/distil_fmnist", help="folder for rounds, partial state and the log")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=200, help="samples per FID")
    parser.add_argument("--eval-seed", type=int, default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--teacher-steps", type=int, default=8, help="the first teacher's DDIM steps (2N)")
    t.add_argument("--final-steps", type=int, default=4)
    t.add_argument("--steps-per-round", type=int, default=600)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--ema", type=float, default=0.995)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=int, default=25)
    t.add_argument("--save-every", type=int, default=100)
    e = sub.add_parser("evaluate")
    e.add_argument("--teacher-eval-steps", type=int, nargs="*", default=[8, 4, 2])
    s = sub.add_parser("ship")
    s.add_argument("steps", type=int)
    args = parser.parse_args()
    {"train": train, "evaluate": evaluate, "ship": ship}[args.command](args)


if __name__ == "__main__":
    main()
