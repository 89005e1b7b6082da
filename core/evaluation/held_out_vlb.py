"""The DDPM variational bound of an image model on held-out test images, in batches, with progress.

``core.diffusion.likelihood.iterate_vlb`` computes the bound of Ho et al. 2020 (eq. 5) for one batch:
the prior term L_T, the KL terms L_t and the discretized-Gaussian decoder L_0 (eq. 13). A full bound is
T = 1,000 network passes per image, so the estimate here runs every t below ``exact_below`` (L_t falls
steeply there) and one random t in each of ``strata`` equal slices of the rest, weighted by the slice
sizes (``stratified_timesteps``: an unbiased estimate of Σ_t L_t). The images are split into batches
that share those timesteps; the batches' results are combined as the image-weighted mean, which is the
bound of all the images together.

Used by the Score & likelihood view (its "Image models" tab) and ``benchmarks/bench_vlb.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core.data import get_dataset
from core.diffusion.likelihood import VLBProgress, VLBResult, iterate_vlb, stratified_timesteps
from core.diffusion.schedules import NoiseSchedule

DEFAULT_STRATA = 16
DEFAULT_EXACT_BELOW = 16
DEFAULT_BATCH = 50

# Published bounds the number can be set beside (different data: only the scale compares).
PUBLISHED_BITS_PER_DIM = (
    ("DDPM, trained on the bound L (Ho et al. 2020, Table 1, CIFAR-10)", 3.70),
    ("DDPM, trained on L_simple (Ho et al. 2020, Table 1, CIFAR-10)", 3.75),
    ("Improved DDPM, learned variances (Nichol & Dhariwal 2021, CIFAR-10)", 2.94),
)


def held_out_images(n: int) -> torch.Tensor:
    """The first ``n`` Fashion-MNIST **test** images (never trained on), (n, 1, 32, 32) in [−1, 1]."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000:
        raise ValueError(f"Choose between 1 and 10,000 held-out test images; got {n}.")
    return get_dataset("fashion_mnist", split="test", pad_to=32, limit=n).images


def combine_vlb_results(parts: list[tuple[int, VLBResult]]) -> VLBResult:
    """One ``VLBResult`` for several batches that used the same timesteps: the mean weighted by image count."""
    if not parts:
        raise ValueError("There are no batches to combine.")
    first = parts[0][1]
    for _, result in parts[1:]:
        if not torch.equal(result.timesteps, first.timesteps) or not torch.equal(result.weights, first.weights):
            raise ValueError("Only batches evaluated at the same timesteps can be combined.")
    n = sum(count for count, _ in parts)
    terms = sum(count * result.terms for count, result in parts) / n
    prior = sum(count * result.prior for count, result in parts) / n
    return VLBResult(first.timesteps, terms, first.weights, prior, first.dim, n)


def iterate_held_out_vlb(
    model,
    images: torch.Tensor,
    schedule: NoiseSchedule,
    *,
    strata: int = DEFAULT_STRATA,
    exact_below: int = DEFAULT_EXACT_BELOW,
    batch_size: int = DEFAULT_BATCH,
    variance: str = "posterior",
    seed: int = 0,
) -> Iterator[VLBProgress | VLBResult]:
    """The bound of ``images`` in batches of ``batch_size``: ``VLBProgress`` (timesteps done over all batches)
    after every network pass, and the combined ``VLBResult`` last. ``strata = 0`` runs every timestep (the full
    bound). Close the generator to cancel."""
    if not torch.is_tensor(images) or images.ndim < 2 or images.shape[0] < 1:
        raise ValueError("The bound needs a non-empty batch of images (B, C, H, W).")
    if int(batch_size) < 1:
        raise ValueError("The batch size must be at least 1.")
    generator = torch.Generator().manual_seed(int(seed))
    if strata:
        ts, weights = stratified_timesteps(schedule, strata, generator, exact_below=exact_below)
    else:
        ts, weights = torch.arange(schedule.num_timesteps), torch.ones(schedule.num_timesteps, dtype=torch.float64)
    batches = math.ceil(images.shape[0] / int(batch_size))
    total = batches * len(ts)
    parts: list[tuple[int, VLBResult]] = []
    for b in range(batches):
        batch = images[b * batch_size : (b + 1) * batch_size]
        for event in iterate_vlb(model, batch, schedule, timesteps=ts, weights=weights, variance=variance,
                                 generator=generator):  # fmt: skip
            if isinstance(event, VLBResult):
                parts.append((batch.shape[0], event))
            else:
                yield VLBProgress(b * len(ts) + event.done, total)
    yield combine_vlb_results(parts)


@dataclass
class VLBSummary:
    """The bound split as the view and docs/quality.md report it, all in bits/dim."""

    prior: float  # L_T
    decoder: float  # L_0
    exact_terms: float  # Σ L_t for 1 ≤ t < exact_below (each computed)
    strata_terms: float  # Σ weight · L_t over the strata (an estimate)
    total: float
    exact_up_to: int  # the last t of the leading run computed at every timestep

    @classmethod
    def of(cls, result: VLBResult) -> VLBSummary:
        per_dim = result.dim * math.log(2.0)
        weighted = (result.weights * result.terms.double()) / per_dim
        exact = (result.weights == 1.0) & (result.timesteps > 0)
        exact &= torch.cumprod(result.weights == 1.0, 0).bool()  # the leading run of exact timesteps
        rest = (result.timesteps > 0) & ~exact
        decoder = float(weighted[result.timesteps == 0].sum())
        last = int(result.timesteps[exact].max()) if bool(exact.any()) else 0
        return cls(result.prior / per_dim, decoder, float(weighted[exact].sum()), float(weighted[rest].sum()),
                   result.bits_per_dim, last)  # fmt: skip
