"""Samplers: single steps against diffusers, whole runs against the exact optimal denoiser."""

import math

import pytest
import torch

from core.diffusion import (
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
    split_output,
)

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


STEPS = {"ddpm": 1000, "ddim": 50, "euler": 50, "heun": 25, "dpmpp_2m": 25, "euler_maruyama": 250}


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
    for name, steps in [("ddim", 10), ("heun", 10), ("dpmpp_2m", 10)]:
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
