"""Text-to-image speed: 16 images × 50 DDIM steps with classifier-free guidance, on 2 threads.

    python benchmarks/bench_text_to_image.py                  # the shipped model, 2 threads, best of 3
    python benchmarks/bench_text_to_image.py --threads 1 --rounds 5

Three lines, each the best of ``--rounds`` runs (a busy shared machine slows single runs), in wall-clock
seconds and in CPU seconds of this process (all its threads: on an idle machine the wall time lies between
CPU-s / threads and CPU-s, so the CPU time says what a quiet classroom laptop would see):

- ``generate``: the images only (guided DDIM, 50 network calls on a batch of 32 = 16 prompts + 16
  empty prompts, then one decoding);
- ``trace``: what the Latent view runs: every step's x̂₀ decoded and the attention maps per token kept;
- ``trace, every 5th step decoded``: the same with ``decode_every=5``.

Reference (issue 13): 16 images at 50 DDIM steps in ≤ 10 s on 2 cores.

``--accuracy N`` instead measures whether samples match their prompts (docs/quality.md): N images for each
of the 30 prompts "a {colour} {shape}", judged by the shipped shape/colour classifier, at each ``--scales``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data.captions import caption_attributes, make_captions  # noqa: E402
from core.data.shapes import draw_shape_parameters, render_shapes  # noqa: E402
from core.evaluation.prompt_accuracy import evaluation_prompts, prompt_accuracy  # noqa: E402
from core.io.attribute_classifier_file import load_attribute_classifier  # noqa: E402
from core.io.text_to_image_file import load_text_to_image  # noqa: E402
from core.runtime import resource_path  # noqa: E402

TARGET_S = 10.0


def best_of(rounds: int, run) -> tuple[float, float]:
    """The best wall-clock seconds and the CPU seconds (all threads) of that round."""
    times = []
    for _ in range(rounds):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = resource_path("models") / "latent" / "shapes_text_unet.safetensors"
    parser.add_argument("--model", type=Path, default=default)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--scale", type=float, default=3.0)
    parser.add_argument("--accuracy", type=int, default=0, help="images per prompt for the accuracy measurement")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 3.0, 5.0])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_text_to_image(args.model)
    if args.accuracy:
        measure_accuracy(model, args)
        return
    prompts = evaluation_prompts()[:16]
    model.generate(prompts[:2], steps=2)  # warm-up

    def trace(decode_every: int):
        for _ in model.trace(prompts, args.steps, args.scale, seed=0, decode_every=decode_every):
            pass

    rows = [
        ("generate", lambda: model.generate(prompts, args.steps, args.scale, seed=0)),
        ("trace (every x̂₀ decoded, attention kept)", lambda: trace(1)),
        ("trace, every 5th step decoded", lambda: trace(5)),
    ]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{len(prompts)} images × {args.steps} DDIM steps, guidance {args.scale:g}, {args.threads} thread(s), "
        f"best of {args.rounds}; load average {load:.1f}; torch {torch.__version__}"
    )
    for name, run in rows:
        seconds, cpu = best_of(args.rounds, run)
        verdict = "meets" if seconds <= TARGET_S else "misses"
        print(f"  {name:<44s} {seconds:6.2f} s wall, {cpu:6.2f} CPU-s   (target ≤ {TARGET_S:g} s: {verdict})")


def measure_accuracy(model, args) -> None:
    judge, info = load_attribute_classifier(args.model.parent / "shapes_attribute_classifier.safetensors")
    print(
        f"judge: shape {info['test_shape_accuracy']:.3f} / colour {info['test_color_accuracy']:.3f} on real shapes, "
        f"{info['reconstructed_shape_accuracy']:.3f} / {info['reconstructed_color_accuracy']:.3f} on reconstructions"
    )
    print(
        f"model: step {model.metadata.get('step')}, {model.metadata.get('cpu_time_s')} CPU-s; {args.steps} DDIM steps"
    )
    for scale in args.scales:
        start = time.perf_counter()
        r = prompt_accuracy(
            model, None, judge, samples_per_prompt=args.accuracy, steps=args.steps, guidance_scale=scale
        )
        print(
            f"  guidance {scale:g}: shape {r.shape_accuracy:.3f} (chance {r.chance_shape:.3f}), colour "
            f"{r.color_accuracy:.3f} (chance {r.chance_color:.3f}), {r.num_shape_images} images, "
            f"{time.perf_counter() - start:.0f} s"
        )
    # Full captions of held-out shapes: shape and colour by the judge; place and size read off the picture
    # (the centroid's third of the image; the lit area against the real shape's, in thirds of the radius range).
    params = draw_shape_parameters(30 * args.accuracy, seed=999)
    captions = make_captions(params, omit=0.0, seed=999)
    real = render_shapes(params)
    for scale in args.scales:
        r = prompt_accuracy(model, captions, judge, steps=args.steps, guidance_scale=scale)
        images = torch.cat(
            [model.generate(captions[i : i + 64], args.steps, scale, i) for i in range(0, len(captions), 64)]
        )
        lit, lit_real = images.amax(dim=1) > 0, real.amax(dim=1) > 0
        grid = torch.arange(32).float() + 0.5
        weight = lit.float().sum(dim=(1, 2)).clamp(min=1)
        cx = (lit.float().sum(dim=1) * grid).sum(dim=1) / weight
        cy = (lit.float().sum(dim=2) * grid).sum(dim=1) / weight
        place = [
            caption_attributes(params, i).place == _place_of(float(cx[i]), float(cy[i])) for i in range(len(params))
        ]
        ratio = (lit.float().sum(dim=(1, 2)) / lit_real.float().sum(dim=(1, 2))).sqrt()  # ~ radius ratio
        size_ok = (ratio > 0.8) & (ratio < 1.25)
        print(
            f"  full captions, guidance {scale:g}: shape {r.shape_accuracy:.3f}, colour {r.color_accuracy:.3f}, "
            f"place {sum(place) / len(place):.3f} (chance ≈ 0.11), size (√area) within 0.8–1.25× of the captioned shape's "
            f"{float(size_ok.float().mean()):.3f}; {len(captions)} captions such as '{captions[0]}'"
        )


def _place_of(cx: float, cy: float, size: int = 32) -> str:
    row = ("top", None, "bottom")[min(2, int(3 * cy / size))]
    column = ("left", None, "right")[min(2, int(3 * cx / size))]
    words = [w for w in (row, column) if w]
    return f"at the {' '.join(words)}" if words else "in the centre"


if __name__ == "__main__":
    main()
