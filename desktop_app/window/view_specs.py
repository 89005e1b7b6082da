"""Which views the main window has, in sidebar order, and how to import one.

The titles are known without importing the views (which import torch), so the window can show its
sidebar and "Loading…" pages at once. A new view is one line here plus its module in
``desktop_app/views/`` (see docs/ARCHITECTURE.md for where each capability goes).
"""

from __future__ import annotations

import importlib

from PySide6.QtWidgets import QStyle

VIEW_SPECS = (
    ("Forward process", "desktop_app.views.forward_view", "ForwardView"),
    ("Schedules", "desktop_app.views.schedules_view", "SchedulesView"),
    ("Train", "desktop_app.views.train_view", "TrainView"),
    ("Generate", "desktop_app.views.generate_view", "GenerateView"),
    ("Guidance", "desktop_app.views.guidance_view", "GuidanceView"),
    ("Edit", "desktop_app.views.edit_view", "EditView"),
    ("Fast sampling", "desktop_app.views.fast_view", "FastView"),
    ("Score & likelihood", "desktop_app.views.score_view", "ScoreView"),
    ("Sampler race", "desktop_app.views.race_view", "RaceView"),
    ("Latent diffusion", "desktop_app.views.latent_view", "LatentView"),
    ("Compare models", "desktop_app.views.compare_view", "CompareView"),
    ("Stable Diffusion", "desktop_app.views.stable_diffusion_view", "StableDiffusionView"),
)
VIEW_ICONS = (
    QStyle.StandardPixmap.SP_MediaSeekForward,
    QStyle.StandardPixmap.SP_FileDialogDetailedView,
    QStyle.StandardPixmap.SP_BrowserReload,
    QStyle.StandardPixmap.SP_DialogApplyButton,
    QStyle.StandardPixmap.SP_ArrowUp,
    QStyle.StandardPixmap.SP_DialogResetButton,
    QStyle.StandardPixmap.SP_MediaSkipForward,
    QStyle.StandardPixmap.SP_FileDialogContentsView,
    QStyle.StandardPixmap.SP_MediaSeekBackward,
    QStyle.StandardPixmap.SP_DriveFDIcon,
    QStyle.StandardPixmap.SP_FileDialogListView,
    QStyle.StandardPixmap.SP_DirOpenIcon,
)
# What the background thread imports before the views are built: everything heavy they need.
HEAVY_MODULES = (
    "torch",
    "numpy",
    "core.diffusion.schedules",
    "core.diffusion.samplers",
    "core.training",
    "core.models.unet",
    "core.data",
)


def view_class(module_name: str, class_name: str) -> type:
    return getattr(importlib.import_module(module_name), class_name)


def view_classes() -> list[tuple[str, type]]:
    """(title, class) of the four views, in sidebar order (imported here: they import torch)."""
    return [(title, view_class(module, name)) for title, module, name in VIEW_SPECS]
