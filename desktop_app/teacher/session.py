"""Session files: the whole state of the app in one small JSON file, saved and reopened exactly.

A teacher prepares a lesson once (the cosine schedule at t = 500, DDIM with 20 steps, guidance at
scale 3…), saves it with File ▸ Save session…, and reopens it in class with File ▸ Open session…
The file holds, under a format name and a version number::

    {"format": "diffusion-lab-session", "version": 1, "app_version": "…",
     "view": "Generate",                                      # the view on screen
     "appearance": {"text_size": 1.5, "theme": "High contrast", "teacher_mode": true},
     "views": {"Generate": {"model_combo": "file:…/fmnist_unet.safetensors", "sampler_combo": "ddim",
                            "steps_spin": 20, "seed_spin": 0, "guidance_spin": 3.0, …}, …}}

Each view's table is ``desktop_app.teacher.view_state`` (every control of the view, by name). A file
may hold only some views and some controls (the shipped presets in resources/sessions/ do): the rest
stays as it is. A file that is not JSON, names another format or a newer version, or gives a control a
value of the wrong kind is refused with a message naming the problem, before anything changes.

A session keeps settings, not work: a picture the user opened or a mask they drew, a model trained
but not saved, a finished run's timeline are not in it (press Generate again: the seed is). A
checkpoint file the model list no longer offers is opened again from its path when it still exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtWidgets import QMainWindow

from desktop_app import __version__
from desktop_app.teacher import view_state
from desktop_app.window import themes, zoom

FORMAT = "diffusion-lab-session"
VERSION = 1
SUFFIX = ".dlsession"
FILE_FILTER = f"Diffusion Lab sessions (*{SUFFIX} *.json);;All files (*)"
MAX_BYTES = 2_000_000  # a session is a few kB; anything this large is not one


class SessionError(ValueError):
    """A session file that cannot be opened; the message names the file and the problem."""


@dataclass
class Session:
    """A session file's content, checked."""

    view: str | None = None
    appearance: dict = field(default_factory=dict)
    views: dict[str, dict] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "app_version": __version__,
            "view": self.view,
            "appearance": self.appearance,
            "views": self.views,
        }


def capture_session(window: QMainWindow) -> Session:
    """Everything a lesson needs to come back to this moment: views, the view on screen, text size and theme."""
    teacher = getattr(window, "teacher", None)
    appearance = {
        "text_size": window.zoom_factor(),
        "theme": window.theme_name(),
        "teacher_mode": bool(teacher is not None and teacher.mode.is_on()),
    }
    views = {title: view_state.capture_view(view) for title, view in window.views.items()}
    return Session(window.current_view_name(), appearance, views)


def save_session(window: QMainWindow, path: str | Path) -> Path:
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(SUFFIX)
    text = json.dumps(capture_session(window).to_dict(), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def read_session(path: str | Path) -> Session:
    """Read and check a session file's format (not yet against the window: see ``check_against``)."""
    path = Path(path)
    name = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SessionError(f"{name} is too large to be a session file ({path.stat().st_size:,} bytes).")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SessionError(f"{name} does not exist.") from None
    except UnicodeDecodeError:
        raise SessionError(f"{name} is not a session file: it is not text.") from None
    except json.JSONDecodeError as error:
        raise SessionError(
            f"{name} is damaged: it is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})."
        ) from None
    except OSError as error:
        raise SessionError(f"{name} could not be read: {error.strerror or error}.") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SessionError(f'{name} is not a Diffusion Lab session file (it has no "format": "{FORMAT}").')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise SessionError(f"{name} has no version number, so it cannot be read safely.")
    if version > VERSION:
        raise SessionError(
            f"{name} was saved by a newer Diffusion Lab (session version {version}; this one reads up to "
            f"{VERSION}). Update the app to open it."
        )
    if version < 1:
        raise SessionError(f"{name} has an unknown session version {version}.")
    view, appearance, views = data.get("view"), data.get("appearance", {}), data.get("views", {})
    if view is not None and not isinstance(view, str):
        raise SessionError(f'{name}: "view" should be the title of a view, not {view!r}.')
    if not isinstance(appearance, dict):
        raise SessionError(f'{name}: "appearance" should be a table (text_size, theme, teacher_mode).')
    if not isinstance(views, dict) or not all(isinstance(v, dict) for v in views.values()):
        raise SessionError(f'{name}: "views" should be a table of view titles, each a table of controls.')
    _check_appearance(name, appearance)
    return Session(view, appearance, views)


def _check_appearance(name: str, appearance: dict) -> None:
    size = appearance.get("text_size", zoom.DEFAULT_ZOOM)
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0.5 <= size <= 3.0:
        raise SessionError(f"{name}: text_size should be a number such as 1.0 or 1.5, not {size!r}.")
    theme = appearance.get("theme", themes.DEFAULT_THEME)
    if theme not in themes.THEMES:
        raise SessionError(f"{name}: there is no theme {theme!r} (themes: {', '.join(themes.THEMES)}).")
    if not isinstance(appearance.get("teacher_mode", False), bool):
        raise SessionError(f"{name}: teacher_mode should be true or false.")


def check_against(window: QMainWindow, session: Session, name: str) -> None:
    """Refuse a session this window cannot take (unknown view, a control given the wrong kind of value)."""
    titles = window.view_names()
    unknown = [title for title in [session.view, *session.views] if title is not None and title not in titles]
    if unknown:
        raise SessionError(f"{name} names a view this app does not have: {', '.join(unknown)}.")
    problems = []
    for title, state in session.views.items():
        if title in window.views:
            problems += view_state.validate_view_state(window.views[title], state, title)
    if problems:
        raise SessionError(f"{name} cannot be used:\n" + "\n".join(problems[:8]))


def open_session(window: QMainWindow, path: str | Path) -> list[str]:
    """Check the file completely, then restore it; returns what could not be restored (usually nothing).

    Raises ``SessionError`` (and changes nothing) for a damaged, foreign or too new file.
    """
    path = Path(path)
    session = read_session(path)
    check_against(window, session, path.name)
    return apply_session(window, session)


def apply_session(window: QMainWindow, session: Session) -> list[str]:
    skipped = []
    for title, state in session.views.items():
        view = window.views.get(title)
        if view is not None:
            skipped += view_state.restore_view(view, state, title)
    if session.view is not None:
        window.show_view(session.view)
    appearance = session.appearance
    teacher = getattr(window, "teacher", None)
    if teacher is not None and "teacher_mode" in appearance:
        teacher.mode.set_on(appearance["teacher_mode"])
    if "theme" in appearance:
        window.set_theme(appearance["theme"])
    if "text_size" in appearance:
        window.set_zoom(float(appearance["text_size"]))
    return skipped
