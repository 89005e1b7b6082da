"""Guidance at one step, taken apart: ε_u, ε_c, their difference, the guided ε and the x̂₀ of each.

Image models: two rows of image panels, the ε's above and the x̂₀ each implies below (x_t and the
next state x_{t−1} at the left end). ε's are shown on ±3 (they are N(0, I)-sized); the differences
on ± their largest value at that step, said in the step caption, since they are small. Nothing that changes
from step to step resizes a widget (``StillLabel``), so scrubbing repaints without re-laying-out the window.

2-D models: the particle cloud x_t with, from each of the first points, a line to where each
prediction says its clean point is: x̂₀ from ε_u (grey), from ε_c (the class colour family, blue) and
from the guided ε (red). With w > 1 the red line overshoots the blue one: that is guidance.

Classifier guidance (``set_mode(True)``) reads the same frame with ε_c := ε_u − √(1−ᾱ)∇log p(c | x_t)
(``core.diffusion.classifier_guidance``): the difference panel is then the classifier's gradient
scaled by √(1−ᾱ_t) (an image, or arrows along ∇log p on the cloud).

The guided ε is written "guided ε", not with a combining tilde: the UI font draws no tilde over ε.

Frames come from ``core.diffusion.guided_sampling.GuidanceFrame`` (recorded while sampling), so
showing a step costs no network call.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import PointCloudPlot

EPS_LEVELS = (-3.0, 3.0)
MAX_ARROWS = 32  # points that get their three x̂₀ lines (more would hide the cloud)
ARROW_PENS = {"uncond": (120, 120, 120, 170), "cond": (0, 114, 178, 200), "guided": (213, 40, 0, 220)}

# (attribute of GuidanceFrame, title, row, column, levels or None for symmetric-by-data)
IMAGE_PANELS = (
    ("x_t", "x_t", 0, 0, (-1.0, 1.0)),
    ("eps_uncond", "ε(x_t, ∅)", 0, 1, EPS_LEVELS),
    ("eps_cond", "ε(x_t, c)", 0, 2, EPS_LEVELS),
    ("eps_difference", "ε_c − ε_u", 0, 3, None),
    ("eps_guided", "guided ε", 0, 4, EPS_LEVELS),
    ("x_next", "next x (after the step)", 1, 0, (-1.0, 1.0)),
    ("x0_uncond", "x̂₀ from ε_u", 1, 1, (-1.0, 1.0)),
    ("x0_cond", "x̂₀ from ε_c", 1, 2, (-1.0, 1.0)),
    ("x0_difference", "x̂₀(ε_c) − x̂₀(ε_u)", 1, 3, None),
    ("x0_guided", "x̂₀ from guided ε", 1, 4, (-1.0, 1.0)),
)
# the titles that change for classifier guidance (the frame's ε_c is ε_u − √(1−ᾱ)∇log p)
CLASSIFIER_TITLES = {
    "eps_uncond": "ε(x_t), no class",
    "eps_cond": "ε at s = 1",
    "eps_difference": "−√(1−ᾱ)∇log p(c|x_t)",
    "x0_cond": "x̂₀ at s = 1",
    "x0_difference": "x̂₀ change per unit s",
}
# what each panel shows, in full (the titles are short so that five columns fit at 1024×768)
TOOLTIPS = {
    "eps_guided": "guided ε = ε_u + w(ε_c − ε_u) (classifier-free); ε_u − s√(1−ᾱ)∇log p(c|x_t) (classifier)",
    "eps_cond": "ε(x_t, c) (classifier-free); ε_u − √(1−ᾱ)∇log p(c|x_t), the guided ε at s = 1 (classifier)",
    "eps_difference": "ε_c − ε_u; for classifier guidance the classifier's gradient ∇log p(c|x_t) times −√(1−ᾱ_t)",
}
GRADIENT_PEN = (0, 158, 115, 230)
GRADIENT_ARROW = 0.35  # the longest gradient arrow on the cloud, in data units


class StillLabel(QWidget):
    """A word-wrapped label of two lines whose new text never re-lays-out the window.

    A QLabel in a layout invalidates every layout up to the window on each ``setText`` (Qt skips that
    only for a widget whose width and height are both fixed): at every scrubbed step that relayout cost
    ≈ 4.5 ms of the 8 ms frame budget. Here the QLabel is the child of a widget without a layout,
    placed by hand, so its size requests stop at this widget.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._label = QLabel(text, self)
        self._label.setWordWrap(True)
        self.setFixedHeight(2 * self.fontMetrics().lineSpacing() + 4)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._label.setGeometry(self.rect())
        super().resizeEvent(event)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._label.setText(text)

    def text(self) -> str:
        return self._label.text()


def symmetric_levels(values: np.ndarray) -> tuple[float, float]:
    """(−m, m) with m the largest |value| (at least 1e-6, so a zero difference still draws)."""
    m = float(np.abs(values).max()) if values.size else 0.0
    return (-max(m, 1e-6), max(m, 1e-6))


class GuidanceComponentsPanel(QWidget):
    """Shows one recorded ``GuidanceFrame``: images for image models, lines on the cloud for 2-D ones."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.panels: dict[str, ImagePanel] = {}
        images = QWidget()
        grid = QGridLayout(images)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for name, title, row, column, levels in IMAGE_PANELS:
            panel = ImagePanel(title)
            if name in TOOLTIPS:
                panel.setToolTip(TOOLTIPS[name])
            if levels is None:  # the value of ± changes every step: it is in the step caption, which never relayouts
                panel.set_caption("on ± its largest value")
            panel.setMinimumSize(90, 90)
            self.panels[name] = panel
            grid.addWidget(panel, row, column)

        self.cloud = PointCloudPlot("x_t and the x̂₀ each prediction implies")
        self._lines = {}
        for key, rgba in ARROW_PENS.items():
            item = pg.PlotCurveItem(pen=pg.mkPen(*rgba, width=1.5), connect="pairs")
            self.cloud.addItem(item)
            self._lines[key] = item
        self._lines["gradient"] = pg.PlotCurveItem(pen=pg.mkPen(*GRADIENT_PEN, width=2), connect="pairs")
        self.cloud.addItem(self._lines["gradient"])
        self._classifier = False
        legend = QLabel(
            "Lines from each point x_t to x̂₀ from ε_u (grey), from ε_c (blue) and from the guided ε (red): "
            "with w > 1 the red end goes past the blue one. Classifier guidance: green arrows along ∇log p(c|x_t)."
        )
        legend.setWordWrap(True)
        points = QWidget()
        column = QVBoxLayout(points)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.cloud, 1)
        column.addWidget(legend)

        self.stack = QStackedWidget()
        self.stack.addWidget(images)
        self.stack.addWidget(points)
        self.caption = StillLabel("Run a model step by step, then scrub the steps.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.caption)
        self._points_mode = False
        self._labels: np.ndarray | None = None

    def set_reference(self, points: np.ndarray | None) -> None:
        """The training distribution as a faint cloud behind the particles (2-D models)."""
        self.cloud.set_reference(points)

    def set_points_mode(self, points: bool, labels: np.ndarray | None = None) -> None:
        self._points_mode = points
        self._labels = labels
        self.stack.setCurrentIndex(1 if points else 0)

    def set_mode(self, classifier: bool) -> None:
        """Title the panels for classifier guidance (True) or classifier-free guidance (False)."""
        self._classifier = classifier
        for name, title, _, _, _ in IMAGE_PANELS:
            self.panels[name].set_title(CLASSIFIER_TITLES.get(name, title) if classifier else title)
        if not classifier:
            self._lines["gradient"].setData([], [])

    def clear(self, message: str) -> None:
        for panel in self.panels.values():
            panel.clear()
        self.cloud.set_points(np.zeros((0, 2), np.float32))
        for item in self._lines.values():
            item.setData([], [])
        self.caption.setText(message)

    def show_frame(self, frame, scale: float) -> None:
        """Draw ``frame`` (a GuidanceFrame); ``scale`` is the w of the run (1 is used outside the interval)."""
        size = np.abs(frame.eps_difference)
        x0_size = float(np.abs(frame.x0_difference).max()) if frame.x0_difference.size else 0.0
        if self._classifier:
            where = "" if frame.guided else " (no guidance: x_t holds no signal yet, so ∇log p(c|x_t) ≈ 0)"
            self.caption.setText(
                f"Step {frame.index + 1} of {frame.num_steps}, t = {frame.t}: s = {scale:g}{where}. "
                f"Largest |√(1−ᾱ)∇log p| = {float(size.max()):.3f} (mean {float(size.mean()):.3f}); "
                f"largest x̂₀ change {x0_size:.3f}."
            )
        else:
            w = scale if frame.guided else 1.0
            where = "" if frame.guided else " (outside the guidance interval: guided ε = ε_c)"
            self.caption.setText(
                f"Step {frame.index + 1} of {frame.num_steps}, t = {frame.t}: w = {w:g}{where}. "
                f"Largest |ε_c − ε_u| = {float(size.max()):.3f} (mean {float(size.mean()):.3f}); "
                f"largest |x̂₀(ε_c) − x̂₀(ε_u)| = {x0_size:.3f}."
            )
        if self._points_mode:
            self._show_points(frame)
            return
        for name, _, _, _, levels in IMAGE_PANELS:
            values = getattr(frame, name)
            values = np.ascontiguousarray(values, dtype=np.float32)
            self.panels[name].set_batch(values, levels=levels or symmetric_levels(values))

    def _show_points(self, frame) -> None:
        self.cloud.set_points(frame.x_t, self._labels)
        start = frame.x_t[:MAX_ARROWS]
        for key, end in (("uncond", frame.x0_uncond), ("cond", frame.x0_cond), ("guided", frame.x0_guided)):
            pairs = np.empty((2 * len(start), 2), dtype=np.float32)
            pairs[0::2], pairs[1::2] = start, end[:MAX_ARROWS]
            self._lines[key].setData(pairs[:, 0], pairs[:, 1])
        if self._classifier:  # arrows along ∇log p = −(ε_c − ε_u)/√(1−ᾱ), the longest GRADIENT_ARROW long
            direction = -frame.eps_difference[:MAX_ARROWS]
            longest = float(np.linalg.norm(direction, axis=1).max()) if len(direction) else 0.0
            pairs = np.empty((2 * len(start), 2), dtype=np.float32)
            pairs[0::2] = start
            pairs[1::2] = start + direction * (GRADIENT_ARROW / longest if longest > 0 else 0.0)
            self._lines["gradient"].setData(pairs[:, 0], pairs[:, 1])

    def line_data(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) of the ``key`` lines on the cloud ("uncond", "cond", "guided", "gradient"), for tests."""
        x, y = self._lines[key].getData()
        return (np.asarray(x), np.asarray(y)) if x is not None else (np.zeros(0), np.zeros(0))
