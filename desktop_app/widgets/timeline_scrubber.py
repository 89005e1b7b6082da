"""The timeline scrubber every timeline in the app uses (forward process, schedules, sampling).

A slider and a spin box over an integer range, play/pause with a speed in steps per second, a loop
toggle and the keyboard shortcuts a video player has:

=================  ==========================================
←  /  →            one step back / forward
Shift + ← / →      ten steps back / forward
Home / End         first / last step
Space              play / pause
=================  ==========================================

Playback runs on a ``QTimer`` on the GUI thread (at most ~60 ticks per second); at high speeds a
tick advances several steps, so 1,000 steps play in a few seconds without flooding the views.

API (stable, shared with the Generate view)::

    scrubber = TimelineScrubber(parent=None)
    scrubber.setRange(lo, hi)          # inclusive, like QSlider
    scrubber.setValue(v); scrubber.value()
    scrubber.valueChanged              # Signal(int), emitted only when the value changes
    scrubber.play(); scrubber.pause(); scrubber.isPlaying(); scrubber.playingChanged  # Signal(bool)
    scrubber.setStepsPerSecond(n); scrubber.setLoop(bool)
    scrubber.setReversed(bool)         # play from hi to lo and draw hi on the left (reverse timeline)
    scrubber.setLabelFunction(fn)      # fn(value) -> str shown next to the spin box, e.g. "step 3 / t = 940"
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QToolButton, QWidget

SPEEDS = (1, 5, 10, 30, 100, 300, 1000)  # steps per second offered in the speed box
DEFAULT_SPEED = 100
MAX_TICK_HZ = 60  # the timer never fires faster than this; faster speeds take bigger steps
BIG_STEP = 10  # Shift + arrow


class TimelineScrubber(QWidget):
    """Slider + spin box + play/pause/speed/loop over an integer timeline. See the module docstring."""

    valueChanged = Signal(int)  # noqa: N815 - Qt naming, like QSlider.valueChanged
    playingChanged = Signal(bool)  # noqa: N815 - Qt naming

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._reversed = False
        self._label_ref: Callable[[], Callable[[int], str] | None] | None = None  # see setLabelFunction
        self._steps_per_second = DEFAULT_SPEED
        self._carry = 0.0  # fractional steps not yet taken by playback
        self._last_tick = 0.0

        self._play_button = QToolButton()
        self._play_button.setToolTip("Play / pause (Space)")
        self._play_button.setCheckable(True)
        self._play_button.setAutoRaise(True)
        self._play_button.setMinimumWidth(28)
        self._play_button.toggled.connect(self._on_play_toggled)

        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setToolTip("Drag to scrub; ←/→ one step, Shift+←/→ ten, Home/End")
        self._slider.setPageStep(BIG_STEP)
        self._slider.valueChanged.connect(self._on_slider_changed)

        self._spin = QSpinBox()
        self._spin.setKeyboardTracking(False)
        self._spin.setAccelerated(True)
        self._spin.setToolTip("The step shown: type a number, or use the arrows")
        self._spin.valueChanged.connect(self._on_spin_changed)

        self._label = QLabel()
        self._label.setMinimumWidth(0)
        self._label.setVisible(False)

        self._speed = QComboBox()
        self._speed.setToolTip("Playback speed in steps per second")
        for speed in SPEEDS:
            self._speed.addItem(f"{speed} steps/s", speed)
        self._speed.setCurrentIndex(SPEEDS.index(DEFAULT_SPEED))
        self._speed.currentIndexChanged.connect(self._on_speed_changed)

        self._loop = QToolButton()
        self._loop.setText("⟲ Loop")
        self._loop.setToolTip("Start again from the beginning when playback reaches the end")
        self._loop.setCheckable(True)
        self._loop.setAutoRaise(True)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._play_button)
        layout.addWidget(self._slider, stretch=1)
        layout.addWidget(self._spin)
        layout.addWidget(self._label)
        layout.addWidget(self._speed)
        layout.addWidget(self._loop)

        # Arrow keys, Home/End and Space mean the same thing whichever child has the focus.
        for child in (self._slider, self._spin, self._play_button, self._speed, self._loop):
            child.installEventFilter(self)

        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._on_tick)
        self._update_play_button()
        self.setRange(0, 0)

    # --- range and value ------------------------------------------------------------------------

    def setRange(self, lo: int, hi: int) -> None:  # noqa: N802 - Qt naming
        """Set the inclusive range; the value is clamped into it (emitting valueChanged if it moves)."""
        lo, hi = int(lo), int(hi)
        if hi < lo:
            raise ValueError(f"The timeline's end ({hi}) must not come before its start ({lo}).")
        self._spin.blockSignals(True)
        self._spin.setRange(lo, hi)
        self._spin.blockSignals(False)
        self._slider.setRange(lo, hi)  # emits valueChanged through _on_slider_changed when clamped
        self._sync_spin_and_label()
        self._fit_label()

    def minimum(self) -> int:
        return self._slider.minimum()

    def maximum(self) -> int:
        return self._slider.maximum()

    def value(self) -> int:
        return self._slider.value()

    @Slot(int)
    def setValue(self, value: int) -> None:  # noqa: N802 - Qt naming
        """Move to ``value`` (clamped to the range); emits valueChanged only if the value changes."""
        self._slider.setValue(int(value))

    def step(self, delta: int) -> None:
        """Move ``delta`` steps forward in playing direction (negative: back), clamped."""
        self.setValue(self.value() + int(delta))

    # --- labels and direction -------------------------------------------------------------------

    def setReversed(self, reversed_: bool) -> None:  # noqa: N802 - Qt naming
        """Reverse timeline: the slider shows ``hi`` on the left and playback runs from hi down to lo.

        The keys follow what the user sees: → moves right on the slider (towards lo when reversed).
        """
        self._reversed = bool(reversed_)
        self._slider.setInvertedAppearance(self._reversed)
        self._slider.setInvertedControls(self._reversed)

    def isReversed(self) -> bool:  # noqa: N802 - Qt naming
        return self._reversed

    def _label_function(self) -> Callable[[int], str] | None:
        return self._label_ref() if self._label_ref is not None else None

    def setLabelFunction(self, fn: Callable[[int], str] | None) -> None:  # noqa: N802 - Qt naming
        """Show ``fn(value)`` next to the spin box (e.g. "t = 940, ᾱ = 0.01"); None hides the label.

        A bound method is held weakly: the view that owns this scrubber usually passes its own method,
        and a strong reference would make a cycle (view → scrubber → method → view) that leaves a closed
        view to the garbage collector, which destroys its Qt children in an order that crashes Qt.
        """
        if fn is None:
            self._label_ref = None
        elif hasattr(fn, "__self__") and hasattr(fn, "__func__"):
            self._label_ref = weakref.WeakMethod(fn)
        else:
            self._label_ref = lambda: fn
        self._label.setVisible(fn is not None)
        self._sync_spin_and_label()
        self._fit_label()

    def _fit_label(self) -> None:
        """Fix the label's size to its widest text: a label that may resize relayouts its whole window on
        every step (Qt skips that only when both width and height are fixed). Re-fitted when the range
        or the font changes, so a longer "t = 1000" is never cut."""
        label_fn = self._label_function()
        if label_fn is None:
            return
        metrics = self._label.fontMetrics()
        widest = max((label_fn(v) for v in (self.minimum(), self.maximum())), key=metrics.horizontalAdvance)
        self._label.setFixedWidth(metrics.horizontalAdvance(widest + "00") + 8)
        self._label.setFixedHeight(max(self._label.sizeHint().height(), metrics.height()))

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_label()

    def labelText(self) -> str:  # noqa: N802 - Qt naming
        return self._label.text()

    # --- playback -------------------------------------------------------------------------------

    def isPlaying(self) -> bool:  # noqa: N802 - Qt naming
        return self._timer.isActive()

    @Slot()
    def play(self) -> None:
        self._play_button.setChecked(True)

    @Slot()
    def pause(self) -> None:
        self._play_button.setChecked(False)

    @Slot()
    def togglePlaying(self) -> None:  # noqa: N802 - Qt naming
        self._play_button.setChecked(not self._play_button.isChecked())

    def setStepsPerSecond(self, steps: int) -> None:  # noqa: N802 - Qt naming
        """Playback speed; a value not in the speed box is added to it."""
        steps = int(steps)
        if steps < 1:
            raise ValueError(f"The playback speed must be at least one step per second, not {steps}.")
        index = self._speed.findData(steps)
        if index < 0:
            self._speed.addItem(f"{steps} steps/s", steps)
            index = self._speed.count() - 1
        self._speed.setCurrentIndex(index)

    def stepsPerSecond(self) -> int:  # noqa: N802 - Qt naming
        return self._steps_per_second

    def setLoop(self, loop: bool) -> None:  # noqa: N802 - Qt naming
        self._loop.setChecked(bool(loop))

    def isLooping(self) -> bool:  # noqa: N802 - Qt naming
        return self._loop.isChecked()

    # --- keyboard -------------------------------------------------------------------------------

    def handle_key(self, event: QKeyEvent) -> bool:
        """Apply a scrubber shortcut; return True when ``event`` was one."""
        key, mods = event.key(), event.modifiers()
        big = bool(mods & Qt.KeyboardModifier.ShiftModifier)
        direction = -1 if self._reversed else 1  # → moves right on screen
        if key == Qt.Key.Key_Right:
            self.step(direction * (BIG_STEP if big else 1))
        elif key == Qt.Key.Key_Left:
            self.step(-direction * (BIG_STEP if big else 1))
        elif key == Qt.Key.Key_Home:
            self.setValue(self.maximum() if self._reversed else self.minimum())
        elif key == Qt.Key.Key_End:
            self.setValue(self.minimum() if self._reversed else self.maximum())
        elif key == Qt.Key.Key_Space:
            self.togglePlaying()
        else:
            return False
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if self.handle_key(event):
            event.accept()
        else:
            super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.KeyPress and self.handle_key(event):
            return True
        return super().eventFilter(watched, event)

    # --- handlers -------------------------------------------------------------------------------

    @Slot(int)
    def _on_slider_changed(self, value: int) -> None:
        self._sync_spin_and_label()
        self.valueChanged.emit(value)

    @Slot(int)
    def _on_spin_changed(self, value: int) -> None:
        self._slider.setValue(value)

    @Slot(int)
    def _on_speed_changed(self, index: int) -> None:
        self._steps_per_second = int(self._speed.itemData(index))
        self._timer.setInterval(max(1000 // MAX_TICK_HZ, round(1000 / self._steps_per_second)))

    @Slot(bool)
    def _on_play_toggled(self, playing: bool) -> None:
        if playing:
            at_end = self.value() == (self.minimum() if self._reversed else self.maximum())
            if at_end:  # pressing play at the end starts again from the beginning
                self.setValue(self.maximum() if self._reversed else self.minimum())
            self._carry = 0.0
            self._last_tick = time.perf_counter()
            self._on_speed_changed(self._speed.currentIndex())
            self._timer.start()
        else:
            self._timer.stop()
        self._update_play_button()
        self.playingChanged.emit(playing)

    @Slot()
    def _on_tick(self) -> None:
        now = time.perf_counter()
        # Advance by the time that really passed, so a slow frame does not slow the clock down.
        self._carry += (now - self._last_tick) * self._steps_per_second
        self._last_tick = now
        steps = int(self._carry)
        if steps < 1:
            return
        self._carry -= steps
        lo, hi = self.minimum(), self.maximum()
        sign = -1 if self._reversed else 1
        target = self.value() + sign * steps
        if lo <= target <= hi:
            self.setValue(target)
        elif self._loop.isChecked():
            self.setValue(lo if sign > 0 else hi)
        else:
            self.setValue(hi if sign > 0 else lo)
            self.pause()

    def _sync_spin_and_label(self) -> None:
        value = self._slider.value()
        if self._spin.value() != value:
            self._spin.blockSignals(True)
            self._spin.setValue(value)
            self._spin.blockSignals(False)
        label_fn = self._label_function()
        if label_fn is not None:
            self._label.setText(label_fn(value))

    def _update_play_button(self) -> None:
        playing = self._play_button.isChecked()
        self._play_button.setText("❚❚" if playing else "▶")
