"""Random minibatches without DataLoader workers (the frozen app cannot start worker processes)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch

from core.data.base import ImageDataset
from core.data.points import PointDataset


def _seed_from(*words: int) -> int:
    """A well-mixed 63-bit seed from several integers (numpy's SeedSequence hashing)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class MinibatchSampler:
    """Random minibatches ``(x, labels)`` forever, in the calling thread, reproducible from a seed.

    Each epoch visits every example once in a fresh random order; batches run on across epoch
    boundaries so every batch has exactly ``batch_size`` examples. Batch ``k`` depends only on
    ``(seed, k)``: to resume a run, build the sampler with ``start_step`` = the number of batches
    already drawn (``sampler.step``), and it continues exactly where it stopped.

    ``data`` is an ``ImageDataset``, a ``PointDataset``, a tensor, or a ``(tensor, labels)`` pair.
    ``hflip=True`` mirrors each image left-right with probability ½ (a common augmentation for
    images whose mirror is as likely as the original; off by default because it changes the data).
    """

    def __init__(
        self,
        data: ImageDataset | PointDataset | torch.Tensor | tuple[torch.Tensor, torch.Tensor | None],
        batch_size: int,
        seed: int = 0,
        *,
        hflip: bool = False,
        start_step: int = 0,
        device: torch.device | str | None = None,
    ) -> None:
        if isinstance(data, ImageDataset):
            self.x, self.labels = data.images, data.labels
        elif isinstance(data, PointDataset):
            self.x, self.labels = data.points, data.labels
        elif isinstance(data, torch.Tensor):
            self.x, self.labels = data, None
        else:
            self.x, self.labels = data
        if self.x.shape[0] == 0:
            raise ValueError("The dataset is empty, so there is nothing to draw minibatches from.")
        if self.labels is not None and self.labels.shape[0] != self.x.shape[0]:
            raise ValueError(f"{self.labels.shape[0]} labels do not match {self.x.shape[0]} examples.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive whole number; got {batch_size!r}.")
        if hflip and self.x.ndim != 4:
            raise ValueError("hflip mirrors images; it does not apply to 2-D points.")
        if start_step < 0:
            raise ValueError(f"start_step must be 0 or more; got {start_step!r}.")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.hflip = hflip
        self.step = int(start_step)  # number of batches drawn so far
        self.device = device
        self._epoch_cache: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    def __len__(self) -> int:
        """Batches per epoch (rounded up)."""
        return math.ceil(self.x.shape[0] / self.batch_size)

    def _epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The example order of an epoch and its flip decisions, from (seed, epoch) alone."""
        if epoch not in self._epoch_cache:
            generator = torch.Generator().manual_seed(_seed_from(self.seed, epoch))
            order = torch.randperm(self.x.shape[0], generator=generator)
            flips = torch.rand(self.x.shape[0], generator=generator) < 0.5 if self.hflip else None
            self._epoch_cache = {e: v for e, v in self._epoch_cache.items() if e >= epoch - 1}
            self._epoch_cache[epoch] = (order, flips)
        return self._epoch_cache[epoch]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.take(*self.next_indices())

    def next_indices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The example indices of the next batch and which of them to mirror; advances ``step``.

        Split from ``next_batch`` so that a distributed sampler can draw the global batch's order
        and gather only its own share of the examples."""
        n = self.x.shape[0]
        positions = torch.arange(self.step * self.batch_size, (self.step + 1) * self.batch_size)
        epochs, offsets = positions // n, positions % n
        index = torch.empty(self.batch_size, dtype=torch.int64)
        flip = torch.zeros(self.batch_size, dtype=torch.bool)
        for epoch in torch.unique(epochs).tolist():
            where = epochs == epoch
            order, flips = self._epoch(epoch)
            index[where] = order[offsets[where]]
            if flips is not None:
                flip[where] = flips[offsets[where]]
        self.step += 1
        return index, flip

    def take(self, index: torch.Tensor, flip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The examples at ``index`` (mirrored where ``flip``) and their labels, on ``device``."""
        x = self.x.index_select(0, index)
        if flip.any():
            x[flip] = x[flip].flip(-1)
        labels = None if self.labels is None else self.labels.index_select(0, index)
        if self.device is not None:
            x = x.to(self.device, non_blocking=True)
            labels = None if labels is None else labels.to(self.device, non_blocking=True)
        return x, labels

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        while True:
            yield self.next_batch()


def iterate_minibatches(
    data: ImageDataset | PointDataset | torch.Tensor | tuple[torch.Tensor, torch.Tensor | None],
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    hflip: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Endless ``(x, labels)`` minibatches; the sampler's seed is drawn once from ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return iter(MinibatchSampler(data, batch_size, seed, hflip=hflip))
