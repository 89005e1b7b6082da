"""What the Compare view's recipes share: drive a training loop for a CPU-time budget, save snapshots on
the way, save the sampling weights, and record the run's FID over training time (issue 14's "training
time to reach a given FID": ``core.evaluation.fid_history``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from core.evaluation.fid_history import measure_snapshots
from core.io.generative_checkpoints import save_generative
from core.training import TrainingControl
from core.training.events import CheckpointSaved, Finished, Started, StepEvent


def drive(train, config, cpu_seconds: float, snapshot_dir: Path | None = None, snapshot_every_cpu_s: float = 0.0):
    """Run ``train(config, control)`` until it ends or has used ``cpu_seconds`` of CPU time (a fair budget on
    a shared machine, where wall time depends on the neighbours), printing progress. Every
    ``snapshot_every_cpu_s`` it asks the loop to save a resumable snapshot into ``snapshot_dir``.
    Returns (the Finished event, [(snapshot path, CPU-seconds when saved)], CPU-seconds in all)."""
    t0 = time.process_time()
    finished, snapshots, next_snapshot = None, [], snapshot_every_cpu_s
    control = TrainingControl()
    for event in train(config, control):
        used = time.process_time() - t0
        if used >= cpu_seconds:
            control.stop()
        elif snapshot_dir is not None and snapshot_every_cpu_s and used >= next_snapshot:
            control.request_save(Path(snapshot_dir) / f"snapshot_{len(snapshots) + 1:03d}.safetensors")
            next_snapshot += snapshot_every_cpu_s
            snapshots.append(None)  # filled when the loop reports the save
        if isinstance(event, Started):
            print(f"{event.num_parameters:,} parameters, {event.dataset_size:,} training images", flush=True)
        elif isinstance(event, StepEvent) and event.step % 500 == 0:
            extra = {
                k: round(v, 4) for k, v in vars(event).items() if k in ("g_loss", "d_real", "d_fake", "recon", "kl")
            }
            print(f"step {event.step} loss {event.loss:.4f} {extra} {event.elapsed_s:.0f}s", flush=True)
        elif isinstance(event, CheckpointSaved) and event.reason == "requested":
            index = snapshots.index(None)
            snapshots[index] = (event.path, round(time.process_time() - t0, 1))
            print(f"snapshot at step {event.step}, CPU {snapshots[index][1]} s", flush=True)
        elif isinstance(event, Finished):
            finished = event
    return finished, [s for s in snapshots if s is not None], round(time.process_time() - t0, 1)


def run_recipe(
    train,
    config,
    out: str,
    cpu_seconds: float,
    *,
    kind: str,
    snapshot_every_cpu_s: float = 60.0,
    fid_samples: int = 100,
) -> Path:
    """Train within ``cpu_seconds``, save the sampling weights to ``out`` with their provenance and the
    run's ``fid_history``: the FID of every snapshot and of the final weights, with its step, wall and
    CPU seconds (scored after training, so scoring never counts as training time)."""
    with tempfile.TemporaryDirectory(prefix=f"{kind}_snapshots_") as folder:
        finished, snapshots, cpu_total = drive(train, config, cpu_seconds, Path(folder), snapshot_every_cpu_s)
        metadata = dict(finished.metadata, cpu_seconds=cpu_total, threads=config.threads)
        path = save_generative(out, finished.model, metadata=metadata)
        print(
            f"saved {path} after {finished.step} steps, {finished.elapsed_s:.0f} s wall; scoring snapshots", flush=True
        )
        history = measure_snapshots(kind, [*snapshots, (path, cpu_total)], n=fid_samples)
    for point in history:
        print(
            f"step {point.step:6d}  wall {point.wall_s:7.0f} s  CPU {point.cpu_s:6.0f} s  FID {point.fid:6.1f}",
            flush=True,
        )
    metadata["fid_history"] = [p.to_dict() for p in history]
    metadata["fid_history_samples"] = fid_samples
    return save_generative(out, finished.model, metadata=metadata)
