"""pyqtgraph panels that show model images fast: a titled image/grid panel and a value histogram.

Views push numpy arrays here many times a second while a scrubber moves, so everything is built
once and only arrays change afterwards (STYLE.md, "create items once, then push arrays"):

- ``GridBuffer`` tiles a batch (N, C, H, W) into one preallocated (H', W'[, C]) float32 picture
  without allocating (a reshape/transpose view written with one copy).
- ``ImagePanel`` shows one such picture with fixed value levels, converting floats to uint8 in
  preallocated buffers so pyqtgraph takes its fast uint8 → QImage path.
- ``ValueHistogram`` draws the histogram of an array's values against a reference density
  (N(0, 1) for x_t at large t), on a fixed, strided subsample so large images stay cheap.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

IMAGE_BACKGROUND = "#1b1d23"
GRID_PADDING = 2  # pixels between tiles (in image pixels, not screen pixels)
MAX_HISTOGRAM_VALUES = 1 << 15  # larger arrays are strided down to about this many values


class GridBuffer:
    """Tiles (N, C, H, W) batches of a fixed shape into one preallocated float32 picture.

    The picture is (rows·(H+p)−p, cols·(W+p)−p) for C = 1 or the same with a trailing C axis,
    with ``fill_value`` in the gaps. ``fill(batch)`` writes into ``self.picture`` and returns it.
    """

    def __init__(self, shape: tuple[int, int, int, int], ncols: int | None = None, padding: int = GRID_PADDING,
                 fill_value: float = -1.0):  # fmt: skip
        n, c, h, w = (int(s) for s in shape)
        if n < 1 or c not in (1, 3):
            raise ValueError(f"A grid needs at least one image with 1 or 3 channels, not shape {tuple(shape)}.")
        self.shape = (n, c, h, w)
        self.ncols = min(n, int(ncols) if ncols else math.ceil(math.sqrt(n)))
        self.nrows = math.ceil(n / self.ncols)
        p = int(padding) if n > 1 else 0
        # (rows, H+p, cols, W+p, C): a view of it with the padding cut off is the full picture.
        self._tiles = np.full((self.nrows, h + p, self.ncols, w + p, c), fill_value, dtype=np.float32)
        full = self._tiles.reshape(self.nrows * (h + p), self.ncols * (w + p), c)[: self.nrows * (h + p) - p,
                                                                                 : self.ncols * (w + p) - p]  # fmt: skip
        self.picture = full[..., 0] if c == 1 else full
        self._n_full = n if n == self.nrows * self.ncols else None

    def fill(self, batch: np.ndarray) -> np.ndarray:
        """Write ``batch`` (N, C, H, W) into the picture (one copy, no allocation when N fills the grid)."""
        n, c, h, w = self.shape
        if batch.shape != self.shape:
            raise ValueError(f"This grid was made for batches of shape {self.shape}, not {tuple(batch.shape)}.")
        if self._n_full is not None:
            view = batch.reshape(self.nrows, self.ncols, c, h, w).transpose(0, 3, 1, 4, 2)
            self._tiles[:, :h, :, :w, :] = view
        else:
            for i in range(n):
                r, col = divmod(i, self.ncols)
                self._tiles[r, :h, col, :w, :] = batch[i].transpose(1, 2, 0)
        return self.picture


def float_to_uint8(
    picture: np.ndarray, levels: tuple[float, float], out: np.ndarray, scratch: np.ndarray
) -> np.ndarray:
    """Map ``levels[0] … levels[1]`` linearly to 0 … 255 into ``out`` (uint8), using ``scratch`` (float32).

    Three passes over the data: scale, shift, then clip straight into the uint8 buffer.
    """
    lo, hi = levels
    scale = 255.0 / (hi - lo)
    np.multiply(picture, scale, out=scratch)
    np.add(scratch, -lo * scale, out=scratch)
    np.clip(scratch, 0.0, 255.0, out=out, casting="unsafe")  # truncation is fine for display
    return out


class ImagePanel(QWidget):
    """A title, a caption and one image, drawn by a pyqtgraph ``ImageItem`` with fixed levels.

    ``set_image(picture, levels)`` takes (H, W) or (H, W, 3) float32 (or uint8, shown as is).
    Pixels stay square and sharp; the image fills the panel.
    """

    def __init__(self, title: str = "", caption: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._title = QLabel(title)
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._caption = QLabel(caption)
        self._caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._caption.setWordWrap(True)
        self._caption.setVisible(bool(caption))

        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground(IMAGE_BACKGROUND)
        self.view.ci.setContentsMargins(2, 2, 2, 2)
        self.view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.view.setMinimumSize(120, 120)
        self.viewbox = self.view.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.viewbox.setMenuEnabled(False)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.viewbox.addItem(self.image_item)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._title)
        layout.addWidget(self.view, stretch=1)
        layout.addWidget(self._caption)

        self._u8: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self._shape: tuple[int, ...] | None = None
        self.last_picture: np.ndarray | None = None  # what is on screen, in the caller's values (for tests)

    def set_title(self, title: str) -> None:
        self._title.setText(title)

    def title(self) -> str:
        return self._title.text()

    def set_caption(self, caption: str) -> None:
        self._caption.setText(caption)
        self._caption.setVisible(bool(caption))

    def set_image(self, picture: np.ndarray, levels: tuple[float, float] = (-1.0, 1.0)) -> None:
        """Show ``picture`` with ``levels`` mapped to black … white (no auto-levels)."""
        if picture.ndim not in (2, 3):
            raise ValueError(f"An image panel shows (H, W) or (H, W, 3) pictures, not {picture.shape}.")
        self.last_picture = picture
        if picture.dtype == np.uint8:
            u8 = np.ascontiguousarray(picture)
        else:
            if self._shape != picture.shape:
                self._u8 = np.empty(picture.shape, dtype=np.uint8)
                self._scratch = np.empty(picture.shape, dtype=np.float32)
            u8 = float_to_uint8(picture, levels, self._u8, self._scratch)
        new_shape = self._shape != picture.shape
        self._shape = picture.shape
        # No levels: uint8 goes straight into a Grayscale8 / RGB888 QImage (levels would build a
        # colour table, an Indexed8 image that is slow to draw scaled).
        self.image_item.setImage(u8, autoLevels=False)
        if new_shape:
            self.viewbox.autoRange(padding=0.0)

    def clear(self) -> None:
        self.image_item.clear()
        self.last_picture = None
        self._shape = None


def normal_density(x: np.ndarray) -> np.ndarray:
    """The standard normal density φ(x) = exp(−x²/2)/√(2π)."""
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def value_histogram(values: np.ndarray, bins: int, value_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(edges, density) of ``values`` over ``value_range``, strided to ≤ MAX_HISTOGRAM_VALUES values.

    The density integrates to the fraction of values inside the range (values outside are not
    silently piled into the end bins), so it can be compared with a probability density directly.
    Uniform bins are counted with one ``bincount`` (several times faster than ``np.histogram``).
    """
    flat = np.asarray(values).reshape(-1)
    stride = max(1, math.ceil(flat.size / MAX_HISTOGRAM_VALUES))
    sample = flat[::stride]
    lo, hi = value_range
    scaled = (sample - np.float32(lo)) * np.float32(bins / (hi - lo))
    np.clip(scaled, -1.0, bins, out=scaled)  # out of range → the two overflow bins −1 and `bins`
    index = scaled.astype(np.intp) if lo >= 0 else np.floor(scaled).astype(np.intp)
    counts = np.bincount(index + 1, minlength=bins + 2)[1 : bins + 1]
    edges = np.linspace(lo, hi, bins + 1)
    width = (hi - lo) / bins
    return edges, counts / (max(sample.size, 1) * width)


class ValueHistogram(pg.PlotWidget):
    """Histogram of an array's values (a filled step curve) with the N(0, 1) density on top."""

    def __init__(self, value_range: tuple[float, float] = (-4.0, 4.0), bins: int = 81, parent: QWidget | None = None):
        super().__init__(parent=parent)
        self.value_range = value_range
        self.bins = bins
        self.setMenuEnabled(False)
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setLabel("bottom", "value")
        self.setLabel("left", "density")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.histogram_item = self.plot(
            [0.0, 1.0], [0.0], stepMode="center", fillLevel=0, brush=(90, 160, 230, 120), pen=(90, 160, 230),
            name="values of x_t",
        )  # fmt: skip
        xs = np.linspace(value_range[0], value_range[1], 200)
        self.reference_item = self.plot(xs, normal_density(xs), pen=pg.mkPen((240, 170, 60), width=2), name="N(0, 1)")
        self.setXRange(*value_range, padding=0)
        self._top = 0.6
        self.setYRange(0.0, self._top, padding=0)
        self.last_density: np.ndarray | None = None

    def set_values(self, values: np.ndarray) -> None:
        edges, density = value_histogram(values, self.bins, self.value_range)
        self.last_density = density
        self.histogram_item.setData(edges, density)
        top = min(max(0.45, float(density.max()) * 1.05), 8.0)
        if abs(top - self._top) > 0.1 * self._top:  # rescale only on a real change: setYRange costs
            self._top = top
            self.setYRange(0.0, top, padding=0)
