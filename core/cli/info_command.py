"""``diffusion-lab info``: what a checkpoint contains, in words (or its raw metadata as JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cli.progress import format_duration


def add_parser(sub) -> None:
    """The ``info`` sub-command."""
    i = sub.add_parser("info", help="print what a checkpoint contains")
    i.add_argument("checkpoint", type=Path)
    i.add_argument("--json", action="store_true", help="print the raw metadata as JSON")
    i.set_defaults(func=cmd_info)


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
