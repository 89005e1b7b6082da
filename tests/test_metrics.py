"""Metrics against closed forms and independent brute-force oracles (core/metrics.py, no Qt)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from core.data import load_fashion_mnist
from core.evaluation import metrics
from core.models import FashionClassifier, prepare_images


def random_rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# --- FID ---------------------------------------------------------------------------------------


def test_frechet_distance_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 8))
    mu, sigma = a.mean(0), np.cov(a, rowvar=False)
    assert metrics.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_commuting_covariances_matches_closed_form():
    # Σ₁ = Q D₁ Qᵀ, Σ₂ = Q D₂ Qᵀ share eigenvectors: FID = ‖Δμ‖² + Σ (√d₁ − √d₂)².
    rng = np.random.default_rng(1)
    d = 6
    q = random_rotation(d, rng)
    d1, d2 = rng.uniform(0.1, 3.0, d), rng.uniform(0.1, 3.0, d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()
    got = metrics.frechet_distance(mu1, q @ np.diag(d1) @ q.T, mu2, q @ np.diag(d2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_non_commuting_2x2_matches_trace_formula():
    # For a 2×2 matrix M with non-negative eigenvalues, tr √M = √(tr M + 2 √det M).
    s1 = np.array([[2.0, 0.7], [0.7, 1.0]])
    s2 = np.array([[0.5, -0.2], [-0.2, 3.0]])
    m = s1 @ s2
    trace_sqrt = math.sqrt(np.trace(m) + 2 * math.sqrt(np.linalg.det(m)))
    mu1, mu2 = np.array([1.0, -2.0]), np.array([0.5, 0.5])
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_fid_of_samples_approaches_the_gaussian_formula():
    rng = np.random.default_rng(2)
    a = rng.normal(0.0, 1.0, size=(20000, 3))
    b = rng.normal(1.0, 2.0, size=(20000, 3))
    # ‖Δμ‖² = 3, Σ (1 − 2)² = 3 → 6.
    assert metrics.fid(a, b) == pytest.approx(6.0, rel=0.03)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must match"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


# --- KID ---------------------------------------------------------------------------------------


def brute_force_polynomial_mmd2(x, y):
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1.0) ** 3

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_kid_estimator_matches_brute_force_unbiased_mmd():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(7, 4)), rng.normal(0.5, 1.0, size=(7, 4))
    # With subset_size equal to the set size every subset is the whole set (in some order).
    got = metrics.kid(x, y, subsets=3, subset_size=7)
    assert got.mean == pytest.approx(brute_force_polynomial_mmd2(x, y), rel=1e-10)
    assert got.std == pytest.approx(0.0, abs=1e-10)


def test_kid_is_near_zero_for_one_distribution_and_positive_when_shifted():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    shifted = rng.normal(0.3, 1.0, size=(2000, 16))
    same = metrics.kid(a, b, subsets=20, subset_size=500)
    different = metrics.kid(a, shifted, subsets=20, subset_size=500)
    assert abs(same.mean) < 3 * same.std + 1e-3
    assert different.mean > 10 * max(same.std, abs(same.mean))


# --- precision / recall, Inception Score analogue ----------------------------------------------


def test_precision_recall_identical_sets_are_one():
    x = np.random.default_rng(5).normal(size=(300, 5))
    assert metrics.precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_disjoint_sets_are_zero():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(300, 5)), rng.normal(size=(300, 5)) + 100.0
    assert metrics.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_mode_dropping_keeps_precision_and_halves_recall():
    # Real data has two far clusters; the "model" only ever makes the first one.
    rng = np.random.default_rng(7)
    real = np.concatenate([rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) + 50.0])
    fake = rng.normal(size=(600, 3))
    pr = metrics.precision_recall(real, fake, k=3)
    assert pr.precision > 0.9  # a few fakes fall in the tails outside the 300 real balls
    assert 0.45 < pr.recall < 0.55


def test_inception_score_analogue_limits():
    one_hot = np.eye(10)[np.arange(1000) % 10]  # confident and diverse: IS = number of classes
    assert metrics.inception_score_analogue(one_hot) == pytest.approx(10.0, rel=1e-6)
    uniform = np.full((1000, 10), 0.1)  # no class information: IS = 1
    assert metrics.inception_score_analogue(uniform) == pytest.approx(1.0, rel=1e-9)
    one_class = np.eye(10)[np.zeros(1000, dtype=int)]  # confident but one class only: IS = 1
    assert metrics.inception_score_analogue(one_class) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="softmax"):
        metrics.inception_score_analogue(np.ones((5, 10)))


# --- 2-D metrics -------------------------------------------------------------------------------


def brute_force_rbf_mmd2(x, y, bandwidths):
    def k(a, b):
        return sum(math.exp(-((a - b) ** 2).sum() / (2 * h * h)) for h in bandwidths)

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2)) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd_rbf_matches_brute_force():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    assert metrics.mmd_rbf(x, y, (0.3, 1.0)) == pytest.approx(brute_force_rbf_mmd2(x, y, (0.3, 1.0)), rel=1e-10)


def test_mmd_rbf_near_zero_for_one_distribution_positive_when_shifted():
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2))
    assert abs(metrics.mmd_rbf(a, b)) < 2e-3
    assert metrics.mmd_rbf(a, b + 0.5) > 0.05


def test_nearest_neighbour_distance_closed_form():
    reference = np.array([[0.0, 0.0], [10.0, 0.0]])
    samples = np.array([[0.0, 3.0], [10.0, -4.0], [6.0, 0.0]])  # distances 3, 4, 4
    assert metrics.nearest_neighbour_distance(samples, reference) == pytest.approx(11.0 / 3.0)


def test_evaluate_points_separates_true_samples_from_noise():
    from core.data import make_toy_2d

    true = make_toy_2d("two_moons", 1000, seed=1).points
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    good, bad = metrics.evaluate_points(true, "two_moons"), metrics.evaluate_points(noise, "two_moons")
    assert abs(good["mmd"]) < 5e-3
    assert bad["mmd"] > 20 * abs(good["mmd"])
    assert bad["nn_sample_to_data"] > 2 * good["nn_sample_to_data"]


def test_metrics_reject_nan_with_a_sentence():
    with pytest.raises(ValueError, match="NaN"):
        metrics.mmd_rbf(np.full((4, 2), np.nan), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        prepare_images(torch.full((2, 1, 32, 32), float("nan")))


# --- the shipped classifier and the real-vs-real floor -------------------------------------------


def test_shipped_classifier_accuracy_on_real_test_data():
    network = metrics.load_feature_network()
    assert isinstance(network, FashionClassifier)
    test = load_fashion_mnist("test", limit=3000)
    accuracy = metrics.class_accuracy(test.images, test.labels, network)
    assert accuracy >= 0.90
    assert network.metadata["test_accuracy"] >= 0.90
    # 28×28 inputs are padded to the same result.
    raw = load_fashion_mnist("test", pad_to=28, limit=64)
    with torch.no_grad():
        assert torch.allclose(network.logits(raw.images), network.logits(test.images[:64]), atol=1e-5)


def test_reference_statistics_belong_to_the_reference_half():
    stats = metrics.load_reference_statistics()
    assert len(np.intersect1d(stats.reference_indices, stats.heldout_indices)) == 0
    mu, sigma = metrics.feature_statistics(stats.features)
    np.testing.assert_allclose(mu, stats.mu, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigma, stats.sigma, rtol=1e-6, atol=1e-9)
    test = load_fashion_mnist("test")
    features, _ = metrics.classifier_outputs(test.images[torch.from_numpy(stats.reference_indices[:100])])
    np.testing.assert_allclose(features, stats.features[:100], rtol=1e-4, atol=1e-4)


def test_real_vs_real_floor_is_low_and_noise_is_high():
    floor = metrics.real_vs_real_images(300, seed=0)
    assert floor["class_accuracy"] >= 0.88
    assert floor["precision"] > 0.6 and floor["recall"] > 0.6
    noise = torch.rand(300, 1, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = metrics.evaluate_images(noise, torch.arange(300) % 10)
    assert bad["fid"] > 20 * floor["fid"]
    assert bad["kid"] > 20 * max(floor["kid"], floor["kid_std"])
    assert bad["precision"] < 0.05 and bad["class_accuracy"] < 0.3


def test_uint8_npz_images_score_like_float_images():
    test = load_fashion_mnist("test", pad_to=28, limit=100)
    as_uint8 = np.round((test.images[:, 0].numpy() + 1) * 127.5).astype(np.uint8)
    from_float = metrics.evaluate_images(test.images, test.labels, kid_subsets=5)
    from_uint8 = metrics.evaluate_images(as_uint8, test.labels.numpy(), kid_subsets=5)
    for key in ("fid", "kid", "precision", "recall", "class_accuracy"):
        assert from_uint8[key] == pytest.approx(from_float[key], rel=1e-6, abs=1e-9)
