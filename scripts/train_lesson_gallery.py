"""Recipe for the lesson gallery (resources/models/gallery): the lesson preset saved at increasing steps.

    python scripts/train_lesson_gallery.py --out resources/models/gallery

One run of ``core.training.lesson.LESSON_PRESET`` (four garment classes at 16×16, the two-level
"tiny" U-Net); at each of ``LESSON_GALLERY_STEPS`` the EMA weights are saved as
``lesson_garments_step_NNNNN.safetensors`` with their provenance (config, recipe, step, training
wall time and CPU time) and without the optimizer state, so the files stay small. The Generate view
lists them, so a class can compare 50 steps with 500 at once.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.io import load_checkpoint, save_checkpoint  # noqa: E402
from core.training import CheckpointSaved, Finished, StepEvent, TrainingControl, train  # noqa: E402
from core.training.lesson import LESSON_GALLERY_STEPS, lesson_config  # noqa: E402


def gallery_name(step: int) -> str:
    return f"lesson_garments_step_{step:05d}.safetensors"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="resources/models/gallery")
    p.add_argument("--steps", type=int, nargs="+", default=list(LESSON_GALLERY_STEPS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gallery = sorted(set(args.steps))
    config = lesson_config(
        steps=gallery[-1],
        threads=args.threads,
        seed=args.seed,
        device="cpu",
        preview_every=0,
        log_every=10,
        recipe="python scripts/train_lesson_gallery.py " + " ".join(sys.argv[1:] if argv is None else argv),
    )
    control = TrainingControl()
    cpu0, t0 = _cpu_seconds(), time.time()
    for event in train(config, control):
        if isinstance(event, StepEvent):
            print(f"step {event.step:5d}  loss {event.loss:.4f}  {event.elapsed_s:6.0f} s", flush=True)
            if event.step in gallery:
                control.request_save(str(out / f"full_{event.step}.safetensors"))
        elif isinstance(event, CheckpointSaved):
            # Keep the EMA weights and the provenance; drop the optimizer state (three times the size).
            full = Path(event.path)
            ckpt = load_checkpoint(full)
            metadata = dict(ckpt.metadata)
            metadata["cpu_time_s"] = round(_cpu_seconds() - cpu0, 1)
            metadata["threads"] = args.threads
            path = save_checkpoint(
                out / gallery_name(event.step), ckpt.model, schedule=ckpt.schedule, metadata=metadata
            )
            full.unlink()
            print(f"saved {path} at step {event.step}", flush=True)
        elif isinstance(event, Finished):
            print(f"finished at step {event.step} after {time.time() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
