"""``diffusion-lab train``: the project's training loop from the command line, also under torchrun."""

from __future__ import annotations

import argparse
import io
import json
import shlex
import signal
import time
from pathlib import Path

from core.cli.progress import ProgressLine, format_duration


def add_parser(sub) -> None:
    """The ``train`` sub-command and its options."""
    from core.diffusion.prediction import PREDICTION_TYPES
    from core.diffusion.schedules import SCHEDULE_KINDS
    from core.runtime.device import DEVICE_CHOICES, PRECISION_CHOICES

    t = sub.add_parser(
        "train",
        help="train a denoiser and save it as a checkpoint",
        description="Train a denoiser. Ctrl-C stops after the current step and saves.",
    )
    t.add_argument(
        "dataset",
        nargs="?",
        help="fashion_mnist, shapes, toy:<name>, word:<text>, drawing:<file.json>, folder:<path> or idx:<path>",
    )
    t.add_argument("--preset", default=None, help="network: auto (default), tiny, small, base (U-Nets) or mlp (2-D)")
    t.add_argument("--steps", type=int, default=None, help="optimizer steps in total (default 2000)")
    t.add_argument(
        "--batch",
        type=int,
        default=None,
        help="examples per step, shared by all processes under torchrun (default 128)",
    )
    t.add_argument("--lr", type=float, default=None, help="peak learning rate (default 1e-3)")
    t.add_argument("--warmup", type=int, default=None, help="learning-rate warm-up steps (default 100)")
    t.add_argument("--ema", type=float, default=None, help="EMA decay of the saved weights (default 0.999)")
    t.add_argument("--schedule", choices=SCHEDULE_KINDS, default=None, help="noise schedule (default cosine)")
    t.add_argument("-T", "--timesteps", type=int, default=None, help="number of diffusion steps T (default 1000)")
    t.add_argument("--objective", choices=PREDICTION_TYPES, default=None, help="what the network predicts (default v)")
    t.add_argument("--loss-weighting", choices=("none", "min_snr"), default=None)
    cond = t.add_mutually_exclusive_group()
    cond.add_argument(
        "--class-conditional",
        dest="class_conditional",
        action="store_true",
        default=None,
        help="condition on the dataset's labels (the default when it has labels)",
    )
    cond.add_argument("--unconditional", dest="class_conditional", action="store_false")
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: PyTorch's choice)")
    t.add_argument("--device", choices=DEVICE_CHOICES, default=None)
    t.add_argument("--precision", choices=PRECISION_CHOICES, default=None)
    t.add_argument("--checkpoint-every", type=int, default=500, help="autosave every N steps (0: only at the end)")
    t.add_argument("-o", "--out", type=Path, default=None, help="checkpoint to write (default <dataset>.safetensors)")
    t.add_argument("--resume", type=Path, default=None, help="continue the run saved in this checkpoint")
    t.add_argument(
        "--dataset-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra dataset setting, e.g. limit=5000 (repeatable)",
    )
    t.add_argument(
        "--model-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="network setting override, e.g. base_channels=48 (repeatable)",
    )
    t.set_defaults(func=cmd_train)


def _parse_option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"Options are written KEY=VALUE, for example limit=5000; got {text!r}.")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def _train_config(args: argparse.Namespace):
    from core.training import TrainConfig

    settings = {
        "dataset": args.dataset,
        "dataset_options": dict(_parse_option(o) for o in args.dataset_option),
        "model": args.preset,
        "model_options": dict(_parse_option(o) for o in args.model_option),
        "schedule": args.schedule,
        "num_timesteps": args.timesteps,
        "prediction_type": args.objective,
        "loss_weighting": args.loss_weighting,
        "class_conditional": args.class_conditional,
        "learning_rate": args.lr,
        "warmup_steps": args.warmup,
        "batch_size": args.batch,
        "steps": args.steps,
        "ema_decay": args.ema,
        "precision": args.precision,
        "device": args.device,
        "threads": args.threads,
        "seed": args.seed,
        "preview_every": 0,
        "checkpoint_every": args.checkpoint_every,
        "checkpoint_path": str(args.out),
        "recipe": "diffusion-lab " + shlex.join(args.argv),
    }
    return TrainConfig(**{k: v for k, v in settings.items() if v is not None})


def _default_out(dataset: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset.split("/")[-1]).strip("_")
    return Path(f"{safe or 'model'}.safetensors")


def cmd_train(args: argparse.Namespace) -> int:
    from core.io.checkpoints import read_metadata
    from core.training import CheckpointSaved, Finished, Started, StepEvent, TrainingControl, train
    from core.training.distributed import start_from_environment
    from core.training.distributed import stop as leave_process_group

    if args.resume is not None:
        saved = read_metadata(args.resume).get("train_config")
        saved = saved if isinstance(saved, dict) else {}
        if args.dataset is None:
            args.dataset = saved.get("dataset", "")
        if args.steps is None and "steps" in saved:
            args.steps = saved["steps"]
        if args.out is None:
            args.out = Path(args.resume)
    if not args.dataset:
        raise ValueError("Name a dataset to train on, e.g. fashion_mnist, shapes or toy:swiss_roll.")
    if args.out is None:
        args.out = _default_out(args.dataset)
    config = _train_config(args)
    control = TrainingControl()
    # Under torchrun: one process per device, joined here; only rank 0 prints (and saves).
    world = start_from_environment(config.device)
    progress = ProgressLine(args.progress_stream if world.is_main else io.StringIO())

    def on_sigint(signum, frame):
        if control.stopped:
            raise KeyboardInterrupt
        control.stop()
        progress.message("Stopping after this step and saving… (press Ctrl-C again to quit without saving)")

    previous = signal.signal(signal.SIGINT, on_sigint) if _in_main_thread() else None
    try:
        first_step, started_at = 0, time.monotonic()
        for event in train(config, control, resume_from=args.resume, distributed=world):
            if not world.is_main:
                continue
            if isinstance(event, Started):
                first_step, started_at = event.start_step, time.monotonic()
                what = f"{event.dataset_name} ({event.dataset_size:,} examples"
                what += (
                    f", {len(event.class_names)} classes)" if config.class_conditional and event.class_names else ")"
                )
                resumed = f", resuming at step {event.start_step}" if event.start_step else ""
                devices = f"{world.world_size} processes, each on {event.device}" if world.enabled else event.device
                progress.message(f"Training {event.num_parameters:,} parameters on {devices}: {what}{resumed}.")
            elif isinstance(event, StepEvent):
                rate = (time.monotonic() - started_at) / max(event.step - first_step, 1)  # seconds per step
                eta = (event.total_steps - event.step) * rate
                progress.update(
                    f"step {event.step}/{event.total_steps} {progress.bar(event.step / event.total_steps)} "
                    f"loss {event.loss:.4f}  {event.images_per_s:,.0f} img/s  ETA {format_duration(eta)}",
                    final=event.step == event.total_steps,
                )
            elif isinstance(event, CheckpointSaved) and event.reason != "final":
                progress.message(f"Saved a checkpoint at step {event.step}: {event.path}")
            elif isinstance(event, Finished):
                progress.finish()
                verb = "Finished" if event.reason == "completed" else "Stopped"
                where = f"; saved {event.checkpoint_path}" if event.checkpoint_path else "; nothing new to save"
                print(f"{verb} at step {event.step} after {format_duration(event.elapsed_s)}{where}")
    finally:
        progress.finish()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        leave_process_group(world)
    return 0


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
