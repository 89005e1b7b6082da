"""Quality of the lesson preset after minutes of CPU training, beside the shipped Fashion-MNIST model.

    python benchmarks/bench_lesson_preset.py                 # the shipped gallery checkpoints, 200 samples each
    python benchmarks/bench_lesson_preset.py --n 100 --png /tmp/lesson.png

Each row is one checkpoint of ``resources/models/gallery`` (the lesson preset, ``core.training.lesson``,
saved at increasing steps by ``scripts/train_lesson_gallery.py``), sampled with DDIM 20 and guidance 2
(the Train view's previews) for class-balanced labels, and scored by ``core.evaluation.lesson_quality``:
class accuracy by the project's classifier, FID against real test images of the same four classes.
Two anchors use the same code: the **floor** (real held-out images of those classes, passed through the
same 16×16 → 32×32 path) and the **shipped model** (``fmnist_unet``, 10 classes at 32×32, an hour of
CPU training, asked for the same four classes).

Training time is read from each checkpoint: the wall time it trained (``wall_time_s``) and the CPU
time of the training process (``cpu_time_s``, threads stated). The wall time of a shared machine is
inflated by other jobs; the CPU time divided by the threads is close to what a quiet machine gives.
Minutes of CPU training in the table are that quiet-machine estimate. FID is biased upwards at small
sample counts: compare rows only with the floor of the same table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.evaluation import lesson_quality as lq  # noqa: E402
from core.io import load_denoiser  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training.lesson import LESSON_CLASSES, LESSON_DOWNSAMPLE  # noqa: E402

GALLERY = resource_path("models", "gallery")
SHIPPED = resource_path("models", "fmnist_unet.safetensors")


def _row(name, minutes, q, seconds):
    mins = "" if minutes is None else f"{minutes:.1f}"
    fid = f"{q['fid']:.2f}"
    return (
        f"| {name} | {mins} | {q['class_accuracy'] * 100:.0f}% | {fid} | {q['inception_score']:.2f} | {seconds:.1f} |"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200, help="samples per row (class-balanced)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-shipped", action="store_true", help="skip the shipped model's row (the slowest)")
    p.add_argument("--png", default=None, help="also save a grid of each row's first 16 samples here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    reference = lq._reference_features(LESSON_CLASSES)
    print(f"{args.n} samples per row, DDIM 20, guidance 2, classes: {', '.join(LESSON_CLASSES)}")
    print("| Model | Quiet CPU-minutes of training | Class accuracy ↑ | FID (4 classes) ↓ | IS ↑ | Eval s |")
    print("|---|---|---|---|---|---|")
    t = time.time()
    floor_images, floor_labels = lq.real_garments(LESSON_CLASSES, args.n, downsample=LESSON_DOWNSAMPLE)
    floor = lq.lesson_quality(floor_images, floor_labels, LESSON_CLASSES, reference)
    print(_row("floor: real images, 16×16 → 32×32", None, floor, time.time() - t), flush=True)
    grids = [floor_images[:16]]
    for path in sorted(GALLERY.glob("*.safetensors")):
        t = time.time()
        ckpt = load_denoiser(path)
        meta = ckpt.metadata
        minutes = meta["cpu_time_s"] / meta.get("threads", 1) / 60 if "cpu_time_s" in meta else None
        images, labels = lq.garment_samples(
            ckpt.model, ckpt.schedule, meta["class_names"], args.n, downsample=LESSON_DOWNSAMPLE
        )
        q = lq.lesson_quality(images, labels, LESSON_CLASSES, reference)
        print(
            _row(f"lesson, step {meta['step']} ({meta['wall_time_s'] / 60:.1f} wall-min)", minutes, q, time.time() - t)
        )
        grids.append(images[:16])
    if not args.no_shipped:
        t = time.time()
        ckpt = load_denoiser(SHIPPED)
        model = ckpt.model
        wanted = lq.classifier_labels(LESSON_CLASSES)
        # Ask the ten-class model for the lesson's four classes only, balanced as the other rows.
        from core.diffusion.guidance import ClassifierFreeGuidance
        from core.diffusion.samplers import sample_ddim

        labels = wanted[torch.arange(args.n) % len(wanted)]
        generator = torch.Generator().manual_seed(0)
        noise = torch.randn((args.n, 1, 32, 32), generator=generator)
        images = sample_ddim(
            ClassifierFreeGuidance(model, 2.0), noise, ckpt.schedule, 20, cond={"class_labels": labels}, clip_x0="clip"
        )
        q = lq.lesson_quality(images, labels, LESSON_CLASSES, reference)
        minutes = ckpt.metadata.get("wall_time_s", 0) / 60
        print(_row(f"shipped fmnist_unet, step {ckpt.metadata.get('step')}", minutes, q, time.time() - t))
        grids.append(images[:16])
    if args.png:
        from PIL import Image

        rows = [torch.cat(list(g[:, 0]), dim=1) for g in grids]
        a = ((torch.cat(rows, dim=0).clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
        Image.fromarray(a).resize((a.shape[1] * 2, a.shape[0] * 2), Image.NEAREST).save(args.png)
        print(f"saved {args.png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
