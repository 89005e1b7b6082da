"""One column of the Schedules view: a schedule's settings on top, x_t below, and the t and SNR it is shown at.

Moved out of ``schedules_view.py`` when the log-SNR editor added the "drawn log-SNR" kind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.diffusion import MAX_TIMESTEPS, MIN_TIMESTEPS, SCHEDULE_KINDS, NoiseSchedule, make_schedule
from desktop_app.views.schedules.log_snr_editor import DRAWN_KIND, default_knots, drawn_schedule
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.window import themes


@dataclass
class ColumnSettings:
    kind: str
    T: int
    beta_start: float
    beta_end: float

    def make(self, knots=None) -> NoiseSchedule:
        """``knots``: the log-SNR editor's control points, used by the "drawn log-SNR" kind (None: cosine's)."""
        if self.kind == DRAWN_KIND:
            return drawn_schedule(default_knots() if knots is None else knots, self.T)
        if self.kind == "cosine":
            return make_schedule("cosine", self.T)
        return make_schedule(self.kind, self.T, self.beta_start, self.beta_end)


class ScheduleColumn(QFrame):
    """One schedule: its settings on top, x_t below, and the t and SNR it is shown at."""

    changed = Signal()
    remove_requested = Signal()

    def __init__(self, index: int, settings: ColumnSettings, parent: QWidget | None = None, knots=None):
        super().__init__(parent)
        self.knots = knots  # the log-SNR editor's control points (for the "drawn log-SNR" kind)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.colour = themes.series_colour(index)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.remove_button = QToolButton()
        self.remove_button.setText("✕")
        self.remove_button.setToolTip("Remove this schedule")
        self.remove_button.setAutoRaise(True)

        self.kind_combo = QComboBox()
        self.kind_combo.addItems([*SCHEDULE_KINDS, DRAWN_KIND])
        self.kind_combo.setCurrentText(settings.kind)
        self.kind_combo.setToolTip(
            "How β_t grows with t: linear (DDPM), cosine (Nichol & Dhariwal), sigmoid, quadratic,\n"
            "or drawn log-SNR: drag the squares on the log-SNR plot (Kingma et al. 2021 define schedules by log-SNR)"
        )
        self.T_spin = QSpinBox()
        self.T_spin.setRange(MIN_TIMESTEPS, MAX_TIMESTEPS)
        self.T_spin.setValue(settings.T)
        self.T_spin.setToolTip("T: the number of diffusion steps of this schedule")
        self.T_spin.setKeyboardTracking(False)
        self.beta_start_spin = self._beta_spin(settings.beta_start)
        self.beta_end_spin = self._beta_spin(settings.beta_end)

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(2)
        form.addRow("kind", self.kind_combo)
        form.addRow("T", self.T_spin)
        betas = QHBoxLayout()
        betas.addWidget(self.beta_start_spin)
        betas.addWidget(QLabel("→"))
        betas.addWidget(self.beta_end_spin)
        form.addRow("β", betas)

        self.panel = ImagePanel()
        self.position_label = QLabel()
        self.position_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.position_label.setWordWrap(True)  # "t = 100 / T=100 …" is never cut off in a narrow column
        self.position_label.setToolTip("The timestep this column shows, its ᾱ_t and its SNR = ᾱ_t / (1 − ᾱ_t)")

        top = QHBoxLayout()
        top.addWidget(self.header, stretch=1)
        top.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.panel, stretch=1)
        layout.addWidget(self.position_label)

        self.schedule = settings.make(knots)
        self.t = 0
        self.xt: np.ndarray | None = None  # this column's x_t buffer: its panel shows (and keeps) it
        self._update_header(index)
        self._update_beta_enabled()
        self.kind_combo.currentIndexChanged.connect(self._on_settings_changed)
        self.T_spin.valueChanged.connect(self._on_settings_changed)
        self.beta_start_spin.valueChanged.connect(self._on_settings_changed)
        self.beta_end_spin.valueChanged.connect(self._on_settings_changed)
        self.remove_button.clicked.connect(self.remove_requested)

    @staticmethod
    def _beta_spin(value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setDecimals(5)
        spin.setRange(1e-5, 0.999)
        spin.setSingleStep(1e-4)
        spin.setValue(value)
        spin.setKeyboardTracking(False)
        return spin

    def settings(self) -> ColumnSettings:
        return ColumnSettings(
            self.kind_combo.currentText(), self.T_spin.value(), self.beta_start_spin.value(), self.beta_end_spin.value()
        )

    def set_index(self, index: int) -> None:
        self.index = index
        self.colour = themes.series_colour(index)
        self._update_header(index)

    def _update_header(self, index: int) -> None:
        self.header.setText(f"<b><span style='color:{self.colour}'>■</span> Schedule {index + 1}</b>")

    def _update_beta_enabled(self) -> None:
        kind = self.kind_combo.currentText()
        cosine = kind in ("cosine", DRAWN_KIND)
        for spin in (self.beta_start_spin, self.beta_end_spin):
            spin.setEnabled(not cosine)
            spin.setToolTip(
                f"The {kind} schedule is defined by {'ᾱ_t' if kind == 'cosine' else 'log-SNR'}, not by a β range"
                if cosine
                else "β_1 → β_T: the noise variance of the first and the last step (β_t runs between them)"
            )

    @Slot()
    def _on_settings_changed(self) -> None:
        self._update_beta_enabled()
        try:
            schedule = self.settings().make(self.knots)
        except ValueError as error:  # e.g. β_end < β_start: keep the old schedule and say why
            self.position_label.setText(f"<span style='color:#c03030'>{error}</span>")
            return
        self.schedule = schedule
        self.changed.emit()
