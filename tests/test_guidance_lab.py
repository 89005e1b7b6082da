"""Classifier-free guidance taken apart, the guidance interval and the guidance sweep (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.diffusion import sample_ddim
from core.diffusion.guidance import ClassifierFreeGuidance, cfg_components, effective_scale
from core.diffusion.guided_sampling import guided_ddim, trace_guidance
from core.evaluation.guidance_sweep import SweepFinished, SweepProgress, class_feature_spread, guidance_sweep
from core.io import load_denoiser
from core.runtime.resources import resource_path


@pytest.fixture(scope="module")
def toy():
    """The shipped 8-Gaussians model: a real v-prediction MLP with 8 classes (cheap to evaluate)."""
    return load_denoiser(resource_path("models", "toy_eight_gaussians.safetensors"))


@pytest.fixture(scope="module")
def fashion():
    return load_denoiser(resource_path("models", "fmnist_unet.safetensors"))


def _eps_by_hand(model, schedule, x, t, labels):
    """ε from the v-prediction output, written out: ε = √(1−ᾱ) x_t + √ᾱ v (Salimans & Ho 2022)."""
    v = model(x, torch.full((x.shape[0],), t), class_labels=labels)
    a = schedule.alphas_cumprod[t].sqrt()
    s = (1 - schedule.alphas_cumprod[t]).sqrt()
    return s * x + a * v, a * x - s * v


def test_w0_is_unconditional_and_w1_is_conditional(toy):
    model, schedule = toy.model, toy.schedule
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    t = 600
    eps_c, x0_c = _eps_by_hand(model, schedule, x, t, labels)
    eps_u, x0_u = _eps_by_hand(model, schedule, x, t, torch.full_like(labels, model.num_classes))
    assert (eps_c - eps_u).abs().max() > 1e-2  # the class matters, so the checks below can fail
    with torch.no_grad():
        for w, eps, x0 in ((0.0, eps_u, x0_u), (1.0, eps_c, x0_c)):
            parts = cfg_components(model, x, torch.full((6,), t), labels, schedule, w)
            torch.testing.assert_close(parts.eps_guided, eps, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(parts.x0_guided, x0, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(parts.eps_uncond, eps_u, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(parts.eps_cond, eps_c, atol=1e-5, rtol=1e-5)
        parts = cfg_components(model, x, torch.full((6,), t), labels, schedule, 3.0)
    torch.testing.assert_close(parts.eps_guided, eps_u + 3.0 * (eps_c - eps_u), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(parts.eps_difference, eps_c - eps_u, atol=1e-5, rtol=1e-5)
    # x̂_0 is affine in ε: its difference is −√(1−ᾱ)/√ᾱ times the ε difference.
    ratio = -((1 - schedule.alphas_cumprod[t]) / schedule.alphas_cumprod[t]).sqrt()
    torch.testing.assert_close(parts.x0_difference, ratio * parts.eps_difference, atol=1e-4, rtol=1e-4)


def test_interval_switches_guidance_off_outside_it(toy):
    model = toy.model
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 2, 4, 6])
    guided = ClassifierFreeGuidance(model, 4.0, interval=(200, 700))
    plain = ClassifierFreeGuidance(model, 4.0)
    with torch.no_grad():
        for t, inside in ((100, False), (200, True), (500, True), (700, True), (900, False)):
            tt = torch.full((4,), t)
            out = guided(x, tt, class_labels=labels)
            want = plain(x, tt, class_labels=labels) if inside else model(x, tt, class_labels=labels)
            torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
        # a batch straddling the interval: each sample uses its own weight
        tt = torch.tensor([100, 500, 900, 300])
        out = guided(x, tt, class_labels=labels)
        want = torch.stack([(plain if 200 <= t <= 700 else model)(x[i : i + 1], tt[i : i + 1], class_labels=labels[i : i + 1])[0]
                            for i, t in enumerate(tt.tolist())])  # fmt: skip
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)
    assert effective_scale(4.0, torch.tensor([0, 250, 999]), (200, 700)).tolist() == [1.0, 4.0, 1.0]
    for bad in ((700, 200), (-1, 5), ("a", 3)):
        with pytest.raises(ValueError, match="interval"):
            ClassifierFreeGuidance(model, 2.0, interval=bad)
    with pytest.raises(ValueError, match="between 0 and 50"):
        ClassifierFreeGuidance(model, float("nan"))


def test_guided_ddim_matches_the_sampler_with_the_wrapper(toy):
    """The step-by-step generator is the same DDIM as sample_ddim on ClassifierFreeGuidance."""
    model, schedule = toy.model, toy.schedule
    x_T = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    labels = torch.arange(16) % 8
    want = sample_ddim(ClassifierFreeGuidance(model, 2.5, (100, 800)), x_T, schedule, 12, cond={"class_labels": labels})
    steps = list(guided_ddim(model, x_T, schedule, 12, labels, 2.5, interval=(100, 800)))
    assert len(steps) == 12 and steps[-1].t_next == -1
    torch.testing.assert_close(steps[-1].x_next, want, atol=1e-5, rtol=1e-5)
    frames = list(trace_guidance(model, x_T, schedule, 12, labels, 2.5, interval=(100, 800), keep=5))
    assert [f.guided for f in frames] == [100 <= f.t <= 800 for f in frames]
    assert not all(f.guided for f in frames) and any(f.guided for f in frames)
    assert frames[0].eps_uncond.shape == (5, 2)
    np.testing.assert_allclose(frames[-1].x_next, want[:5].numpy(), atol=1e-5)


def test_guidance_pulls_points_to_their_mode(toy):
    """Guidance moves 8-Gaussian samples towards the mode of their class: measurably, not by assumption."""
    model, schedule = toy.model, toy.schedule
    x_T = torch.randn(400, 2, generator=torch.Generator().manual_seed(4))
    labels = torch.arange(400) % 8

    def mean_angle_error(w):
        x = sample_ddim(ClassifierFreeGuidance(model, w), x_T, schedule, 20, cond={"class_labels": labels})
        angle = torch.atan2(x[:, 1], x[:, 0])
        target = labels * (np.pi / 4)
        return float(torch.remainder(angle - target + np.pi, 2 * np.pi).sub(np.pi).abs().mean())

    errors = [mean_angle_error(w) for w in (0.0, 1.0, 3.0)]
    assert errors[0] > 1.0  # unconditional: angles are unrelated to the label (≈ π/2 on average)
    assert errors[2] < errors[1] < errors[0]


def test_feature_spread_oracle():
    f = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 0.0], [0.0, 4.0], [9.0, 9.0]])
    labels = np.array([0, 0, 1, 1, 2])  # class 2 has one sample: no spread, left out
    assert class_feature_spread(f, labels) == pytest.approx((1.0 + 2.0) / 2)
    with pytest.raises(ValueError):
        class_feature_spread(f[:1], labels[:1])


def _run_sweep(model, schedule, **kw):
    events = list(guidance_sweep(model, schedule, **kw))
    assert isinstance(events[-1], SweepFinished)
    progress = [e for e in events if isinstance(e, SweepProgress)]
    assert [p.done for p in progress] == list(range(1, progress[-1].total + 1))
    return events[-1].result


def test_sweep_is_reproducible_from_the_same_noise(fashion):
    kw = dict(scales=(0.0, 4.0), per_class=2, classes=[1, 7], steps=3, seed=5, batch_size=5)
    a = _run_sweep(fashion.model, fashion.schedule, **kw)
    b = _run_sweep(fashion.model, fashion.schedule, **{**kw, "batch_size": 64})  # chunking changes nothing
    assert a.images.shape == (2, 4, 1, 32, 32)
    np.testing.assert_allclose(a.images, b.images, atol=1e-5)
    assert np.abs(a.images[0] - a.images[1]).max() > 0.1  # the scale does change the samples
    c = _run_sweep(fashion.model, fashion.schedule, **{**kw, "seed": 6})
    assert np.abs(a.images - c.images).max() > 0.1


def test_sweep_trades_diversity_for_fidelity(fashion):
    r = _run_sweep(fashion.model, fashion.schedule, scales=(0.0, 6.0), per_class=3, classes=[0, 1, 5, 8], steps=6)
    acc, spread = r.column("class_accuracy"), r.column("feature_spread")
    assert acc[1] > acc[0] + 0.2  # unguided samples ignore the class; strongly guided ones follow it
    assert spread[1] < spread[0]  # and each class's samples become more alike
    assert 0.5 <= r.floor.class_accuracy <= 1.0 and r.floor.feature_spread > 0.5


def test_sweep_bad_input(toy, fashion):
    with pytest.raises(ValueError, match="Fashion-MNIST"):
        next(guidance_sweep(toy.model, toy.schedule))
    with pytest.raises(ValueError, match="between 0 and 50"):
        next(guidance_sweep(fashion.model, fashion.schedule, scales=(1.0, 80.0)))
    with pytest.raises(ValueError, match="2 to 100"):
        next(guidance_sweep(fashion.model, fashion.schedule, per_class=1))
    with pytest.raises(ValueError, match="interval"):
        next(guidance_sweep(fashion.model, fashion.schedule, interval=(500, 1000)))
