"""The arrays of one Forward process frame, refilled in place for every timestep (numpy; no Qt).

Scrubbing must cost little, so the arrays are allocated once per source and seed and every frame is
computed into them with ``out=`` (DDPM, Ho et al. 2020, eq. 4)::

    x_t  =  √ᾱ_t · x_0  +  √(1 − ᾱ_t) · ε
"""

from __future__ import annotations

import numpy as np
import torch

from core.diffusion import MarkovChainCache, NoiseSchedule


class FrameBuffers:
    """x_t, the ε shown and the signal part √ᾱ_t·x_0 for one source x_0 and one seed.

    In closed form ε is one fixed draw from ``torch.Generator().manual_seed(seed)``. With a Markov
    chain, x_t is read from the chain's cache and the ε shown is its accumulated noise, rescaled:
    (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t), again N(0, I).
    """

    def __init__(self, x0: torch.Tensor, seed: int):
        generator = torch.Generator().manual_seed(int(seed))
        self.x0 = np.ascontiguousarray(x0.numpy(), dtype=np.float32)
        self.eps = torch.randn(x0.shape, generator=generator).numpy()
        self.x_t = np.empty_like(self.x0)
        self.signal = np.empty_like(self.x0)
        self._eps_chain = np.empty_like(self.x0)
        self.eps_shown = self.eps

    def compute(self, schedule: NoiseSchedule, t: int, chain: MarkovChainCache | None = None) -> int:
        """Fill ``x_t``, ``eps_shown`` and ``signal`` for timestep t; return the timestep x_t shows.

        That is t, except while a chain is still being computed past its ``frontier``: x_t is then
        the frontier's state (x_0 before the first step), and the returned value is below t.
        """
        a = float(schedule.sqrt_alphas_cumprod[t])
        s = float(schedule.sqrt_one_minus_alphas_cumprod[t])
        np.multiply(self.x0, a, out=self.signal)  # √ᾱ_t x_0
        if chain is None:
            np.multiply(self.eps, s, out=self.x_t)  # √(1−ᾱ_t) ε
            np.add(self.x_t, self.signal, out=self.x_t)
            self.eps_shown = self.eps
            return t
        reachable = min(t, chain.frontier) if not chain.complete else t
        if reachable < 0:
            np.copyto(self.x_t, self.x0)
        else:
            np.copyto(self.x_t, chain.get(reachable).numpy())
        # The chain's accumulated noise, rescaled: (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t) ~ N(0, I).
        shown_t = max(reachable, 0)
        a_shown = float(schedule.sqrt_alphas_cumprod[shown_t])
        s_shown = float(schedule.sqrt_one_minus_alphas_cumprod[shown_t])
        np.multiply(self.x0, a_shown, out=self._eps_chain)
        np.subtract(self.x_t, self._eps_chain, out=self._eps_chain)
        np.multiply(self._eps_chain, 1.0 / s_shown, out=self._eps_chain)
        self.eps_shown = self._eps_chain
        return reachable
