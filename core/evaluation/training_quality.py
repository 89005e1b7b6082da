"""Quality during training: score each preview the training loop already draws, so quality can be
watched beside the loss ("the loss stopped falling but the samples still improve").

``train(...)`` yields a ``Preview`` every ``preview_every`` steps: DDIM samples of the EMA weights from
fixed noise and fixed class-balanced labels. ``with_preview_scores`` passes every event of a training
stream through unchanged and, after each preview, yields a ``PreviewScore`` of those very samples:

- 2-D toys: the unbiased MMD² to as many fresh points of the toy (``evaluate_points``), and the mean
  nearest-neighbour distance of samples to data.
- Fashion-MNIST (1×32×32): class accuracy of the project's classifier on the requested labels and the
  FID of the preview batch (``evaluate_images``). With 16 previews the FID is strongly biased upwards
  (read it as a trend, not against docs/quality.md's 1,000-sample numbers).

No extra sampling: the only cost is scoring the preview (measured in ``seconds``), and the model, the
optimiser and every random generator of training are untouched, so a run with scores ends with the
same weights as one without (tests/test_training_quality.py checks it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from core.evaluation.metrics import evaluate_images, evaluate_points

MIN_IMAGES = 10  # evaluate_images refuses fewer


@dataclass(frozen=True)
class PreviewScore:
    """The quality of the preview drawn at ``step`` (EMA weights)."""

    step: int
    metrics: dict  # "mmd", "nn_sample_to_data" (2-D) or "fid", "class_accuracy" (images)
    headline: str  # the key to plot first: "mmd" or "fid"
    seconds: float  # time spent scoring (training waits for it)


def preview_scorer(dataset: str, image_shape: tuple[int, ...] | None = None, dataset_options: dict | None = None):
    """A function ``(images, labels) -> (metrics, headline)`` for a training set, or None when the
    project has no metric for it (shapes, image folders, words…, and Fashion-MNIST reduced to a few
    classes or downsampled, whose labels or size the classifier does not share)."""
    if dataset.startswith("toy:"):
        name = dataset.removeprefix("toy:")

        def score_points(points, _labels):
            metrics = evaluate_points(np.asarray(points, dtype=np.float32), name)
            return {k: metrics[k] for k in ("mmd", "nn_sample_to_data")}, "mmd"

        return score_points
    options = dataset_options or {}
    if (
        dataset == "fashion_mnist"
        and tuple(image_shape or (1, 32, 32)) == (1, 32, 32)
        and not (options.get("classes") or options.get("downsample"))
    ):

        def score_images(images, labels):
            if len(images) < MIN_IMAGES or tuple(images.shape[1:]) != (1, 32, 32):
                return None, "fid"
            metrics = evaluate_images(np.asarray(images, dtype=np.float32), labels, kid_subsets=1)
            keep = ("fid", "class_accuracy") if labels is not None else ("fid",)
            return {k: metrics[k] for k in keep}, "fid"

        return score_images
    return None


def with_preview_scores(events: Iterable, dataset: str, dataset_options: dict | None = None) -> Iterator:
    """Every event of ``events`` unchanged, and after each ``Preview`` a ``PreviewScore`` of its samples.

    With a dataset the project cannot score (see ``preview_scorer``) the stream is passed through as is.
    """
    import torch

    scorer = preview_scorer(dataset, None, dataset_options)
    for event in events:
        yield event
        if scorer is None or type(event).__name__ != "Preview":
            continue
        started = time.perf_counter()
        with torch.no_grad():
            metrics, headline = scorer(event.images, event.labels)
        if metrics is not None:
            yield PreviewScore(int(event.step), metrics, headline, time.perf_counter() - started)
