"""The Train view's row of buttons: Start, Pause / Resume, Stop, Save…, Load & resume…, and log-y."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QPushButton, QWidget

from desktop_app.widgets.flow_row import FlowRow


@dataclass(frozen=True)
class RunState:
    """Where the training run is, as far as the buttons care."""

    running: bool = False
    paused: bool = False
    stopping: bool = False  # Stop was pressed; the run ends after the current step


class RunControls(QWidget):
    """The buttons that drive a run; each press is a signal, and ``show_state`` enables what makes sense."""

    start_requested = Signal()
    pause_resume_requested = Signal()
    stop_requested = Signal()
    save_requested = Signal()
    load_requested = Signal()
    log_y_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.start_button = QPushButton("▶ Start")
        self.start_button.setToolTip("Start training with these settings (Ctrl+Return)")
        self.start_button.setShortcut("Ctrl+Return")
        self.start_button.clicked.connect(self.start_requested)
        self.pause_button = QPushButton("❚❚ Pause")
        self.pause_button.setToolTip("Pause / resume training (between two steps)")
        self.pause_button.clicked.connect(self.pause_resume_requested)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop training; the model so far is saved and sent to the Generate view")
        self.stop_button.clicked.connect(self.stop_requested)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save a resumable checkpoint (Ctrl+S)")
        self.save_button.setShortcut("Ctrl+S")
        self.save_button.clicked.connect(self.save_requested)
        self.load_button = QPushButton("Load && resume…")
        self.load_button.setToolTip("Continue a run from a checkpoint saved with its training state")
        self.load_button.clicked.connect(self.load_requested)
        self.log_check = QCheckBox("log-y")
        self.log_check.setToolTip("Logarithmic loss axis")
        self.log_check.toggled.connect(self.log_y_toggled)
        row = FlowRow(self)  # wraps on a narrow window (projector)
        row.setContentsMargins(0, 0, 0, 0)
        for button in (self.start_button, self.pause_button, self.stop_button, self.save_button, self.load_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.log_check)
        self.show_state(RunState())

    def show_state(self, state: RunState) -> None:
        """Start and Load while idle; Pause / Resume and Stop while a run goes on and is not stopping."""
        self.start_button.setEnabled(not state.running)
        self.pause_button.setEnabled(state.running and not state.stopping)
        self.pause_button.setText("▶ Resume" if state.paused else "❚❚ Pause")
        self.stop_button.setEnabled(state.running and not state.stopping)
        self.load_button.setEnabled(not state.running)
