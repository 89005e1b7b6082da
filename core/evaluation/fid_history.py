"""Sample quality over training time: (step, seconds, FID) points, and "time to reach FID ≤ X".

The seed's comparison table has a row "training time"; a fair reading of it is *how long each kind of
model trains before its samples reach a given quality*. The recipes (``scripts/compare_recipe.py``)
ask their loop to save a snapshot every so many CPU-seconds (the ``TrainingControl`` "save now"
request, so training itself is untouched) and score every snapshot afterwards with the same code as
the measured table (``core.evaluation.compare.measure_images``: FID on the classifier's features),
so scoring time never counts as training time.

``time_to_fid(history, X)`` is the first recorded point at or below X; ``shared_threshold`` picks the
X every model in a comparison reaches (the worst of their best FIDs), so no column reads "not reached"
only because X was set too low for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class FIDPoint:
    """The FID of the sampling weights after ``step`` steps, ``wall_s`` seconds of training (the loop's
    clock) and ``cpu_s`` seconds of CPU time of the training process (the fair cost on a shared machine)."""

    step: int
    wall_s: float
    cpu_s: float
    fid: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> FIDPoint:
        try:
            return cls(int(d["step"]), float(d["wall_s"]), float(d["cpu_s"]), float(d["fid"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"A FID history point needs step, wall_s, cpu_s and fid numbers; got {dict(d)!r}."
            ) from exc


def history_from_dicts(rows: Iterable[Mapping] | None) -> list[FIDPoint]:
    """A history stored as JSON (a list of dicts, as in a checkpoint's ``fid_history``), sorted by step."""
    return sorted((FIDPoint.from_dict(r) for r in rows or ()), key=lambda p: p.step)


def time_to_fid(history: Sequence[FIDPoint], threshold: float) -> FIDPoint | None:
    """The first point (in training order) whose FID is ≤ ``threshold``, or None when never reached."""
    if not math.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"The FID to reach must be a positive number, not {threshold!r}.")
    for point in sorted(history, key=lambda p: p.step):
        if point.fid <= threshold:
            return point
    return None


def shared_threshold(histories: Iterable[Sequence[FIDPoint]], round_to: float = 5.0) -> float | None:
    """The smallest multiple of ``round_to`` that every non-empty history reaches (each model's best FID,
    the worst of those, rounded up); None when no history has a point."""
    bests = [min(p.fid for p in h) for h in histories if h]
    if not bests:
        return None
    return math.ceil(max(bests) / round_to) * round_to


def measure_snapshots(
    kind: str, snapshots: Sequence[tuple[str | Path, float]], *, n: int = 100, steps: int = 20
) -> list[FIDPoint]:
    """Score saved snapshots of one run: ``snapshots`` = (checkpoint path, CPU-seconds at the save).

    Each file's own metadata gives its step and wall seconds; its sampling weights (a diffusion
    model's EMA weights, a GAN's generator, a VAE's decoder) draw ``n`` samples as the measured table
    draws them (DDIM ``steps`` for diffusion, unconditional) and FID is taken against the reference half
    of the test split.
    """
    from core.evaluation.compare import measure_images

    points = []
    for path, cpu_s in snapshots:
        model, schedule, metadata = _load(kind, path)
        m = measure_images(kind, model, schedule=schedule, n=n, steps=steps, likelihood_images=0)
        points.append(
            FIDPoint(int(metadata.get("step", 0)), float(metadata.get("wall_time_s", 0.0)), float(cpu_s), float(m.fid))
        )
    return sorted(points, key=lambda p: p.step)


def _load(kind: str, path):
    if kind == "diffusion":
        from core.io import load_denoiser

        ckpt = load_denoiser(path)
        return ckpt.model, ckpt.schedule, ckpt.metadata
    from core.io.generative_checkpoints import load_generative

    ckpt = load_generative(path, kind)
    return ckpt.model, None, ckpt.metadata


DIFFUSION_HISTORY = ("models", "compare", "fmnist_diffusion_fid_history.json")  # scripts/diffusion_fid_history.py


def shipped_fid_histories(metadata: Mapping[str, Mapping] | None = None) -> dict[str, list[FIDPoint]]:
    """kind → the FID history recorded for the shipped Fashion-MNIST models (empty where none was).

    The GAN's and VAE's come from their checkpoints' ``fid_history`` (``metadata``: kind → a loaded
    checkpoint's metadata, read from the files when not given). The shipped U-Net recorded none; its
    row is the same recipe run under the GAN's and VAE's budget (``DIFFUSION_HISTORY``)."""
    import json

    from core.evaluation.compare import SHIPPED
    from core.runtime.resources import resource_path

    if metadata is None:
        from core.io.checkpoint_format import METADATA_KEY, read_header

        metadata = {}
        for kind in ("gan", "vae"):
            header, _ = read_header(Path(resource_path(*SHIPPED[kind])))
            metadata[kind] = json.loads(header.get(METADATA_KEY, "{}"))
    out = {kind: history_from_dicts((metadata.get(kind) or {}).get("fid_history")) for kind in ("gan", "vae")}
    path = Path(resource_path(*DIFFUSION_HISTORY))
    out["diffusion"] = history_from_dicts(json.loads(path.read_text())["fid_history"]) if path.is_file() else []
    return {kind: out[kind] for kind in ("diffusion", "gan", "vae")}


def describe_time_to_fid(history: Sequence[FIDPoint], threshold: float | None) -> str:
    """A table cell: "410 CPU-s (step 2,300)", "not reached in 600 CPU-s (best 48.2)" or "not recorded"."""
    if not history:
        return "not recorded"
    if threshold is None:
        return "—"
    point = time_to_fid(history, threshold)
    if point is None:
        best = min(history, key=lambda p: p.fid)
        return f"not reached in {max(p.cpu_s for p in history):.0f} CPU-s (best {best.fid:.1f})"
    return f"{point.cpu_s:.0f} CPU-s (step {point.step:,})"
