"""The command line: ``diffusion-lab train | sample | info`` (also ``python -m core``).

For instructors who pretrain models on a stronger machine and for scripting:

    diffusion-lab train fashion_mnist --preset small --steps 3000 --out fmnist.safetensors
    diffusion-lab train toy:swiss_roll --steps 2000 --out roll.safetensors
    diffusion-lab train fashion_mnist --resume fmnist.safetensors --steps 6000
    torchrun --nproc_per_node=4 -m core train fashion_mnist --preset base --batch 512 --out fmnist.safetensors
    diffusion-lab sample fmnist.safetensors --sampler ddim --steps 50 -n 64 --guidance 2 -o grid.png -o samples.npz
    diffusion-lab info fmnist.safetensors

The commands drive the same core functions as the desktop app (``core.training.train`` events,
the samplers of ``core.diffusion.samplers``); this package only parses arguments and prints: one module
per command (``train_command``, ``sample_command``, ``info_command``) and the progress line. Any problem with
the user's input (a damaged checkpoint, an unreadable dataset, a bad setting) prints one line to
stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys

from core.cli import info_command, sample_command, train_command
from core.cli.info_command import describe_checkpoint
from core.cli.progress import ProgressLine, format_duration
from core.cli.sample_command import draw_samples, parse_classes

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffusion-lab", description="Train diffusion models, sample from them and inspect checkpoints."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{train,sample,info}")

    train_command.add_parser(sub)
    sample_command.add_parser(sub)
    info_command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input, 130 interrupted)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    args.progress_stream = sys.stderr
    from core.data import DatasetError
    from core.io.checkpoints import CheckpointError
    from core.training import TrainingError

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


__all__ = [
    "ProgressLine",
    "build_parser",
    "describe_checkpoint",
    "draw_samples",
    "format_duration",
    "main",
    "parse_classes",
]
