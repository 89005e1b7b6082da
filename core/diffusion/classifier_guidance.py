"""Classifier guidance (Dhariwal & Nichol 2021, "Diffusion Models Beat GANs on Image Synthesis", §4).

A noise-conditional classifier p_φ(c | x_t, t) (``core.models.noisy_classifier``) steers an
*unconditional* denoiser: the score of p_t(x_t) p_φ(c | x_t)^s is ∇log p_t(x_t) + s ∇log p_φ(c | x_t),
and since ∇log p_t(x_t) = −ε(x_t)/√(1−ᾱ_t) the guided noise prediction is (their eq. 14, the DDIM form
of Algorithm 2, with the gradient scale s of their §4.3)

    ε̃ = ε(x_t) − s · √(1−ᾱ_t) · ∇_x log p_φ(c | x_t, t).

s = 0 is the unguided model (exactly: ``ClassifierGuidance`` then returns the network's own output
untouched); s > 1 sharpens p(c | x_t) to the power s, trading diversity for fidelity as w does in
classifier-free guidance. Written with ε_c := ε_u − √(1−ᾱ_t)∇log p_φ, ε̃ = ε_u + s (ε_c − ε_u) is the
classifier-free formula, which is how the Guidance view shows both with the same panels.

Which samplers: ``ClassifierGuidance`` wraps the denoiser call, and every sampler in
``core.diffusion.samplers.SAMPLERS`` (DDPM, DDIM, Euler, Heun, DPM-Solver++(2M), Euler–Maruyama, and
the multistep solvers registered beside them) reads the network only through ``denoise``, which
turns its output into (x̂_0, ε̂). Replacing ε̂ by ε̃ replaces the score by the guided score, and each
sampler is a discretisation of the probability-flow ODE or of the reverse SDE *of a score* (Song et
al. 2021), so each samples the guided distribution: the ODE solvers (DDIM, Euler, Heun, the
DPM-Solver/UniPC/DEIS family) integrate the guided ODE and see ε̃ at every evaluation they make (Heun's
corrector, the multistep solvers' stored x̂_0), DDPM and Euler–Maruyama the guided SDE. For DDPM this
is the ε-form rather than Dhariwal & Nichol's Algorithm 1, which shifts the posterior mean by
sΣ∇log p_φ; the two differ only in the factor β_t vs β̃_t in front of the gradient. The test suite
runs every registered sampler against the Gaussian-mixture oracle. Not covered: the flow-matching samplers
(``flow_matching.py``), whose networks predict a velocity along a different path than the VP
schedule the classifier was trained on, and ``guided_sampling.guided_ddim``, which is
classifier-free guidance by construction.

Where x_t holds (almost) no signal, σ_t = √((1−ᾱ_t)/ᾱ_t) > ``MAX_GUIDED_SIGMA`` (= 100, an SNR below
10⁻⁴: on the cosine schedule only t ≥ 994, whose clipped β make σ jump to 2·10⁴ at t = T−1), no
guidance is applied. There p(c | x_t) is the class prior, whose gradient is 0, but a learned
classifier's small residual gradient would move x̂_0 = (x_t − √(1−ᾱ_t) ε̃)/√ᾱ_t by σ_t·s·√(1−ᾱ_t)∇:
at t = 999 a gradient of 0.01 moved the 2-D toys' samples hundreds of units off the data.

The wrapper returns the guided prediction *in the network's own parameterisation* (ε, x_0 or v), each
shifted by the exact affine image of δ = s√(1−ᾱ_t)∇log p_φ: ε − δ, x_0 + (√(1−ᾱ_t)/√ᾱ_t) δ,
v − δ/√ᾱ_t (from ``prediction.split_output``). So the sampler's own conversion recovers ε̃, and
s = 0 changes nothing bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.diffusion.guidance import check_guidance_interval, check_guidance_scale, guidance_active
from core.diffusion.guided_sampling import MAX_TRACE_STEPS, GuidanceFrame
from core.diffusion.prediction import clip_x0 as apply_clip
from core.diffusion.prediction import split_output
from core.diffusion.samplers import _alpha_bar, _check_start, ddim_step, make_timesteps
from core.diffusion.schedules import NoiseSchedule, extract

MAX_GUIDED_SIGMA = 100.0  # no guidance where σ_t = √((1−ᾱ)/ᾱ) is larger (see the module docstring)


class ClassifierGuidanceError(ValueError):
    """Classifier guidance cannot go on (a NaN gradient, a classifier that does not fit the model)."""


def _shape_words(shape) -> str:
    shape = tuple(int(s) for s in shape)
    return f"{shape[0]}-D points" if len(shape) == 1 else "×".join(map(str, shape)) + " images"


def check_classifier_fits(classifier, *, sample_shape, num_timesteps: int, class_names=None, class_labels=None) -> None:
    """ValueError in words unless ``classifier`` can guide a model with these samples, T and classes.

    ``class_names``: the names the model's data set uses (the classifier must have been trained on
    the same classes, in the same order); ``class_labels``: the classes asked for.
    """
    if classifier is None:
        raise ClassifierGuidanceError(
            "Classifier guidance needs a noise-conditional classifier p(c | x_t), and none was given for this "
            "model. Use classifier-free guidance with a class-conditional model, or train a classifier with "
            "scripts/train_noisy_classifier.py."
        )
    want = tuple(int(s) for s in sample_shape)
    have = tuple(int(s) for s in getattr(classifier, "input_shape", want))
    if have != want:
        raise ClassifierGuidanceError(
            f"The classifier was trained on {_shape_words(have)}, but this model makes {_shape_words(want)}: "
            "it cannot tell which class such samples belong to."
        )
    T = int(getattr(classifier, "num_timesteps", num_timesteps))
    if T != int(num_timesteps):
        raise ClassifierGuidanceError(
            f"The classifier knows the noise levels of a schedule with T = {T} steps; this model uses T = "
            f"{num_timesteps}, so the classifier would be asked about noise levels it never saw."
        )
    names = list(getattr(classifier, "class_names", []) or [])
    if class_names is not None and names and [str(n) for n in class_names] != names:
        raise ClassifierGuidanceError(
            f"The classifier was trained on the classes {', '.join(names)}, not on this model's classes "
            f"({', '.join(map(str, class_names))})."
        )
    if class_labels is not None:
        labels = torch.as_tensor(class_labels).reshape(-1)
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= classifier.num_classes):
            raise ClassifierGuidanceError(
                f"The classifier knows classes 0 to {classifier.num_classes - 1}; class {int(labels.max())} is not one of them."
            )


def classifier_gradient(
    classifier, x_t: torch.Tensor, t, class_labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇_x log p_φ(c | x_t, t), log p_φ(c | x_t, t)) for each sample's class c.

    Works inside ``torch.no_grad()`` (the samplers' decorator): the gradient is taken with grad mode
    switched on locally, with respect to a detached copy of x_t only (never the classifier's weights).
    Raises ``ClassifierGuidanceError`` when the gradient is NaN or infinite.
    """
    t = torch.as_tensor(t, device=x_t.device)
    t = t.expand(x_t.shape[0]) if t.ndim == 0 else t
    labels = torch.as_tensor(class_labels, device=x_t.device).long().reshape(-1)
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        log_probs = torch.log_softmax(classifier(x, t), dim=-1)
        chosen = log_probs[torch.arange(x.shape[0], device=x.device), labels]
        (grad,) = torch.autograd.grad(chosen.sum(), x)
    if not bool(torch.isfinite(grad).all()):
        raise ClassifierGuidanceError(
            f"The classifier's gradient ∇ log p(c | x_t) is NaN or infinite at t = {int(t.max())}: x_t has left the "
            "range the classifier knows, or its weights are damaged. Lower the scale s, or retrain the classifier."
        )
    return grad.detach(), chosen.detach()


def noise_scale(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """√(1−ᾱ_t) per sample, shaped to broadcast against ``like``."""
    return extract(schedule.sqrt_one_minus_alphas_cumprod, t.long().cpu(), like.ndim, like.dtype).to(like.device)


def guided_eps(eps: torch.Tensor, grad: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, scale) -> torch.Tensor:
    """ε̃ = ε − s √(1−ᾱ_t) ∇log p_φ(c | x_t) (Dhariwal & Nichol 2021, eq. 14 with gradient scale s)."""
    return eps - float(scale) * noise_scale(schedule, t, eps) * grad


def guided_where(schedule: NoiseSchedule, t: torch.Tensor, interval: tuple[int, int] | None = None) -> torch.Tensor:
    """(B,) bool: is guidance applied at each timestep? False where σ_t > ``MAX_GUIDED_SIGMA`` (no signal)
    and outside the guidance ``interval`` (t_lo, t_hi) when one is given (Kynkäänniemi et al. 2024)."""
    t = t.long().cpu()
    return (schedule.sigmas.to(torch.float64)[t] <= MAX_GUIDED_SIGMA) & guidance_active(t, interval)


def shift_output(output: torch.Tensor, delta: torch.Tensor, t: torch.Tensor, schedule: NoiseSchedule, kind: str):
    """The network output whose ε is ε − δ, in the network's parameterisation (see the module docstring)."""
    if kind == "eps":
        return output - delta
    a = extract(schedule.sqrt_alphas_cumprod, t.long().cpu(), output.ndim, output.dtype).to(output.device)
    if kind == "x0":
        return output + noise_scale(schedule, t, output) / a * delta
    if kind == "v":
        return output - delta / a
    raise ValueError(f"Unknown prediction type {kind!r}.")


class ClassifierGuidance(nn.Module):
    """Wrap an unconditional denoiser (or a conditional one used with its null class) so that any sampler
    samples p_t(x) p_φ(c | x_t)^s. ``class_labels`` passed by the sampler are the classifier's classes.

    ``interval`` (t_lo, t_hi) guides only those timesteps, as for classifier-free guidance
    (``core.diffusion.guidance``); None guides wherever x_t holds signal.

    Raises ValueError in words when the scale is outside [0, 50], the interval is not one, or the
    classifier does not fit (``check_classifier_fits``; the sample shape is checked at the first call).
    """

    def __init__(
        self,
        model: nn.Module,
        classifier: nn.Module,
        schedule: NoiseSchedule,
        scale: float,
        interval: tuple[int, int] | None = None,
    ):
        super().__init__()
        self.scale = check_guidance_scale(scale)
        self.interval = check_guidance_interval(interval, schedule.num_timesteps)
        check_classifier_fits(classifier, sample_shape=getattr(classifier, "input_shape", ()) or (),
                              num_timesteps=schedule.num_timesteps)  # fmt: skip
        self.model = model
        self.classifier = classifier
        self.schedule = schedule
        self.prediction_type = model.prediction_type
        self.num_classes = int(classifier.num_classes)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        output = self.model(x_t, t, class_labels=None)  # ε(x_t): the null class of a conditional model
        if class_labels is None or self.scale == 0.0:
            return output
        t = torch.as_tensor(t, device=x_t.device)
        t = t.expand(x_t.shape[0]) if t.ndim == 0 else t
        active = guided_where(self.schedule, t, self.interval).to(x_t.device)
        if not bool(active.any()):
            return output
        check_classifier_fits(self.classifier, sample_shape=x_t.shape[1:], num_timesteps=self.schedule.num_timesteps,
                              class_labels=class_labels)  # fmt: skip
        grad, _ = classifier_gradient(self.classifier, x_t, t, class_labels)
        weight = self.scale * active.to(x_t.dtype).reshape((-1,) + (1,) * (x_t.ndim - 1))
        delta = weight * noise_scale(self.schedule, t, x_t) * grad
        return shift_output(output, delta, t, self.schedule, self.prediction_type)


# --- a traced run for the Guidance view -----------------------------------------------------------


def _keep(x: torch.Tensor, keep: int) -> np.ndarray:
    return x[:keep].detach().float().cpu().numpy().copy()


@torch.no_grad()
def trace_classifier_guidance(
    model,
    classifier,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int,
    class_labels: torch.Tensor,
    scale: float,
    *,
    clip_x0: str | float | None = None,
    keep: int = 16,
    interval: tuple[int, int] | None = None,
) -> Iterator[GuidanceFrame]:
    """Classifier-guided deterministic DDIM (η = 0), yielding a ``GuidanceFrame`` per step; ``interval``
    (t_lo, t_hi) guides only those timesteps (elsewhere the step is the unguided model's).

    The frame's fields read as in classifier-free guidance with ε_c := ε_u − √(1−ᾱ_t)∇log p_φ(c | x_t)
    (the prediction at s = 1): ``eps_uncond`` = ε(x_t), ``eps_difference`` = −√(1−ᾱ_t)∇log p_φ,
    ``eps_guided`` = ε̃ at scale s, with the x̂_0 each implies.
    """
    _check_start(x_T)
    if not 1 <= int(steps) <= MAX_TRACE_STEPS:
        raise ValueError(f"A traced guidance run takes 1 to {MAX_TRACE_STEPS} steps, not {steps}.")
    scale = check_guidance_scale(scale)
    interval = check_guidance_interval(interval, schedule.num_timesteps)
    labels = torch.as_tensor(class_labels).long().reshape(-1)
    check_classifier_fits(classifier, sample_shape=x_T.shape[1:], num_timesteps=schedule.num_timesteps,
                          class_labels=labels)  # fmt: skip
    ts = make_timesteps(schedule, steps, "trailing")
    x, n = x_T, len(ts)
    for i, t in enumerate(ts):
        t_next = ts[i + 1] if i + 1 < n else -1
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long)
        uncond = split_output(model(x, t_batch, class_labels=None), x, t_batch, schedule, model.prediction_type)
        active = bool(guided_where(schedule, t_batch[:1], interval))
        grad = classifier_gradient(classifier, x, t_batch, labels)[0] if active else torch.zeros_like(x)
        a = _alpha_bar(schedule, t)
        eps_c = uncond.pred_eps - math.sqrt(1.0 - a) * grad  # s = 1
        eps_g = uncond.pred_eps - scale * math.sqrt(1.0 - a) * grad  # eq. 14
        x0_c, x0_g = ((x - math.sqrt(1.0 - a) * eps) / math.sqrt(a) for eps in (eps_c, eps_g))  # DDPM eq. 15
        pred_x0, pred_eps = x0_g, eps_g
        if clip_x0 is not None and clip_x0 != "none":
            pred_x0 = apply_clip(pred_x0, clip_x0)
            pred_eps = (x - math.sqrt(a) * pred_x0) / math.sqrt(1.0 - a)
        x_next = ddim_step(schedule, x, pred_x0, pred_eps, t, t_next)
        kept = {name: _keep(value, keep) for name, value in (
            ("x_t", x), ("eps_uncond", uncond.pred_eps), ("eps_cond", eps_c), ("eps_guided", eps_g),
            ("x0_uncond", uncond.pred_x0), ("x0_cond", x0_c), ("x0_guided", x0_g), ("x_next", x_next),
        )}  # fmt: skip
        yield GuidanceFrame(index=i, num_steps=n, t=t, guided=active, **kept)
        x = x_next


def gradient_field(classifier, points: np.ndarray | torch.Tensor, t: int, class_index: int) -> np.ndarray:
    """∇_x log p_φ(c | x, t) at 2-D ``points`` (N, 2) for one class: the arrows the Guidance view draws."""
    x = torch.as_tensor(np.asarray(points, dtype=np.float32))
    labels = torch.full((x.shape[0],), int(class_index), dtype=torch.long)
    grad, _ = classifier_gradient(classifier, x, torch.full((x.shape[0],), int(t), dtype=torch.long), labels)
    return grad.numpy()


# --- classifier-free vs classifier guidance from one x_T ------------------------------------------


@dataclass(frozen=True)
class SideBySideProgress:
    done: int
    total: int


@dataclass(frozen=True)
class SideBySide:
    """Both guidances from the same x_T and class: final samples and the classifier's gradient mid-run."""

    cfg_samples: np.ndarray  # (B, …) classifier-free guidance at w
    classifier_samples: np.ndarray  # (B, …) classifier guidance at s
    gradient: np.ndarray  # (B, …) ∇ log p_φ(c | x_t) of the classifier-guided run at t = gradient_t
    gradient_x_t: np.ndarray  # the x_t it was taken at
    gradient_t: int
    cfg_scale: float
    classifier_scale: float


def side_by_side(
    cfg_model,
    uncond_model,
    classifier,
    x_T: torch.Tensor,
    schedule: NoiseSchedule,
    steps: int,
    class_labels: torch.Tensor,
    cfg_scale: float,
    classifier_scale: float,
    *,
    clip_x0: str | float | None = None,
) -> Iterator[SideBySideProgress | SideBySide]:
    """Run classifier-free guidance (``cfg_model``, a class-conditional denoiser, weight w) and classifier
    guidance (``uncond_model`` with ``classifier``, scale s) from the same x_T and classes, both by
    deterministic DDIM. Yields progress after every step of either run, then one ``SideBySide``."""
    from core.diffusion.guided_sampling import guided_ddim

    labels = torch.as_tensor(class_labels).long().reshape(-1)
    total = 2 * int(steps)
    last_cfg = None
    for step in guided_ddim(cfg_model, x_T, schedule, steps, labels, cfg_scale, clip_x0=clip_x0):
        last_cfg = step.x_next
        yield SideBySideProgress(step.index + 1, total)
    middle = int(steps) // 2
    gradient = gradient_x_t = None
    gradient_t = -1
    for frame in trace_classifier_guidance(uncond_model, classifier, x_T, schedule, steps, labels, classifier_scale,
                                           clip_x0=clip_x0, keep=x_T.shape[0]):  # fmt: skip
        if frame.index == middle:
            a = float(schedule.alphas_cumprod[frame.t])
            gradient = -frame.eps_difference / math.sqrt(1.0 - a)  # eps_difference = −√(1−ᾱ)∇log p
            gradient_x_t, gradient_t = frame.x_t, frame.t
        last_frame = frame
        yield SideBySideProgress(steps + frame.index + 1, total)
    yield SideBySide(
        cfg_samples=last_cfg.detach().cpu().numpy(), classifier_samples=last_frame.x_next,
        gradient=gradient, gradient_x_t=gradient_x_t, gradient_t=gradient_t,
        cfg_scale=float(cfg_scale), classifier_scale=float(classifier_scale),
    )  # fmt: skip
