"""The student's predictions, kept in a small JSON file in the user's data folder (pure Python).

Each entry: the lesson, the question, the guess, the answer the app computed from the live values,
whether the guess was right, the view's state when it was made, and the time. A teacher can read the
file (``<data folder>/lessons/guesses.json``) to see which predictions the class got wrong.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

FILE_NAME = "guesses.json"


def default_guesses_path() -> Path:
    from desktop_app.paths import user_data_dir

    return user_data_dir() / "lessons" / FILE_NAME


class GuessLog:
    """Append-only list of guesses in ``path`` (a damaged file is kept aside, never lost silently)."""

    def __init__(self, path: str | Path | None = None):
        self._path = Path(path) if path is not None else None

    @property
    def path(self) -> Path:
        """Found on first use: a locked-down data folder must not stop the window from opening."""
        if self._path is None:
            self._path = default_guesses_path()
        return self._path

    def entries(self) -> list[dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError):
            broken = self.path.with_suffix(".damaged.json")
            os.replace(self.path, broken)  # start afresh, but keep the damaged file for the teacher
            return []
        return data if isinstance(data, list) else []

    def record(self, lesson: str, question: str, guess: str, answer: str | None, values: dict) -> dict:
        entry = {
            "lesson": lesson,
            "question": question,
            "guess": guess,
            "answer": answer,
            "correct": answer is not None and guess == answer,
            "values": {k: v for k, v in values.items() if isinstance(v, (int, float, str, bool)) or v is None},
            "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        entries = self.entries() + [entry]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)
        return entry

    def last_guess(self, lesson: str, question: str) -> dict | None:
        for entry in reversed(self.entries()):
            if entry.get("lesson") == lesson and entry.get("question") == question:
                return entry
        return None
