"""What scripts/train_gan.py and scripts/train_vae.py share: run the loop, print progress, save the weights."""

from __future__ import annotations

import time
from pathlib import Path

from core.io.generative_checkpoints import save_generative
from core.training import TrainingControl
from core.training.events import Finished, Started, StepEvent


def run_recipe(train, config, out: str, cpu_seconds: float) -> Path:
    """Drive ``train(config)`` until it ends or has used ``cpu_seconds`` of CPU time (a fair budget on a
    shared machine, where wall time depends on the neighbours), printing progress; save the sampling weights."""
    t0 = time.process_time()
    finished = None
    control = TrainingControl()
    for event in train(config, control):
        if time.process_time() - t0 >= cpu_seconds:
            control.stop()
        if isinstance(event, Started):
            print(f"{event.num_parameters:,} parameters, {event.dataset_size:,} training images", flush=True)
        elif isinstance(event, StepEvent) and event.step % 500 == 0:
            extra = {
                k: round(v, 4) for k, v in vars(event).items() if k in ("g_loss", "d_real", "d_fake", "recon", "kl")
            }
            print(f"step {event.step} loss {event.loss:.4f} {extra} {event.elapsed_s:.0f}s", flush=True)
        elif isinstance(event, Finished):
            finished = event
    metadata = dict(finished.metadata, cpu_seconds=round(time.process_time() - t0, 1), threads=config.threads)
    path = save_generative(out, finished.model, metadata=metadata)
    print(f"saved {path} after {finished.step} steps, {finished.elapsed_s:.0f} s wall", flush=True)
    return path
