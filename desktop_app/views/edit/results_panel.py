"""The Edit view's results: the outcomes side by side (before / mask / after, or the SDEdit strip),
and the reverse timeline of a recorded run (x_t and x̂₀, scrubbed with the shared ``TimelineScrubber``)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Slot
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.data import make_grid
from desktop_app.views.edit.edit_worker import EditOutcome
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber

MAX_TILES = 7  # input, mask and up to five results (the SDEdit strip has five strengths)


def tile_picture(images: np.ndarray) -> np.ndarray:
    """uint8 grid of float images (N, C, H, W) in [−1, 1], white gaps."""
    return make_grid(images, padding=2, pad_value=255)


class Tile(ImagePanel):
    """A titled, captioned picture on white; keeps the uint8 picture it shows (for export)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("", parent=parent, background="#ffffff", margin=4)
        self.setMinimumSize(80, 96)
        self.canvas.setMinimumSize(64, 64)  # the shared canvas asks for 120 px; tiles share a row of up to 7
        self.picture: np.ndarray | None = None

    def show_picture(self, title: str, picture: np.ndarray | None, caption: str = "") -> None:
        self.set_title(title)
        self.set_caption(caption)
        self.picture = picture
        if picture is None:
            self.clear()
        else:
            self.set_image(picture)


class ResultsPanel(QWidget):
    """A row of tiles and, beside it, the timeline of the chosen recorded run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tiles = [Tile() for _ in range(MAX_TILES)]
        self.recordings: list[EditOutcome] = []
        self.timeline_combo = QComboBox()
        self.timeline_combo.setToolTip("Which run's reverse timeline to scrub")
        self.timeline_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.timeline_combo.setMinimumContentsLength(12)
        self.x_t_panel = Tile()
        self.x0_panel = Tile()
        self.scrubber = TimelineScrubber()
        self.scrubber.setReversed(False)
        self.timeline_label = QLabel("Run an edit, then scrub its reverse timeline from noise to image.")
        self.timeline_label.setStyleSheet("color: #555")
        self.timeline_label.setWordWrap(True)

        tiles = QGridLayout()
        tiles.setSpacing(4)
        for i, tile in enumerate(self.tiles):
            tiles.addWidget(tile, 0, i)
        timeline_panels = QHBoxLayout()
        timeline_panels.addWidget(self.x_t_panel)
        timeline_panels.addWidget(self.x0_panel)
        timeline = QVBoxLayout()
        head = QHBoxLayout()
        head.addWidget(QLabel("Timeline of"))
        head.addWidget(self.timeline_combo)
        head.addWidget(self.scrubber, 1)
        timeline.addLayout(timeline_panels, 1)
        timeline.addLayout(head)
        timeline.addWidget(self.timeline_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(tiles, 1)
        layout.addLayout(timeline, 1)

        self.timeline_combo.currentIndexChanged.connect(self._on_recording_chosen)
        self.scrubber.valueChanged.connect(self._on_scrubbed)
        self.clear()

    def clear(self) -> None:
        for tile in self.tiles:
            tile.show_picture("", None)
            tile.setVisible(False)
        self.recordings = []
        self.timeline_combo.clear()
        self.x_t_panel.show_picture("x_t", None)
        self.x0_panel.show_picture("x̂₀ (predicted clean image)", None)
        self.scrubber.setRange(0, 0)

    def set_tile(self, index: int, title: str, images: np.ndarray | None, caption: str = "") -> None:
        """Show ``images`` (N, C, H, W) in tile ``index`` (None empties it but keeps it visible)."""
        tile = self.tiles[index]
        tile.show_picture(title, None if images is None else tile_picture(images), caption)
        tile.setVisible(True)

    def shown_tiles(self) -> list[Tile]:
        return [tile for tile in self.tiles if tile.isVisibleTo(self) and tile.picture is not None]

    def add_recording(self, outcome: EditOutcome) -> None:
        if outcome.recorder is None or len(outcome.recorder) == 0:
            return
        self.recordings.append(outcome)
        self.timeline_combo.addItem(outcome.title)
        if len(self.recordings) == 1:
            self._on_recording_chosen(0)

    def current_recording(self) -> EditOutcome | None:
        index = self.timeline_combo.currentIndex()
        return self.recordings[index] if 0 <= index < len(self.recordings) else None

    @Slot(int)
    def _on_recording_chosen(self, index: int) -> None:
        outcome = self.current_recording()
        if outcome is None:
            return
        recorder = outcome.recorder
        ts = recorder.timesteps
        self.scrubber.setLabelFunction(lambda p: f"step {p} / t = {ts[p] if ts[p] >= 0 else 'clean'}")
        self.scrubber.setRange(0, len(recorder) - 1)
        self.scrubber.setValue(len(recorder) - 1)
        jumps = int((np.diff(ts) > 0).sum())
        self.timeline_label.setText(
            f"{outcome.title}: {outcome.evaluations} network evaluations in {outcome.seconds:.1f} s"
            + (f"; t jumps back up {jumps} times (RePaint's resampling)" if jumps else "")
            + ". " + recorder.describe()
        )  # fmt: skip
        self._on_scrubbed(self.scrubber.value())

    @Slot(int)
    def _on_scrubbed(self, position: int) -> None:
        outcome = self.current_recording()
        if outcome is None or not 0 <= position < len(outcome.recorder):
            return
        frame = outcome.recorder.frame(position)
        label = "x₀ (final)" if frame.t < 0 else f"x_t, t = {frame.t}"
        self.x_t_panel.show_picture(label, tile_picture(np.clip(frame.x_t, -1, 1)))
        self.x0_panel.show_picture("x̂₀ (predicted clean image)", tile_picture(np.clip(frame.pred_x0, -1, 1)))

    def timeline_pictures(self) -> list[np.ndarray]:
        """x_t at every recorded position of the chosen run (uint8 grids), for a GIF."""
        outcome = self.current_recording()
        if outcome is None:
            return []
        recorder = outcome.recorder
        return [tile_picture(np.clip(recorder.frame(p).x_t, -1, 1)) for p in range(len(recorder))]
