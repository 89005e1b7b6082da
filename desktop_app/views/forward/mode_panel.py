"""The mode row of the Forward process view: closed form or Markov chain, the seed of the noise, the equation."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QButtonGroup, QLabel, QPushButton, QRadioButton, QSpinBox, QWidget

from desktop_app.widgets.flow_row import FlowRow

# x_t's equation in each mode (rich text) and its tooltip: closed form (DDPM eq. 4), Markov chain (eq. 2).
EQUATIONS = {
    False: (
        "x<sub>t</sub> = √ᾱ<sub>t</sub> · x<sub>0</sub> + √(1 − ᾱ<sub>t</sub>) · ε",
        "How x_t is made from x_0 and the noise ε in closed form (DDPM eq. 4)",
    ),
    True: (
        "x<sub>t</sub> = √α<sub>t</sub> · x<sub>t−1</sub> + √β<sub>t</sub> · z<sub>t</sub>",
        "How the Markov chain makes x_t from x_{t−1} with fresh noise z_t ~ N(0, I) at every step (DDPM eq. 2)",
    ),
}


@dataclass(frozen=True)
class ModeChoice:
    """How x_t is drawn: in closed form (DDPM eq. 4) or by the Markov chain (eq. 2), from ``seed``."""

    chain: bool = False
    seed: int = 0


class ModePanel(QWidget):
    """Closed form / Markov chain radio buttons, the seed, "New noise", and x_t's equation on the right."""

    mode_changed = Signal(bool)  # the user switched mode; True for the Markov chain
    seed_changed = Signal(int)  # the user changed the seed (or pressed "New noise": the next seed)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.closed_radio = QRadioButton("Closed form q(x_t | x_0)")
        self.closed_radio.setToolTip("x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε with one fixed ε (DDPM eq. 4)")
        self.chain_radio = QRadioButton("Markov chain")
        self.chain_radio.setToolTip("x_t = √α_t x_{t−1} + √β_t z_t, step by step with fresh noise (DDPM eq. 2)")
        self.closed_radio.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.closed_radio)
        self._mode_group.addButton(self.chain_radio)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setToolTip("Seed of the random noise ε: the same seed always draws the same noise")
        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (and new chain noise): next seed")
        self.equation = QLabel(EQUATIONS[False][0])
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        self.equation.setToolTip("How x_t is made from x_0 and the noise ε in closed form (DDPM eq. 4)")

        row = FlowRow(self)  # wraps on a narrow window (projector)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.closed_radio)
        row.addWidget(self.chain_radio)
        row.addSpacing(20)
        row.addWidget(self.seed_spin)
        row.addWidget(self.new_noise_button)
        row.addStretch(1)
        row.addWidget(self.equation)

        self.closed_radio.toggled.connect(self._on_closed_toggled)  # one signal per switch, either way
        self.seed_spin.valueChanged.connect(self._on_seed_changed)
        self.new_noise_button.clicked.connect(self._on_new_noise)

    def choice(self) -> ModeChoice:
        return ModeChoice(self.chain_radio.isChecked(), self.seed_spin.value())

    def set_seed(self, seed: int) -> None:
        """Show ``seed`` without emitting ``seed_changed``."""
        self.seed_spin.blockSignals(True)
        self.seed_spin.setValue(int(seed))
        self.seed_spin.blockSignals(False)

    def set_chain_mode(self, chain: bool) -> None:
        """Check the matching radio button (emits ``mode_changed`` when the mode changes)."""
        (self.chain_radio if chain else self.closed_radio).setChecked(True)

    @Slot(bool)
    def _on_closed_toggled(self, closed: bool) -> None:
        self.equation.setText(EQUATIONS[not closed][0])
        self.equation.setToolTip(EQUATIONS[not closed][1])
        self.mode_changed.emit(not closed)

    @Slot(int)
    def _on_seed_changed(self, seed: int) -> None:
        self.seed_changed.emit(seed)

    @Slot()
    def _on_new_noise(self) -> None:
        self.seed_spin.setValue(self.seed_spin.value() + 1)
