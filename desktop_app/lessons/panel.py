"""The lesson panel: the current tour step's text, its live numbers, its questions and the tour buttons.

The text is rendered once per step (``lesson_format``); when the step's view emits ``values_changed``
only the live values are filled in again, at most every ``REFRESH_MS`` (laying out the rich text takes
about 13 ms on a classroom CPU, benchmarks/bench_lessons.py; a timeline drag emits at every step, and
the view's own frames come first).
"""

from __future__ import annotations

import html
import logging
import weakref

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.lessons.guesses import GuessLog
from desktop_app.lessons.lesson_format import Lesson, LessonSet
from desktop_app.lessons.question_widget import QuestionWidget
from desktop_app.lessons.tour import LessonTour

log = logging.getLogger(__name__)

REFRESH_MS = 40  # the lesson's numbers follow a drag at up to 25 redraws a second


class LessonPanel(QWidget):
    """Shows ``tour``'s current step bound to the live values of its view in ``window``."""

    guess_recorded = Signal(dict)  # the entry written to the guess log

    def __init__(self, window, lesson_set: LessonSet, guesses: GuessLog | None = None, parent=None):
        super().__init__(parent)
        self._window = weakref.ref(window)  # no reference cycle: the window is freed when it closes, not by a gc pass
        self.lesson_set = lesson_set
        self.guesses = guesses if guesses is not None else GuessLog()
        self.tour = LessonTour(window, lesson_set.lessons, self)
        self._source = None  # the view whose values_changed is connected
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh_values)
        self.questions: list[QuestionWidget] = []
        self._build_ui()
        self.tour.step_changed.connect(self._on_step_changed)
        if lesson_set.lessons:
            self._on_step_changed(0)
        else:
            self.text.setText("<p>No lesson files were found. Lessons are Markdown files in resources/lessons/.</p>")
            for widget in (self.previous_button, self.next_button, self.open_button, self.step_combo):
                widget.setEnabled(False)

    def _build_ui(self) -> None:
        self.step_combo = QComboBox()
        self.step_combo.setToolTip("Jump to a step of the guided tour (opens its view in its state)")
        for i, lesson in enumerate(self.lesson_set.lessons):
            self.step_combo.addItem(f"{i + 1}. {lesson.title}")
        self.view_note = QLabel()
        self.view_note.setWordWrap(True)
        self.text = QLabel()
        self.text.setObjectName("lesson_text")
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.text.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.errors = QLabel()
        self.errors.setWordWrap(True)
        self.errors.setStyleSheet("color: #c03030;")
        self.errors.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._show_errors()

        content = QWidget()
        # As wide as the panel, never wider: the words wrap instead of running out of sight.
        content.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.content_layout = QVBoxLayout(content)
        self.content_layout.addWidget(self.text)
        self.questions_layout = QVBoxLayout()
        self.content_layout.addLayout(self.questions_layout)
        self.content_layout.addWidget(self.errors)
        self.content_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(content)

        self.previous_button = QPushButton("◀ Previous")
        self.previous_button.setToolTip("The previous step of the tour (Alt+Left)")
        self.previous_button.setShortcut("Alt+Left")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open this step's view in the state the lesson names again")
        self.next_button = QPushButton("Next ▶")
        self.next_button.setToolTip("The next step of the tour: opens its view in the right state (Alt+Right)")
        self.next_button.setShortcut("Alt+Right")
        buttons = QHBoxLayout()
        buttons.addWidget(self.previous_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        buttons.addWidget(self.next_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.step_combo)
        layout.addWidget(self.view_note)
        layout.addWidget(scroll, 1)
        layout.addLayout(buttons)

        self.step_combo.activated.connect(self._on_step_chosen)
        self.previous_button.clicked.connect(self.tour.previous)
        self.next_button.clicked.connect(self.tour.next)
        self.open_button.clicked.connect(self._on_open)

    # --- public API -----------------------------------------------------------------------------

    @property
    def main_window(self):
        return self._window()

    def lesson(self) -> Lesson | None:
        return self.tour.current()

    def values(self) -> dict:
        """The live values of the current step's view ({} while it is not built)."""
        lesson = self.lesson()
        view = self.main_window.views.get(lesson.view) if lesson is not None else None
        provider = getattr(view, "lesson_values", None)
        if provider is None:
            return {}
        try:
            return provider()
        except Exception:  # a lesson must never break the window; the numbers show "—"
            log.exception("The %s view could not give its lesson values", lesson.view)
            return {}

    def text_html(self) -> str:
        return self.text.text()

    @Slot()
    def refresh_values(self) -> None:
        lesson = self.lesson()
        if lesson is None:
            return
        values = self.values()
        self.text.setText(lesson.body.fill(values))
        for widget in self.questions:
            widget.update_values(values)

    @Slot()
    def on_views_ready(self) -> None:
        """The window's views exist now: bind to the step's view and set a state that was waiting."""
        self.tour.apply_pending()
        self._connect_source()
        self.refresh_values()

    @Slot(int)
    def on_view_shown(self, row: int) -> None:
        """The student opened another view: show its first lesson step (without changing its state)."""
        if row < 0 or self.lesson() is None:
            return
        name = self.main_window.titles[row]
        if name == self.lesson().view:
            self._update_note()
            return
        step = self.tour.first_step_of(name)
        if step is not None:
            self.tour.go_to(step, apply_state=False)
        else:
            self._update_note()

    # --- internals ------------------------------------------------------------------------------

    def _show_errors(self) -> None:
        errors = self.lesson_set.errors
        if not errors:
            self.errors.hide()
            return
        lines = "<br>".join(html.escape(str(e), quote=False) for e in errors)
        self.errors.setText(f"<b>{len(errors)} lesson file(s) could not be read:</b><br>{lines}")
        self.errors.show()

    @Slot(int)
    def _on_step_changed(self, index: int) -> None:
        lesson = self.lesson()
        self.step_combo.setCurrentIndex(index)
        self.previous_button.setEnabled(index > 0)
        self.next_button.setEnabled(index < len(self.tour.lessons) - 1)
        for widget in self.questions:
            self.questions_layout.removeWidget(widget)
            widget.deleteLater()
        self.questions = []
        for question in lesson.questions:
            widget = QuestionWidget(question)
            widget.guess_committed.connect(self._on_guess_committed)
            self.questions_layout.addWidget(widget)
            widget.show()  # at once, not at the next turn of the event loop (a click may come first)
            self.questions.append(widget)
        self._connect_source()
        self._update_note()
        self.refresh_values()
        self.content_layout.activate()  # lay the new questions out now (their radio buttons are clickable)

    def _update_note(self) -> None:
        lesson = self.lesson()
        shown = self.main_window.current_view_name()
        step = f"Step {self.tour.index + 1} of {len(self.tour.lessons)} · {lesson.view}"
        if shown != lesson.view:
            step += f" (press Open: you are in {shown})"
        self.view_note.setText(step)

    def _connect_source(self) -> None:
        if self.lesson() is None:
            return
        view = self.main_window.views.get(self.lesson().view)
        if view is self._source:
            return
        if self._source is not None:
            self._source.values_changed.disconnect(self._on_values_changed)
        self._source = view if hasattr(view, "values_changed") else None
        if self._source is not None:
            self._source.values_changed.connect(self._on_values_changed)

    @Slot()
    def _on_values_changed(self) -> None:
        if not self._refresh_timer.isActive():  # a throttle, not a debounce: a long drag still redraws
            self._refresh_timer.start()

    @Slot(int)
    def _on_step_chosen(self, index: int) -> None:
        self.tour.go_to(index)

    @Slot()
    def _on_open(self) -> None:
        self.tour.go_to(self.tour.index)

    @Slot(str)
    def _on_guess_committed(self, guess: str) -> None:
        widget = self.sender()
        lesson, values = self.lesson(), self.values()
        try:
            entry = self.guesses.record(lesson.name, widget.question.id, guess, widget.answer(), values)
        except OSError as error:  # a read-only data folder: the answer still shows
            log.warning("Could not record the guess: %s", error)
            return
        self.guess_recorded.emit(entry)
