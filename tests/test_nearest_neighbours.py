"""core.evaluation.nearest_neighbours: exact neighbours against brute force, copies found, features used."""

from __future__ import annotations

import pytest
import torch

from core.evaluation.nearest_neighbours import classifier_features, nearest_neighbours, neighbour_study
from core.models.classifier import ClassifierConfig, FashionClassifier


def _images(n: int, seed: int, side: int = 32) -> torch.Tensor:
    return torch.rand(n, 1, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_neighbours_match_brute_force_whatever_the_chunk_size():
    queries, reference = _images(7, 0, 6), _images(50, 1, 6)
    brute = torch.cdist(queries.flatten(1).double(), reference.flatten(1).double(),
                        compute_mode="donot_use_mm_for_euclid_dist")  # fmt: skip
    expected_d, expected_i = brute.sort(dim=1)
    for chunk in (7, 16, 50, 4096):
        result = nearest_neighbours(queries, reference, 4, chunk=chunk)
        assert torch.equal(result.indices, expected_i[:, :4])
        torch.testing.assert_close(result.distances, expected_d[:, :4], atol=1e-9, rtol=1e-9)
    assert bool((result.distances.diff(dim=1) >= 0).all())


def test_a_copy_of_a_training_image_is_found_at_distance_zero_and_ties_go_to_the_lower_index():
    reference = _images(40, 2, 8)
    reference[30] = reference[12]  # a duplicate in the training set
    queries = torch.stack([reference[12], reference[5] + 0.01])
    result = nearest_neighbours(queries, reference, 3, chunk=7)
    assert result.indices[0, :2].tolist() == [12, 30] and float(result.distances[0, :2].max()) < 1e-6
    assert int(result.indices[1, 0]) == 5
    assert float(result.nearest[1]) == pytest.approx(0.01 * 8, rel=1e-6)  # 64 pixels each 0.01 away


def test_study_measures_generated_and_test_images_in_pixel_and_feature_space():
    torch.manual_seed(0)
    network = FashionClassifier(ClassifierConfig(widths=(4, 8, 8), feature_dim=16)).eval()
    training = _images(60, 3)
    generated = torch.cat([training[:2], _images(2, 4)])  # two copies, two new images
    held_out = _images(3, 5)
    study = neighbour_study(generated, held_out, training, network, k=2)
    assert study.generated_pixel.indices[:2, 0].tolist() == [0, 1]
    # A copy is at distance 0 up to float64 cancellation in ‖q‖² + ‖r‖² − 2q·r (distinct images are ~18 apart).
    assert float(study.generated_pixel.nearest[:2].max()) < 1e-4
    assert float(study.generated_feature.nearest[:2].max()) < 1e-4  # a copy has the same features
    features = classifier_features(training, network)
    assert features.shape == (60, 16)
    expected = nearest_neighbours(classifier_features(held_out, network), features, 2)
    assert torch.equal(study.held_out_feature.indices, expected.indices)
    medians = study.median_nearest()
    # Half the "generated" images are copies: their median nearest distance is about half the test images'.
    assert medians["generated, pixels"] < 0.75 * medians["test, pixels"]
    assert study.closeness("pixels") == pytest.approx(medians["generated, pixels"] / medians["test, pixels"])
    assert set(medians) == {"generated, pixels", "test, pixels", "generated, features", "test, features"}
    again = neighbour_study(generated, held_out, training, network, k=2, training_features=features)
    assert torch.equal(again.generated_feature.indices, study.generated_feature.indices)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="between 1 and the 5"):
        nearest_neighbours(_images(2, 0, 4), _images(5, 1, 4), 6)
    with pytest.raises(ValueError, match="must match"):
        nearest_neighbours(_images(2, 0, 4), _images(5, 1, 5), 1)
    with pytest.raises(ValueError, match="at least one"):
        nearest_neighbours(torch.zeros(0, 16), _images(5, 1, 4), 1)
