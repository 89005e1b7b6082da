"""A row of controls that wraps onto the next line when the window is narrow (a projector at 1024×768).

``FlowRow`` is a drop-in for the ``QHBoxLayout`` rows of the panels: ``addWidget``, ``addSpacing``,
``addStretch`` and ``addLayout`` work as there, but where the widgets do not fit the width they
continue on the next line, so a row's minimum width is its widest item, not the sum of all of them.
It follows Qt's Flow Layout example (heightForWidth, so the window grows taller rather than wider).
A stretch pushes what follows to the right end of its line, as in a box layout.
"""

from __future__ import annotations

from PySide6.QtCore import QMargins, QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLabel, QLayout, QLayoutItem, QSizePolicy, QSpacerItem, QWidget


class FlowRow(QLayout):
    """Lays its items out left to right and wraps them onto more lines when the width runs out."""

    def __init__(self, parent: QWidget | None = None, spacing: int = 6, line_spacing: int = 4):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []
        self._stretch_before: set[int] = set()  # item indices preceded by addStretch()
        self._spacing = spacing
        self._line_spacing = line_spacing
        self.setContentsMargins(0, 0, 0, 0)

    # --- the QHBoxLayout-like API the panels use ---------------------------------------------

    def addWidget(self, widget: QWidget, stretch: int = 0, alignment=None) -> None:  # noqa: N802
        super().addWidget(widget)  # Qt makes (and owns) the QWidgetItem

    def addLayout(self, layout: QLayout, stretch: int = 0) -> None:  # noqa: N802
        holder = QWidget()  # a nested row wraps as one unit
        holder.setLayout(layout)
        layout.setContentsMargins(0, 0, 0, 0)
        self.addWidget(holder)

    def addSpacing(self, size: int) -> None:  # noqa: N802
        self.addItem(QSpacerItem(size, 0, QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Minimum))

    def addStretch(self, stretch: int = 0) -> None:  # noqa: N802
        self._stretch_before.add(len(self._items))

    def setSpacing(self, spacing: int) -> None:  # noqa: N802
        self._spacing = spacing
        self.invalidate()

    def spacing(self) -> int:
        return self._spacing

    # --- QLayout ---------------------------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802
        self._items.append(item)
        self.invalidate()

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802
        if not 0 <= index < len(self._items):
            return None
        self._stretch_before = {i - (i > index) for i in self._stretch_before if i != index}
        return self._items.pop(index)

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802
        return Qt.Orientation.Horizontal

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802
        """Everything on one line where there is room."""
        visible = self._visible()
        width = sum(item.sizeHint().width() for _i, item in visible) + self._spacing * max(0, len(visible) - 1)
        height = max((item.sizeHint().height() for _i, item in visible), default=0)
        return QSize(width, height).grownBy(self.contentsMargins())

    def minimumSize(self) -> QSize:  # noqa: N802
        """The widest single item: everything else can go onto another line."""
        size = QSize()
        for _i, item in self._visible():
            size = size.expandedTo(item.minimumSize())
        return size.grownBy(self.contentsMargins())

    # --- placing ---------------------------------------------------------------------------------

    def _visible(self) -> list[tuple[int, QLayoutItem]]:
        return [(i, item) for i, item in enumerate(self._items) if not item.isEmpty()]

    def _place(self, rect: QRect, *, move: bool) -> int:
        """Break the items into lines that fit ``rect``'s width; place them when ``move``; return the height."""
        margins: QMargins = self.contentsMargins()
        area = rect.marginsRemoved(margins)
        lines: list[list[tuple[int, QLayoutItem, QSize]]] = [[]]
        used = 0
        for index, item in self._visible():
            size = item.sizeHint().boundedTo(item.maximumSize()).expandedTo(item.minimumSize())
            size.setWidth(min(size.width(), max(area.width(), item.minimumSize().width())))
            needed = size.width() + (self._spacing if lines[-1] else 0)
            if lines[-1] and used + needed > area.width():
                carried = [lines[-1].pop()] if len(lines[-1]) > 1 and _is_caption(lines[-1][-1][1]) else []
                lines.append(carried)  # a caption ("Steps") moves with the control it names
                used = sum(s.width() + self._spacing for _i, _item, s in carried)
                needed = size.width()
            lines[-1].append((index, item, size))
            used += needed
        y = area.y()
        for line in lines:
            if not line:
                continue
            line_height = max(size.height() for _i, _item, size in line)
            if move:
                self._place_line(line, area, y, line_height)
            y += line_height + self._line_spacing
        return y - self._line_spacing - area.y() + margins.top() + margins.bottom()

    def _place_line(self, line, area: QRect, y: int, height: int) -> None:
        """Left to right; the part after a stretch goes to the right end; spare width to expanding items."""
        total = sum(size.width() for _i, _item, size in line) + self._spacing * (len(line) - 1)
        spare = max(0, area.width() - total)
        growers = [i for i, item, _s in line if item.widget() is not None and _grows(item.widget())]
        grow_each = spare // len(growers) if growers else 0
        x = area.x()
        for position, (index, item, size) in enumerate(line):
            width = size.width() + (grow_each if index in growers else 0)
            if not growers and position > 0 and index in self._stretch_before:
                x += spare  # addStretch(): what follows sits at the right end of the line
                spare = 0
            top = y + (height - size.height()) // 2
            item.setGeometry(QRect(QPoint(x, top), QSize(width, size.height())))
            x += width + self._spacing


def _grows(widget: QWidget) -> bool:
    return widget.sizePolicy().horizontalPolicy() in (QSizePolicy.Policy.Expanding, QSizePolicy.Policy.MinimumExpanding)


def _is_caption(item: QLayoutItem) -> bool:
    return isinstance(item.widget(), QLabel)
