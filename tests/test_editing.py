"""Editing with a denoiser (core/diffusion/editing.py): inpainting, SDEdit, super-resolution.

The oracle is the exact optimal denoiser of a tiny dataset (``IdealDenoiser``): with it, a correct
inpainting run must complete the known half to the one data point that agrees with it, and a
correct super-resolution must find the data point whose downsample is the input.
"""

import pytest
import torch

from core.diffusion import (
    IdealDenoiser,
    TrajectoryRecorder,
    faithfulness_distance,
    inpaint_repaint,
    inpaint_replace,
    make_schedule,
    repaint_evaluations,
    sdedit,
    super_resolve,
    upsample_bicubic,
)
from core.diffusion.editing import check_hole_mask, downsample, repaint_moves, sdedit_timesteps


@pytest.fixture(scope="module")
def schedule():
    return make_schedule("linear", 1000)


@pytest.fixture(scope="module")
def data():
    """Three 1×8×8 images whose left halves (and 2×2 downsamples) all differ."""
    yy, xx = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    a = torch.where(xx < 4, 1.0, -1.0)  # bright left half
    b = torch.where(yy < 4, 1.0, -1.0)  # bright top half
    c = torch.where((xx // 2 + yy // 2) % 2 == 0, 0.5, -0.5)  # checkerboard of 2×2 blocks
    return torch.stack([a, b, c])[:, None].float()


@pytest.fixture(scope="module")
def ideal(data, schedule):
    return IdealDenoiser(data, schedule)


def right_half_hole():
    hole = torch.zeros(8, 8)
    hole[:, 4:] = 1
    return hole


def test_replace_and_repaint_keep_the_known_pixels_exactly(ideal, schedule):
    x_known = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)
    hole = right_half_hole()
    for method in (inpaint_replace, inpaint_repaint):
        out = method(ideal, x_known, hole, schedule, 10, generator=torch.Generator().manual_seed(1))
        keep = hole[None, None].expand_as(out) < 0.5
        assert torch.equal(out[keep], x_known[keep])  # bit for bit, not just close
        assert not torch.allclose(out[~keep], x_known[~keep], atol=0.1)  # the hole was changed


def test_repaint_fills_the_hole_with_the_consistent_data_point(ideal, data, schedule):
    for k in range(3):
        x_known = data[k : k + 1].repeat(6, 1, 1, 1)
        x_known[:, :, :, 4:] = 0.0  # the hole starts grey: the answer must come from the model
        out = inpaint_repaint(
            ideal, x_known, right_half_hole(), schedule, 20, generator=torch.Generator().manual_seed(k)
        )
        assert (out - data[k]).abs().max() < 0.05, f"data point {k} was not completed consistently"


def test_repaint_records_its_jumps_on_the_timeline(ideal, data, schedule):
    recorder = TrajectoryRecorder()
    steps, jump, resamplings = 10, 5, 3
    inpaint_repaint(ideal, data, right_half_hole(), schedule, steps, generator=torch.Generator().manual_seed(0),
                    callback=recorder, jump_length=jump, resamplings=resamplings)  # fmt: skip
    evaluations = repaint_evaluations(steps, jump, resamplings)
    assert evaluations == steps + (resamplings - 1) * jump  # one jump position (5) below 10 steps
    assert len(recorder) == evaluations + 1  # every evaluation, plus the final image
    ts = recorder.timesteps
    assert (ts[1:] > ts[:-1]).sum() == resamplings - 1  # t goes back up once per jump
    assert ts[-1] == -1 and ts[0] == 999


def test_repaint_moves_walk_from_noise_to_clean(ideal):
    assert repaint_moves(4, 1, 1) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    moves = repaint_moves(6, 2, 2)
    assert moves[-1][1] == 6 and moves.count((2, 0)) == 1 and moves.count((4, 2)) == 1
    with pytest.raises(ValueError, match="between 1"):
        repaint_moves(6, 2, 0)


def test_masks_that_cannot_work_are_refused_in_words(ideal, data, schedule):
    with pytest.raises(ValueError, match="mask is empty"):
        check_hole_mask(torch.zeros(8, 8), data)
    with pytest.raises(ValueError, match="whole image"):
        check_hole_mask(torch.ones(8, 8), data)
    with pytest.raises(ValueError, match="8×8"):
        check_hole_mask(torch.ones(16, 16), data)
    assert check_hole_mask(right_half_hole(), data).shape == (1, 1, 8, 8)


def test_sdedit_at_zero_strength_returns_the_input_and_small_strength_stays_close(ideal, data, schedule):
    guide = data[[0, 2]]
    assert torch.equal(sdedit(ideal, guide, schedule, 50, strength=0.0), guide)
    assert sdedit_timesteps(schedule, 1 / 1000, 50) == [0]  # t₀ = 0: one step from the least noisy level
    out = sdedit(ideal, guide, schedule, 50, strength=1 / 1000, generator=torch.Generator().manual_seed(0))
    assert (out - guide).abs().max() < 0.05
    assert faithfulness_distance(out, guide).max() < 0.02


def nearest_data_point(images, data):
    return (images[:, None] - data[None]).flatten(2).abs().amax(-1).argmin(1)


def test_sdedit_at_full_strength_forgets_the_input(ideal, data, schedule):
    guides = (data[0:1].repeat(60, 1, 1, 1), data[1:2].repeat(60, 1, 1, 1))  # two very different inputs
    ends = [nearest_data_point(sdedit(ideal, g, schedule, 50, strength=1.0, generator=torch.Generator().manual_seed(3)), data)
            for g in guides]  # fmt: skip
    # Same noise → the same data point for (almost) every sample, whatever the input was…
    assert (ends[0] == ends[1]).float().mean() >= 0.9
    # …and the input's own data point is not favoured (each of the 3 is about equally likely).
    assert (ends[0] == 0).float().mean() < 0.6 and (ends[1] == 1).float().mean() < 0.6
    # A moderate strength keeps each input's identity.
    mid = [sdedit(ideal, g, schedule, 50, strength=0.3, generator=torch.Generator().manual_seed(3)) for g in guides]
    assert (mid[0] - data[0]).abs().max() < 0.05 and (mid[1] - data[1]).abs().max() < 0.05


def test_super_resolution_matches_its_low_resolution_input_and_beats_bicubic(ideal, data, schedule):
    y_low = downsample(data, 2)  # 4×4
    out = super_resolve(ideal, y_low, schedule, 20, image_size=8, generator=torch.Generator().manual_seed(0))
    assert out.shape == data.shape
    assert (downsample(out, 2) - y_low).abs().max() < 1e-5
    sr_error = faithfulness_distance(out, data)
    bicubic_error = faithfulness_distance(upsample_bicubic(y_low, 2), data)
    assert (sr_error < 0.05).all() and (bicubic_error > 0.2).all()


def test_super_resolution_refuses_sizes_that_do_not_divide(ideal, schedule):
    with pytest.raises(ValueError, match="divide"):
        super_resolve(ideal, torch.zeros(1, 1, 3, 3), schedule, 5, image_size=8)
