"""Diffusion Lab's desktop app: PySide6 views over the ``core`` diffusion library.

Importing this package is cheap on purpose (no torch, no Qt): ``desktop_app.app`` shows the main
window before anything heavy loads.
"""

__version__ = "0.1.0"
APP_NAME = "Diffusion Lab"
ORGANIZATION = "Diffusion Lab"
