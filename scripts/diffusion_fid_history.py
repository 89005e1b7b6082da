"""Diffusion's row of "training time to reach a given FID" (issue 14): the shipped U-Net's recipe, run
under the GAN's and VAE's budget and scored the same way.

    python scripts/diffusion_fid_history.py            # 10 CPU-minutes at 1 thread, a snapshot every 2
    python scripts/diffusion_fid_history.py --minutes 1 --out /tmp/h.json   # a quick look

The shipped U-Net (resources/models/fmnist_unet.safetensors) kept no record of its quality while it
trained, so its time to a given FID cannot be read back. This recipe trains the same network with the
same settings (scripts/train_fmnist.py's FMNIST_RECIPE; seed 0; one thread, as scripts/train_gan.py and
scripts/train_vae.py) for the same CPU budget, saving a snapshot every ``--every`` CPU-seconds, then
scores every snapshot's EMA weights like the measured table (100 unconditional DDIM-20 samples, FID on
the classifier's features: ``core.evaluation.fid_history.measure_snapshots``). Writes the history, with
the recipe and its compute, to ``resources/models/compare/fmnist_diffusion_fid_history.json`` (the
weights are not kept: the shipped U-Net is the better model).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.evaluation.fid_history import measure_snapshots  # noqa: E402
from core.io.provenance import git_commit  # noqa: E402
from core.runtime import resource_path  # noqa: E402
from core.training import TrainConfig, train  # noqa: E402
from scripts.compare_recipe import drive  # noqa: E402
from scripts.train_fmnist import FMNIST_RECIPE  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU-time budget in minutes (default 10)")
    parser.add_argument("--every", type=float, default=120.0, help="CPU-seconds between snapshots")
    parser.add_argument("--wall-minutes", type=float, default=55.0, help="wall-clock cap on a busy machine")
    parser.add_argument("--samples", type=int, default=100, help="samples per FID (the measured table's 100)")
    parser.add_argument("--out", default=str(resource_path("models", "compare", "fmnist_diffusion_fid_history.json")))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="diffusion_snapshots_") as folder:
        config = TrainConfig(
            **FMNIST_RECIPE,
            steps=100_000,
            time_budget_s=60 * args.wall_minutes,
            threads=1,
            seed=0,
            preview_every=0,
            log_every=25,
            checkpoint_path=str(Path(folder) / "final.safetensors"),
            recipe="scripts/diffusion_fid_history.py",
        )
        finished, snapshots, cpu_total = drive(train, config, 60 * args.minutes, Path(folder), args.every)
        snapshots.append((finished.checkpoint_path, cpu_total))
        history = measure_snapshots("diffusion", snapshots, n=args.samples)
    for p in history:
        print(f"step {p.step:6d}  wall {p.wall_s:7.0f} s  CPU {p.cpu_s:6.0f} s  FID {p.fid:6.1f}", flush=True)
    record = {
        "model": "fmnist_unet recipe (scripts/train_fmnist.py FMNIST_RECIPE), 1 thread",
        "recipe": "python scripts/diffusion_fid_history.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cpu_seconds": cpu_total,
        "steps": finished.step,
        "wall_time_s": round(finished.elapsed_s, 1),
        "fid_samples": args.samples,
        "sampler": "DDIM 20, unconditional",
        "git_commit": git_commit(),
        "fid_history": [p.to_dict() for p in history],
    }
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()
