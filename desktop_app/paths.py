"""Where Diffusion Lab keeps the user's files: checkpoints, exports and logs.

Order of preference for the user-data folder:

1. ``$DIFFUSION_LAB_HOME`` when set (tests and portable installs point it at a folder of their choice);
2. the platform's per-user data folder, from ``QStandardPaths`` (``~/.local/share/Diffusion Lab``
   on Linux, ``%LOCALAPPDATA%/Diffusion Lab`` on Windows,
   ``~/Library/Application Support/Diffusion Lab`` on macOS);
3. a ``Diffusion Lab data`` folder next to the executable (or the source checkout) when the platform
   folder cannot be written, as on locked-down classroom accounts.

Settings are not files here: they live in ``QSettings`` (organisation and application "Diffusion Lab").
This module imports no torch and works before a ``QApplication`` exists.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from desktop_app import APP_NAME

HOME_ENV_VAR = "DIFFUSION_LAB_HOME"
SUBFOLDERS = ("checkpoints", "exports", "logs")
LOG_FILE_NAME = "diffusion-lab.log"


def _is_writable_dir(folder: Path) -> bool:
    """Create ``folder`` if needed and prove it is writable by writing a scratch file there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
        return True
    except OSError:
        return False


def _platform_data_dir() -> Path | None:
    """The platform's per-user data folder for this app, as Qt names it.

    ``GenericDataLocation / "Diffusion Lab"`` rather than ``AppDataLocation``: the latter appends both
    the organisation and the application name, and ours are the same ("Diffusion Lab/Diffusion Lab").
    """
    try:
        from PySide6.QtCore import QStandardPaths
    except ImportError:  # pragma: no cover - PySide6 is a hard dependency
        return None
    location = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(location) / APP_NAME if location else None


def install_dir() -> Path:
    """The folder holding the executable when frozen, or the source checkout's root otherwise."""
    if getattr(sys, "frozen", False):
        return Path(sys.executable).resolve().parent
    return Path(__file__).resolve().parent.parent


def user_data_dir() -> Path:
    """The writable folder for this user's checkpoints, exports and logs (created on first use).

    Raises ``OSError`` only when not even the fallback next to the executable can be written.
    """
    override = os.environ.get(HOME_ENV_VAR)
    candidates: list[Path] = []
    if override:
        candidates.append(Path(override).expanduser())
    else:
        platform_dir = _platform_data_dir()
        if platform_dir is not None:
            candidates.append(platform_dir)
        candidates.append(install_dir() / f"{APP_NAME} data")
    for folder in candidates:
        if _is_writable_dir(folder):
            for name in SUBFOLDERS:
                (folder / name).mkdir(exist_ok=True)
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise OSError(f"Diffusion Lab could not find a folder it may write its files to (tried: {tried}).")


def checkpoints_dir() -> Path:
    """Where the user's trained checkpoints are saved."""
    return user_data_dir() / "checkpoints"


def exports_dir() -> Path:
    """Where exported images, GIFs and CSV files go by default."""
    return user_data_dir() / "exports"


def logs_dir() -> Path:
    """Where the app's log file (and a crash log of fatal errors) is written."""
    return user_data_dir() / "logs"


def log_file() -> Path:
    """The app's main log file; the crash dialog tells the user this path."""
    return logs_dir() / LOG_FILE_NAME


def resources_dir() -> Path:
    """The bundled ``resources/`` folder, found the same way ``core.runtime.resources`` finds it.

    ``core.runtime.resources.resources_dir`` is the single source of truth; the fallback below only matters
    while that module does not exist. It imports no torch, so the window can call it before torch loads
    (``tests/test_packaging.py`` checks that building the window imports no torch).
    """
    try:
        from core.runtime.resources import resources_dir as core_resources_dir
    except ImportError:
        base = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parent.parent))
        return base / "resources"
    return Path(core_resources_dir())
