"""core.evaluation.held_out_vlb: the DDPM bound in batches, combined, and split as the view reports it."""

from __future__ import annotations

import math

import pytest
import torch

from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.likelihood import VLBProgress, VLBResult, iterate_vlb, stratified_timesteps
from core.diffusion.schedules import make_schedule
from core.evaluation.held_out_vlb import (
    VLBSummary,
    combine_vlb_results,
    held_out_images,
    iterate_held_out_vlb,
)


def _eight_bit(n: int, d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, d), generator=g).double() / 127.5 - 1.0


def test_batches_combine_to_the_bound_of_the_images_each_batch_reported():
    data = _eight_bit(10, 4, 0)
    schedule = make_schedule("linear", 100)
    model = IdealDenoiser(data, schedule)
    events = list(iterate_held_out_vlb(model, data, schedule, strata=6, exact_below=4, batch_size=4, seed=7))
    progress = [e for e in events if isinstance(e, VLBProgress)]
    result = events[-1]
    assert isinstance(result, VLBResult) and result.images == 10
    # Three batches (4, 4, 2) × ten timesteps (t = 0…3 and six strata), counted across the batches.
    assert [p.done for p in progress] == list(range(1, 31)) and {p.total for p in progress} == {30}
    # Oracle: the same draws batch by batch through core.diffusion.likelihood, then the image-weighted mean.
    g = torch.Generator().manual_seed(7)
    ts, weights = stratified_timesteps(schedule, 6, g, exact_below=4)
    assert torch.equal(result.timesteps, ts) and torch.equal(result.weights, weights)
    totals = []
    for lo in (0, 4, 8):
        batch = data[lo : lo + 4]
        *_, last = iterate_vlb(model, batch, schedule, timesteps=ts, weights=weights, generator=g)
        totals.append((batch.shape[0], last.total_nats))
    expected = sum(n * total for n, total in totals) / 10
    assert result.total_nats == pytest.approx(expected, rel=1e-9)
    assert result.total_nats == pytest.approx(result.prior + float((result.weights * result.terms).sum()))


def test_summary_splits_the_total_into_prior_decoder_exact_and_strata_terms():
    data = _eight_bit(8, 4, 1)
    schedule = make_schedule("linear", 200)
    *_, result = iterate_held_out_vlb(IdealDenoiser(data, schedule), data, schedule, strata=5, exact_below=10)
    summary = VLBSummary.of(result)
    per_dim = 4 * math.log(2.0)
    assert summary.decoder == pytest.approx(float(result.terms[0]) / per_dim)
    assert summary.exact_terms == pytest.approx(float(result.terms[1:10].sum()) / per_dim)
    assert summary.strata_terms == pytest.approx(float((result.weights[10:] * result.terms[10:]).sum()) / per_dim)
    parts = summary.prior + summary.decoder + summary.exact_terms + summary.strata_terms
    assert (
        summary.exact_up_to == 9
        and parts == pytest.approx(summary.total)
        and summary.total == pytest.approx(result.bits_per_dim)
    )
    # strata = 0: every timestep, all of them exact. The exact denoiser of 8 points needs log 8 nats to pick one.
    *_, full = iterate_held_out_vlb(IdealDenoiser(data, schedule), data, schedule, strata=0, batch_size=3)
    whole = VLBSummary.of(full)
    assert full.timesteps.tolist() == list(range(200)) and whole.strata_terms == 0.0 and whole.exact_up_to == 199
    assert whole.exact_terms * per_dim == pytest.approx(math.log(8), abs=0.1)


def test_results_at_different_timesteps_cannot_be_combined_and_bad_input_is_named():
    data = _eight_bit(4, 4, 2)
    schedule = make_schedule("linear", 50)
    model = IdealDenoiser(data, schedule)
    *_, a = iterate_vlb(model, data, schedule, timesteps=torch.tensor([0, 5]))
    *_, b = iterate_vlb(model, data, schedule, timesteps=torch.tensor([0, 6]))
    with pytest.raises(ValueError, match="same timesteps"):
        combine_vlb_results([(4, a), (4, b)])
    with pytest.raises(ValueError, match="batch size"):
        list(iterate_held_out_vlb(model, data, schedule, batch_size=0))
    with pytest.raises(ValueError, match="held-out test images"):
        held_out_images(0)
    images = held_out_images(3)
    assert images.shape == (3, 1, 32, 32) and float(images.min()) == -1.0 and float(images.max()) <= 1.0
