"""The guidance sweep: the same x_T sampled at a row of guidance scales, and what each scale costs.

Classifier-free guidance trades diversity for fidelity (Ho & Salimans 2022, Fig. 1 and Table 1).
``guidance_sweep`` makes that trade-off measurable for the shipped class-conditional Fashion-MNIST
model: every scale starts from exactly the same noise x_T and runs deterministic DDIM
(``core.diffusion.guided_sampling.guided_ddim``), so the only difference between the columns of the
grid is w. For each scale it measures, in the feature space of the metrics classifier
(``core.evaluation.metrics``):

- **fidelity**: class accuracy, the fraction of samples the classifier assigns to the class asked for;
  and precision (Kynkäänniemi et al. 2019), the fraction of samples on the real-image manifold;
- **diversity**: recall (Kynkäänniemi et al. 2019), the fraction of real images covered by the samples,
  and the per-class feature spread: the RMS distance of a class's features to their mean, averaged
  over classes, divided by the same number for real test images of the same classes (1 = as varied
  as real data, 0 = one image per class).

The real images are the reference half of the test split with the same class counts as the samples;
the held-out half, at the same counts, gives the real-vs-real floor of each number.

It is a generator (``SweepProgress`` after every DDIM step, ``SweepFinished`` at the end), so the CLI,
the tests and the GUI's worker drive the same loop and can stop it between steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.diffusion.guidance import check_guidance_interval, check_guidance_scale
from core.diffusion.guided_sampling import guided_ddim
from core.evaluation.metrics import (
    classifier_outputs,
    load_reference_statistics,
    precision_recall,
    quantize_images,
)
from core.models.classifier import prepare_images

DEFAULT_SCALES = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0)
FASHION_SHAPE = (1, 32, 32)
PR_NEIGHBOURS = 3  # k of the k-NN balls (Kynkäänniemi et al. 2019 use k = 3)


@dataclass(frozen=True)
class SweepProgress:
    done: int  # DDIM steps done over all chunks
    total: int
    scale_done: float | None = None  # set when the last sample of this scale has finished


@dataclass(frozen=True)
class ScaleMetrics:
    scale: float
    class_accuracy: float  # fidelity to the class asked for
    precision: float  # fidelity to the data manifold
    recall: float  # diversity: real images covered
    feature_spread: float  # diversity: per-class feature spread / the real data's


@dataclass
class SweepResult:
    scales: tuple[float, ...]
    labels: np.ndarray  # (N,) the class asked for, the same at every scale
    images: np.ndarray  # float32 (S, N, C, H, W) in [−1, 1]: row s = scale s, sample i from x_T[i]
    metrics: list[ScaleMetrics]
    floor: ScaleMetrics  # real held-out test images scored by the same code (scale = nan)
    steps: int
    interval: tuple[int, int] | None
    seconds: float
    class_names: list[str] = field(default_factory=list)

    def column(self, name: str) -> np.ndarray:
        """One metric at every scale, e.g. ``result.column("class_accuracy")``."""
        return np.array([getattr(m, name) for m in self.metrics])


@dataclass(frozen=True)
class SweepFinished:
    result: SweepResult


def class_feature_spread(features: np.ndarray, labels: np.ndarray) -> float:
    """Per-class spread: the RMS distance of each class's features to their mean, averaged over classes.

    Classes with fewer than 2 samples have no spread and are left out (ValueError if none is left).
    """
    features = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    spreads = []
    for c in np.unique(labels):
        f = features[labels == c]
        if len(f) >= 2:
            spreads.append(float(np.sqrt(((f - f.mean(0)) ** 2).sum(1).mean())))
    if not spreads:
        raise ValueError("The feature spread needs at least 2 samples of some class.")
    return float(np.mean(spreads))


def reference_features_like(labels: np.ndarray) -> np.ndarray:
    """Shipped reference features of real test images with the same class counts as ``labels``, by class."""
    stats = load_reference_statistics()
    counts = np.bincount(labels, minlength=int(labels.max()) + 1)
    chosen = [stats.features[stats.labels == c][:k] for c, k in enumerate(counts) if k]
    if any(len(f) < k for f, k in zip(chosen, counts[counts > 0], strict=True)):
        raise ValueError("Not enough reference images of some class for this many samples per class.")
    return np.concatenate(chosen).astype(np.float64)


def heldout_outputs_like(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features, probs) of held-out real test images with the same class counts as ``labels``, by class."""
    from core.data import load_fashion_mnist

    stats = load_reference_statistics()
    counts = np.bincount(labels, minlength=int(labels.max()) + 1)

    test = load_fashion_mnist("test")
    heldout = np.sort(stats.heldout_indices)
    held_labels = test.labels[torch.from_numpy(heldout)].numpy()
    picks = []
    for c, k in enumerate(counts):
        mine = heldout[held_labels == c][:k]
        if len(mine) < k:
            raise ValueError("Not enough held-out test images of some class for this many samples per class.")
        picks.append(mine)
    index = torch.from_numpy(np.concatenate(picks))
    return classifier_outputs(test.images[index])


def _sorted_labels(labels: np.ndarray) -> np.ndarray:
    return np.sort(labels, kind="stable")


def score_samples(images: torch.Tensor, labels: np.ndarray, real: np.ndarray, scale: float) -> ScaleMetrics:
    """Fidelity and diversity of one scale's samples against real features of the same classes."""
    images = quantize_images(prepare_images(images))  # as saved images are scored (metrics.evaluate_images)
    features, probs = classifier_outputs(images)
    order = np.argsort(labels, kind="stable")  # the real set is grouped by class; group the fakes alike
    features, probs, labels = features[order], probs[order], labels[order]
    k = min(PR_NEIGHBOURS, len(labels) - 1)
    pr = precision_recall(real, features, k=k)
    real_spread = class_feature_spread(real, _sorted_labels(labels))
    return ScaleMetrics(
        scale=float(scale),
        class_accuracy=float((probs.argmax(1) == labels).mean()),
        precision=pr.precision,
        recall=pr.recall,
        feature_spread=class_feature_spread(features, labels) / real_spread,
    )


def guidance_sweep(
    model,
    schedule,
    scales: Sequence[float] = DEFAULT_SCALES,
    *,
    per_class: int = 2,
    classes: Sequence[int] | None = None,
    steps: int = 20,
    seed: int = 0,
    interval: tuple[int, int] | None = None,
    clip_x0: str | float | None = "clip",
    batch_size: int = 256,
    class_names: Sequence[str] = (),
) -> Iterator[SweepProgress | SweepFinished]:
    """Sample ``per_class`` images of each class at every scale from one x_T and score each scale.

    All scales share x_T (seeded by ``seed``), so the grid's columns differ only in w. Yields
    ``SweepProgress`` after every DDIM step of every chunk of ``batch_size`` samples, then one
    ``SweepFinished``. The input is checked when this is called (before any sampling), so a caller
    can report a wrong model or scale at once.
    """
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    if num_classes <= 0:
        raise ValueError("The guidance sweep needs a class-conditional model; this one was trained without classes.")
    config = getattr(model, "config", None)
    shape = (getattr(config, "in_channels", 0), getattr(config, "image_size", 0), getattr(config, "image_size", 0))
    if shape != FASHION_SHAPE or num_classes != 10:
        raise ValueError(
            "The sweep scores samples with the Fashion-MNIST classifier, so it needs a model of 10 classes "
            "of 1×32×32 images (the bundled fmnist_unet, or one trained on Fashion-MNIST)."
        )
    scales = tuple(check_guidance_scale(s) for s in scales)
    if not scales:
        raise ValueError("Give at least one guidance scale to sweep.")
    interval = check_guidance_interval(interval, schedule.num_timesteps)
    if not 1 <= int(steps) <= schedule.num_timesteps:
        raise ValueError(f"The sweep takes 1 to {schedule.num_timesteps} DDIM steps, not {steps}.")
    if int(batch_size) < 1:
        raise ValueError("The sweep's batch size must be at least 1.")
    per_class = int(per_class)
    if not 2 <= per_class <= 100:
        raise ValueError(f"The sweep needs 2 to 100 samples per class (diversity needs two), not {per_class}.")
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    if not classes or min(classes) < 0 or max(classes) >= num_classes:
        raise ValueError(f"Classes must be between 0 and {num_classes - 1}.")
    labels = torch.tensor(classes * per_class)  # class-major rows of the grid: 0, 1, …, 0, 1, …
    n = labels.shape[0]
    if n <= PR_NEIGHBOURS:
        raise ValueError(f"The sweep needs more than {PR_NEIGHBOURS} samples in all; choose more classes.")
    return _sweep_events(model, schedule, scales, labels, shape, int(steps), int(seed), interval, clip_x0,
                         int(batch_size), list(class_names))  # fmt: skip


def _sweep_events(model, schedule, scales, labels, shape, steps, seed, interval, clip_x0, batch_size, class_names):
    started = time.perf_counter()
    n = labels.shape[0]
    x_T = torch.randn((n, *shape), generator=torch.Generator().manual_seed(seed))

    # One long batch over (scale, sample): scale s, sample i starts from x_T[i] with weight scales[s].
    all_x = x_T.repeat(len(scales), 1, 1, 1)
    all_labels = labels.repeat(len(scales))
    all_w = torch.tensor(scales, dtype=torch.float32).repeat_interleave(n)
    chunks = list(range(0, all_x.shape[0], batch_size))
    total, done = len(chunks) * steps, 0
    outputs = []
    for start in chunks:
        end = min(start + batch_size, all_x.shape[0])
        x = None
        for step in guided_ddim(
            model, all_x[start:end], schedule, steps, all_labels[start:end], all_w[start:end],
            interval=interval, clip_x0=clip_x0,
        ):  # fmt: skip
            x, done = step.x_next, done + 1
            finished_scale = None
            if step.t_next < 0 and end % n == 0:
                finished_scale = scales[end // n - 1]
            yield SweepProgress(done, total, finished_scale)
        outputs.append(x.clamp(-1, 1))
    images = torch.cat(outputs).reshape(len(scales), n, *shape)

    labels_np = labels.numpy()
    real = reference_features_like(_sorted_labels(labels_np))
    metrics = [score_samples(images[s], labels_np, real, scale) for s, scale in enumerate(scales)]
    floor = _floor(labels_np, real)
    result = SweepResult(
        scales=scales,
        labels=labels_np,
        images=images.numpy().astype(np.float32),
        metrics=metrics,
        floor=floor,
        steps=steps,
        interval=interval,
        seconds=time.perf_counter() - started,
        class_names=class_names,
    )
    yield SweepFinished(result)


def _floor(labels: np.ndarray, real: np.ndarray) -> ScaleMetrics:
    """Held-out real images of the same classes, scored against the same real set (the best reachable)."""
    sorted_labels = _sorted_labels(labels)
    held, probs = heldout_outputs_like(sorted_labels)
    pr = precision_recall(real, held, k=min(PR_NEIGHBOURS, len(labels) - 1))
    return ScaleMetrics(
        scale=float("nan"),
        class_accuracy=float((probs.argmax(1) == sorted_labels).mean()),
        precision=pr.precision,
        recall=pr.recall,
        feature_spread=class_feature_spread(held, sorted_labels) / class_feature_spread(real, sorted_labels),
    )
