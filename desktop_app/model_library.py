"""The models the Generate view offers: bundled ones, the user's checkpoints, and fresh ones.

Bundled models are the ``.safetensors`` files in ``resources/models`` (trained by the recipes in
``scripts/``); the user's own are those in the user-data ``checkpoints`` folder (the Train view saves
there). Listing reads only each file's JSON header (``core.io.checkpoints.read_metadata``), so it is
fast and a damaged file is listed with its problem instead of breaking the list. Loading the weights
happens when a model is chosen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from core.io import CheckpointError, read_metadata
from desktop_app import paths

SUFFIX = ".safetensors"
log = logging.getLogger(__name__)


@dataclass
class ModelEntry:
    """One model in the picker. ``path`` is None for a model that lives only in memory."""

    label: str  # what the picker shows
    source: str  # "bundled", "checkpoint" (user folder or opened file) or "trained" (this session)
    path: Path | None = None
    metadata: dict = field(default_factory=dict)
    problem: str | None = None  # why the file cannot be used (it is then listed but disabled)

    @property
    def usable(self) -> bool:
        return self.problem is None


def describe_metadata(metadata: dict) -> str:
    """A short description: dataset, sample shape, classes and training step."""
    parts = []
    dataset = metadata.get("dataset_name") or metadata.get("dataset")
    if dataset:
        parts.append(str(dataset))
    shape = metadata.get("image_shape")
    if shape:
        parts.append("2-D points" if list(shape) == [2] else "×".join(str(s) for s in shape))
    names = metadata.get("class_names") or []
    # What the model is conditioned on (its stored config), not the dataset's labels: older checkpoints
    # of unconditional models trained on labelled data list the dataset's class names too.
    built_for = (metadata.get("model_config") or {}).get("num_classes")
    classes = int(built_for) if isinstance(built_for, int) else len(names)
    if classes:
        parts.append(f"{classes} classes")
    step = metadata.get("step")
    if step:
        parts.append(f"step {step:,}")
    return ", ".join(parts)


def entry_for_file(path: str | Path, source: str = "checkpoint") -> ModelEntry:
    """A picker entry for one checkpoint file (reads its header only)."""
    path = Path(path)
    try:
        metadata = read_metadata(path)
    except (CheckpointError, OSError) as error:
        return ModelEntry(f"{path.stem} (cannot be read)", source, path, {}, str(error))
    details = describe_metadata(metadata)
    label = f"{path.stem} ({details})" if details else path.stem
    return ModelEntry(label, source, path, metadata)


def bundled_models_dir() -> Path:
    return paths.resources_dir() / "models"


def _files_in(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.glob(f"*{SUFFIX}") if p.is_file())
    except OSError:
        return []


def list_models(user_folder: Path | None = None) -> list[ModelEntry]:
    """Bundled models first (the lesson gallery's in step order after the others), then the user's
    checkpoints (newest first).

    A bundled file that is not a Diffusion Lab denoiser checkpoint (``resources/models`` also holds
    the metrics classifier) is left out; a damaged file of the user's is listed with its problem.
    """
    entries = []
    # The lesson gallery (resources/models/gallery): one run of the lesson preset at increasing steps.
    for path in _files_in(bundled_models_dir()) + _files_in(bundled_models_dir() / "gallery"):
        entry = entry_for_file(path, "bundled")
        if entry.usable and "image_shape" in entry.metadata:
            entries.append(entry)
        else:
            log.info("Not offering %s as a model: %s", path.name, entry.problem or "it is not a denoiser")
    if user_folder is None:
        try:
            user_folder = paths.checkpoints_dir()
        except OSError:
            return entries
    user_files = _files_in(Path(user_folder))
    user_files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    entries += [entry_for_file(p, "checkpoint") for p in user_files]
    return entries
