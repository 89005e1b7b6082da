"""Quality during training: previews are scored without changing what training does."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.evaluation.training_quality import PreviewScore, preview_scorer, with_preview_scores
from core.training import TrainConfig, train


def _run(tmp_path, name, scored):
    config = TrainConfig(dataset="toy:two_moons", steps=12, batch_size=32, preview_every=6, preview_count=4, preview_steps=5,
                         checkpoint_path=str(tmp_path / f"{name}.safetensors"), seed=5, threads=1)  # fmt: skip
    events = train(config)
    if scored:
        events = with_preview_scores(events, config.dataset)
    return list(events), load_file(str(tmp_path / f"{name}.safetensors"))


def test_scoring_previews_leaves_training_bit_identical_and_scores_each_preview(tmp_path):
    plain, plain_weights = _run(tmp_path, "plain", scored=False)
    scored, scored_weights = _run(tmp_path, "scored", scored=True)
    assert [type(e).__name__ for e in scored if not isinstance(e, PreviewScore)] == [type(e).__name__ for e in plain]
    assert plain_weights.keys() == scored_weights.keys()
    assert all(torch.equal(plain_weights[k], scored_weights[k]) for k in plain_weights)
    scores = [e for e in scored if isinstance(e, PreviewScore)]
    previews = [e for e in scored if type(e).__name__ == "Preview"]
    assert [s.step for s in scores] == [p.step for p in previews] == [6, 12]
    for score, preview in zip(scores, previews, strict=True):  # the very samples of the preview, scored
        assert score.headline == "mmd" and score.metrics["mmd"] == pytest.approx(
            preview_scorer("toy:two_moons")(preview.images, None)[0]["mmd"]
        )


def test_the_score_tells_data_from_noise():
    score = preview_scorer("toy:two_moons")
    from core.data import make_toy_2d

    on_data, _ = score(make_toy_2d("two_moons", 256, seed=9).points.numpy(), None)
    noise, _ = score(np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32), None)
    assert on_data["mmd"] < 0.2 * noise["mmd"] and on_data["nn_sample_to_data"] < noise["nn_sample_to_data"]


def test_fashion_mnist_previews_get_class_accuracy_and_unscorable_data_gets_nothing():
    from core.evaluation.metrics import heldout_real_images

    images, labels = heldout_real_images(16, seed=0)
    metrics, headline = preview_scorer("fashion_mnist")(images, labels)
    assert headline == "fid" and metrics["class_accuracy"] >= 0.75  # real garments are recognised
    wrong, _ = preview_scorer("fashion_mnist")(images, (labels + 1) % 10)
    assert wrong["class_accuracy"] <= 0.25
    assert preview_scorer("shapes") is None and preview_scorer("fashion_mnist", (1, 16, 16)) is None
