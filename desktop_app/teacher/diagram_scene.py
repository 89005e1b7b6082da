"""The picture of the diagram: the sampling pipeline in a row, the network's blocks in a U below it.

``DiagramScene(blocks, text_colour)`` draws ``core.models.inspection.network_blocks(model)``: the
encoder down the left, the bottleneck at the bottom, the decoder up the right (``up.0`` level with
the last encoder output it concatenates), each skip connection a dashed arrow, the output head above
the decoder and the embeddings below. Every box is selectable; ``block_clicked(key)`` says which.
"""

from __future__ import annotations

import itertools

from PySide6.QtCore import QPointF, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFont, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView

from core.models.inspection import Block

BLOCK_W, BLOCK_H, GAP_X, GAP_Y = 300, 54, 140, 16
ARROW = "#9a9a9a"  # arrows: visible on the light and the high-contrast background
PIPELINE_COLOUR = "#4a4a4a"
PIPELINE = (  # (key, text, what clicking it explains)
    ("x_T", "x_T ~ N(0, I)\npure noise", "Sampling starts from pure Gaussian noise of the image's shape."),
    (
        "network",
        "U-Net predicts ε̂(x_t, t)",
        "The network looks at x_t and the timestep t and predicts the noise in it.",
    ),
    ("sampler", "sampler step\nx_t → x_{t−1}", "DDPM, DDIM… use ε̂ to remove a little noise: x_t becomes x_{t−1}."),
    ("x_0", "x₀\nthe sample", "After the last step (t = 0) what is left is a new image."),
)
PART_COLOURS = {
    "embedding": "#7a5cff",
    "input": "#2f8f5b",
    "encoder": "#1f5fae",
    "bottleneck": "#b34d00",
    "decoder": "#a8286a",
    "output": "#2f8f5b",
}


def _box_text(block: Block) -> str:
    return f"{block.name}\n{block.label}"


def _edge_point(rect: QRectF, toward: QPointF) -> QPointF:
    """Where the line from ``rect``'s centre to ``toward`` leaves the rectangle."""
    c = rect.center()
    dx, dy = toward.x() - c.x(), toward.y() - c.y()
    if dx == 0 and dy == 0:
        return c
    sx = rect.width() / 2 / abs(dx) if dx else float("inf")
    sy = rect.height() / 2 / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return QPointF(c.x() + dx * s, c.y() + dy * s)


class BlockItem(QGraphicsRectItem):
    """A box that names a block; selectable, so a click selects it."""

    def __init__(self, key: str, text: str, colour: str, rect: QRectF):
        super().__init__(rect)
        self.key = key
        self.setBrush(QBrush(QColor(colour)))
        self.setPen(QPen(QColor("#ffffff"), 2))
        self.setFlag(QGraphicsRectItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{text}\nClick for its shapes")
        label = QGraphicsSimpleTextItem(text, self)
        font = QFont()
        font.setPointSizeF(10)
        label.setFont(font)
        label.setBrush(QBrush(QColor("#ffffff")))
        box = label.boundingRect()
        if box.width() > rect.width() - 12 or box.height() > rect.height() - 4:
            label.setScale(min((rect.width() - 12) / box.width(), (rect.height() - 4) / box.height()))
        label.setPos(rect.center() - QPointF(box.width() * label.scale() / 2, box.height() * label.scale() / 2))


class DiagramScene(QGraphicsScene):
    """The pipeline row and the network's blocks; ``block_clicked(key)`` when one is selected."""

    block_clicked = Signal(str)

    def __init__(self, blocks: list[Block], text_colour: QColor, parent=None):
        super().__init__(parent)
        self.items_by_key: dict[str, BlockItem] = {}
        self.text_colour = text_colour
        self._draw_pipeline()
        self._draw_network(blocks)
        self.selectionChanged.connect(self._on_selection_changed)

    def _add_block(self, key: str, text: str, colour: str, x: float, y: float, w: float = BLOCK_W) -> BlockItem:
        item = BlockItem(key, text, colour, QRectF(x, y, w, BLOCK_H))
        self.addItem(item)
        self.items_by_key[key] = item
        return item

    def _arrow(self, a: QPointF, b: QPointF, dashed: bool = False) -> None:
        path = QPainterPath(a)
        path.lineTo(b)
        pen = QPen(QColor(ARROW), 2.5, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
        self.addPath(path, pen)
        direction = b - a
        length = max(1e-6, (direction.x() ** 2 + direction.y() ** 2) ** 0.5)
        ux, uy = direction.x() / length, direction.y() / length
        head = QPainterPath(b)
        head.lineTo(b - QPointF(12 * ux - 6 * uy, 12 * uy + 6 * ux))
        head.lineTo(b - QPointF(12 * ux + 6 * uy, 12 * uy - 6 * ux))
        head.closeSubpath()
        self.addPath(head, QPen(QColor(ARROW)), QBrush(QColor(ARROW)))

    def _connect(self, a: str, b: str, dashed: bool = False) -> None:
        ra, rb = self.items_by_key[a].rect(), self.items_by_key[b].rect()
        self._arrow(_edge_point(ra, rb.center()), _edge_point(rb, ra.center()), dashed)

    def _text(self, text: str, x: float, y: float) -> None:
        item = self.addSimpleText(text)
        item.setBrush(QBrush(self.text_colour))
        item.setPos(x, y)

    def _draw_pipeline(self) -> None:
        gap = 40
        width = (2 * BLOCK_W + GAP_X - 3 * gap) / 4
        for i, (key, text, _about) in enumerate(PIPELINE):
            self._add_block(key, text, PIPELINE_COLOUR, i * (width + gap), 0, width)
        for a, b in itertools.pairwise(key for key, _t, _a in PIPELINE):
            self._connect(a, b)
        network, sampler = self.items_by_key["network"].rect(), self.items_by_key["sampler"].rect()
        loop = QPainterPath(QPointF(sampler.center().x(), sampler.bottom()))
        loop.cubicTo(sampler.center().x(), sampler.bottom() + 45, network.center().x(), network.bottom() + 45,
                     network.center().x(), network.bottom() + 2)  # fmt: skip
        self.addPath(loop, QPen(QColor(ARROW), 2.5))
        self._text("repeat for t = T … 1", network.center().x() + 20, network.bottom() + 34)
        self._text("inside the U-Net:", 0, network.bottom() + 50)

    def _draw_network(self, blocks: list[Block]) -> None:
        step = BLOCK_H + GAP_Y
        top = BLOCK_H + 80 + step  # one row for the output head above the decoder
        left_x, right_x = 0.0, BLOCK_W + GAP_X
        encoder = [b for b in blocks if b.part in ("input", "encoder")]
        decoder = [b for b in blocks if b.part == "decoder"]
        mids = [b for b in blocks if b.part == "bottleneck"]
        rows = max(len(encoder), len(decoder))
        for i, block in enumerate(encoder):
            self._add_block(block.name, _box_text(block), PART_COLOURS[block.part], left_x, top + i * step)
        for i, block in enumerate(decoder):  # up.0 sits level with the last encoder output it takes
            self._add_block(block.name, _box_text(block), PART_COLOURS["decoder"], right_x, top + (rows - 1 - i) * step)
        bottom = top + rows * step + 10
        for i, block in enumerate(mids):
            x = (left_x + right_x + BLOCK_W) / 2 - BLOCK_W * 0.4 + (i - (len(mids) - 1) / 2) * BLOCK_W * 0.6
            self._add_block(
                block.name, _box_text(block), PART_COLOURS["bottleneck"], x, bottom + i * step, BLOCK_W * 0.8
            )
        for block in blocks:
            if block.part == "output":
                self._add_block(block.name, _box_text(block), PART_COLOURS["output"], right_x, top - step)
        embeddings = [b for b in blocks if b.part == "embedding"]
        y = bottom + max(1, len(mids)) * step + 10
        for i, block in enumerate(embeddings):
            self._add_block(block.name, _box_text(block), PART_COLOURS["embedding"], i * right_x, y)
        if embeddings:
            self._text("added to every ResBlock (scale and shift of its GroupNorm)", 0, y + BLOCK_H + 6)
        chain = [b.name for b in encoder] + [b.name for b in mids] + [b.name for b in decoder]
        chain += [b.name for b in blocks if b.part == "output"]
        for a, b in itertools.pairwise(chain):
            self._connect(a, b)
        skips = [b.name for b in encoder if b.skip]
        for i, block in enumerate(decoder):  # the decoder pops the skips last-in, first-out
            if i < len(skips):
                self._connect(skips[len(skips) - 1 - i], block.name, dashed=True)

    @Slot()
    def _on_selection_changed(self) -> None:
        chosen = [item for item in self.selectedItems() if isinstance(item, BlockItem)]
        if chosen:
            self.block_clicked.emit(chosen[0].key)


class FittedView(QGraphicsView):
    """Shows the whole scene at any window size (a projector's, a laptop's)."""

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.fitInView(self.sceneRect().adjusted(-10, -10, 10, 10), Qt.AspectRatioMode.KeepAspectRatio)
