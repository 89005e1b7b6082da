"""The live numbers of the Forward process view at the scrubbed timestep: β_t, ᾱ_t, the scales, the SNR."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QWidget

from core.diffusion import NoiseSchedule

MAX_STATS_VALUES = 65536  # x_t's mean and std are taken over a strided sample of about this many values

ROWS = (  # (key in ``numbers``, label)
    ("t", "t"),
    ("beta", "β_t  (noise added by this step)"),
    ("alpha_bar", "ᾱ_t = ∏ (1 − β_s)"),
    ("sqrt_alpha_bar", "√ᾱ_t  (signal scale)"),
    ("sqrt_one_minus_alpha_bar", "√(1 − ᾱ_t)  (noise scale)"),
    ("snr_db", "SNR = ᾱ_t / (1 − ᾱ_t)"),
    ("stats", "x_t values: mean, std"),
)
ROW_TIPS = {  # one line per readout: what it is, with its formula (DDPM, Ho et al. 2020)
    "t": "The timestep shown, out of T (t/T is the fraction of the way to pure noise)",
    "beta": "β_t: the variance of the noise added by step t alone, x_t = √(1−β_t) x_{t−1} + √β_t z (eq. 2)",
    "alpha_bar": "ᾱ_t = ∏_{s≤t} (1 − β_s): how much of x_0's variance survives to step t",
    "sqrt_alpha_bar": "√ᾱ_t: the factor on x_0 in x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (eq. 4)",
    "sqrt_one_minus_alpha_bar": "√(1 − ᾱ_t): the factor on the noise ε in x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε (eq. 4)",
    "snr_db": "Signal-to-noise ratio SNR = ᾱ_t / (1 − ᾱ_t), in decibels 10·log₁₀ SNR (and as a plain ratio)",
    "stats": "Mean and standard deviation of the pixels of x_t (std → 1 and mean → 0 as t → T)",
}


@dataclass(frozen=True)
class StepNumbers:
    """What the panel shows for one timestep, as the texts of its rows (keys of ``ROWS``)."""

    texts: dict[str, str]

    @classmethod
    def of(cls, schedule: NoiseSchedule, t: int, x_t: np.ndarray) -> StepNumbers:
        q = schedule.at(t)
        stride = max(1, x_t.size // MAX_STATS_VALUES)
        sample = x_t.reshape(-1)[::stride]
        return cls({
            "t": f"{t}  (t/T = {t / schedule.num_timesteps:.3f})",
            "beta": f"{q['beta']:.5f}",
            "alpha_bar": f"{q['alpha_bar']:.5f}",
            "sqrt_alpha_bar": f"{q['sqrt_alpha_bar']:.4f}",
            "sqrt_one_minus_alpha_bar": f"{q['sqrt_one_minus_alpha_bar']:.4f}",
            "snr_db": f"{q['snr_db']:+.2f} dB  ({q['snr']:.4g})",
            "stats": f"{float(sample.mean()):+.3f}, {float(sample.std()):.3f}",
        })  # fmt: skip


class NumbersPanel(QGroupBox):
    """The "At this timestep" box: one fixed-size label per row of ``ROWS``, in ``numbers``."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("At this timestep", parent)
        self.numbers: dict[str, QLabel] = {}
        form = QFormLayout(self)
        for key, text in ROWS:
            value = QLabel("–")
            # Not mouse-selectable: a selectable label paints through a rich-text document, 3× slower.
            # A fixed size: a label whose size may change asks for a new layout of the whole view
            # on every setText, which costs more than the rest of a frame.
            value.setFixedSize(value.fontMetrics().horizontalAdvance("−43.94 dB  (4.036e-05)") + 12,
                               value.fontMetrics().height() + 4)  # fmt: skip
            value.setToolTip(ROW_TIPS[key])
            self.numbers[key] = value
            form.addRow(text, value)
            form.labelForField(value).setToolTip(ROW_TIPS[key])
        self.setMinimumWidth(330)
        self.setMaximumHeight(230)

    def show_numbers(self, numbers: StepNumbers) -> None:
        for key, text in numbers.texts.items():
            self.numbers[key].setText(text)

    def show_step(self, schedule: NoiseSchedule, t: int, x_t: np.ndarray) -> None:
        """Show β_t, ᾱ_t, √ᾱ_t, √(1 − ᾱ_t) and the SNR of ``schedule`` at ``t``, and x_t's mean and std."""
        self.show_numbers(StepNumbers.of(schedule, t, x_t))
