"""Scoring models of a few Fashion-MNIST classes at a reduced size (the lesson preset) with the project's metrics.

The metrics' classifier knows ten classes at 32×32. A lesson model draws, say, four classes at 16×16
with its own labels 0…3. ``garment_samples`` draws class-balanced samples, brings them back to the
classifier's layout (``core.data.fashion_mnist.to_classifier_size``) and maps each label to the
classifier's class by name (the checkpoint's ``class_names``). ``lesson_quality`` then reports class
accuracy and a FID against real test images *of the same classes* (the ten-class reference would
charge a four-class model for the six classes it was never asked to draw), with the floor: real
held-out images of those classes passed through the same downsample-and-upsample path.
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, to_classifier_size
from core.evaluation import metrics


def classifier_labels(class_names: list[str]) -> torch.Tensor:
    """The classifier's label (0–9) of each of a model's classes, found by name."""
    unknown = [c for c in class_names if c not in FASHION_MNIST_CLASSES]
    if unknown:
        raise ValueError(f"These are not Fashion-MNIST classes: {', '.join(unknown)}.")
    return torch.tensor([FASHION_MNIST_CLASSES.index(c) for c in class_names])


def garment_samples(model, schedule, class_names, n, *, downsample=1, steps=20, guidance_scale=2.0, seed=0):
    """``n`` class-balanced samples at the classifier's 32×32, with the classifier's labels for them."""
    images, labels = metrics.sample_images(model, schedule, n, steps=steps, guidance_scale=guidance_scale, seed=seed)
    if labels is None:
        raise ValueError("Class accuracy needs a class-conditional model.")
    return to_classifier_size(images, downsample), classifier_labels(list(class_names))[labels]


def real_garments(class_names, n, *, downsample=1, seed=0):
    """``n`` real test images of the named classes from the held-out half (the floor), at 32×32."""
    heldout = set(metrics.load_reference_statistics().heldout_indices.tolist())
    test = load_fashion_mnist("test", pad_to=32 if downsample == 1 else 28 // downsample + 2, downsample=downsample)
    wanted = classifier_labels(list(class_names))
    index = [i for i in np.flatnonzero(np.isin(test.labels.numpy(), wanted.numpy())) if i in heldout]
    chosen = np.sort(np.random.default_rng(seed).choice(index, n, replace=False))
    return to_classifier_size(test.images[chosen], downsample), test.labels[chosen]


def _reference_features(class_names) -> np.ndarray:
    """Classifier features of the reference half of the test split, restricted to the named classes."""
    reference = metrics.load_reference_statistics()
    heldout = set(reference.heldout_indices.tolist())
    test = load_fashion_mnist("test")
    wanted = classifier_labels(list(class_names)).numpy()
    index = [i for i in np.flatnonzero(np.isin(test.labels.numpy(), wanted)) if i not in heldout]
    features, _ = metrics.classifier_outputs(test.images[torch.as_tensor(index)])
    return np.asarray(features)


def lesson_quality(images, labels, class_names, reference_features=None) -> dict:
    """Class accuracy, FID against real images of ``class_names``, and IS of 32×32 samples."""
    images = metrics.quantize_images(images)
    features, probs = metrics.classifier_outputs(images)
    if reference_features is None:
        reference_features = _reference_features(class_names)
    labels = np.asarray(torch.as_tensor(labels).long())
    return {
        "n": int(images.shape[0]),
        "class_accuracy": float((np.asarray(probs).argmax(1) == labels).mean()),
        "fid": metrics.fid(reference_features, features),
        "inception_score": metrics.inception_score_analogue(probs),
    }
