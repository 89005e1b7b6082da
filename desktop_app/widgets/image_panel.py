"""Panels that show model images fast: a titled image/grid panel and a value histogram.

Views push numpy arrays here many times a second while a scrubber moves, so everything is built
once and only arrays change afterwards (STYLE.md, "create items once, then push arrays"):

- ``ImagePanel`` shows a batch (N, C, H, W) as a grid with fixed value levels. It converts floats
  to uint8 in the batch's own layout (contiguous passes), tiles the bytes straight into a
  ``QImage.Format_RGB32`` buffer (``RGB32Grid``) and paints it with one ``drawImage`` in a plain
  widget. An image panel needs no axes, zoom or mouse, and going through a pyqtgraph
  ``GraphicsView`` + ``ViewBox`` + ``ImageItem`` cost about as much per frame again in Python
  paint calls and Qt's slow Grayscale8/RGB888 scaling (measured by ``benchmarks/bench_scrubber.py``).
- ``GridBuffer`` tiles a batch into one float32 picture in the caller's values (for exports and
  tests).
- ``ValueHistogram`` draws the histogram of an array's values against a reference density
  (N(0, 1) for x_t at large t), on a fixed, strided subsample so large images stay cheap; it paints
  with QPainter over a cached pixmap of its axes for the same reason as the image panel.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

IMAGE_BACKGROUND = "#1b1d23"
BACKGROUND_BGR = (0x23, 0x1D, 0x1B)  # IMAGE_BACKGROUND as the bytes of an RGB32 pixel
GRID_PADDING = 2  # pixels between tiles (in image pixels, not screen pixels)
PADDING_RGB = (0x3A, 0x3E, 0x48)  # between tiles: lighter than the background, so dark images stay apart
HISTOGRAM_BACKGROUND = "#000000"  # pyqtgraph's default, like the other plots of the app
HISTOGRAM_AXIS = "#969696"
HISTOGRAM_TEXT = "#c8c8c8"
HISTOGRAM_FILL_RGBA = (90, 160, 230, 120)
HISTOGRAM_PEN_RGB = (90, 160, 230)
REFERENCE_RGB = (240, 170, 60)
MAX_HISTOGRAM_VALUES = 1 << 15  # larger arrays are strided down to about this many values


def grid_layout(
    shape: tuple[int, int, int, int], ncols: int | None, padding: int
) -> tuple[tuple[int, int, int, int], int, int, int]:
    """``((n, c, h, w), rows, cols, padding)`` of a grid of a batch's images: a square-ish grid by
    default, no padding for a single image. ValueError for shapes that are not images."""
    n, c, h, w = (int(s) for s in shape)
    if n < 1 or c not in (1, 3):
        raise ValueError(f"A grid needs at least one image with 1 or 3 channels, not shape {tuple(shape)}.")
    cols = min(n, int(ncols) if ncols else math.ceil(math.sqrt(n)))
    return (n, c, h, w), math.ceil(n / cols), cols, int(padding) if n > 1 else 0


class GridBuffer:
    """Tiles (N, C, H, W) batches of a fixed shape into one preallocated float32 picture.

    The picture is (rows·(H+p)−p, cols·(W+p)−p) for C = 1 or the same with a trailing C axis,
    with ``fill_value`` in the gaps. ``fill(batch)`` writes into ``self.picture`` and returns it.
    """

    def __init__(self, shape: tuple[int, int, int, int], ncols: int | None = None, padding: int = GRID_PADDING,
                 fill_value: float = -1.0):  # fmt: skip
        self.shape, self.nrows, self.ncols, p = grid_layout(shape, ncols, padding)
        n, c, h, w = self.shape
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


class RGB32Grid:
    """Tiles uint8 batches (N, C, H, W) into one preallocated 32-bit picture that Qt draws directly.

    The buffer is (rows, H+p, cols, W+p, 4) bytes laid out as ``QImage.Format_RGB32`` on a
    little-endian machine (B, G, R, 0xFF per pixel), the format the raster engine draws fastest
    (about 5× faster than Grayscale8 or RGB888 when scaled). Each colour plane is copied with one
    strided copy whose inner loop runs along an image row, so no per-pixel Python and no float.
    """

    def __init__(
        self, shape: tuple[int, int, int, int], ncols: int | None, padding: int, padding_rgb: tuple[int, int, int]
    ):
        self.shape, self.nrows, self.ncols, p = grid_layout(shape, ncols, padding)
        self.padding = p
        n, c, h, w = self.shape
        self._tiles = np.empty((self.nrows, h + p, self.ncols, w + p, 4), dtype=np.uint8)
        self._tiles[..., 0], self._tiles[..., 1], self._tiles[..., 2] = padding_rgb[2], padding_rgb[1], padding_rgb[0]
        self._tiles[..., 3] = 255
        for i in range(n, self.nrows * self.ncols):  # cells past the last image: plain background
            r, col = divmod(i, self.ncols)
            self._tiles[r, :, col, :, :3] = BACKGROUND_BGR
        self.width = self.ncols * (w + p) - p
        self.height = self.nrows * (h + p) - p
        self.bytes_per_line = self.ncols * (w + p) * 4
        self._full = n == self.nrows * self.ncols

    def fill(self, batch: np.ndarray) -> None:
        """Write a uint8 batch of this grid's shape into the picture (grey images into all three planes).

        One strided byte copy per colour plane, whose inner loop runs along an image row.
        """
        n, c, h, w = self.shape
        for plane in range(3):  # B, G, R in memory
            channel = 0 if c == 1 else 2 - plane
            if self._full:
                source = batch[:, channel].reshape(self.nrows, self.ncols, h, w).transpose(0, 2, 1, 3)
                self._tiles[:, :h, :, :w, plane] = source
            else:
                for i in range(n):
                    r, col = divmod(i, self.ncols)
                    self._tiles[r, :h, col, :w, plane] = batch[i, channel]

    def rgb(self) -> np.ndarray:
        """The picture as (height, width, 3) uint8 RGB, a copy (for tests and exports)."""
        flat = self._tiles.reshape(self.nrows * self._tiles.shape[1], self.ncols * self._tiles.shape[3], 4)
        return np.ascontiguousarray(flat[: self.height, : self.width, 2::-1])

    def qimage(self) -> QImage:
        """A QImage over the buffer (no copy): valid while this grid lives."""
        return QImage(self._tiles.data, self.width, self.height, self.bytes_per_line, QImage.Format.Format_RGB32)


class ImageCanvas(QWidget):
    """Paints one QImage scaled to fit, centred, with square pixels and no smoothing (sharp pixels)."""

    def __init__(self, background: QColor, parent: QWidget | None = None, margin: int = 0):
        super().__init__(parent)
        self._background = background
        self._margin = int(margin)  # pixels of background kept around the image
        self._image: QImage | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # we fill every pixel: nothing below repaints
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)

    def set_qimage(self, image: QImage | None) -> None:
        self._image = image
        self.update()

    def image_rect(self) -> QRectF:
        """Where the image lands inside the widget (aspect ratio kept)."""
        if self._image is None or self._image.isNull():
            return QRectF()
        w, h = self._image.width(), self._image.height()
        room_w, room_h = max(1, self.width() - 2 * self._margin), max(1, self.height() - 2 * self._margin)
        scale = min(room_w / w, room_h / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        target = self.image_rect()
        if target.isEmpty():
            painter.fillRect(self.rect(), self._background)
        else:  # fill only the margins: the image covers the rest
            painter.fillRect(QRectF(0, 0, self.width(), target.top()), self._background)
            painter.fillRect(
                QRectF(0, target.bottom(), self.width(), self.height() - target.bottom()), self._background
            )
            painter.fillRect(QRectF(0, target.top(), target.left(), target.height()), self._background)
            painter.fillRect(QRectF(target.right(), target.top(), self.width() - target.right(), target.height()),
                             self._background)  # fmt: skip
            painter.drawImage(target, self._image)
        painter.end()


class ImagePanel(QWidget):
    """A title, a caption and one image or grid of images, shown with fixed value levels.

    ``set_batch(batch, levels)`` takes a float32 batch (N, C, H, W) in the model's values and tiles it
    as a grid; ``set_image(picture, levels)`` takes one (H, W) or (H, W, 3) picture. Values map
    linearly from ``levels`` to black … white. All buffers are kept between calls of the same shape,
    so a scrubber frame costs a few passes over the pixels and one ``drawImage``.
    Pixels stay square and sharp; the picture fills the panel.
    """

    def __init__(self, title: str = "", caption: str = "", parent: QWidget | None = None,
                 background: str = IMAGE_BACKGROUND, margin: int = 0):  # fmt: skip
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
        self.canvas = ImageCanvas(QColor(background), margin=margin)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self._title)
        layout.addWidget(self.canvas, stretch=1)
        layout.addWidget(self._caption)

        self._grid: RGB32Grid | None = None
        self._grid_key: tuple | None = None
        self._scratch: np.ndarray | None = None
        self._u8: np.ndarray | None = None
        self._batch: np.ndarray | None = None  # what is on screen, in the caller's values (a reference)
        self._levels: tuple[float, float] = (-1.0, 1.0)

    def set_title(self, title: str) -> None:
        self._title.setText(title)

    def title(self) -> str:
        return self._title.text()

    def set_caption(self, caption: str) -> None:
        self._caption.setText(caption)
        self._caption.setVisible(bool(caption))

    def set_batch(self, batch: np.ndarray, levels: tuple[float, float] = (-1.0, 1.0), ncols: int | None = None) -> None:
        """Show a batch (N, C, H, W) of float32 (or uint8, shown as is) images as one grid.

        The panel keeps a reference to ``batch`` (for ``last_picture``) rather than a copy: give each
        panel its own buffer.
        """
        if batch.ndim != 4:
            raise ValueError(f"An image panel shows batches (N, C, H, W), not shape {batch.shape}.")
        key = (batch.shape, ncols)
        if self._grid_key != key:
            self._grid = RGB32Grid(batch.shape, ncols, GRID_PADDING, PADDING_RGB)
            self._grid_key = key
            self._scratch = np.empty(batch.shape, dtype=np.float32)
            self._u8 = np.empty(batch.shape, dtype=np.uint8)
        if batch.dtype == np.uint8:
            self._grid.fill(batch)
        else:  # levels → 0 … 255 → uint8 in four contiguous passes (faster than clipping into strided pixels)
            lo, hi = levels
            scale = 255.0 / (hi - lo)
            np.multiply(batch, scale, out=self._scratch)
            np.add(self._scratch, -lo * scale, out=self._scratch)
            np.clip(self._scratch, 0.0, 255.0, out=self._scratch)
            np.copyto(self._u8, self._scratch, casting="unsafe")  # truncation is fine for display
            self._grid.fill(self._u8)
        self._batch, self._levels = batch, levels
        self.canvas.set_qimage(self._grid.qimage())

    def set_image(self, picture: np.ndarray, levels: tuple[float, float] = (-1.0, 1.0)) -> None:
        """Show one (H, W) or (H, W, 3) picture with ``levels`` mapped to black … white."""
        if picture.ndim == 2:
            batch = picture[None, None]
        elif picture.ndim == 3 and picture.shape[2] in (1, 3):
            batch = picture.transpose(2, 0, 1)[None]
        else:
            raise ValueError(f"An image panel shows (H, W) or (H, W, 3) pictures, not {picture.shape}.")
        self.set_batch(batch, levels)

    @property
    def last_picture(self) -> np.ndarray | None:
        """The picture on screen in the caller's values, (H', W') or (H', W', 3), padding at ``levels[0]``."""
        if self._batch is None:
            return None
        grid = GridBuffer(self._batch.shape, self._grid.ncols, fill_value=self._levels[0])
        return grid.fill(np.asarray(self._batch, dtype=np.float32)).copy()

    def displayed_rgb(self) -> np.ndarray | None:
        """The picture on screen as (H', W', 3) uint8 RGB, before scaling to the panel."""
        return None if self._grid is None or self._batch is None else self._grid.rgb()

    def clear(self) -> None:
        self._batch = None
        self.canvas.set_qimage(None)


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


class ValueHistogram(QWidget):
    """Histogram of an array's values (filled bars) with the N(0, 1) density on top, with axes and a legend.

    Painted directly with QPainter: the axes, tick labels, legend and the reference curve are drawn
    once into a cached pixmap (again only on resize or when the y range changes), and each frame
    draws that pixmap plus one polygon of bars. As a pyqtgraph ``PlotWidget`` the same picture cost
    about 3 ms a frame in Python paint calls, more than the whole rest of a scrubber frame.
    """

    MARGINS = (48, 10, 12, 34)  # left, top, right, bottom: room for the tick labels and axis titles

    def __init__(self, value_range: tuple[float, float] = (-4.0, 4.0), bins: int = 81, parent: QWidget | None = None):
        super().__init__(parent)
        self.value_range = value_range
        self.bins = bins
        self.y_top = Y_TOPS[0]
        self.last_density: np.ndarray | None = None
        self._edges = np.linspace(value_range[0], value_range[1], bins + 1)
        self._reference_x = np.linspace(value_range[0], value_range[1], 241)
        self._reference_y = normal_density(self._reference_x)
        self._static: QPixmap | None = None
        self._bars = QPolygonF()
        self._reference = QPixmap()  # the N(0, 1) curve alone on transparent, rebuilt with self._static
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 120)
        self.setToolTip("How the values of x_t are spread, against the standard normal density N(0, 1)")

    def set_values(self, values: np.ndarray) -> None:
        edges, density = value_histogram(values, self.bins, self.value_range)
        self.last_density = density
        top = _y_top_for(float(density.max()) * 1.05, self.y_top)
        if top != self.y_top:  # a few fixed tops, changed rarely: each change redraws the axes (≈ 3 ms)
            self.y_top = top
            self._static = None
        self._bars = self._bar_polygon(density)
        self.update(self._plot_rect().toAlignedRect())

    # --- geometry -------------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        left, top, right, bottom = self.MARGINS
        return QRectF(left, top, max(1, self.width() - left - right), max(1, self.height() - top - bottom))

    def _to_screen(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        plot = self._plot_rect()
        lo, hi = self.value_range
        sx = plot.left() + (np.asarray(x, dtype=np.float64) - lo) * (plot.width() / (hi - lo))
        sy = plot.bottom() - np.minimum(np.asarray(y, dtype=np.float64), self.y_top) * (plot.height() / self.y_top)
        return sx, sy

    def _bar_polygon(self, density: np.ndarray) -> QPolygonF:
        """The outline of the step histogram: along the baseline, up and down each bar."""
        xs = np.repeat(self._edges, 2)  # x0 x0 x1 x1 … : each edge twice
        ys = np.concatenate([[0.0], np.repeat(density, 2), [0.0]])
        sx, sy = self._to_screen(xs, ys)
        return QPolygonF([QPointF(a, b) for a, b in zip(sx.tolist(), sy.tolist(), strict=True)])

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._static = None
        if self.last_density is not None:
            self._bars = self._bar_polygon(self.last_density)
        super().resizeEvent(event)

    # --- painting -------------------------------------------------------------------------------

    def _draw_static(self) -> QPixmap:
        """Background, axes, ticks, titles, legend and the N(0, 1) curve, for the current size and y range."""
        ratio = self.devicePixelRatioF()
        pixmap = QPixmap(max(1, round(self.width() * ratio)), max(1, round(self.height() * ratio)))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(QColor(HISTOGRAM_BACKGROUND))
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        plot = self._plot_rect()
        axis_pen = QPen(QColor(HISTOGRAM_AXIS))
        painter.setPen(axis_pen)
        painter.drawLine(plot.bottomLeft(), plot.bottomRight())
        painter.drawLine(plot.bottomLeft(), plot.topLeft())
        metrics = painter.fontMetrics()
        lo, hi = self.value_range
        for value in range(math.ceil(lo), math.floor(hi) + 1):
            x = float(self._to_screen([value], [0.0])[0][0])
            painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4))
            label = f"{value:d}" if value >= 0 else f"−{-value:d}"
            painter.drawText(
                QRectF(x - 20, plot.bottom() + 5, 40, metrics.height()), Qt.AlignmentFlag.AlignHCenter, label
            )
        step = _nice_step(self.y_top / 4)
        value = 0.0
        while value <= self.y_top + 1e-9:
            y = float(self._to_screen([0.0], [value])[1][0])
            painter.drawLine(QPointF(plot.left() - 4, y), QPointF(plot.left(), y))
            painter.drawText(QRectF(0, y - metrics.height() / 2, plot.left() - 7, metrics.height()),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:g}")  # fmt: skip
            value += step
        painter.drawText(QRectF(plot.left(), self.height() - metrics.height() - 1, plot.width(), metrics.height()),
                         Qt.AlignmentFlag.AlignHCenter, "value")  # fmt: skip
        painter.save()
        painter.translate(12, plot.center().y())
        painter.rotate(-90)
        painter.drawText(
            QRectF(-60, -metrics.height() / 2 - 2, 120, metrics.height()), Qt.AlignmentFlag.AlignCenter, "density"
        )
        painter.restore()
        # The reference density, then the legend.
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(*REFERENCE_RGB), 2))
        legend_x, legend_y = plot.right() - 130, plot.top() + 4
        painter.fillRect(QRectF(legend_x, legend_y + 3, 18, 9), QColor(*HISTOGRAM_FILL_RGBA))
        painter.drawLine(QPointF(legend_x, legend_y + 26), QPointF(legend_x + 18, legend_y + 26))
        painter.setPen(QPen(QColor(HISTOGRAM_TEXT)))
        painter.drawText(QPointF(legend_x + 24, legend_y + 12), "values of x_t")
        painter.drawText(QPointF(legend_x + 24, legend_y + 30), "N(0, 1)")
        painter.end()
        # The reference curve goes on top of the bars, so it has a transparent pixmap of its own
        # (drawn antialiased once: antialiasing it every frame would cost 1 ms).
        self._reference = QPixmap(pixmap.size())
        self._reference.setDevicePixelRatio(ratio)
        self._reference.fill(Qt.GlobalColor.transparent)
        painter = QPainter(self._reference)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(*REFERENCE_RGB), 2))
        sx, sy = self._to_screen(self._reference_x, self._reference_y)
        painter.drawPolyline(QPolygonF([QPointF(a, b) for a, b in zip(sx.tolist(), sy.tolist(), strict=True)]))
        painter.end()
        return pixmap

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if self._static is None or self._static.deviceIndependentSize().toSize() != self.size():
            self._static = self._draw_static()
        painter = QPainter(self)
        painter.drawPixmap(0, 0, self._static)
        if len(self._bars):
            painter.setClipRect(self._plot_rect().adjusted(0, -1, 0, 1))
            painter.setPen(QPen(QColor(*HISTOGRAM_PEN_RGB)))
            painter.setBrush(QColor(*HISTOGRAM_FILL_RGBA))
            painter.drawPolygon(self._bars)
        painter.setClipping(False)
        painter.drawPixmap(0, 0, self._reference)  # the reference curve, on top of the bars
        painter.end()


Y_TOPS = (0.5, 0.8, 1.25, 2.0, 3.2, 5.0, 8.0)  # the density axis tops out at one of these


def _y_top_for(needed: float, current: float) -> float:
    """The density axis top for a histogram peaking at ``needed``: grow at once, shrink only when the
    peak falls well below the next smaller top (so scrubbing does not make the axis flicker)."""
    fits = next((top for top in Y_TOPS if top >= needed), Y_TOPS[-1])
    if fits >= current:
        return fits
    below = max(top for top in Y_TOPS if top < current)
    return fits if needed < 0.8 * below else current


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^k that is at least ``raw``."""
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= raw:
            return factor * power
    return 10.0 * power
