"""Predict, then reveal: the student picks a choice and commits to it before the answer is shown.

The answer is not written in the lesson file: it is the live value the question names (for example
the Schedules view's ``more_signal``), so it follows the view's state. Once revealed, the answer and
the explanation keep updating as the student moves the controls.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QButtonGroup, QFrame, QHBoxLayout, QLabel, QPushButton, QRadioButton, QVBoxLayout

from desktop_app.lessons.lesson_format import Question

TAGS = re.compile(r"<[^>]+>")


def plain_text(rich: str) -> str:
    """Rich text without its tags (a radio button shows plain text; sub/superscripts read inline)."""
    return html.unescape(TAGS.sub("", rich)).replace("\ue000", "").replace("\ue001", "")


class QuestionWidget(QFrame):
    """One question block: the prompt, one radio button per choice, Commit, then the live answer."""

    guess_committed = Signal(str)  # the chosen key

    def __init__(self, question: Question, parent=None):
        super().__init__(parent)
        self.question = question
        self.guess: str | None = None
        self._values: dict = {}
        self.setObjectName("lesson_question")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.prompt = QLabel()
        self.prompt.setWordWrap(True)
        self.prompt.setTextFormat(Qt.TextFormat.RichText)
        self.group = QButtonGroup(self)
        self.radios: dict[str, QRadioButton] = {}
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt)
        self.choice_labels: dict[str, QLabel] = {}
        for key, _label in question.choices:
            radio = QRadioButton()
            radio.setToolTip("Pick your prediction, then press Commit")
            label = _ChoiceLabel(radio)  # a radio button's own text cannot wrap in a narrow panel
            self.group.addButton(radio)
            self.radios[key], self.choice_labels[key] = radio, label
            row = QHBoxLayout()
            row.addWidget(radio, 0, Qt.AlignmentFlag.AlignTop)
            row.addWidget(label, 1)
            layout.addLayout(row)
        self.commit_button = QPushButton("Commit my guess")
        self.commit_button.setToolTip("Lock in your prediction; only then does the app show the answer")
        self.commit_button.setEnabled(False)
        self.again_button = QPushButton("Ask again")
        self.again_button.setToolTip("Hide the answer and predict again (for example after moving the timeline)")
        self.again_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.commit_button)
        buttons.addWidget(self.again_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        self.result.hide()
        layout.addWidget(self.result)
        self.group.buttonToggled.connect(self._on_choice_toggled)
        self.commit_button.clicked.connect(self._on_commit)
        self.again_button.clicked.connect(self._on_again)

    # --- public API -----------------------------------------------------------------------------

    def choose(self, key: str) -> None:
        self.radios[key].setChecked(True)

    def chosen(self) -> str | None:
        for key, radio in self.radios.items():
            if radio.isChecked():
                return key
        return None

    def is_revealed(self) -> bool:
        return self.guess is not None

    def answer(self) -> str | None:
        value = self._values.get(self.question.answer)
        return None if value is None else str(value)

    def update_values(self, values: dict) -> None:
        """Re-render the prompt, the choices and (once committed) the answer with the live ``values``."""
        self._values = values
        self.prompt.setText("<b>Predict:</b> " + self.question.prompt.fill(values))
        for key, label in self.question.choices:
            self.choice_labels[key].setText(label.fill(values))
        if self.guess is not None:
            self._show_result()

    # --- handlers -------------------------------------------------------------------------------

    @Slot()
    def _on_choice_toggled(self, *_args) -> None:
        self.commit_button.setEnabled(self.guess is None and self.chosen() is not None)

    @Slot()
    def _on_commit(self) -> None:
        guess = self.chosen()
        if guess is None:
            return
        self.guess = guess
        for key, radio in self.radios.items():
            radio.setEnabled(False)
            self.choice_labels[key].setEnabled(False)
        self.commit_button.setEnabled(False)
        self.again_button.show()
        self._show_result()
        self.guess_committed.emit(guess)

    @Slot()
    def _on_again(self) -> None:
        self.guess = None
        self.group.setExclusive(False)
        for key, radio in self.radios.items():
            radio.setChecked(False)
            radio.setEnabled(True)
            self.choice_labels[key].setEnabled(True)
        self.group.setExclusive(True)
        self.again_button.hide()
        self.result.hide()
        self.commit_button.setEnabled(False)

    def _show_result(self) -> None:
        answer = self.answer()
        labels = {key: plain_text(label.fill(self._values)) for key, label in self.question.choices}
        if answer is None:
            verdict = "The view cannot compute the answer yet (open its model or data first)."
        elif answer == self.guess:
            verdict = f"<b>Right:</b> {html.escape(labels.get(answer, answer))}."
        else:
            verdict = (
                f"<b>Not quite:</b> you said {html.escape(labels[self.guess])}; "
                f"the answer is {html.escape(labels.get(answer, answer))}."
            )
        self.result.setText(f"<p>{verdict}</p>{self.question.reveal.fill(self._values)}")
        self.result.show()


class _ChoiceLabel(QLabel):
    """A choice's words beside its radio button: wraps, and a click on it picks the choice."""

    def __init__(self, radio: QRadioButton):
        super().__init__()
        self.radio = radio
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setToolTip(radio.toolTip())
        self.setBuddy(radio)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.radio.isEnabled():
            self.radio.setChecked(True)
        super().mousePressEvent(event)
