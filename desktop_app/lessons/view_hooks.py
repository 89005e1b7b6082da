"""Each view's side of the lesson contract: its live values, the state a lesson step opens, and which of
its controls change those values. The views keep one-line methods (``lesson_values()``,
``apply_lesson_state(state)``) and a ``values_changed`` signal; the reading and setting of their
controls lives here, next to ``vocabulary.py``, which names every value and state key.

Setting a control here does what a person's click does (the view's own signals recompute it).
"""

from __future__ import annotations

import math

STOCHASTIC_SAMPLERS = ("ddpm", "euler_maruyama")  # fresh noise at every step; DDIM too when η > 0


def schedule_values(schedule, t: int, suffix: str = "") -> dict:
    """ᾱ_t, β_t, √ᾱ_t, √(1 − ᾱ_t), SNR = ᾱ_t/(1 − ᾱ_t) and the SNR in dB of ``schedule`` at ``t`` (DDPM eq. 4)."""
    t = max(0, min(int(t), schedule.num_timesteps - 1))
    alpha_bar = float(schedule.alphas_cumprod[t])
    snr = alpha_bar / max(1.0 - alpha_bar, 1e-300)
    return {
        f"alpha_bar{suffix}": alpha_bar,
        f"beta{suffix}": float(schedule.betas[t]),
        f"sqrt_alpha_bar{suffix}": math.sqrt(alpha_bar),
        f"sqrt_one_minus_alpha_bar{suffix}": math.sqrt(max(1.0 - alpha_bar, 0.0)),
        f"snr{suffix}": snr,
        f"snr_db{suffix}": 10 * math.log10(snr) if snr > 0 else -math.inf,
    }


def _watch(view, signals) -> None:
    for signal in signals:
        signal.connect(view.values_changed)


# --- Forward process ------------------------------------------------------------------------------


def forward_values(view) -> dict:
    t, schedule, frames = view.scrubber.value(), view.schedule, view._frames
    values = {"t": t, "T": schedule.num_timesteps, "t_fraction": t / schedule.num_timesteps}
    values |= {"schedule": schedule.kind, **schedule_values(schedule, t), "seed": view.mode_panel.choice().seed}
    values["mode"] = "Markov chain" if view.is_chain_mode() else "closed form"
    values["source"] = view.dataset_name()
    values["x_t_std"] = float(frames.x_t.std()) if frames is not None else None
    values["dominant"] = "signal" if values["alpha_bar"] > 0.5 else "noise"
    return values


def apply_forward_state(view, state: dict) -> None:
    from desktop_app.views.forward.schedule_panel import ScheduleChoice

    if "schedule" in state or "T" in state:
        old = view.schedule_panel.choice()
        view.schedule_panel.set_choice(
            ScheduleChoice(state.get("schedule", old.kind), state.get("T", old.num_timesteps))
        )
        view._on_schedule_changed(view.schedule_panel.choice())
    if "mode" in state:
        view.set_chain_mode(state["mode"] == "Markov chain")
    if "seed" in state and state["seed"] != view.mode_panel.choice().seed:
        view.mode_panel.set_seed(state["seed"])
        view._on_seed_changed(state["seed"])
    if "t" in state:
        view.scrubber.setValue(min(state["t"], view.schedule.num_timesteps - 1))
    view.values_changed.emit()


# --- Schedules ------------------------------------------------------------------------------------


def schedules_values(view) -> dict:
    first, second = view.columns[0].schedule, view.columns[1].schedule
    t, t_2 = view.column_timesteps()[:2]
    values = {"t": t, "T": first.num_timesteps, "t_fraction": t / first.num_timesteps, "t_2": t_2}
    values |= {"schedule_1": first.kind, "schedule_2": second.kind}
    values |= schedule_values(first, t, "_1") | schedule_values(second, t_2, "_2")
    values["more_signal"] = first.kind if values["alpha_bar_1"] >= values["alpha_bar_2"] else second.kind
    values["align_by_snr"] = "yes" if view.align_check.isChecked() else "no"
    return values


def apply_schedules_state(view, state: dict) -> None:
    for i, key in enumerate(("schedule_1", "schedule_2")):
        if key in state:
            view.columns[i].kind_combo.setCurrentText(state[key])
    if "align_by_snr" in state:
        view.align_check.setChecked(state["align_by_snr"])
    if "t" in state:
        view.scrubber.setValue(min(state["t"], view.columns[0].schedule.num_timesteps - 1))
    view.values_changed.emit()


# --- Train ----------------------------------------------------------------------------------------


def train_values(view) -> dict:
    event = view.last_step_event
    worker = view._worker
    state = "idle"
    if view.is_training():
        state = "paused" if worker is not None and worker.control.paused else "training"
    return {
        "step": event.step if event is not None else 0,
        "total_steps": view.steps_spin.value() if event is None else event.total_steps,
        "loss": float(event.loss) if event is not None else None,
        "T": view.timesteps_spin.value(),
        "dataset": view.dataset_name(),
        "batch": view.batch_spin.value(),
        "objective": view.setup_panel.objective_combo.currentText(),
        "state": state,
    }


def apply_train_state(view, state: dict) -> None:
    if not view.is_training():  # a running training keeps its settings
        if "T" in state:
            view.timesteps_spin.setValue(state["T"])
        if "steps" in state:
            view.steps_spin.setValue(state["steps"])
    view.values_changed.emit()


def watch_train(view) -> None:
    spins = (view.timesteps_spin, view.steps_spin, view.batch_spin)
    _watch(view, [spin.valueChanged for spin in spins] + [view.setup_panel.objective_combo.currentIndexChanged])


# --- Generate -------------------------------------------------------------------------------------


def generate_values(view) -> dict:
    current = view.model_panel.current
    T = current.schedule.num_timesteps if current is not None else None
    sampler, steps, eta = view.sampler_combo.currentData(), view.steps_spin.value(), view.eta_spin.value()
    stochastic = sampler in STOCHASTIC_SAMPLERS or (sampler == "ddim" and eta > 0)
    return {
        "model": view.model_name() or None,
        "T": T,
        "sampler": sampler,
        "sampler_name": view.sampler_combo.currentText(),
        "steps": steps,
        "stride": T / steps if T else None,
        "eta": eta,
        "guidance_scale": view.guidance_spin.value(),
        "seed": view.seed_spin.value(),
        "deterministic": "no" if stochastic else "yes",
    }


def apply_generate_state(view, state: dict) -> None:
    if "sampler" in state:
        index = view.sampler_combo.findData(state["sampler"])
        if index >= 0:
            view.sampler_combo.setCurrentIndex(index)
    for key, spin in (("steps", view.steps_spin), ("eta", view.eta_spin), ("guidance_scale", view.guidance_spin)):
        if key in state:
            spin.setValue(state[key])
    if "seed" in state:
        view.seed_spin.setValue(state["seed"])
    view.values_changed.emit()


def watch_generate(view) -> None:
    signals = [view.sampler_combo.currentIndexChanged, view.model_panel.model_changed]
    signals += [spin.valueChanged for spin in (view.steps_spin, view.eta_spin, view.guidance_spin, view.seed_spin)]
    _watch(view, signals)


# --- Guidance -------------------------------------------------------------------------------------


def guidance_values(view) -> dict:
    setup = view.setup
    entry = setup.current_entry()
    return {
        "model": entry.label if entry is not None else None,
        "guidance_scale": setup.scale_spin.value(),
        "steps": setup.steps_spin.value(),
        "class_name": setup.class_combo.currentText() or None,
        "frames": len(view.frames()),
        "step": view.scrubber.value(),
    }


def apply_guidance_state(view, state: dict) -> None:
    if "guidance_scale" in state:
        view.setup.scale_spin.setValue(state["guidance_scale"])
    if "steps" in state:
        view.setup.steps_spin.setValue(state["steps"])
    view.values_changed.emit()


def watch_guidance(view) -> None:
    setup = view.setup
    signals = [setup.scale_spin.valueChanged, setup.steps_spin.valueChanged, setup.class_combo.currentIndexChanged]
    _watch(view, [*signals, setup.model_chosen, view.scrubber.valueChanged])


# --- Latent diffusion -----------------------------------------------------------------------------


def word_kind(word: str) -> str:
    """What a word of a shapes caption names: shape, colour, size, position or other (``WORD_KINDS``)."""
    from core.data.captions import SIZE_WORDS
    from core.data.shapes import SHAPE_COLORS, SHAPE_NAMES

    if word in SHAPE_NAMES or word == "shape":
        return "shape"
    if word in SHAPE_COLORS:
        return "colour"
    if word in SIZE_WORDS:
        return "size"
    if word in ("top", "bottom", "left", "right", "centre"):
        return "position"
    return "other"


def latent_values(view) -> dict:
    from desktop_app.lessons.vocabulary import LATENT_TABS

    text = view.text
    steps = text.steps()
    index = text.scrubber.value()
    shares = text.attention_shares()
    top_word, top_share = max(shares, key=lambda pair: pair[1]) if shares else (None, None)
    return {
        "tab": LATENT_TABS[max(0, view.tabs.currentIndex())],
        "prompt": text.prompt_edit.text(),
        "guidance_scale": text.scale_spin.value(),
        "steps": text.steps_spin.value(),
        "frames": len(steps),
        "step": index,
        "t": steps[index].t if 0 <= index < len(steps) else None,
        "top_word": top_word,
        "top_word_share": top_share,
        "top_word_kind": word_kind(top_word) if top_word is not None else None,
    }


def apply_latent_state(view, state: dict) -> None:
    from desktop_app.lessons.vocabulary import LATENT_TABS

    if "tab" in state:
        view.tabs.setCurrentIndex(LATENT_TABS.index(state["tab"]))
    text = view.text
    if "prompt" in state:
        text.prompt_edit.setText(state["prompt"])
    if "guidance_scale" in state:
        text.scale_spin.setValue(state["guidance_scale"])
    if "steps" in state:
        text.steps_spin.setValue(state["steps"])
    view.values_changed.emit()


def watch_latent(view) -> None:
    text = view.text
    signals = [view.tabs.currentChanged, text.prompt_edit.textChanged, text.scale_spin.valueChanged]
    signals += [text.steps_spin.valueChanged, text.scrubber.valueChanged, text.image_spin.valueChanged]
    _watch(view, signals)


# --- Compare models -------------------------------------------------------------------------------


def compare_values(view) -> dict:
    from desktop_app.lessons.vocabulary import COMPARE_KINDS

    controls, measured = view.controls, view.measurements
    modes = {kind: m.modes for kind, m in measured.items() if m.modes is not None}
    values = {
        "dataset": controls.dataset(),
        "gan_setting": controls.gan_setting(),
        "steps": controls.steps.value(),
        "measured": len(measured),
        "num_modes": next(iter(modes.values())).num_modes if modes else None,
        "gan_collapsed": ("yes" if modes["gan"].collapsed else "no") if "gan" in modes else None,
    }
    for kind in COMPARE_KINDS:
        values[f"{kind}_modes"] = modes[kind].modes_covered if kind in modes else None
        values[f"fid_{kind}"] = measured[kind].fid if kind in measured else None
    return values


def apply_compare_state(view, state: dict) -> None:
    controls = view.controls
    for key, combo in (("dataset", controls.dataset_combo), ("gan_setting", controls.gan_combo)):
        if key in state:
            combo.setCurrentIndex(combo.findData(state[key]))
    if "steps" in state:
        controls.steps.setValue(state["steps"])
    view.values_changed.emit()


def watch_compare(view) -> None:
    controls = view.controls
    signals = [controls.dataset_combo.currentIndexChanged, controls.gan_combo.currentIndexChanged]
    _watch(view, [*signals, controls.steps.valueChanged, view.measured])
