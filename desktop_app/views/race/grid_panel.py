"""X/Y grid: rows = the checked samplers, columns = NFE budgets, every cell from the same x_T.

Each cell shows the samples one sampler draws with one budget of network evaluations and is captioned
with the NFE it really made and its RMS distance to the reference ODE solve from the same x_T (the
number that says how far from converged the cell is). The whole grid is one picture
(``grid_table_picture``), which is also what File ▸ Export… and the Export button save as a PNG.
Run and Cancel are signals; the view runs ``core.evaluation.sampler_grid.sampler_grid`` in a worker
and feeds ``add_cell`` / ``show_result``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.data import save_png
from core.evaluation.sampler_grid import GridCell, GridResult
from core.evaluation.sampler_race import DEFAULT_NFES
from desktop_app import export
from desktop_app.widgets.flow_row import FlowRow

TILE_SIDE = 128  # px of one cell's picture
LABEL_WIDTH = 190  # px of the row labels
HEADER_HEIGHT = 22
CAPTION_HEIGHT = 16
GAP = 6
# Pillow's bundled font has no Greek or maths signs (they came out as boxes): write them out.
ASCII_TEXT = str.maketrans({"η": "eta", "≤": "<=", "–": "-", "—": "-", "·": "|", "²": "^2"})


def _as_rgb(picture: np.ndarray) -> np.ndarray:
    return np.repeat(picture[..., None], 3, axis=2) if picture.ndim == 2 else picture[..., :3]


def grid_table_picture(
    rows: list[str], columns: list[str], tiles: dict[tuple[int, int], np.ndarray], captions: dict[tuple[int, int], str]
) -> np.ndarray:
    """One uint8 RGB picture: a header of column titles, a label per row, a tile and caption per cell.

    ``tiles`` maps (row, column) to a uint8 picture (missing cells stay blank, as while the grid fills)."""
    side = max([TILE_SIDE] + [max(t.shape[:2]) for t in tiles.values()])
    cell_w, cell_h = side + GAP, side + CAPTION_HEIGHT + GAP
    width = LABEL_WIDTH + len(columns) * cell_w + GAP
    height = HEADER_HEIGHT + len(rows) * cell_h + GAP
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for (r, c), tile in tiles.items():
        tile = _as_rgb(tile)
        y, x = HEADER_HEIGHT + r * cell_h, LABEL_WIDTH + c * cell_w
        canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    ink = (30, 30, 30)

    def centred(text: str, x: float, y: float) -> None:
        text = text.translate(ASCII_TEXT)
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        draw.text((x + (side - (right - left)) / 2, y), text, fill=ink, font=font)

    for c, title in enumerate(columns):
        centred(title, LABEL_WIDTH + c * cell_w, 4)
    for r, label in enumerate(rows):
        draw.text((GAP, HEADER_HEIGHT + r * cell_h + side / 2 - 6), label.translate(ASCII_TEXT), fill=ink, font=font)
    for (r, c), text in captions.items():
        centred(text, LABEL_WIDTH + c * cell_w, HEADER_HEIGHT + r * cell_h + side + 1)
    return np.asarray(image).copy()


class GridPanel(QWidget):
    """Budgets, images per cell, Run / Cancel / Export, progress and the grid picture."""

    run_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.result: GridResult | None = None
        self.cells: list[GridCell] = []
        self._points = False
        self._labels: np.ndarray | None = None
        self._picture: np.ndarray | None = None
        self.nfe_edit = QLineEdit(", ".join(str(n) for n in DEFAULT_NFES))
        self.nfe_edit.setToolTip("The columns: NFE budgets separated by commas (Heun runs ⌈n/2⌉ steps)")
        self.nfe_edit.setMaximumWidth(120)
        self.images_spin = QSpinBox()
        self.images_spin.setRange(1, 16)
        self.images_spin.setValue(4)
        self.images_spin.setToolTip("Images in every cell (the same x_T in every cell); 2-D models draw 500 points")
        self.run_button = QPushButton("Run grid")
        self.run_button.setToolTip("Rows: the checked samplers; columns: the budgets; every cell from the same x_T")
        self.run_button.clicked.connect(self.run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the grid after the current sampler step")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the grid, with its captions, as one PNG for slides")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.picture_label = QLabel("Tick the samplers above and press Run grid.")
        self.picture_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.picture_label.setToolTip("Each cell: NFE made · RMS distance to the reference ODE solve from the same x_T")
        scroll = QScrollArea()
        scroll.setWidget(self.picture_label)
        scroll.setWidgetResizable(True)

        row = FlowRow()
        for label, widget in (("NFE columns", self.nfe_edit), ("Images per cell", self.images_spin)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        for button in (self.run_button, self.cancel_button, self.export_button):
            row.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(scroll, 1)

    def set_kind(self, points: bool, labels: np.ndarray | None = None) -> None:
        """2-D models show scatter plots (``labels`` colour the points by class, if any)."""
        self._points, self._labels = points, labels
        self.images_spin.setEnabled(not points)
        self.clear()

    def samples_per_cell(self) -> int:
        return 500 if self._points else self.images_spin.value()

    def nfes(self) -> tuple[int, ...]:
        try:
            values = tuple(int(part) for part in self.nfe_edit.text().replace(";", ",").split(",") if part.strip())
        except ValueError:
            raise ValueError(
                "Write the grid's NFE columns as whole numbers separated by commas, e.g. 5, 10, 20."
            ) from None
        if not values:
            raise ValueError("Give at least one NFE column, e.g. 5, 10, 20, 50.")
        return values

    def clear(self) -> None:
        self.result, self.cells, self._picture = None, [], None
        self.picture_label.setPixmap(QPixmap())
        self.export_button.setEnabled(False)

    def set_busy(self, busy: bool) -> None:
        self.run_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def add_cell(self, cell: GridCell) -> None:
        self.cells.append(cell)
        self._redraw()

    def show_result(self, result: GridResult) -> None:
        self.result = result
        self.cells = list(result.cells.values())
        self._redraw()
        self.export_button.setEnabled(True)

    def picture(self) -> np.ndarray | None:
        """The grid as one uint8 RGB picture (None before the first cell)."""
        return self._picture

    def save_picture(self, path: str | Path) -> Path:
        if self._picture is None:
            raise ValueError("Run the grid first: there is nothing to export yet.")
        return save_png(path, self._picture)

    def _tile(self, samples: np.ndarray) -> np.ndarray:
        if self._points:
            labels = None if self._labels is None else self._labels[: len(samples)]
            return export.scatter_picture(samples, labels=labels, size=TILE_SIDE)
        nrow = math.ceil(math.sqrt(len(samples)))
        tile = export.grid_picture(samples, nrow=nrow, min_side=TILE_SIDE)
        if max(tile.shape[:2]) > TILE_SIDE:  # shrink large grids to the tile size
            tile = np.asarray(Image.fromarray(tile).resize((TILE_SIDE, TILE_SIDE), Image.BILINEAR))
        return tile

    def _redraw(self) -> None:
        if not self.cells:
            return
        rows = list(dict.fromkeys(c.lane for c in self.cells))
        labels = {c.lane: c.label for c in self.cells}
        budgets = list(dict.fromkeys(c.budget for c in self.cells))  # the columns in the order they were asked
        tiles, captions = {}, {}
        for cell in self.cells:
            r, c = rows.index(cell.lane), budgets.index(cell.budget)
            tiles[(r, c)] = self._tile(cell.samples)
            captions[(r, c)] = f"NFE {cell.nfe}  RMS {cell.error:.3f}"
        self._picture = grid_table_picture(
            [labels[k] for k in rows], [f"budget {n} NFE" for n in budgets], tiles, captions
        )
        h, w = self._picture.shape[:2]
        image = QImage(self._picture.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.picture_label.setPixmap(QPixmap.fromImage(image))

    @Slot()
    def _on_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the grid", "sampler_grid.png", export.PNG_FILTER)
        if path:
            self.save_picture(path)
