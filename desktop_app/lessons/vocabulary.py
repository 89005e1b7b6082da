"""What a lesson may bind to and set, per view: the contract between lesson files and views.

A view that lessons can use has ``lesson_values() -> dict`` (its live values, under the names of
``VALUES[title]``), a ``values_changed`` signal, and ``apply_lesson_state(state: dict)`` taking the
keys of ``STATE[title]``. Lesson files are validated against these tables when they are loaded,
without building any view (a teacher's typo is caught at once); tests/test_app_lessons.py checks
that every view's ``lesson_values()`` has exactly these names.

A view with no values here (``{}``) may be opened by a lesson step but needs none of the methods.
A value's kind is "number" (a float), "integer" or "text"; a value may be ``None`` while the view
cannot know it yet (no loss before training), which a lesson shows as "—".
"""

from __future__ import annotations

from dataclasses import dataclass

# core.diffusion.SCHEDULE_KINDS, written out so that this module imports no torch (a test checks they agree).
SCHEDULE_KINDS = ("linear", "cosine", "sigmoid", "quadratic")
# of core.diffusion.SAMPLERS
# The Latent diffusion view's tabs, and what a word of a shapes caption names (core.data.captions).
LATENT_TABS = ("autoencoder", "sample", "train", "text")
# The Compare view's data (core.data.TOY_DATASETS and the shipped images) and GAN settings (compare/jobs.py).
COMPARE_DATA = ("swiss_roll", "two_moons", "eight_gaussians", "checkerboard", "spiral", "rings", "fashion_mnist")
GAN_SETTINGS = ("plain", "r1", "sn", "collapse")
COMPARE_KINDS = ("diffusion", "gan", "vae")  # core.evaluation.compare.KINDS
WORD_KINDS = ("shape", "colour", "size", "position", "other")
SAMPLER_NAMES = ("ddpm", "ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc", "deis", "euler_maruyama")


@dataclass(frozen=True)
class Value:
    kind: str  # "number" | "integer" | "text"
    description: str
    domain: tuple[str, ...] = ()  # every value a text value can take, where that is known (question answers)


@dataclass(frozen=True)
class StateKey:
    kind: str  # "integer" | "number" | "choice" | "boolean" | "text"
    description: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None


def _schedule_values(suffix: str = "", of: str = "") -> dict[str, Value]:
    return {
        f"alpha_bar{suffix}": Value("number", f"ᾱ_t{of}: the fraction of the signal's variance left at t"),
        f"beta{suffix}": Value("number", f"β_t{of}: the variance of the noise added by step t"),
        f"sqrt_alpha_bar{suffix}": Value("number", f"√ᾱ_t{of}: the factor on x_0"),
        f"sqrt_one_minus_alpha_bar{suffix}": Value("number", f"√(1 − ᾱ_t){of}: the factor on ε"),
        f"snr{suffix}": Value("number", f"SNR = ᾱ_t/(1 − ᾱ_t){of}"),
        f"snr_db{suffix}": Value("number", f"the SNR in decibels{of}"),
    }


_T = StateKey("integer", "the timestep to show", low=0, high=4000)
_SCHEDULE = StateKey("choice", "the noise schedule", SCHEDULE_KINDS)

VALUES: dict[str, dict[str, Value]] = {
    "Forward process": {
        "t": Value("integer", "the timestep on the scrubber"),
        "T": Value("integer", "the number of timesteps"),
        "t_fraction": Value("number", "t/T"),
        "schedule": Value("text", "the schedule's name (linear, cosine, …)"),
        **_schedule_values(),
        "mode": Value("text", "'closed form' (eq. 4) or 'Markov chain' (eq. 2)"),
        "seed": Value("integer", "the seed of the noise ε"),
        "source": Value("text", "what is being noised"),
        "x_t_std": Value("number", "the standard deviation of x_t's values on screen"),
        "dominant": Value("text", "'signal' while ᾱ_t > 1/2 (SNR > 1), else 'noise'", ("signal", "noise")),
    },
    "Schedules": {
        "t": Value("integer", "schedule 1's timestep on the scrubber"),
        "T": Value("integer", "schedule 1's number of timesteps"),
        "t_fraction": Value("number", "t/T of schedule 1"),
        "schedule_1": Value("text", "the first column's schedule"),
        "schedule_2": Value("text", "the second column's schedule"),
        "t_2": Value("integer", "the timestep column 2 shows"),
        **_schedule_values("_1", " of schedule 1"),
        **_schedule_values("_2", " of schedule 2"),
        "more_signal": Value("text", "the schedule that keeps the larger ᾱ at t (of columns 1 and 2)", SCHEDULE_KINDS),
        "align_by_snr": Value("text", "'yes' when the columns are aligned by equal SNR", ("yes", "no")),
    },
    "Train": {
        "step": Value("integer", "the last training step done (0 before a run)"),
        "total_steps": Value("integer", "the steps the run is set to take"),
        "loss": Value("number", "the last step's loss ‖ε − ε_θ(x_t, t)‖² (None before a run)"),
        "T": Value("integer", "the number of timesteps the model is trained on"),
        "dataset": Value("text", "the dataset chosen in the form"),
        "batch": Value("integer", "the batch size"),
        "objective": Value("text", "what the network learns to predict, as the form shows it (ε, x_0 or v)"),
        "state": Value("text", "'idle', 'training' or 'paused'"),
    },
    "Generate": {
        "model": Value("text", "the chosen model"),
        "T": Value("integer", "the model's number of timesteps (None without a model)"),
        "sampler": Value("text", "the sampler's key (ddpm, ddim, …), as a lesson's 'sampler:' names it"),
        "sampler_name": Value("text", "the sampler as the form shows it ('DDPM (ancestral)', 'DDIM', …)"),
        "steps": Value("integer", "the number of sampling steps"),
        "stride": Value("number", "T / steps: how many timesteps one step jumps"),
        "eta": Value("number", "DDIM's η (0: deterministic)"),
        "guidance_scale": Value("number", "the classifier-free guidance scale w"),
        "seed": Value("integer", "the seed of x_T"),
        "deterministic": Value(
            "text", "'yes' when the same seed gives the same samples (DDIM η = 0, ODE solvers)", ("yes", "no")
        ),
    },
    "Guidance": {
        "model": Value("text", "the chosen class-conditional model"),
        "guidance_scale": Value("number", "the guidance scale w"),
        "steps": Value("integer", "the number of DDIM steps"),
        "class_name": Value("text", "the class guided towards"),
        "frames": Value("integer", "the steps recorded by the last run (0 before a run)"),
        "step": Value("integer", "the step shown on the scrubber"),
    },
    # Views a lesson may open without binding to them (they expose no live values yet).
    "Latent diffusion": {
        "tab": Value("text", "the tab on screen", LATENT_TABS),
        "prompt": Value("text", "the caption typed in the Text to image tab"),
        "guidance_scale": Value("number", "the text guidance scale w"),
        "steps": Value("integer", "the number of DDIM steps"),
        "frames": Value("integer", "the steps recorded by the last text-to-image run (0 before a run)"),
        "step": Value("integer", "the step shown on the Text to image tab's scrubber"),
        "t": Value("integer", "the timestep of that step (— before a run)"),
        "top_word": Value("text", "the word the chosen image attends to most at that step"),
        "top_word_share": Value("number", "that word's share of all the attention (0 to 1)"),
        "top_word_kind": Value("text", "what that word names", WORD_KINDS),
    },
    "Compare models": {
        "dataset": Value("text", "the data all three learn (a 2-D toy or fashion_mnist)", COMPARE_DATA),
        "gan_setting": Value("text", "the GAN's stability switch", GAN_SETTINGS),
        "steps": Value("integer", "optimizer steps for each model"),
        "measured": Value("integer", "how many of the three models the last Measure scored"),
        "num_modes": Value("integer", "the modes of the data (8 Gaussians; — otherwise)"),
        **{f"{kind}_modes": Value("integer", f"modes the {kind} covers (— before Measure)") for kind in COMPARE_KINDS},
        **{f"fid_{kind}": Value("number", f"the {kind}'s FID (images; — before Measure)") for kind in COMPARE_KINDS},
        "gan_collapsed": Value("text", "does the GAN miss modes of the data?", ("yes", "no")),
    },
}

STATE: dict[str, dict[str, StateKey]] = {
    "Forward process": {
        "t": _T,
        "schedule": _SCHEDULE,
        "T": StateKey("integer", "the number of timesteps", low=2, high=4000),
        "mode": StateKey("choice", "closed form or Markov chain", ("closed form", "Markov chain")),
        "seed": StateKey("integer", "the seed of ε", low=0, high=2**31 - 1),
    },
    "Schedules": {
        "t": _T,
        "schedule_1": _SCHEDULE,
        "schedule_2": _SCHEDULE,
        "align_by_snr": StateKey("boolean", "align the columns by equal SNR"),
    },
    "Train": {
        "T": StateKey("integer", "the number of timesteps", low=2, high=4000),
        "steps": StateKey("integer", "the number of training steps", low=1, high=10_000_000),
    },
    "Generate": {
        "sampler": StateKey("choice", "the sampler", SAMPLER_NAMES),
        "steps": StateKey("integer", "the number of sampling steps", low=1, high=4000),
        "eta": StateKey("number", "DDIM's η", low=0.0, high=1.0),
        "guidance_scale": StateKey("number", "the guidance scale w", low=0.0, high=20.0),
        "seed": StateKey("integer", "the seed of x_T", low=0, high=2**31 - 1),
    },
    "Guidance": {
        "guidance_scale": StateKey("number", "the guidance scale w", low=0.0, high=20.0),
        "steps": StateKey("integer", "the number of DDIM steps", low=1, high=1000),
    },
    "Latent diffusion": {
        "tab": StateKey("choice", "the tab to open", LATENT_TABS),
        "prompt": StateKey("text", "the caption to type in the Text to image tab"),
        "guidance_scale": StateKey("number", "the text guidance scale w", low=0.0, high=20.0),
        "steps": StateKey("integer", "the number of DDIM steps", low=1, high=200),
    },
    "Compare models": {
        "dataset": StateKey("choice", "the data to compare on", COMPARE_DATA),
        "gan_setting": StateKey("choice", "the GAN's stability switch", GAN_SETTINGS),
        "steps": StateKey("integer", "optimizer steps for each model", low=50, high=20000),
    },
}

FRONT_MATTER_KEYS = ("title", "view")  # every lesson's; the rest of its front matter is the view's state


def lesson_views() -> list[str]:
    return list(VALUES)
