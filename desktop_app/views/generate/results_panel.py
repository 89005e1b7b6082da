"""The results of the Generate view: one sampling run, or two in compare mode, each with its timeline.

A ``RunPanel`` shows one run: a heading (sampler, network evaluations, wall time), x_t, the
predicted x̂₀ and the predicted noise ε̂ side by side (for 2-D models: the particle cloud with
faint paths, and the cloud of x̂₀), and the reverse timeline that scrubs through the
``TrajectoryRecorder`` (core/trajectory.py) of the run. While sampling it shows the live x_t and x̂₀.

``ResultsPanel`` holds run A and, in compare mode, run B below it; with sync on, moving one
timeline moves the other to the position with the nearest timestep t (the same noise level).
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from core.data import make_grid
from core.diffusion import TrajectoryFrame
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import LABEL_COLORS, PointCloudPlot
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import SamplingResult

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

EPS_DISPLAY_RANGE = 3.0  # ε̂ ~ N(0, I): show [−3, 3] as black…white
GRID_PADDING = 2  # pixels between the tiles of ``image_grid``


def image_grid(samples: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """uint8 grid of float images (N, C, H, W); values are divided by ``scale`` first ([−scale, scale] → 0…255)."""
    return make_grid(samples / scale if scale != 1.0 else samples, padding=GRID_PADDING, pad_value=255)


def tile_rects(n: int, tile_hw: tuple[int, int]) -> list[QRectF]:
    """Where each of ``n`` tiles of ``image_grid`` lies in the grid picture, in its pixels (row-major)."""
    h, w = tile_hw
    ncols, p = math.ceil(math.sqrt(n)), GRID_PADDING
    return [QRectF(p + (i % ncols) * (w + p), p + (i // ncols) * (h + p), w, h) for i in range(n)]


class TileNames(QWidget):
    """The class name of each sample, drawn over the top of its tile in an image grid (on top of a canvas)."""

    def __init__(self, canvas: QWidget):
        super().__init__(canvas)
        self._canvas = canvas
        self.names: list[str] = []  # one per tile, in grid order (empty: nothing drawn)
        self._tile_hw = (1, 1)
        self._picture_width = 1
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        canvas.installEventFilter(self)

    def show_names(self, names: list[str], tile_hw: tuple[int, int], picture_width: int) -> None:
        self.names, self._tile_hw, self._picture_width = names, tile_hw, max(1, picture_width)
        self.setGeometry(self._canvas.rect())
        self.raise_()
        self.update()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self._canvas and event.type() == QEvent.Type.Resize:
            self.setGeometry(self._canvas.rect())
        return False

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        target = self._canvas.image_rect()
        if not self.names or target.isEmpty():
            return
        scale = target.width() / self._picture_width
        painter = QPainter(self)
        font = QFont(self.font())
        font.setPixelSize(max(9, min(14, int(self._tile_hw[0] * scale / 5))))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        for name, tile in zip(self.names, tile_rects(len(self.names), self._tile_hw), strict=False):
            x, y, w = target.left() + tile.left() * scale, target.top() + tile.top() * scale, tile.width() * scale
            text = metrics.elidedText(name, Qt.TextElideMode.ElideRight, int(w) - 4)
            band = QRectF(x, y, min(w, metrics.horizontalAdvance(text) + 6), metrics.height() + 2)
            painter.fillRect(band, QColor(0, 0, 0, 170))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()


class ImageGridPanel(ImagePanel):
    """A titled picture of an image grid on white (the shared fast ``ImagePanel``, fed uint8 grids)."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent=parent, background="#ffffff", margin=8)
        self.setMinimumSize(150, 150)
        self.picture: np.ndarray | None = None  # the uint8 grid on screen (None: empty)
        self.tile_names = TileNames(self.canvas)

    def set_picture(self, picture: np.ndarray | None, names: list[str] | None = None, tile_hw=(1, 1)) -> None:
        """Show a grid of ``image_grid``; ``names`` (one per tile of size ``tile_hw``) label its tiles."""
        self.picture = picture
        if picture is None:
            self.clear()
        else:
            self.set_image(picture)
        self.tile_names.show_names(
            list(names or []) if picture is not None else [], tile_hw, len(picture[0]) if picture is not None else 1
        )


class RunPanel(QWidget):
    """One sampling run: a heading, x_t / x̂_0 / ε̂ side by side (or clouds for 2-D) and a timeline."""

    position_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel("")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.x_t_panel = ImageGridPanel("x_t")
        self.x0_panel = ImageGridPanel("predicted x̂₀")
        self.eps_panel = ImageGridPanel("predicted noise ε̂")
        self.cloud = PointCloudPlot("x_t and the paths so far")
        self.x0_cloud = PointCloudPlot("predicted x̂₀")
        self.class_legend = QLabel("")  # 2-D samples: which colour is which class
        self.class_legend.setTextFormat(Qt.TextFormat.RichText)
        self.class_legend.setWordWrap(True)
        self.scrubber = TimelineScrubber()
        self.scrubber.setToolTip("Scrub the reverse process: left is pure noise x_T, right the final sample x₀")
        self.scrubber.valueChanged.connect(self._on_scrubbed)
        grid = QGridLayout()
        grid.setSpacing(4)
        for column, widget in enumerate((self.x_t_panel, self.x0_panel, self.eps_panel)):
            grid.addWidget(widget, 0, column)
        grid.addWidget(self.cloud, 0, 0, 1, 2)
        grid.addWidget(self.x0_cloud, 0, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.class_legend)
        layout.addLayout(grid, 1)
        layout.addWidget(self.scrubber)
        self.result: SamplingResult | None = None
        self.recorder = None
        self.labels: np.ndarray | None = None  # the class of each sample (conditional models)
        self.class_names: list[str] = []  # the model's name for each class
        self._paths: np.ndarray | None = None
        self.set_points_mode(False)

    def set_points_mode(self, points: bool) -> None:
        self.points_mode = points
        for widget in (self.x_t_panel, self.x0_panel, self.eps_panel):
            widget.setVisible(not points)
        self.cloud.setVisible(points)
        self.x0_cloud.setVisible(points)
        self._show_legend()

    def clear(self, heading: str = "") -> None:
        self.result = None
        self.recorder = None
        self._paths = None
        self.heading.setText(heading)
        for panel in (self.x_t_panel, self.x0_panel, self.eps_panel):
            panel.set_picture(None)
        empty = np.zeros((0, 2), np.float32)
        self.cloud.set_points(empty)
        self.cloud.set_paths(None)
        self.x0_cloud.set_points(empty)
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, 0)
        self.scrubber.setLabelFunction(None)
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(False)

    def set_labels(self, labels: np.ndarray | None, names: list[str] | None = None) -> None:
        """The class of each sample and the model's class names: image tiles are labelled with them."""
        self.labels = labels
        self.class_names = list(names or [])
        self._show_legend()

    def _show_legend(self) -> None:
        """2-D samples are coloured by class (``PointCloudPlot``'s palette): say which colour is which."""
        shown = sorted({int(c) for c in self.labels}) if self.points_mode and self._names_of(1) else []
        items = [
            f"<span style='color: rgb{LABEL_COLORS[c % len(LABEL_COLORS)]}'>●</span> {html.escape(self.class_names[c])}"
            for c in shown
            if c < len(self.class_names)
        ]
        self.class_legend.setText("Classes: " + " &nbsp; ".join(items) if items else "")
        self.class_legend.setVisible(bool(items))

    def _names_of(self, n: int) -> list[str] | None:
        if self.labels is None or not self.class_names:
            return None
        names = self.class_names
        return [names[c] if 0 <= c < len(names) else f"class {c}" for c in (int(x) for x in self.labels[:n])]

    def _show_grid(self, panel: ImageGridPanel, batch: np.ndarray, scale: float = 1.0, named: bool = True) -> None:
        names = self._names_of(len(batch)) if named else None
        panel.set_picture(image_grid(batch, scale), names, tuple(batch.shape[-2:]))

    def show_live(self, live) -> None:
        """While sampling: the current x_t and x̂_0 (the noise resolving, the final sample taking shape)."""
        labels = self._label_slice(len(live.pred_x0))
        if self.points_mode:
            self.cloud.set_points(live.x_t, labels)
            self.x0_cloud.set_points(live.pred_x0, labels)
        else:
            self._show_grid(self.x_t_panel, live.x_t)
            self.x_t_panel.set_title(f"x_t at t = {live.t} (sampling…)")
            self._show_grid(self.x0_panel, live.pred_x0)

    def _label_slice(self, n: int):
        return None if self.labels is None else self.labels[:n]

    def show_recording(self, recorder, heading: str, result: SamplingResult | None = None) -> None:
        """Make the timeline scrub ``recorder`` and open it: a finished run half way (``teaching_position``),
        where x_t, x̂₀ and ε̂ all differ; a cancelled one where it stopped."""
        self.result = result
        self.recorder = recorder
        self.heading.setText(heading)
        if len(recorder) == 0:
            self.clear(heading)
            return
        self._paths = recorder.x_t_path().astype(np.float32) if self.points_mode else None
        timesteps = recorder.timesteps
        total = recorder.num_steps

        def label(position: int) -> str:
            t = int(timesteps[position]) if 0 <= position < len(timesteps) else -1
            if t < 0:
                return "x₀: final"
            step = int(recorder.frame(position).step_index) + 1 if recorder.subsampled else position + 1
            return f"step {step}/{total} · t={t}"

        self.scrubber.setEnabled(True)
        self.scrubber.setLabelFunction(label)
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, len(recorder) - 1)
        position = self.teaching_position() if result is not None else len(recorder) - 1
        self.scrubber.setValue(position)
        self.scrubber.blockSignals(False)
        self.show_position(position)

    def teaching_position(self) -> int:
        """The step half way down in noise level (t nearest t_first / 2): x_t is part noise, part image,
        x̂₀ is the network's guess and ε̂ the noise it sees. The final position shows x₀ twice and no ε̂."""
        timesteps = self.recorder.timesteps
        steps = timesteps[timesteps >= 0]
        return self.nearest_position(int(steps[0]) // 2) if len(steps) else len(timesteps) - 1

    def timestep_at(self, position: int) -> int:
        return int(self.recorder.timesteps[position]) if self.recorder is not None and len(self.recorder) else 0

    def nearest_position(self, t: int) -> int:
        """The position whose timestep is closest to ``t`` (t = −1 is the final sample)."""
        timesteps = self.recorder.timesteps
        return int(np.abs(timesteps - t).argmin())

    @Slot(int)
    def _on_scrubbed(self, position: int) -> None:
        if self.recorder is not None and len(self.recorder):
            self.show_position(position)
            self.position_changed.emit(position)

    def show_position(self, position: int) -> None:
        frame: TrajectoryFrame = self.recorder.frame(position)
        if self.points_mode:
            n = len(frame.x_t)
            self.cloud.set_points(frame.x_t, self._label_slice(n))
            self.cloud.set_paths(self._paths[: position + 1])
            self.x0_cloud.set_points(frame.pred_x0, self._label_slice(n))
            return
        self._show_grid(self.x_t_panel, frame.x_t)
        self._show_grid(self.x0_panel, frame.pred_x0)
        if frame.pred_eps is None:
            self.eps_panel.set_picture(None)
            self.eps_panel.set_title("predicted noise ε̂ (none after the last step)")
        else:
            self._show_grid(self.eps_panel, frame.pred_eps, EPS_DISPLAY_RANGE, named=False)
            self.eps_panel.set_title("predicted noise ε̂ (shown over [−3, 3])")
        final = frame.t < 0
        self.x_t_panel.set_title("x₀: the final samples" if final else f"x_t at t = {frame.t}")
        self.x0_panel.set_title("predicted x̂₀ (= x₀ after the last step)" if final else "predicted x̂₀")


class ResultsPanel(QWidget):
    """Run A, and run B below it in compare mode; their timelines can move together."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_a = RunPanel()
        self.run_b = RunPanel()
        self.run_b.setVisible(False)
        self.run_a.position_changed.connect(self._on_a_scrubbed)
        self.run_b.position_changed.connect(self._on_b_scrubbed)
        self.synced = True  # sync the timelines by noise level
        self._syncing = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.run_a, 1)
        layout.addWidget(self.run_b, 1)

    @property
    def runs(self) -> tuple[RunPanel, RunPanel]:
        return self.run_a, self.run_b

    @Slot(bool)
    def set_compare(self, on: bool) -> None:
        self.run_b.setVisible(on)

    @Slot(bool)
    def set_synced(self, on: bool) -> None:
        self.synced = on

    def reset(self, points: bool) -> None:
        """Empty both runs, showing images or (``points``) 2-D clouds."""
        for run in self.runs:
            run.set_labels(None)  # another model: its classes are not known until it samples
            run.set_points_mode(points)
            run.clear()

    @Slot(int)
    def _on_a_scrubbed(self, position: int) -> None:
        self._sync(self.run_a, self.run_b, position)

    @Slot(int)
    def _on_b_scrubbed(self, position: int) -> None:
        self._sync(self.run_b, self.run_a, position)

    def _sync(self, source: RunPanel, target: RunPanel, position: int) -> None:
        if self._syncing or not self.synced or not self.run_b.isVisible():
            return
        if source.recorder is None or target.recorder is None or not len(target.recorder):
            return
        self._syncing = True
        try:
            target.scrubber.setValue(target.nearest_position(source.timestep_at(position)))
        finally:
            self._syncing = False
