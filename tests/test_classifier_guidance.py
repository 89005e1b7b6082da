"""Classifier guidance (Dhariwal & Nichol 2021) and the noise-conditional classifier (no Qt).

Oracle: a two-component Gaussian mixture, whose noisy marginals q_t and class posterior
p(c | x_t) are known in closed form (``core.diffusion.score.GaussianMixture``). With the exact
denoiser and the exact classifier, guidance at s = 1 must give exactly the ε of the chosen component
alone, and guided samples must land on that component.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.data import load_fashion_mnist, make_toy_2d
from core.diffusion import make_schedule
from core.diffusion.classifier_guidance import (
    ClassifierGuidance,
    ClassifierGuidanceError,
    check_classifier_fits,
    classifier_gradient,
    shift_output,
    side_by_side,
    trace_classifier_guidance,
)
from core.diffusion.prediction import split_output
from core.diffusion.samplers import SAMPLERS
from core.diffusion.score import GaussianMixture, GaussianMixtureDenoiser, alpha_bar_at
from core.io import load_denoiser
from core.models.noisy_classifier import (
    NoisyClassifier,
    NoisyClassifierConfig,
    NoisyClassifierError,
    load_noisy_classifier,
    save_noisy_classifier,
)
from core.runtime.resources import resource_path
from core.training.noisy_classifier import accuracy_by_noise_level, train_noisy_classifier

MEANS = torch.tensor([[-1.5, 0.0], [1.5, 0.0]])
STD = 0.3


class MixtureClassifier(nn.Module):
    """The exact p(c | x_t, t) of a Gaussian mixture: logits log π_c + log N(x_t; √ᾱ μ_c, ᾱ s_c² + 1 − ᾱ)."""

    def __init__(self, mixture: GaussianMixture, schedule):
        super().__init__()
        self.mixture, self.schedule = mixture, schedule
        self.num_classes = mixture.means.shape[0]
        self.num_timesteps = schedule.num_timesteps
        self.input_shape = (mixture.dim,)
        self.class_names = [f"mode {k}" for k in range(self.num_classes)]

    def forward(self, x_t, t):
        a = alpha_bar_at(self.schedule, torch.as_tensor(t).double()).expand(x_t.shape[0])
        return self.mixture._components(x_t, a)[2].to(x_t.dtype)


@pytest.fixture(scope="module")
def oracle():
    schedule = make_schedule("cosine", 1000)
    mixture = GaussianMixture(MEANS, torch.full((2,), STD), torch.ones(2))
    return schedule, GaussianMixtureDenoiser(mixture, schedule), MixtureClassifier(mixture, schedule)


def test_scale_one_gives_exactly_the_chosen_component(oracle):
    """ε(x_t) − √(1−ᾱ)∇log p(c | x_t) = −√(1−ᾱ)∇log(π_c N_c) = the ε of component c alone."""
    schedule, denoiser, classifier = oracle
    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0)) * 1.5
    t = torch.full((64,), 400)
    labels = torch.ones(64, dtype=torch.long)
    guided = ClassifierGuidance(denoiser, classifier, schedule, 1.0)(x, t, class_labels=labels)
    alone = GaussianMixtureDenoiser(GaussianMixture(MEANS[1:], torch.tensor([STD]), torch.ones(1)), schedule)(x, t)
    unguided = denoiser(x, t)
    assert (unguided - alone).abs().max() > 0.1  # the mixture's ε differs from component 1's, so this can fail
    torch.testing.assert_close(guided, alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", ["eps", "x0", "v"])
def test_guided_output_keeps_the_network_parameterisation(kind):
    """Shifting an x_0- or v-output by δ must move the ε the samplers read by exactly −δ."""
    schedule = make_schedule("cosine", 1000)
    g = torch.Generator().manual_seed(3)
    x, out, delta = (torch.randn(5, 2, generator=g) for _ in range(3))
    t = torch.tensor([0, 100, 500, 900, 990])
    before = split_output(out, x, t, schedule, kind).pred_eps
    after = split_output(shift_output(out, delta, t, schedule, kind), x, t, schedule, kind).pred_eps
    torch.testing.assert_close(after, before - delta, atol=1e-4, rtol=1e-4)


def _fraction_on_mode(samples: torch.Tensor, mode: int) -> float:
    distances = torch.cdist(samples.float(), MEANS)
    return float((distances.argmin(1) == mode).float().mean())


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_moves_samples_to_the_chosen_mode(oracle, name):
    schedule, denoiser, classifier = oracle
    x_T = torch.randn(200, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.ones(200, dtype=torch.long)
    sampler = SAMPLERS[name]
    plain = sampler(denoiser, x_T, schedule, 30, generator=torch.Generator().manual_seed(2))
    guided = sampler(ClassifierGuidance(denoiser, classifier, schedule, 2.0), x_T, schedule, 30,
                     generator=torch.Generator().manual_seed(2), cond={"class_labels": labels})  # fmt: skip
    assert 0.3 < _fraction_on_mode(plain, 1) < 0.7  # unguided: both modes
    assert _fraction_on_mode(guided, 1) > 0.97
    # and it lands *on* the mode, not somewhere beyond it
    assert float((guided.float() - MEANS[1]).norm(dim=1).median()) < 4 * STD


@pytest.fixture(scope="module")
def toy():
    return load_denoiser(resource_path("models", "toy_eight_gaussians.safetensors"))


@pytest.fixture(scope="module")
def toy_classifier():
    return load_noisy_classifier(resource_path("models", "noisy_classifier_toy_eight_gaussians.safetensors"))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_scale_zero_is_the_unguided_model_bit_for_bit(toy, toy_classifier, name):
    """The shipped v-prediction MLP with its null class; s = 0 must change nothing for any sampler."""
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(4))
    labels = torch.full((64,), 3)
    sampler = SAMPLERS[name]
    plain = sampler(toy.model, x_T, toy.schedule, 12, generator=torch.Generator().manual_seed(5))
    wrapped = ClassifierGuidance(toy.model, toy_classifier, toy.schedule, 0.0)
    zero = sampler(wrapped, x_T, toy.schedule, 12, generator=torch.Generator().manual_seed(5),
                   cond={"class_labels": labels})  # fmt: skip
    assert torch.equal(plain, zero)


def test_shipped_toy_classifier_guides_the_shipped_model(toy, toy_classifier):
    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(6))
    labels = torch.full((256,), 2)  # the 90° mode
    centre = torch.tensor([0.0, 2.0]) / 1.428  # standardised as in core.data.toys
    near = lambda x: float(((x - centre).norm(dim=1) < 0.5).float().mean())  # noqa: E731
    plain = SAMPLERS["ddim"](toy.model, x_T, toy.schedule, 25)
    guided = SAMPLERS["ddim"](ClassifierGuidance(toy.model, toy_classifier, toy.schedule, 4.0), x_T, toy.schedule,
                              25, cond={"class_labels": labels})  # fmt: skip
    assert near(plain) < 0.25  # one mode of eight
    assert near(guided) > 0.8


def test_trace_frames_read_like_classifier_free_guidance(oracle):
    schedule, denoiser, classifier = oracle
    x_T = torch.randn(8, 2, generator=torch.Generator().manual_seed(7))
    labels = torch.zeros(8, dtype=torch.long)
    frames = list(trace_classifier_guidance(denoiser, classifier, x_T, schedule, 6, labels, 3.0, keep=8))
    assert [f.index for f in frames] == list(range(6))
    f = frames[2]
    a = float(schedule.alphas_cumprod[f.t])
    grad, _ = classifier_gradient(classifier, torch.from_numpy(f.x_t), torch.full((8,), f.t), labels)
    np.testing.assert_allclose(f.eps_difference, -math.sqrt(1 - a) * grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(f.eps_guided, f.eps_uncond + 3.0 * f.eps_difference, atol=1e-5)
    # the trace ends where the sampler ends: DDIM with the wrapper from the same x_T
    end = SAMPLERS["ddim"](ClassifierGuidance(denoiser, classifier, schedule, 3.0), x_T, schedule, 6,
                           cond={"class_labels": labels})  # fmt: skip
    np.testing.assert_allclose(frames[-1].x_next, end.numpy(), atol=1e-4)


def test_side_by_side_runs_both_guidances_from_one_start(toy, toy_classifier):
    x_T = torch.randn(32, 2, generator=torch.Generator().manual_seed(8))
    labels = torch.full((32,), 5)
    events = list(side_by_side(toy.model, toy.model, toy_classifier, x_T, toy.schedule, 8, labels, 3.0, 3.0))
    assert [e.done for e in events[:-1]] == list(range(1, 17))
    result = events[-1]
    assert result.cfg_samples.shape == result.classifier_samples.shape == (32, 2)
    assert result.gradient.shape == (32, 2) and np.isfinite(result.gradient).all()
    assert 0 < result.gradient_t < 999


# --- bad input --------------------------------------------------------------------------------------


class NaNClassifier(MixtureClassifier):
    def forward(self, x_t, t):
        return super().forward(x_t, t) * float("nan")


def test_bad_input_gives_clear_messages(oracle, toy):
    schedule, denoiser, classifier = oracle
    with pytest.raises(ClassifierGuidanceError, match="needs a noise-conditional classifier"):
        ClassifierGuidance(denoiser, None, schedule, 1.0)
    for scale in (-1.0, 51.0, float("nan")):
        with pytest.raises(ValueError, match="guidance scale must be"):
            ClassifierGuidance(denoiser, classifier, schedule, scale)
    image_classifier = NoisyClassifier(NoisyClassifierConfig(num_classes=10))
    with pytest.raises(ClassifierGuidanceError, match=r"trained on 1×32×32 images, but this model makes 2-D points"):
        check_classifier_fits(image_classifier, sample_shape=(2,), num_timesteps=1000)
    with pytest.raises(ClassifierGuidanceError, match="T = 500"):
        check_classifier_fits(classifier, sample_shape=(2,), num_timesteps=500)
    with pytest.raises(ClassifierGuidanceError, match="not on this model's classes"):
        check_classifier_fits(classifier, sample_shape=(2,), num_timesteps=1000, class_names=["cat", "dog"])
    with pytest.raises(ClassifierGuidanceError, match="class 7 is not one of them"):
        check_classifier_fits(classifier, sample_shape=(2,), num_timesteps=1000, class_labels=[7])
    wrapped = ClassifierGuidance(toy.model, image_classifier, toy.schedule, 2.0)  # shape is known at the first call
    with pytest.raises(ClassifierGuidanceError, match="but this model makes 2-D points"):
        SAMPLERS["ddim"](wrapped, torch.randn(4, 2), toy.schedule, 3, cond={"class_labels": torch.zeros(4).long()})
    nan = ClassifierGuidance(denoiser, NaNClassifier(classifier.mixture, schedule), schedule, 2.0)
    with pytest.raises(ClassifierGuidanceError, match="NaN or infinite"):
        SAMPLERS["ddim"](nan, torch.randn(4, 2), schedule, 3, cond={"class_labels": torch.zeros(4).long()})


def test_classifier_files_round_trip_and_refuse_foreign_ones(tmp_path):
    model = NoisyClassifier(NoisyClassifierConfig(arch="mlp", num_classes=3))
    model.class_names = ["a", "b", "c"]
    path = save_noisy_classifier(tmp_path / "c.safetensors", model, {"clean_accuracy": 0.5})
    back = load_noisy_classifier(path)
    x = torch.randn(4, 2)
    torch.testing.assert_close(
        back(x, torch.tensor([0, 10, 500, 999])), model.eval()(x, torch.tensor([0, 10, 500, 999]))
    )
    assert back.class_names == ["a", "b", "c"] and back.metadata["clean_accuracy"] == 0.5
    with pytest.raises(NoisyClassifierError, match="missing"):
        load_noisy_classifier(tmp_path / "none.safetensors")
    with pytest.raises(NoisyClassifierError, match="not a noise-conditional classifier"):
        load_noisy_classifier(resource_path("models", "fmnist_classifier.safetensors"))


# --- the classifier's accuracy ----------------------------------------------------------------------


def test_a_quick_training_run_learns_the_toy_classes():
    schedule = make_schedule("cosine", 1000)
    train, test = make_toy_2d("eight_gaussians", 4000, seed=0), make_toy_2d("eight_gaussians", 1000, seed=1)
    torch.manual_seed(0)
    model = NoisyClassifier(NoisyClassifierConfig(arch="mlp", num_classes=8, hidden=64, depth=2))
    events = list(train_noisy_classifier(model, train.points, train.labels, schedule, steps=200, batch_size=128))
    assert events[-1].step == 200 and events[-1].loss < events[0].loss
    accuracy = accuracy_by_noise_level(model, test.points, test.labels, schedule, ((0, 1), (900, 1000)))
    assert accuracy[0][2] > 0.95  # clean: the modes are far apart
    assert accuracy[1][2] < 0.4  # almost pure noise: near chance (1/8), so the classifier does not cheat


def test_shipped_fashion_classifier_accuracy_clean_and_noisy():
    classifier = load_noisy_classifier(resource_path("models", "noisy_classifier_fmnist.safetensors"))
    unet = load_denoiser(resource_path("models", "fmnist_unet.safetensors"))
    check_classifier_fits(classifier, sample_shape=(1, 32, 32), num_timesteps=unet.schedule.num_timesteps,
                          class_names=unet.metadata["class_names"])  # fmt: skip
    test = load_fashion_mnist("test", limit=1000)
    accuracy = accuracy_by_noise_level(classifier, test.images, test.labels, unet.schedule,
                                       ((0, 1), (200, 400), (600, 800), (950, 1000)))  # fmt: skip
    by_range = {(lo, hi): acc for lo, hi, acc in accuracy}
    assert by_range[(0, 1)] > 0.85  # clean
    assert by_range[(200, 400)] > 0.75
    assert by_range[(600, 800)] > 0.35
    assert by_range[(950, 1000)] < 0.35  # x_t is nearly pure noise there
    print("noisy classifier accuracy:", accuracy)


def test_guidance_interval_guides_only_its_timesteps(oracle):
    """Inside (t_lo, t_hi) the wrapper is classifier-guided; outside it returns the model's own ε."""
    schedule, denoiser, classifier = oracle
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    labels = torch.ones(8, dtype=torch.long)
    guided = ClassifierGuidance(denoiser, classifier, schedule, 2.0, interval=(300, 600))
    everywhere = ClassifierGuidance(denoiser, classifier, schedule, 2.0)
    for t_value in (100, 800):
        t = torch.full((8,), t_value)
        torch.testing.assert_close(guided(x, t, class_labels=labels), denoiser(x, t))
    t = torch.full((8,), 450)
    torch.testing.assert_close(guided(x, t, class_labels=labels), everywhere(x, t, class_labels=labels))
    assert (guided(x, t, class_labels=labels) - denoiser(x, t)).abs().max() > 1e-2
    mixed = torch.tensor([100, 450] * 4)  # one batch, both sides of the interval
    out = guided(x, mixed, class_labels=labels)
    torch.testing.assert_close(out[0::2], denoiser(x, mixed)[0::2])
    torch.testing.assert_close(out[1::2], everywhere(x, mixed, class_labels=labels)[1::2])
    with pytest.raises(ValueError, match="guidance interval"):
        ClassifierGuidance(denoiser, classifier, schedule, 2.0, interval=(700, 300))
    frames = list(trace_classifier_guidance(denoiser, classifier, torch.randn(4, 2), schedule, 10, labels[:4], 2.0,
                                            interval=(300, 600)))  # fmt: skip
    assert [f.guided for f in frames] == [300 <= f.t <= 600 for f in frames]
    assert any(f.guided for f in frames) and not all(f.guided for f in frames)
