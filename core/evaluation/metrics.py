"""How good is a generative model? Sample-quality metrics, offline, with their anchors.

Images (Fashion-MNIST) are compared in the feature space of the project's own classifier
(``core/classifier.py``; Inception weights cannot be downloaded offline, and the numbers are therefore
comparable with each other but not with published Inception FIDs):

- **FID**, Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update
  rule…", eq. 6): fit a Gaussian to each feature set and measure
  ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½). Biased upwards for small sample counts, so always compare
  with the real-vs-real floor measured at the same count.
- **KID**, Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", §4): the
  unbiased MMD² with the cubic polynomial kernel k(x, y) = (xᵀy / d + 1)³, averaged over subsets.
  Unbiased, so it is ≈ 0 for two samples of one distribution at any sample count.
- **Inception Score analogue** (Salimans et al. 2016): exp E_x KL(p(y|x) ‖ p(y)) with the classifier's
  p(y|x); 1 for useless samples, at most the number of classes (10).
- **Precision and recall** (Kynkäänniemi et al. 2019, "Improved precision and recall metric…"):
  each real feature gets a ball reaching its k-th nearest real neighbour; precision is the fraction of
  generated samples inside some real ball (fidelity), recall the fraction of real samples inside
  some generated ball (diversity).
- **Class accuracy**: the fraction of class-conditional samples the classifier assigns to the class
  they were asked for.

2-D toy samples are compared with fresh samples of the true distribution:

- **MMD** (Gretton et al. 2012, "A kernel two-sample test", eq. 3): unbiased MMD² with a sum of
  Gaussian kernels of several bandwidths.
- **Nearest-neighbour distance**: mean distance from each sample to the closest true point (are the
  samples on the data?) and, swapped, from each true point to the closest sample (is all data covered?).

Every number needs a floor and a ceiling beside it: ``real_vs_real_images`` scores real held-out test
images with exactly the same code (the best a model can reach at that sample count), and the
benchmark scores an untrained model (what noise gets).
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from core.models.classifier import ClassifierConfig, FashionClassifier, prepare_images
from core.runtime.resources import resource_path

CLASSIFIER_FILE = "fmnist_classifier.safetensors"
REFERENCE_STATS_FILE = "fmnist_reference_stats.npz"
METADATA_KEY = "diffusion_lab"
DEFAULT_BANDWIDTHS = (0.05, 0.1, 0.2, 0.5, 1.0)  # RBF widths for standardised 2-D toys (std ≈ 1)


class MetricsError(ValueError):
    """The metrics' shipped files are missing or do not belong together."""


# --- the feature network and the reference statistics ---------------------------------------------


def load_classifier(path: str | Path) -> FashionClassifier:
    """Rebuild a ``FashionClassifier`` from a safetensors file written by scripts/train_classifier.py."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise MetricsError(
            f"{path}: the metrics classifier is missing; run `python scripts/train_classifier.py` to create it."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = json.loads((f.metadata() or {})[METADATA_KEY])
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, KeyError, json.JSONDecodeError, OSError) as error:
        raise MetricsError(
            f"{path}: not a classifier file written by scripts/train_classifier.py ({error})."
        ) from error
    model = FashionClassifier(ClassifierConfig(**metadata["config"]))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise MetricsError(f"{path}: weights do not fit the classifier they describe ({error}).") from error
    model.metadata = metadata
    return model.eval().requires_grad_(False)


@functools.lru_cache(maxsize=1)
def load_feature_network() -> FashionClassifier:
    """The shipped Fashion-MNIST classifier (eval mode, CPU), loaded once per process."""
    return load_classifier(resource_path("models", CLASSIFIER_FILE))


@dataclass(frozen=True, eq=False)
class ReferenceStatistics:
    """Features of the reference half of the Fashion-MNIST test split (see scripts/train_classifier.py)."""

    features: np.ndarray  # float32 (N, d), N = 5,000
    labels: np.ndarray  # int64 (N,)
    mu: np.ndarray  # float64 (d,)
    sigma: np.ndarray  # float64 (d, d)
    reference_indices: np.ndarray  # test-split indices of the reference half
    heldout_indices: np.ndarray  # test-split indices of the held-out half (the real-vs-real floor)


@functools.lru_cache(maxsize=1)
def load_reference_statistics() -> ReferenceStatistics:
    """Reference statistics shipped beside the classifier; checked to belong to the shipped weights."""
    path = resource_path("models", REFERENCE_STATS_FILE)
    weights = resource_path("models", CLASSIFIER_FILE)
    if not path.is_file():
        raise MetricsError(f"{path}: reference statistics are missing; run `python scripts/train_classifier.py`.")
    with np.load(path, allow_pickle=False) as data:
        stats = ReferenceStatistics(
            features=data["features"],
            labels=data["labels"],
            mu=data["mu"],
            sigma=data["sigma"],
            reference_indices=data["reference_indices"],
            heldout_indices=data["heldout_indices"],
        )
        expected_sha = str(data["classifier_sha256"])
    if weights.is_file() and hashlib.sha256(weights.read_bytes()).hexdigest() != expected_sha:
        raise MetricsError(
            f"{path} was computed with a different classifier than {weights}; "
            "rerun `python scripts/train_classifier.py` so both files are written together."
        )
    return stats


@torch.no_grad()
def classifier_outputs(images, network: FashionClassifier | None = None, batch_size: int = 500):
    """(features float64 (N, d), class probabilities float64 (N, classes)) of images in [−1, 1]."""
    network = network or load_feature_network()
    images = prepare_images(images)
    feats, probs = [], []
    for start in range(0, images.shape[0], batch_size):
        f = network.features(images[start : start + batch_size])
        feats.append(f.double())
        probs.append(torch.softmax(network.logits_from_features(f).double(), dim=1))
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def images_from_uint8(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, 1) as saved in an ``.npz`` → float (N, 1, H, W) in [−1, 1]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"Saved images must be uint8 (0…255); got {images.dtype}.")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"Saved grayscale images must have shape (N, H, W); got {images.shape}.")
    return torch.from_numpy(images.astype(np.float32)).mul_(2.0 / 255.0).sub_(1.0)[:, None]


def quantize_images(images: torch.Tensor) -> torch.Tensor:
    """Round images in [−1, 1] to the 256 grey levels of a saved PNG, as the real data is stored."""
    return torch.round((images.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


# --- feature-space distances -----------------------------------------------------------------------


def _as_2d_float64(name: str, x) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if torch.is_tensor(x) else x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be a 2-D array (samples, features) with at least 2 rows; got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return x


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of features (N, d), in float64."""
    x = torch.from_numpy(_as_2d_float64("features", features))
    centred = x - x.mean(0)
    return x.mean(0).numpy(), (centred.T @ centred / (x.shape[0] - 1)).numpy()


# Linear algebra runs in torch (float64), not numpy: torch obeys torch.set_num_threads, while numpy's
# OpenBLAS starts one thread per core and, on a busy 2-core machine, measured 1000× slower for eigh.


def _sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix by eigen-decomposition."""
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp(min=0.0).sqrt()) @ vectors.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) (Dowson & Landau 1982; FID's eq. 6).

    tr((Σ₁Σ₂)^½) is computed as tr((Σ₁^½ Σ₂ Σ₁^½)^½): the two matrices are similar, so they share
    eigenvalues, and the second is symmetric, so ``eigh`` in float64 is stable (no scipy needed).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (mu1.size, mu1.size):
        raise ValueError(
            f"Means and covariances must match: got means {mu1.shape}, {mu2.shape} and covariances "
            f"{sigma1.shape}, {sigma2.shape}."
        )
    root1 = _sqrtm_psd(torch.from_numpy(sigma1))
    eigenvalues = torch.linalg.eigvalsh(root1 @ torch.from_numpy(sigma2) @ root1)
    trace_sqrt = float(eigenvalues.clamp(min=0.0).sqrt().sum())
    distance = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)
    return max(distance, 0.0)  # tiny negative values are rounding error


def fid(features_a, features_b) -> float:
    """FID between two feature sets (N, d) and (M, d)."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


class KID(NamedTuple):
    mean: float  # KID estimate (unbiased MMD², averaged over subsets)
    std: float  # spread over subsets


def _polynomial_mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² with k(a, b) = (aᵀb / d + 1)³ (Bińkowski et al. 2018, eq. 2 with their kernel)."""
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    m, n = x.shape[0], y.shape[0]
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


def kid(features_a, features_b, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> KID:
    """Kernel Inception Distance: unbiased polynomial-kernel MMD² averaged over random subsets.

    Each subset draws ``subset_size`` rows (without replacement) from each set; the size is capped
    at the smaller set. Returns the mean and the standard deviation over subsets.
    """
    a = torch.from_numpy(_as_2d_float64("features_a", features_a))
    b = torch.from_numpy(_as_2d_float64("features_b", features_b))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"Feature sets have different widths: {a.shape[1]} and {b.shape[1]}.")
    if subsets < 1 or subset_size < 2:
        raise ValueError("KID needs at least 1 subset of at least 2 samples.")
    size = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = [
        _polynomial_mmd2_unbiased(
            a[torch.from_numpy(rng.choice(a.shape[0], size, replace=False))],
            b[torch.from_numpy(rng.choice(b.shape[0], size, replace=False))],
        )
        for _ in range(subsets)
    ]
    return KID(float(np.mean(values)), float(np.std(values)))


def inception_score_analogue(probs) -> float:
    """exp(E_x KL(p(y|x) ‖ p(y))) from class probabilities (N, classes) (Salimans et al. 2016)."""
    p = _as_2d_float64("probs", probs)
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise ValueError("probs must be class probabilities: non-negative rows that sum to 1 (apply softmax).")
    p = np.clip(p, 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def _pairwise_distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 2048) -> torch.Tensor:
    return torch.cat([torch.cdist(a[i : i + chunk], b) for i in range(0, a.shape[0], chunk)])


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest *other* row (the radius of its manifold ball)."""
    radii = []
    for i in range(0, x.shape[0], 2048):
        d = torch.cdist(x[i : i + 2048], x)
        radii.append(d.kthvalue(k + 1, dim=1).values)  # +1: the nearest row is the point itself (0)
    return torch.cat(radii)


def _coverage(manifold: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor) -> float:
    """Fraction of ``queries`` inside at least one ball (manifold_i, radii_i)."""
    inside = [
        (torch.cdist(queries[i : i + 1024], manifold) <= radii[None, :]).any(dim=1)
        for i in range(0, queries.shape[0], 1024)
    ]
    return float(torch.cat(inside).double().mean())


class PrecisionRecall(NamedTuple):
    precision: float
    recall: float


def precision_recall(real_features, fake_features, k: int = 3) -> PrecisionRecall:
    """Improved precision and recall (Kynkäänniemi et al. 2019, eqs. 1–3) with k-NN balls.

    Use sets of equal size: the balls shrink as a set grows.
    """
    real = torch.from_numpy(_as_2d_float64("real_features", real_features))
    fake = torch.from_numpy(_as_2d_float64("fake_features", fake_features))
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"Feature sets have different widths: {real.shape[1]} and {fake.shape[1]}.")
    if not 1 <= k < min(real.shape[0], fake.shape[0]):
        raise ValueError(f"k must be at least 1 and smaller than both set sizes; got k={k}.")
    precision = _coverage(real, _knn_radii(real, k), fake)
    recall = _coverage(fake, _knn_radii(fake, k), real)
    return PrecisionRecall(precision, recall)


def class_accuracy(images, labels, network: FashionClassifier | None = None) -> float:
    """Fraction of images the classifier assigns to their label (for class-conditional samples)."""
    labels = torch.as_tensor(labels).long().reshape(-1)
    _, probs = classifier_outputs(images, network)
    if probs.shape[0] != labels.shape[0]:
        raise ValueError(f"Got {probs.shape[0]} images but {labels.shape[0]} labels.")
    return float((probs.argmax(1) == labels.numpy()).mean())


# --- 2-D toy distributions -------------------------------------------------------------------------


def _as_points(name: str, x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x.detach().cpu() if torch.is_tensor(x) else x), dtype=torch.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape (N, dims) with N ≥ 2; got {tuple(x.shape)}.")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values (did sampling diverge?).")
    return x


def mmd_rbf(x, y, bandwidths=DEFAULT_BANDWIDTHS) -> float:
    """Unbiased MMD² (Gretton et al. 2012, eq. 3) with k = Σ_h exp(−‖a − b‖² / (2h²)) over ``bandwidths``.

    0 in expectation when x and y come from the same distribution (small negative values happen);
    at most 2 · len(bandwidths).
    """
    x, y = _as_points("x", x), _as_points("y", y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"Point sets have different dimensions: {x.shape[1]} and {y.shape[1]}.")
    bandwidths = [float(h) for h in np.atleast_1d(bandwidths)]
    if not bandwidths or min(bandwidths) <= 0:
        raise ValueError("MMD needs at least one positive bandwidth.")

    def kernel(a, b):
        d2 = torch.cdist(a, b).square()
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    m, n = x.shape[0], y.shape[0]
    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    term_xx = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    term_yy = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(term_xx + term_yy - 2 * k_xy.mean())


def nearest_neighbour_distance(samples, reference) -> float:
    """Mean Euclidean distance from each sample to its nearest reference point."""
    samples, reference = _as_points("samples", samples), _as_points("reference", reference)
    return float(_pairwise_distances(samples, reference).min(dim=1).values.mean())


def evaluate_points(samples, dataset_name: str, *, seed: int = 12345, bandwidths=DEFAULT_BANDWIDTHS) -> dict:
    """Score 2-D samples against as many fresh points of the true toy distribution ``dataset_name``.

    Returns ``mmd`` (unbiased MMD²), ``nn_sample_to_data`` (are samples on the data?) and
    ``nn_data_to_sample`` (is all of the data covered?), plus ``n``.
    """
    from core.data import make_toy_2d

    samples = _as_points("samples", samples)
    truth = make_toy_2d(dataset_name, samples.shape[0], seed=seed).points
    return {
        "n": samples.shape[0],
        "mmd": mmd_rbf(samples, truth, bandwidths),
        "nn_sample_to_data": nearest_neighbour_distance(samples, truth),
        "nn_data_to_sample": nearest_neighbour_distance(truth, samples),
    }


# --- images, end to end --------------------------------------------------------------------------


def evaluate_images(images, labels=None, *, quantize: bool = True, kid_subsets: int = 20, k: int = 3) -> dict:
    """All image metrics of Fashion-MNIST-like samples against the reference half of the test split.

    ``images``: float (N, 1, 32|28, 32|28) in [−1, 1], or uint8 (N, H, W) as saved in an ``.npz``.
    ``labels``: the classes the samples were asked for (adds ``class_accuracy``).
    ``quantize`` rounds float images to 8 bits first, as the real images are stored.
    Precision/recall use the first N reference images, so both sets have the same size.
    """
    if isinstance(images, np.ndarray) and images.dtype == np.uint8:
        images = images_from_uint8(images)
    images = prepare_images(images)
    if quantize:
        images = quantize_images(images)
    n = images.shape[0]
    if n < 10:
        raise ValueError(f"Image metrics need at least 10 samples; got {n}.")
    reference = load_reference_statistics()
    features, probs = classifier_outputs(images)
    mu, sigma = feature_statistics(features)
    kid_value = kid(reference.features, features, subsets=kid_subsets, subset_size=min(1000, n))
    pr = precision_recall(reference.features[: min(n, len(reference.features))], features, k=k)
    result = {
        "n": n,
        "fid": frechet_distance(reference.mu, reference.sigma, mu, sigma),
        "kid": kid_value.mean,
        "kid_std": kid_value.std,
        "precision": pr.precision,
        "recall": pr.recall,
        "inception_score": inception_score_analogue(probs),
    }
    if labels is not None:
        labels = np.asarray(torch.as_tensor(labels).long().reshape(-1))
        if labels.shape[0] != n:
            raise ValueError(f"Got {n} images but {labels.shape[0]} labels.")
        result["class_accuracy"] = float((probs.argmax(1) == labels).mean())
    return result


def heldout_real_images(n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` real test images (and labels) from the held-out half, never part of the reference."""
    from core.data import load_fashion_mnist

    heldout = load_reference_statistics().heldout_indices
    if not 10 <= n <= len(heldout):
        raise ValueError(f"The real-vs-real floor can use 10 to {len(heldout)} images; got {n}.")
    chosen = np.sort(np.random.default_rng(seed).choice(heldout, n, replace=False))
    test = load_fashion_mnist("test")
    index = torch.from_numpy(chosen)
    return test.images[index], test.labels[index]


def real_vs_real_images(n: int, *, seed: int = 0) -> dict:
    """The floor: ``evaluate_images`` on ``n`` real images of the held-out half of the test split.

    Uses exactly the code that scores generated samples, at the same sample count, so a model's FID
    can be read as "x times the floor". ``seed`` picks which held-out images.
    """
    return evaluate_images(*heldout_real_images(n, seed=seed))


# --- sampling a model for evaluation ----------------------------------------------------------------


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """0, 1, …, num_classes − 1, 0, 1, … (n labels): every class equally often, as the test split."""
    return torch.arange(n) % num_classes


@torch.no_grad()
def sample_images(
    model,
    schedule,
    n: int,
    *,
    sampler: str = "ddim",
    steps: int = 50,
    guidance_scale: float = 1.0,
    seed: int = 0,
    batch_size: int = 250,
    clip_x0: str | None = "auto",
    callback=None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` samples (class-balanced when the model is conditional) for evaluation.

    Returns (images (n, C, H, W) or points (n, d), labels or None). ``clip_x0="auto"`` clips x̂_0 to
    [−1, 1] for images (as the app and the training previews do) and not for points.
    ``callback(done, n)`` is called after each batch.
    """
    from core.diffusion.guidance import ClassifierFreeGuidance
    from core.diffusion.samplers import get_sampler

    sample = get_sampler(sampler)
    num_classes = int(getattr(model, "num_classes", 0) or 0)
    labels = balanced_labels(n, num_classes) if num_classes else None
    denoiser = ClassifierFreeGuidance(model, guidance_scale) if num_classes and guidance_scale != 1.0 else model
    shape = _sample_shape(model)
    if clip_x0 == "auto":
        clip_x0 = "clip" if len(shape) == 3 else None
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        x_T = torch.randn((count, *shape), generator=generator)
        cond = {"class_labels": labels[start : start + count]} if labels is not None else None
        chunks.append(sample(denoiser, x_T, schedule, steps, generator=generator, cond=cond, clip_x0=clip_x0))
        if callback is not None:
            callback(start + count, n)
    return torch.cat(chunks), labels


def _sample_shape(model) -> tuple[int, ...]:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return (config.in_channels, config.image_size, config.image_size)
    if config is not None and hasattr(config, "data_dim"):
        return (config.data_dim,)
    raise ValueError("Cannot tell the sample shape of this model; it has no config with image_size or data_dim.")


def untrained_like(model, seed: int = 0):
    """A freshly initialised network of the same architecture: the "ceiling" anchor of every metric."""
    torch.manual_seed(seed)
    try:
        from core.models.registry import build_denoiser, denoiser_config

        fresh = build_denoiser(denoiser_config(model))
    except ImportError:  # before core/denoisers.py existed; every denoiser is rebuilt from its config
        fresh = type(model)(model.config)
    return fresh.eval().requires_grad_(False)
