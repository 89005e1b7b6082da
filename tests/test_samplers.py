"""Samplers: single steps against diffusers, whole runs against the exact optimal denoiser."""

import math

import numpy as np
import pytest
import torch

from core.diffusion import (
    DEFAULT_STEPS,
    SAMPLERS,
    ClassifierFreeGuidance,
    CountingDenoiser,
    IdealDenoiser,
    SamplingCancelled,
    ddim_step,
    ddpm_step,
    evaluations_per_run,
    make_schedule,
    make_timesteps,
    sample_ddim,
    sample_euler,
    sample_euler_maruyama,
    split_output,
)
from core.diffusion.samplers import euler_maruyama_step, evaluations_after

diffusers = pytest.importorskip("diffusers")


def _in_float64(scheduler):
    """Re-run the scheduler's own β → ᾱ arithmetic in float64.

    diffusers keeps ᾱ in float32, where 1 − ᾱ_t near t = 0 (about 3e-4) loses three digits to
    cancellation; in float64 both implementations agree to far better than 1e-5, so what remains is
    a real disagreement in the update rule and not rounding.
    """
    scheduler.betas = scheduler.betas.double()
    if scheduler.config.beta_schedule == "linear":
        b = scheduler.config
        scheduler.betas = torch.linspace(b.beta_start, b.beta_end, b.num_train_timesteps, dtype=torch.float64)
    scheduler.alphas = 1.0 - scheduler.betas
    scheduler.alphas_cumprod = torch.cumprod(scheduler.alphas, dim=0)
    return scheduler


# --- one step against the diffusers schedulers (same model output, same noise) -----------------


@pytest.mark.parametrize("prediction_type,hf_pred", [("eps", "epsilon"), ("v", "v_prediction")])
@pytest.mark.parametrize("variance,hf_var", [("posterior", "fixed_small"), ("beta", "fixed_large")])
@pytest.mark.parametrize("t", [1, 37, 500, 999])
def test_ddpm_step_matches_diffusers(prediction_type, hf_pred, variance, hf_var, t):
    s = make_schedule("linear", 1000)
    ref = diffusers.DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="linear",
        prediction_type=hf_pred,
        variance_type=hf_var,
        clip_sample=False,
    )
    _in_float64(ref)
    g = torch.Generator().manual_seed(t)
    x, out = (torch.randn(4, 1, 8, 8, generator=g, dtype=torch.float64) for _ in range(2))
    expected = ref.step(out, t, x, generator=torch.Generator().manual_seed(99)).prev_sample
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    d = split_output(out, x, t, s, prediction_type)
    ours = ddpm_step(s, x, d.pred_x0, t, t - 1, variance, noise)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prediction_type,hf_pred", [("eps", "epsilon"), ("v", "v_prediction")])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("kind,hf_kind", [("linear", "linear"), ("cosine", "squaredcos_cap_v2")])
def test_ddim_step_matches_diffusers(prediction_type, hf_pred, eta, kind, hf_kind):
    s = make_schedule(kind, 1000)
    ref = diffusers.DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule=hf_kind,
        prediction_type=hf_pred,
        clip_sample=False,
        set_alpha_to_one=True,
    )
    _in_float64(ref)
    ref.set_timesteps(50)
    for t in [int(v) for v in ref.timesteps[[0, 10, 25, 49]]]:
        t_prev = t - 1000 // 50
        g = torch.Generator().manual_seed(t)
        x, out, z = (torch.randn(4, 3, 8, 8, generator=g, dtype=torch.float64) for _ in range(3))
        expected = ref.step(out, t, x, eta=eta, variance_noise=z).prev_sample
        d = split_output(out, x, t, s, prediction_type)
        ours = ddim_step(s, x, d.pred_x0, d.pred_eps, t, t_prev, eta, z)
        torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_timestep_spacings():
    s = make_schedule("linear", 1000)
    assert make_timesteps(s, 10, "trailing") == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    assert make_timesteps(s, 10, "leading") == [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]
    assert make_timesteps(s, 10, "linear")[0] == 999 and make_timesteps(s, 10, "linear")[-1] == 0
    assert make_timesteps(s, 1000, "trailing") == list(range(999, -1, -1))
    k = make_timesteps(s, 20, "karras")
    assert k[0] == 999 and k == sorted(k, reverse=True)
    with pytest.raises(ValueError):
        make_timesteps(s, 0)
    with pytest.raises(ValueError):
        make_timesteps(s, 10, "random")


# --- whole runs with the exact optimal denoiser ---------------------------------------------------

POINTS = torch.tensor([[math.cos(k * math.pi / 4) * 1.5, math.sin(k * math.pi / 4) * 1.5] for k in range(8)])
WEIGHTS = torch.tensor([0.25, 0.05, 0.2, 0.05, 0.15, 0.1, 0.1, 0.1])


def _nearest(samples):
    d = torch.cdist(samples.double(), POINTS.double())
    dist, idx = d.min(dim=1)
    return dist, idx


def test_ddim_lands_on_the_data():
    s = make_schedule("linear", 1000)
    model = IdealDenoiser(POINTS, s, WEIGHTS)
    x = sample_ddim(model, torch.randn(2000, 2, generator=torch.Generator().manual_seed(0)), s, 50)
    dist, _ = _nearest(x)
    assert float((dist < 1e-2).double().mean()) >= 0.95


STEPS = {
    "ddpm": 1000, "ddim": 50, "euler": 50, "heun": 25, "dpmpp_2m": 25, "dpmpp_3m": 25, "unipc": 25, "deis": 25,
    "euler_maruyama": 250,
}  # fmt: skip


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_every_sampler_reproduces_the_data_weights(name, kind):
    s = make_schedule(kind, 1000)
    model = IdealDenoiser(POINTS, s, WEIGHTS)
    g = torch.Generator().manual_seed(1)
    x = SAMPLERS[name](model, torch.randn(4000, 2, generator=g), s, STEPS[name], generator=g)
    dist, idx = _nearest(x)
    assert float((dist < 0.05).double().mean()) >= 0.95, f"{name} samples are not on the data"
    freq = torch.bincount(idx, minlength=8).double() / len(idx)
    # 4000 samples: the standard error of a 0.25 frequency is 0.007; allow 4 of them.
    assert float((freq - WEIGHTS.double()).abs().max()) < 0.035, f"{name}: {freq.tolist()}"


def test_wrong_sampler_fails_the_weight_check():
    # A sampler that ignores noise-level bookkeeping (always denoising with t = T-1) must fail:
    # this proves the weight test above can fail.
    s = make_schedule("linear", 1000)
    model = IdealDenoiser(POINTS, s, WEIGHTS)
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(2))
    x0 = model(x, torch.full((4000,), 999))
    dist, _ = _nearest(x0)
    assert float((dist < 0.05).double().mean()) < 0.5


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_same_seed_bit_identical(name):
    s = make_schedule("cosine", 100)
    model = IdealDenoiser(POINTS, s)
    runs = []
    for _ in range(2):
        g = torch.Generator().manual_seed(7)
        runs.append(SAMPLERS[name](model, torch.randn(64, 2, generator=g), s, 10, generator=g))
    assert torch.equal(runs[0], runs[1])


def test_euler_on_the_same_timesteps_is_ddim():
    s = make_schedule("linear", 1000)
    model = IdealDenoiser(POINTS, s, WEIGHTS)
    x = torch.randn(100, 2, generator=torch.Generator().manual_seed(3))
    a = sample_euler(model, x, s, 20, spacing="trailing")
    b = sample_ddim(model, x, s, 20, spacing="trailing")
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_callback_sees_every_step_and_can_stop():
    s = make_schedule("linear", 1000)
    model = IdealDenoiser(POINTS, s)
    seen = []
    sample_ddim(model, torch.randn(5, 2), s, 12, callback=lambda st: seen.append((st.index, st.t, st.t_next)))
    assert [i for i, _, _ in seen] == list(range(12)) and seen[-1][2] == -1 and seen[0][1] == 999
    with pytest.raises(SamplingCancelled):
        sample_ddim(model, torch.randn(5, 2), s, 12, callback=lambda st: st.index == 3)


def test_evaluation_counts():
    s = make_schedule("linear", 1000)
    for name, steps in [("ddim", 10), ("heun", 10), ("dpmpp_2m", 10), ("dpmpp_3m", 10), ("unipc", 10), ("deis", 10)]:
        model = CountingDenoiser(IdealDenoiser(POINTS, s))
        SAMPLERS[name](model, torch.randn(3, 2), s, steps, generator=torch.Generator().manual_seed(0))
        assert model.evaluations == evaluations_per_run(name, steps)


def test_clip_x0_keeps_predictions_in_range():
    s = make_schedule("linear", 1000)
    big = IdealDenoiser(POINTS * 3, s)
    seen = []
    sample_ddim(big, torch.randn(50, 2), s, 5, clip_x0="clip", callback=lambda st: seen.append(st.pred_x0))
    assert all(float(p.abs().max()) <= 1.0 for p in seen)


class _TwoClassModel(torch.nn.Module):
    """Predicts x_0 = +1 for class 0, -1 for class 1 and 0 with no class."""

    prediction_type = "x0"
    num_classes = 2

    def forward(self, x, t, class_labels=None):
        target = torch.tensor([1.0, -1.0, 0.0])[class_labels]
        return target.reshape(-1, 1).expand_as(x)


def test_classifier_free_guidance_arithmetic():
    m = ClassifierFreeGuidance(_TwoClassModel(), 3.0)
    out = m(torch.zeros(2, 1), torch.tensor([5, 5]), class_labels=torch.tensor([0, 1]))
    # uncond + 3 (cond - uncond) = 0 + 3 * (±1)
    torch.testing.assert_close(out, torch.tensor([[3.0], [-3.0]]))
    with pytest.raises(ValueError):
        ClassifierFreeGuidance(IdealDenoiser(POINTS, make_schedule("linear", 100)), 2.0)


def test_bad_start_noise():
    s = make_schedule("linear", 100)
    with pytest.raises(ValueError):
        sample_ddim(IdealDenoiser(POINTS, s), torch.full((2, 2), float("nan")), s, 5)
    with pytest.raises(ValueError):
        sample_ddim(IdealDenoiser(POINTS, s), torch.zeros(2, 2), s, 5, eta=2.0)


# --- step counts: what the user asks for is what runs ----------------------------------------------

SPACING_NAMES = ["linear", "leading", "trailing", "karras"]


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid", "quadratic"])
@pytest.mark.parametrize("spacing", SPACING_NAMES)
@pytest.mark.parametrize("T", [10, 100, 1000])
def test_every_spacing_gives_exactly_the_steps_asked(kind, spacing, T):
    s = make_schedule(kind, T)
    for steps in sorted({1, 2, 3, 7, 10, 20, 25, 29, 50, 61, 100, 200, 333, 999, T - 1, T} & set(range(1, T + 1))):
        ts = make_timesteps(s, steps, spacing)
        assert len(ts) == steps, (steps, ts)
        assert all(a > b for a, b in zip(ts, ts[1:], strict=False)), (steps, ts)
        assert 0 <= ts[-1] and ts[0] <= T - 1
        if spacing in ("trailing", "karras"):
            assert ts[0] == T - 1  # both start from the pure-noise end, where x_T is drawn


def test_karras_spacing_on_the_cosine_schedule_is_not_collapsed_by_the_clipped_last_beta():
    # The cosine schedule clips β_{T−1} at 0.999: σ jumps from ≈ 642 to ≈ 2·10⁴ in the last step. A
    # ramp from that σ_max put most targets on t = 998/999 (10 steps ran 7: [999, 998, 995, 983, 895, 259, 0]).
    s = make_schedule("cosine", 1000)
    assert float(s.sigmas[-1] / s.sigmas[-2]) > 30
    ts = make_timesteps(s, 10, "karras")
    assert len(ts) == 10 and ts[0] == 999 and ts[-1] == 0
    # After the start, the σ follow eq. 5 from σ_{T−2} (the last unclipped one) to σ_0.
    sig = s.sigmas.numpy()
    hi, lo = sig[998] ** (1 / 7), sig[0] ** (1 / 7)
    wanted = (hi + np.linspace(0, 1, 10) * (lo - hi)) ** 7
    for t, target in zip(ts[1:], wanted[1:], strict=True):
        assert abs(math.log(sig[t] / target)) < 0.35, (t, sig[t], target)  # nearest timestep in log σ


def test_karras_spacing_of_an_unclipped_schedule_is_eq_5_rounded():
    s = make_schedule("linear", 1000)
    sig = s.sigmas.numpy()
    hi, lo = sig[-1] ** (1 / 7), sig[0] ** (1 / 7)
    wanted = (hi + np.linspace(0, 1, 12) * (lo - hi)) ** 7
    expected = [int(np.abs(np.log(sig) - math.log(w)).argmin()) for w in wanted]
    assert make_timesteps(s, 12, "karras") == expected


@pytest.mark.parametrize("name", list(SAMPLERS))
@pytest.mark.parametrize("spacing", SPACING_NAMES)
@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_every_sampler_runs_the_steps_asked_and_counts_its_evaluations(name, spacing, kind):
    s = make_schedule(kind, 1000)
    for steps in (1, 2, 7, 20):  # many more counts in test_every_spacing_gives_exactly_the_steps_asked
        model = CountingDenoiser(IdealDenoiser(POINTS, s))
        seen, spent = [], []

        def record(st, seen=seen, spent=spent, model=model):
            seen.append((st.index, st.num_steps, st.t, st.t_next))
            spent.append(model.evaluations)  # NFE spent when this step is reported

        SAMPLERS[name](
            model,
            torch.randn(2, 2, generator=torch.Generator().manual_seed(steps)),
            s,
            steps,
            spacing=spacing,
            generator=torch.Generator().manual_seed(0),
            callback=record,
        )
        assert spent == [evaluations_after(name, i + 1, steps) for i in range(steps)], (name, spacing, steps)
        assert [i for i, *_ in seen] == list(range(steps)), f"{name} {spacing} {steps}: {len(seen)} steps ran"
        assert all(n == steps for _, n, _, _ in seen)
        ts = [t for *_, t, _ in seen] + [-1]
        assert all(a > b for a, b in zip(ts, ts[1:], strict=False)), ts
        assert [t_next for *_, t_next in seen] == ts[1:]
        assert model.evaluations == evaluations_per_run(name, steps), (name, spacing, steps)


# --- the reverse SDE at its default step count ------------------------------------------------------


def test_reverse_sde_at_its_default_steps_follows_the_forward_marginals_and_lands_on_the_data():
    # Euler–Maruyama at its default step count on the cosine schedule (the shipped models' schedule).
    # Every intermediate x_t must look like q(x_t) = N(√ᾱ_t x_0, (1 − ᾱ_t) I), since that is all a
    # trained network has seen: E‖x_t‖² = ᾱ_t E‖x_0‖² + 2 (1 − ᾱ_t). The old discretisation in σ
    # left x_t 160 times too large after its first step (σ from 2·10⁴ to 128); the ideal denoiser
    # still landed on the data, a trained network drew fragments.
    s = make_schedule("cosine", 1000)
    model = IdealDenoiser(POINTS, s, WEIGHTS)
    steps = DEFAULT_STEPS["euler_maruyama"]
    ratios = {}

    def record(step):
        if step.t_next >= 0:
            a = float(s.alphas_cumprod[step.t_next])
            expected = a * float((POINTS.double() ** 2).sum(1).mean()) + 2 * (1 - a)  # all points have ‖x‖ = 1.5
            ratios[step.t_next] = float((step.x_next.double() ** 2).sum(1).mean()) / expected

    g = torch.Generator().manual_seed(4)
    x = sample_euler_maruyama(model, torch.randn(4000, 2, generator=g), s, steps, generator=g, callback=record)
    assert len(ratios) == steps - 1
    # First order: the first step from pure noise (β' ≈ 1) overshoots the variance by a quarter, then it settles.
    assert max(ratios.values()) < 1.3, max(ratios.items(), key=lambda kv: kv[1])
    assert all(abs(r - 1) < 0.08 for t, r in ratios.items() if t <= 900), ratios
    dist, idx = _nearest(x)
    assert float((dist < 0.05).double().mean()) >= 0.99
    freq = torch.bincount(idx, minlength=8).double() / len(idx)
    assert float((freq - WEIGHTS.double()).abs().max()) < 0.035, freq.tolist()


def test_reverse_sde_step_is_euler_maruyama_of_the_vp_sde():
    # One step against the SDE written out: dx = [−½β x − β ∇log p] dt + √β dw̄ with β dt = β' and
    # ∇log p = −ε̂/√(1 − ᾱ_t) (Song et al. 2021, eqs. 6 and 11).
    s = make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(5)
    x, eps, z = (torch.randn(6, 2, generator=g, dtype=torch.float64) for _ in range(3))
    t, t_next = 500, 480
    a, a_next = float(s.alphas_cumprod[t]), float(s.alphas_cumprod[t_next])
    beta = 1 - a / a_next
    drift = -0.5 * beta * x - beta * (-eps / math.sqrt(1 - a))
    expected = x - drift + math.sqrt(beta) * z
    torch.testing.assert_close(euler_maruyama_step(s, x, eps, t, t_next, z), expected)
    # Without noise and with ε̂ consistent with x_t = √ᾱ x_0 + √(1−ᾱ) ε̂, the mean moves towards x_0.
    x0 = torch.zeros(6, 2, dtype=torch.float64)
    x_t = math.sqrt(a) * x0 + math.sqrt(1 - a) * eps
    mean = euler_maruyama_step(s, x_t, eps, t, t_next)
    assert float(mean.norm()) < float(x_t.norm())
