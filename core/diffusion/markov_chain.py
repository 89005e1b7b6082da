"""The forward Markov chain, cached: x_t = √α_t x_{t−1} + √β_t z_t (DDPM, Ho et al. 2020, eq. 2).

``simulate_chain`` (``core.diffusion.forward_process``) runs the chain once and returns the states
asked for. ``MarkovChainCache`` keeps the chain of one source, schedule and seed so that a timeline
can read any x_t again and again: it stores states within a memory budget (every k-th state, with
the random generator's state, when all T do not fit) and recomputes the few steps in between.
``extend_iter`` computes the chain chunk by chunk and yields the frontier reached, so a worker
thread can run it while the GUI reads the part already computed.

The marginal of the chain at t is q(x_t | x_0) = N(√ᾱ_t x_0, (1 − ᾱ_t) I) (DDPM eq. 4).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from core.diffusion.schedules import NoiseSchedule

DEFAULT_CHAIN_BUDGET_BYTES = 128 * 2**20  # memory for stored chain states; beyond it, only every k-th state is kept
DEFAULT_CHAIN_CHUNK = 25  # steps computed between two yields of ``extend_iter``


class MarkovChainCache:
    """States of the chain x_t = √α_t x_{t−1} + √β_t z_t (DDPM eq. 2), computed once and then read.

    The noise z_t comes from one ``torch.Generator`` seeded with ``seed``, drawn in the order
    ``core.diffusion.forward_process.simulate_chain`` draws it, so ``get(t)`` equals
    ``simulate_chain(schedule, x0, Generator().manual_seed(seed), [t])[t]`` exactly. When all T
    states do not fit in ``budget_bytes``, every ``keyframe_every``-th state is stored with the
    generator's state, and states in between are recomputed from the nearest one (a few steps).

    One thread may extend the chain (``extend_iter``/``extend_to``) while another reads states at or
    below ``frontier`` with ``get``.
    """

    def __init__(
        self, schedule: NoiseSchedule, x0: torch.Tensor, seed: int, budget_bytes: int = DEFAULT_CHAIN_BUDGET_BYTES
    ):
        if budget_bytes <= 0:
            raise ValueError(f"The memory budget of a Markov chain must be positive, not {budget_bytes} bytes.")
        self.schedule = schedule
        self.x0 = x0
        self.seed = int(seed)
        state_bytes = x0.numel() * x0.element_size()
        self.keyframe_every = max(1, math.ceil(schedule.num_timesteps * state_bytes / budget_bytes))
        self._sqrt_alphas = schedule.alphas.sqrt().tolist()
        self._sqrt_betas = schedule.betas.sqrt().tolist()
        generator = torch.Generator().manual_seed(self.seed)
        self._keys: dict[int, tuple[torch.Tensor, torch.Tensor]] = {-1: (x0, generator.get_state())}
        self.frontier = -1  # the largest t whose keyframe chain has been computed
        self._cursor: tuple[int, torch.Tensor, torch.Tensor] = (-1, x0, generator.get_state())

    @property
    def complete(self) -> bool:
        return self.frontier >= self.schedule.num_timesteps - 1

    @property
    def stored_timesteps(self) -> list[int]:
        """The timesteps whose state is kept (−1 stands for x_0), in increasing order."""
        return sorted(self._keys)

    def _run(self, start: int, x: torch.Tensor, state: torch.Tensor, stop: int, store: bool):
        """Step from x_start (after step ``start``) to x_stop; keep keyframes when ``store``."""
        generator = torch.Generator()
        generator.set_state(state)
        for t in range(start + 1, stop + 1):
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = self._sqrt_alphas[t] * x + self._sqrt_betas[t] * z  # DDPM eq. 2
            if store and t % self.keyframe_every == 0:
                self._keys[t] = (x, generator.get_state())
        return x, generator.get_state()

    def extend_to(self, t: int) -> None:
        """Compute (and store keyframes) up to timestep ``t`` (clamped to T − 1)."""
        t = min(int(t), self.schedule.num_timesteps - 1)
        if t <= self.frontier:
            return
        start = self.frontier
        x, state = self._keys[start]
        x, state = self._run(start, x, state, t, store=True)
        self._keys[t] = (x, state)  # the frontier is always stored, so the next chunk starts there
        self.frontier = t

    def extend_iter(self, stop: int | None = None, chunk: int = DEFAULT_CHAIN_CHUNK) -> Iterator[int]:
        """Extend the chain ``chunk`` steps at a time up to ``stop`` (default T − 1), yielding the frontier.

        Nothing is yielded when the chain already reaches ``stop``. Closing the generator between
        yields leaves the cache consistent: the chain simply ends at the last frontier yielded.
        """
        if chunk < 1:
            raise ValueError(f"A Markov chain is extended at least one step at a time, not {chunk}.")
        last = self.schedule.num_timesteps - 1 if stop is None else min(int(stop), self.schedule.num_timesteps - 1)
        while self.frontier < last:
            self.extend_to(min(self.frontier + chunk, last))
            yield self.frontier

    def get(self, t: int) -> torch.Tensor:
        """x_t of the chain; computes what is missing (from the nearest stored state below t)."""
        t = int(t)
        cursor_t, cursor_x, cursor_state = self._cursor
        if t == cursor_t:
            return cursor_x
        if t > self.frontier:
            self.extend_to(t)
        start = max(k for k in list(self._keys) if k <= t)  # list(): another thread may add keys meanwhile
        if cursor_t <= t and cursor_t > start:
            x, state = self._run(cursor_t, cursor_x, cursor_state, t, store=False)
        else:
            key_x, key_state = self._keys[start]
            x, state = self._run(start, key_x, key_state, t, store=False)
        self._cursor = (t, x, state)
        return x
