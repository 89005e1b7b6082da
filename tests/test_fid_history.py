"""FID over training time and "time to reach FID ≤ X" (core.evaluation.fid_history): no Qt."""

from __future__ import annotations

import pytest
import torch

from core.evaluation.fid_history import (
    FIDPoint,
    describe_time_to_fid,
    history_from_dicts,
    measure_snapshots,
    shared_threshold,
    time_to_fid,
)
from core.io.generative_checkpoints import save_generative
from core.models.gan import GAN, GANConfig

HISTORY = [FIDPoint(300, 31.0, 36.0, 45.0), FIDPoint(100, 10.0, 12.0, 90.0), FIDPoint(200, 20.0, 24.0, 40.0)]


def test_time_to_fid_is_the_first_point_in_training_order_at_or_below_the_threshold():
    assert time_to_fid(HISTORY, 50.0) == FIDPoint(200, 20.0, 24.0, 40.0)  # not step 300, though it comes first
    assert time_to_fid(HISTORY, 40.0).step == 200  # "≤", not "<"
    assert time_to_fid(HISTORY, 95.0).step == 100
    assert time_to_fid(HISTORY, 39.9) is None
    with pytest.raises(ValueError, match="positive number"):
        time_to_fid(HISTORY, float("nan"))


def test_shared_threshold_is_one_every_history_reaches():
    vae = [FIDPoint(50, 5.0, 6.0, 27.0)]
    x = shared_threshold([HISTORY, vae, []])  # an empty history does not hold the others back
    assert x == 40.0
    assert all(time_to_fid(h, x) is not None for h in (HISTORY, vae))
    assert shared_threshold([[FIDPoint(1, 1, 1, 41.0)], vae]) == 45.0
    assert shared_threshold([[], []]) is None


def test_cells_say_when_the_threshold_was_reached_or_that_it_was_not():
    assert describe_time_to_fid(HISTORY, 50.0) == "24 CPU-s (step 200)"
    assert describe_time_to_fid(HISTORY, 30.0) == "not reached in 36 CPU-s (best 40.0)"
    assert describe_time_to_fid([], 30.0) == "not recorded"


def test_a_history_survives_the_json_it_is_stored_as_and_bad_rows_are_refused():
    rows = [p.to_dict() for p in HISTORY]
    assert history_from_dicts(rows) == sorted(HISTORY, key=lambda p: p.step)
    assert history_from_dicts(None) == []
    with pytest.raises(ValueError, match="step, wall_s, cpu_s and fid"):
        history_from_dicts([{"step": 1, "fid": 3.0}])


def test_snapshots_are_scored_with_their_own_step_and_seconds(tmp_path):
    torch.manual_seed(0)
    gan = GAN(GANConfig(arch="dcgan", latent_dim=8, base_channels=4, image_size=32, channels=1))
    paths = []
    for step, wall in ((10, 1.5), (20, 3.0)):
        paths.append(
            save_generative(tmp_path / f"s{step}.safetensors", gan, metadata={"step": step, "wall_time_s": wall})
        )
        with torch.no_grad():
            for p in gan.generator.parameters():
                p.mul_(0.5)  # a different generator for the second snapshot
    history = measure_snapshots("gan", [(paths[1], 4.0), (paths[0], 2.0)], n=20)
    assert [(p.step, p.wall_s, p.cpu_s) for p in history] == [(10, 1.5, 2.0), (20, 3.0, 4.0)]
    assert all(p.fid > 0 for p in history) and history[0].fid != history[1].fid
