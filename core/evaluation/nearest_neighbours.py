"""Nearest training images of generated images, in pixel space and in classifier-feature space.

Does a diffusion model copy its training set? The direct evidence is the distance from each sample to its
closest training images (Carlini et al. 2023, "Extracting Training Data from Diffusion Models", §4;
Somepalli et al. 2023, "Diffusion Art or Digital Forgery?"): a copy sits at distance ≈ 0, and a model that
generalises puts its samples about as far from the training set as unseen real images are. So the same
distances are measured for held-out test images, the yardstick.

Pixel space is the plain Euclidean distance of the flattened images in [−1, 1]; it calls two garments
shifted by a pixel far apart. Feature space is the 128-d penultimate layer of the project's Fashion-MNIST
classifier (``core.models.classifier``, the space FID is measured in), where "the same kind of garment"
is near.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.models.classifier import FashionClassifier

REFERENCE_CHUNK = 8192  # reference rows per distance block: bounds the memory of (queries × chunk)


@dataclass
class Neighbours:
    """The k nearest reference rows of each query, nearest first."""

    distances: torch.Tensor  # (N, k) float64, Euclidean
    indices: torch.Tensor  # (N, k) long, rows of the reference

    @property
    def nearest(self) -> torch.Tensor:
        """(N,) distance to the nearest reference row."""
        return self.distances[:, 0]


def nearest_neighbours(queries, reference, k: int, chunk: int = REFERENCE_CHUNK) -> Neighbours:
    """Exact k nearest neighbours in Euclidean distance of flattened rows, ‖q − r‖² = ‖q‖² + ‖r‖² − 2 q·r in
    float64, over the reference in chunks (ties go to the lower index)."""
    q = torch.as_tensor(queries).double().flatten(1)
    r = torch.as_tensor(reference).double().flatten(1)
    if q.shape[0] < 1 or r.shape[0] < 1:
        raise ValueError("Nearest neighbours need at least one query and one reference image.")
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"Queries have {q.shape[1]} values each and the reference {r.shape[1]}; they must match.")
    k = int(k)
    if not 1 <= k <= r.shape[0]:
        raise ValueError(f"k must lie between 1 and the {r.shape[0]} reference images; got {k}.")
    q_sq = q.square().sum(1, keepdim=True)
    best_d = torch.full((q.shape[0], 0), float("inf"), dtype=torch.float64)
    best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
    for start in range(0, r.shape[0], int(chunk)):
        block = r[start : start + int(chunk)]
        sq = (q_sq + block.square().sum(1) - 2.0 * q @ block.T).clamp_min(0.0)
        d = torch.cat([best_d, sq], dim=1)
        i = torch.cat([best_i, torch.arange(start, start + block.shape[0]).expand(q.shape[0], -1)], dim=1)
        # A stable sort keeps the earlier (lower) index first among equal distances.
        order = torch.sort(d, dim=1, stable=True).indices[:, :k]
        best_d, best_i = d.gather(1, order), i.gather(1, order)
    return Neighbours(best_d.sqrt(), best_i)


@torch.no_grad()
def classifier_features(images, network: FashionClassifier, batch_size: int = 500) -> torch.Tensor:
    """(N, feature_dim) float64 penultimate features of images in [−1, 1] (eval mode, batches)."""
    images = torch.as_tensor(images)
    if images.shape[0] < 1:
        raise ValueError("There are no images to compute features of.")
    network.eval()
    parts = [network.features(images[s : s + batch_size]).double() for s in range(0, images.shape[0], batch_size)]
    return torch.cat(parts)


@dataclass
class NeighbourStudy:
    """Nearest training images of generated and of held-out test images, in both spaces."""

    generated_pixel: Neighbours
    generated_feature: Neighbours
    held_out_pixel: Neighbours
    held_out_feature: Neighbours

    def median_nearest(self) -> dict[str, float]:
        """Median distance to the nearest training image: generated vs test, in pixel and feature space."""
        return {
            "generated, pixels": float(self.generated_pixel.nearest.median()),
            "test, pixels": float(self.held_out_pixel.nearest.median()),
            "generated, features": float(self.generated_feature.nearest.median()),
            "test, features": float(self.held_out_feature.nearest.median()),
        }

    def closeness(self, space: str) -> float:
        """Median nearest distance of the generated images over that of the test images, in ``space``
        ("pixels" or "features"): ≈ 1 when samples are as new as unseen real images, ≪ 1 when they copy."""
        medians = self.median_nearest()
        return medians[f"generated, {space}"] / max(medians[f"test, {space}"], 1e-12)


def neighbour_study(
    generated: torch.Tensor,
    held_out: torch.Tensor,
    training: torch.Tensor,
    network: FashionClassifier,
    k: int,
    *,
    training_features: torch.Tensor | None = None,
) -> NeighbourStudy:
    """The k nearest ``training`` images of each generated and each held-out image, by pixels and by features
    (``training_features`` may be passed in when already computed for these training images)."""
    if training_features is None:
        training_features = classifier_features(training, network)
    if training_features.shape[0] != training.shape[0]:
        raise ValueError("There must be one feature row per training image.")
    generated_features = classifier_features(generated, network)
    held_out_features = classifier_features(held_out, network)
    return NeighbourStudy(
        generated_pixel=nearest_neighbours(generated, training, k),
        generated_feature=nearest_neighbours(generated_features, training_features, k),
        held_out_pixel=nearest_neighbours(held_out, training, k),
        held_out_feature=nearest_neighbours(held_out_features, training_features, k),
    )
