"""An exact oracle for samplers: Gaussian data, whose optimal denoiser and PF-ODE solution are closed forms.

For data x_0 ~ N(μ, diag s²) the optimal denoiser is linear, E[x_0 | x_t] = μ + √ᾱ s²/(ᾱ s² + 1 − ᾱ)
(x_t − √ᾱ μ), and the probability-flow ODE is solved in closed form: in y = x/√ᾱ and σ² = (1 − ᾱ)/ᾱ,
dy/dσ = σ (y − μ)/(s² + σ²), so y(σ) − μ = √((s² + σ²)/(s² + σ_T²)) (y_T − μ).
"""

import math

import torch

MU = torch.tensor([0.5, -0.3], dtype=torch.float64)
S = torch.tensor([0.3, 0.8], dtype=torch.float64)


class GaussianDenoiser(torch.nn.Module):
    """The exact E[x_0 | x_t] of N(μ, diag s²) data (2-D), under the project's denoiser contract."""

    prediction_type = "x0"
    num_classes = 0

    def __init__(self, schedule):
        super().__init__()
        self.alphas_cumprod = schedule.alphas_cumprod

    def forward(self, x, t, **_):
        a = self.alphas_cumprod[t].reshape(-1, 1)
        return MU + a.sqrt() * S**2 / (a * S**2 + 1 - a) * (x - a.sqrt() * MU)


def exact_ode_solution(schedule, x_T, t_end: int = 0):
    """x at timestep ``t_end`` on the PF-ODE path that starts at x_T at t = T − 1."""
    a_T, a_end = float(schedule.alphas_cumprod[-1]), float(schedule.alphas_cumprod[t_end])
    var_T, var_end = (1 - a_T) / a_T, (1 - a_end) / a_end
    y = MU + torch.sqrt((S**2 + var_end) / (S**2 + var_T)) * (x_T / math.sqrt(a_T) - MU)
    return math.sqrt(a_end) * y
