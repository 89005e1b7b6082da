"""The same starting noise transported by the diffusion PF-ODE (DDIM) and by the flow-matching ODE.

Both plots are in the straight-path coordinates z = x/(α+σ) of core.diffusion.flow_matching, where
DDIM is Euler on an ODE, so the curvature of the two sets of paths can be compared by eye and by
number (Liu et al. 2023's straightness, and chord/length: 1 for straight lines).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from desktop_app.widgets.point_cloud import PointCloudPlot


def straightness_text(name: str, straightness) -> str:
    return f"{name}: S = {straightness.curvature:.3f} · chord/length {straightness.length_ratio:.3f}"


STRAIGHTNESS_HELP = (
    "S: Liu et al. 2023's straightness, ∫ E‖(x₀ − x₁) − dx/dt‖² dt, 0 for straight paths.\n"
    "chord/length: distance from start to end over the length of the path, 1 for straight paths."
)


class TransportPanel(QWidget):
    """Two point clouds with their paths drawn, and a line of straightness numbers under each."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.diffusion_plot = PointCloudPlot("Diffusion PF-ODE (DDIM)")
        self.flow_plot = PointCloudPlot("Flow-matching ODE (Euler)")
        self.diffusion_label = QLabel("The shipped model's paths appear after a flow model is trained.")
        self.flow_label = QLabel("Press “Train flow model”.")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        for column, (plot, label) in enumerate(
            ((self.diffusion_plot, self.diffusion_label), (self.flow_plot, self.flow_label))
        ):
            plot.setMinimumSize(200, 180)
            plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            label.setWordWrap(True)
            label.setToolTip(STRAIGHTNESS_HELP)
            grid.addWidget(plot, 0, column)
            grid.addWidget(label, 1, column)

    def set_reference(self, points: np.ndarray) -> None:
        self.diffusion_plot.set_reference(points)
        self.flow_plot.set_reference(points)

    def show_diffusion(self, paths) -> None:
        """A core.evaluation.fast_sampling.TransportPaths of the diffusion model."""
        self.diffusion_plot.setTitle("Diffusion PF-ODE (DDIM)")
        self.diffusion_plot.set_paths(paths.path)
        self.diffusion_plot.set_points(paths.path[-1])
        self.diffusion_label.setText(straightness_text("DDIM", paths.straightness))

    def show_flow(self, paths, title: str) -> None:
        self.flow_plot.setTitle(title)
        self.flow_plot.set_paths(paths.path)
        self.flow_plot.set_points(paths.path[-1])
        self.flow_label.setText(straightness_text(title.split(" (")[0], paths.straightness))

    def show_teacher_and_student(self, round_event, student: str = "Distilled student") -> None:
        """A distillation round (core.training.distillation.DistillRound): both clouds from the same x_T."""
        self.show_student(
            round_event.student_steps, round_event.teacher_points, round_event.teacher_mmd,
            round_event.student_points, round_event.student_mmd, student,
        )  # fmt: skip

    def show_student(self, n: int, teacher_points, teacher_mmd, student_points, student_mmd, student: str) -> None:
        """A student's n-step samples beside the teacher's DDIM-n from the same x_T, each with its MMD²."""
        for plot, label, title, points, mmd in (
            (self.diffusion_plot, self.diffusion_label, f"Teacher, DDIM-{n}", teacher_points, teacher_mmd),
            (self.flow_plot, self.flow_label, f"{student}, {n} step{'s' if n > 1 else ''}", student_points,
             student_mmd),
        ):  # fmt: skip
            plot.setTitle(title)
            plot.set_paths(None)
            plot.set_points(points)
            label.setText(f"{title}: MMD² {mmd:.4f}")

    def show_flow_preview(self, points: np.ndarray) -> None:
        self.flow_plot.setTitle("ODE samples while training …")
        self.flow_plot.set_paths(None)
        self.flow_plot.set_points(points)

    def clear(self) -> None:
        for plot in (self.diffusion_plot, self.flow_plot):
            plot.set_paths(None)
            plot.set_points(np.zeros((0, 2), dtype=np.float32))
