"""The command line: ``diffusion-lab train | sample | info`` (also ``python -m core``).

For instructors who pretrain models on a stronger machine and for scripting:

    diffusion-lab train fashion_mnist --preset small --steps 3000 --out fmnist.safetensors
    diffusion-lab train toy:swiss_roll --steps 2000 --out roll.safetensors
    diffusion-lab train fashion_mnist --resume fmnist.safetensors --steps 6000
    torchrun --nproc_per_node=4 -m core train fashion_mnist --preset base --batch 512 --out fmnist.safetensors
    diffusion-lab sample fmnist.safetensors --sampler ddim --steps 50 -n 64 --guidance 2 -o grid.png -o samples.npz
    diffusion-lab info fmnist.safetensors

The commands drive the same core functions as the desktop app (``core.training.train`` events,
the samplers of ``core.diffusion.samplers``); this file only parses arguments and prints. Any problem with
the user's input (a damaged checkpoint, an unreadable dataset, a bad setting) prints one line to
stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shlex
import signal
import sys
import time
from pathlib import Path

import torch

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# --- progress ----------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressLine:
    """One status line rewritten in place with ``\\r`` on a terminal; on a pipe or log file, a plain
    line at most every ``log_interval`` seconds (and for the last update)."""

    def __init__(self, stream=None, log_interval: float = 10.0, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.log_interval, self.width = log_interval, width
        self._last_print = -math.inf
        self._dirty = False

    def bar(self, fraction: float) -> str:
        filled = int(round(self.width * min(max(fraction, 0.0), 1.0)))
        return "[" + "#" * filled + "." * (self.width - filled) + "]"

    def update(self, text: str, final: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            self._dirty = True
            if final:
                self.finish()
        elif final or now - self._last_print >= self.log_interval:
            self.stream.write(text + "\n")
            self._last_print = now
        self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._dirty:
            self.stream.write("\n")
            self.stream.flush()
        self._dirty = False

    def message(self, text: str) -> None:
        """Print a line of its own (ending the status line first)."""
        self.finish()
        self.stream.write(text + "\n")
        self.stream.flush()


# --- train -------------------------------------------------------------------------------------


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


# --- sample ------------------------------------------------------------------------------------


def parse_classes(spec: str | None, class_names: list[str] | None, num_classes: int) -> list[int] | None:
    """Class indices for a ``--class`` value: names or numbers separated by commas, "all" or "none".

    Returns None for unconditional sampling. "all" (the default for class-conditional models)
    cycles through every class.
    """
    if num_classes == 0:
        if spec not in (None, "none"):
            raise ValueError("This model was trained without classes, so --class cannot be used with it.")
        return None
    if spec == "none":
        return None
    if spec is None or spec == "all":
        return list(range(num_classes))
    names = [n.lower() for n in (class_names or [])]
    out = []
    for item in (s.strip() for s in spec.split(",")):
        if item.isdigit() and int(item) < num_classes:
            out.append(int(item))
        elif item.lower() in names:
            out.append(names.index(item.lower()))
        else:
            known = ", ".join(class_names or []) or f"0 … {num_classes - 1}"
            raise ValueError(f"Unknown class {item!r}. This model knows: {known}.")
    return out


def draw_samples(
    checkpoint,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int | None = None,
    seed: int = 0,
    classes: list[int] | None = None,
    guidance: float | None = None,
    eta: float | None = None,
    device: torch.device | str = "cpu",
    callback=None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample ``n`` images (or 2-D points) from a loaded checkpoint; returns (samples on the CPU, labels).

    ``classes`` cycles over the given class indices; ``guidance`` is the classifier-free guidance
    scale (None: 2 for class-conditional models). The noise comes from a CPU generator seeded with
    ``seed``, so the same seed gives the same samples on any device up to float rounding.
    """
    from core.diffusion.guidance import ClassifierFreeGuidance
    from core.diffusion.samplers import DEFAULT_STEPS, get_sampler

    if n < 1:
        raise ValueError(f"The number of samples must be at least 1, not {n}.")
    sample_fn = get_sampler(sampler)
    steps = DEFAULT_STEPS[sampler] if steps is None else steps
    steps = min(steps, checkpoint.schedule.num_timesteps)
    options = {}
    if eta is not None:
        if sampler != "ddim":
            raise ValueError("--eta only applies to the ddim sampler.")
        options["eta"] = eta
    model = checkpoint.model.to(device)
    shape = checkpoint.data_shape
    generator = torch.Generator().manual_seed(seed)
    x_T = torch.randn((n, *shape), generator=generator).to(device)
    labels = None
    cond = None
    if classes is not None:
        labels = torch.tensor([classes[i % len(classes)] for i in range(n)], dtype=torch.long)
        scale = 2.0 if guidance is None else guidance
        model = ClassifierFreeGuidance(model, scale)
        cond = {"class_labels": labels.to(device)}
    elif guidance is not None and checkpoint.num_classes:
        raise ValueError("Guidance steers towards a class; choose classes with --class, not 'none'.")
    elif guidance is not None:
        ClassifierFreeGuidance(model, guidance)  # raises the clear "needs a class-conditional model" error
    noise_generator = torch.Generator(device=x_T.device).manual_seed(seed + 1)
    x = sample_fn(
        model,
        x_T,
        checkpoint.schedule,
        steps,
        generator=noise_generator,
        callback=callback,
        cond=cond,
        clip_x0="clip" if len(shape) == 3 else None,
        **options,
    )
    return x.detach().float().cpu(), labels


def cmd_sample(args: argparse.Namespace) -> int:
    from core.data.images import make_grid, save_png, save_samples_npz, scatter_image
    from core.io.checkpoints import load_denoiser
    from core.runtime.device import select_device, set_threads

    outputs = [Path(p) for p in (args.out or ["samples.png"])]
    for p in outputs:
        if p.suffix.lower() not in (".png", ".npz"):
            raise ValueError(f"Output files must end in .png (a picture) or .npz (arrays), not {p.name!r}.")
    set_threads(args.threads)
    device = select_device(args.device)
    ck = load_denoiser(args.checkpoint)
    classes = parse_classes(args.class_, ck.class_names, ck.num_classes)
    progress = ProgressLine(args.progress_stream)

    def on_step(s):
        progress.update(
            f"sampling {progress.bar((s.index + 1) / s.num_steps)} step {s.index + 1}/{s.num_steps}",
            final=s.index + 1 == s.num_steps,
        )

    samples, labels = draw_samples(
        ck,
        args.n,
        sampler=args.sampler,
        steps=args.steps,
        seed=args.seed,
        classes=classes,
        guidance=args.guidance,
        eta=args.eta,
        device=device,
        callback=on_step,
    )
    progress.finish()
    points = samples.ndim == 2
    for path in outputs:
        if path.suffix.lower() == ".npz":
            if points:
                save_samples_npz(path, points=samples, labels=labels)
            else:
                save_samples_npz(path, images=samples, labels=labels)
        elif points:
            save_png(path, scatter_image(samples, labels))
        else:
            nrow = args.nrow or (len(classes) if classes and 1 < len(classes) <= args.n else None)
            save_png(path, make_grid(samples, nrow=nrow), scale=args.scale)
        print(f"Wrote {path}")
    return 0


# --- info --------------------------------------------------------------------------------------


def describe_checkpoint(ck) -> list[tuple[str, str]]:
    """(label, value) rows describing a loaded checkpoint, for ``info`` and the app's model browser."""
    from core.models.registry import count_parameters

    m = ck.metadata
    config = dict(m.get("model_config") or {})
    arch = config.pop("arch", "?")
    size = ck.path.stat().st_size if ck.path.exists() else 0
    rows = [
        ("File", f"{ck.path} ({size / 1e6:.1f} MB)"),
        ("Format", f"Diffusion Lab checkpoint v{m.get('format_version')}"),
        ("Network", f"{arch}, {count_parameters(ck.model):,} parameters"),
        ("Settings", ", ".join(f"{k}={v}" for k, v in config.items())),
        ("Predicts", {"eps": "ε (the noise)", "x0": "x₀ (the clean data)", "v": "v (velocity)"}[ck.prediction_type]),
        ("Schedule", ck.schedule.label),
        ("Data", _shape_words(ck.data_shape) + (f" from {m['dataset']}" if m.get("dataset") else "")),
    ]
    if ck.num_classes:
        names = ck.class_names or [str(i) for i in range(ck.num_classes)]
        rows.append(("Classes", f"{ck.num_classes}: {', '.join(names)}"))
    else:
        rows.append(("Classes", "none (unconditional)"))
    if m.get("step") is not None:
        trained = f"{m['step']:,} steps"
        if m.get("wall_time_s") is not None:
            trained += f" in {format_duration(m['wall_time_s'])}"
        if m.get("device"):
            trained += f" on {m['device']}"
        rows.append(("Trained", trained))
    rows.append(("Resumable", "yes (training state included)" if ck.resumable else "no (sampling weights only)"))
    versions = [f"torch {m.get('torch_version')}", f"Python {m.get('python_version')}"]
    if m.get("app_version"):
        versions.insert(0, f"Diffusion Lab {m['app_version']}")
    rows.append(("Saved", f"{m.get('saved_at', '?')} with {', '.join(versions)}"))
    if m.get("git_commit"):
        rows.append(("Commit", m["git_commit"]))
    if m.get("recipe"):
        rows.append(("Recipe", m["recipe"] if isinstance(m["recipe"], str) else json.dumps(m["recipe"])))
    return rows


def _shape_words(shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{shape[0]}-D points"
    channels = {1: "grayscale", 3: "RGB"}.get(shape[0], f"{shape[0]}-channel")
    return f"{channels} images {'×'.join(str(s) for s in shape[1:])}"


def cmd_info(args: argparse.Namespace) -> int:
    from core.io.checkpoints import load_denoiser

    ck = load_denoiser(args.checkpoint)
    if args.json:
        print(json.dumps(ck.metadata, indent=2, ensure_ascii=False))
        return 0
    rows = describe_checkpoint(ck)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


# --- argument parsing --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from core.diffusion.prediction import PREDICTION_TYPES
    from core.diffusion.samplers import SAMPLERS
    from core.diffusion.schedules import SCHEDULE_KINDS
    from core.runtime.device import DEVICE_CHOICES, PRECISION_CHOICES

    parser = argparse.ArgumentParser(
        prog="diffusion-lab", description="Train diffusion models, sample from them and inspect checkpoints."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,sample,info}")

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

    s = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid and/or .npz")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--sampler", choices=list(SAMPLERS), default="ddim")
    s.add_argument("--steps", type=int, default=None, help="sampling steps (default depends on the sampler)")
    s.add_argument("--eta", type=float, default=None, help="DDIM's η: 0 deterministic … 1 DDPM-like")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument(
        "--class",
        dest="class_",
        default=None,
        metavar="CLASS",
        help="class names or numbers separated by commas, 'all' (default) or 'none'",
    )
    s.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default 2)")
    s.add_argument(
        "-o",
        "--out",
        action="append",
        default=None,
        metavar="FILE",
        help="output .png (grid or scatter plot) or .npz (arrays); repeatable (default samples.png)",
    )
    s.add_argument("--nrow", type=int, default=None, help="images per grid row")
    s.add_argument("--scale", type=int, default=2, help="enlarge grid pixels this many times (default 2)")
    s.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
    s.add_argument("--threads", type=int, default=None)
    s.set_defaults(func=cmd_sample)

    i = sub.add_parser("info", help="print what a checkpoint contains")
    i.add_argument("checkpoint", type=Path)
    i.add_argument("--json", action="store_true", help="print the raw metadata as JSON")
    i.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    args.progress_stream = sys.stderr
    from core.data import DatasetError
    from core.io.checkpoints import CheckpointError

    try:
        from core.training import TrainingError
    except ImportError:  # pragma: no cover - only while the training module is being written
        TrainingError = RuntimeError  # noqa: N806
    try:
        return args.func(args)
    except (CheckpointError, DatasetError, TrainingError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["describe_checkpoint", "draw_samples", "main", "parse_classes"]
