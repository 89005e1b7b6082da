"""The guided tour: the lessons in file order, each step opening its view in the state its file names."""

from __future__ import annotations

import logging
import weakref

from PySide6.QtCore import QObject, Signal

from desktop_app.lessons.lesson_format import Lesson

log = logging.getLogger(__name__)


class LessonTour(QObject):
    """Which step is shown, and opening a step's view (``window.show_view``) with its state applied."""

    step_changed = Signal(int)

    def __init__(self, window, lessons: list[Lesson], parent: QObject | None = None):
        super().__init__(parent)
        self._window = weakref.ref(window)  # the window owns the panel that owns this tour: no cycle
        self.lessons = lessons
        self.index = 0
        self._pending_state: Lesson | None = None  # a step opened before its view was built

    def window(self):
        return self._window()

    def current(self) -> Lesson | None:
        return self.lessons[self.index] if self.lessons else None

    def go_to(self, index: int, apply_state: bool = True) -> None:
        """Show step ``index``: open its view and (unless ``apply_state`` is False) set the state it names."""
        if not self.lessons:
            return
        self.index = max(0, min(index, len(self.lessons) - 1))
        lesson = self.lessons[self.index]
        if apply_state:
            self.window().show_view(lesson.view)
            self.apply(lesson)
        self.step_changed.emit(self.index)

    def next(self) -> None:
        self.go_to(self.index + 1)

    def previous(self) -> None:
        self.go_to(self.index - 1)

    def first_step_of(self, view: str) -> int | None:
        return next((i for i, lesson in enumerate(self.lessons) if lesson.view == view), None)

    def apply(self, lesson: Lesson) -> None:
        view = self.window().views.get(lesson.view)
        if view is None:  # still loading: the state is applied once the views exist
            self._pending_state = lesson
            return
        self._pending_state = None
        apply = getattr(view, "apply_lesson_state", None)
        if apply is not None and lesson.state:
            try:
                apply(dict(lesson.state))
            except (ValueError, RuntimeError) as error:  # a lesson must never break the view
                log.warning("Lesson %s could not set the %s view: %s", lesson.name, lesson.view, error)

    def apply_pending(self) -> None:
        if self._pending_state is not None:
            self.apply(self._pending_state)
