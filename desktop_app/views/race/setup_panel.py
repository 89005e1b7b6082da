"""The race form: which model, which samplers, how many steps, which timestep spacing, the seed.

Every model in the library is offered (the shipped Fashion-MNIST U-Net, the 2-D toys, the user's
checkpoints). ``settings()`` reads the form as a ``RaceSettings``; the buttons are signals.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from core.evaluation.sampler_race import DEFAULT_LANES, LANES, RACE_SPACINGS
from desktop_app.model_library import ModelEntry, list_models
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.model_picker import ModelPicker

DEFAULT_MODEL = "toy_spiral"


def _usable_models() -> list[ModelEntry]:
    return [e for e in list_models() if e.usable]


SPACING_TIPS = {
    "default": "each sampler's own (Karras σ for Euler/Heun/DPM-Solver++(2M), trailing for the others)",
    "trailing": "evenly spaced, always starting at t = T−1 (Lin et al. 2024)",
    "linear": "np.linspace over [0, T−1]",
    "leading": "evenly spaced from t = 0: the first step is not at pure noise",
    "karras": "σ spaced by Karras et al. 2022 eq. 5 (ρ = 7): more steps at low noise",
}


@dataclass(frozen=True)
class RaceSettings:
    lanes: tuple[str, ...]
    steps: int
    spacing: str
    seed: int
    reference_steps: int


class RaceSetupPanel(QWidget):
    """Model, sampler check boxes, steps, spacing, seed, reference steps and Run / Cancel."""

    model_chosen = Signal(object)  # the ModelEntry, or None
    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model_combo = ModelPicker(
            _usable_models, DEFAULT_MODEL, "The model every sampler runs: a shipped one or your own checkpoint"
        )
        self.model_combo.entry_chosen.connect(self.model_chosen)
        self.lane_checks: dict[str, QCheckBox] = {}
        for key, lane in LANES.items():
            check = QCheckBox(lane.label)
            check.setChecked(key in DEFAULT_LANES)
            kind = "stochastic: fresh noise every step" if lane.stochastic else "deterministic ODE solver"
            check.setToolTip(f"Race {lane.label} ({kind})")
            self.lane_checks[key] = check
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(10)
        self.steps_spin.setToolTip("Steps of every sampler (Heun makes two network calls per step but the last)")
        self.spacing_combo = QComboBox()
        for name in RACE_SPACINGS:
            self.spacing_combo.addItem(name)
            self.spacing_combo.setItemData(self.spacing_combo.count() - 1, SPACING_TIPS[name])
        self.spacing_combo.setToolTip("Which timesteps the samplers visit (timestep spacing)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Seed of the shared x_T and of the stochastic samplers' noise")
        self.reference_spin = QSpinBox()
        self.reference_spin.setRange(10, 1000)
        self.reference_spin.setValue(1000)
        self.reference_spin.setToolTip(
            "Steps of the reference ODE solve (DPM-Solver++(3M)) the errors are measured against"
        )
        self.run_button = QPushButton("Run race")
        self.run_button.setToolTip("Run every checked sampler from the same x_T and measure its error")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the race after the current network call")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)

        top = FlowRow()
        for label, widget in (
            ("Model", self.model_combo), ("Steps", self.steps_spin), ("Spacing", self.spacing_combo),
            ("Seed", self.seed_spin), ("Reference steps", self.reference_spin),
        ):  # fmt: skip
            top.addWidget(QLabel(label))
            top.addWidget(widget)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        lanes = FlowRow()
        lanes.addWidget(QLabel("Samplers"))
        for check in self.lane_checks.values():
            lanes.addWidget(check)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addLayout(lanes)

    def refresh(self) -> None:
        """List the models again, keeping the choice (the first time: the spiral toy, quick to race)."""
        self.model_combo.refresh()

    def select_model(self, stem: str) -> None:
        self.model_combo.select_model(stem)

    def current_entry(self) -> ModelEntry | None:
        return self.model_combo.current_entry()

    def set_limits(self, num_timesteps: int, reference_steps: int) -> None:
        self.steps_spin.setMaximum(num_timesteps)
        self.reference_spin.setMaximum(num_timesteps)
        self.reference_spin.setValue(reference_steps)

    def set_busy(self, busy: bool) -> None:
        for widget in (self.model_combo, self.run_button):
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def chosen_lanes(self) -> tuple[str, ...]:
        return tuple(key for key, check in self.lane_checks.items() if check.isChecked())

    def settings(self) -> RaceSettings:
        lanes = self.chosen_lanes()
        if not lanes:
            raise ValueError("Tick at least one sampler to race.")
        return RaceSettings(lanes, self.steps_spin.value(), self.spacing_combo.currentText(), self.seed_spin.value(),
                            self.reference_spin.value())  # fmt: skip
