"""Form pieces the Train view's settings column builds the same way, and how they store their values."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QSpinBox, QWidget


def form_layout(box: QWidget) -> QFormLayout:
    """A form on ``box`` whose fields take the box's full width."""
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setContentsMargins(8, 6, 8, 6)
    return form


def group(title: str) -> tuple[QGroupBox, QFormLayout]:
    """A titled box of the settings column and its form."""
    box = QGroupBox(title)
    return box, form_layout(box)


def compact_combo() -> QComboBox:
    """A combo box whose long entries do not widen the settings panel (the popup shows them in full)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(12)
    return combo


def spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
    """An integer field with thousands separators."""
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setValue(value)
    box.setGroupSeparatorShown(True)
    box.setToolTip(tip)
    return box


def select(combo: QComboBox, data) -> None:
    """Choose the entry whose item data is ``data``; nothing changes when there is none."""
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)


# A stored form field is (widget, kind), kind one of "combo" (item data), "text", "check" and "spin".


def field_value(widget, kind: str):
    """What a form field stores in QSettings."""
    if kind == "combo":
        return widget.currentData()
    if kind == "text":
        return widget.text()
    if kind == "check":
        return widget.isChecked()
    return widget.value()


def show_field_value(widget, kind: str, value) -> None:
    """Show a value read back from QSettings (TypeError or ValueError when it does not fit the field)."""
    if kind == "combo":
        select(widget, value)
    elif kind == "text":
        widget.setText(str(value))
    elif kind == "check":
        widget.setChecked(value in (True, "true", "1", 1))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    else:
        widget.setValue(int(value))
