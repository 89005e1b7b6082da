"""The schedule chooser of the Forward process view: the kind of β schedule and the number of steps T."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from core.diffusion import MAX_TIMESTEPS, MIN_TIMESTEPS, SCHEDULE_KINDS


@dataclass(frozen=True)
class ScheduleChoice:
    """The arguments of ``core.diffusion.make_schedule``."""

    kind: str = "linear"
    num_timesteps: int = 1000


class SchedulePanel(QWidget):
    """The "Schedule:" kind combo and the "T = …" spin box, in one row."""

    schedule_chosen = Signal(object)  # ScheduleChoice: the user changed the kind or T

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind_combo = QComboBox()
        self.kind_combo.addItems(list(SCHEDULE_KINDS))
        self.kind_combo.setToolTip("The noise schedule: how β_t (and so ᾱ_t) changes from t = 0 to T")
        self.T_spin = QSpinBox()
        self.T_spin.setRange(MIN_TIMESTEPS, MAX_TIMESTEPS)
        self.T_spin.setValue(1000)
        self.T_spin.setKeyboardTracking(False)
        self.T_spin.setPrefix("T = ")
        self.T_spin.setToolTip("T: the number of noising steps from x_0 to (almost) pure noise x_T")

        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Schedule:"))
        row.addWidget(self.kind_combo)
        row.addWidget(self.T_spin)

        self.kind_combo.currentIndexChanged.connect(self._on_changed)
        self.T_spin.valueChanged.connect(self._on_changed)

    def choice(self) -> ScheduleChoice:
        return ScheduleChoice(self.kind_combo.currentText(), self.T_spin.value())

    def set_choice(self, choice: ScheduleChoice) -> None:
        """Show ``choice`` without emitting ``schedule_chosen``."""
        for widget in (self.kind_combo, self.T_spin):
            widget.blockSignals(True)
        self.kind_combo.setCurrentText(choice.kind)
        self.T_spin.setValue(int(choice.num_timesteps))
        for widget in (self.kind_combo, self.T_spin):
            widget.blockSignals(False)

    @Slot()
    def _on_changed(self) -> None:
        self.schedule_chosen.emit(self.choice())
