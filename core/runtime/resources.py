"""Where the files the app ships with (datasets, models, icons, help) live on disk.

From a source checkout they are in ``<repo>/resources``. In the double-click app built with
PyInstaller they are unpacked next to the bundled code, in the folder ``sys._MEIPASS`` names
(``build.spec`` copies ``resources/`` there under the same name). The environment variable
``DIFFUSION_LAB_RESOURCES`` overrides both, for instructors who keep the files elsewhere.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

RESOURCES_ENV_VAR = "DIFFUSION_LAB_RESOURCES"


def resources_dir() -> Path:
    """The folder holding ``fashion_mnist/``, ``models/``, ``icons/`` and ``help/``."""
    override = os.environ.get(RESOURCES_ENV_VAR)
    if override:
        return Path(override)
    bundle_root = getattr(sys, "_MEIPASS", None)  # set by PyInstaller's boot loader when frozen
    if bundle_root is not None:
        return Path(bundle_root) / "resources"
    return Path(__file__).resolve().parents[2] / "resources"


def resource_path(*parts: str) -> Path:
    """The path of a shipped file, e.g. ``resource_path("fashion_mnist", "README.md")``.

    The path is returned whether or not the file exists, so callers can name it in their errors.
    """
    return resources_dir().joinpath(*parts)
