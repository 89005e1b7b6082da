"""What a view's controls say, as a JSON-ready dict, and setting them back: the part of a session file
that belongs to one view.

A view may define ``session_state() -> dict`` and ``restore_session_state(dict) -> list[str]`` itself
(the list: what could not be restored, in words). Every other view is read the same way: its controls
are found through its attributes and its panels' attributes (``generate.sampler_panel.steps_spin`` is
saved as ``"steps_spin"``; a panel's control the view does not name as ``"sampler_panel.eta_spin"``),
so a control added to a view is saved without anyone editing this file. Saved per control:

- a combo box: its item's data when that is a plain value (the sampler key "ddim", a model file key),
  else its text;
- a spin box: its value; a checkable button: checked or not; a line edit: its text;
- a tab widget: its tab; a slider or ``TimelineScrubber``: its position, set last (its range depends
  on the other controls: the scrubber of T = 1000 steps has 1000 positions).

Restoring sets each control as a person would (signals fire, the view recomputes), then repeats for
the controls that a dependent one reset (a new dataset resets the model list) until they stay.

A list of panels that come and go (the Schedules view's ``columns``, 2 to 4 schedules) is saved as a
list of tables, one per panel; restoring first makes as many panels with the view's ``add_column()``
and ``remove_column(index)``, then sets each.
"""

from __future__ import annotations

from pathlib import Path, PurePath

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QDoubleSpinBox,
    QLineEdit,
    QRadioButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QWidget,
)

from desktop_app.widgets.timeline_scrubber import TimelineScrubber

MAX_DEPTH = 3  # view → panel → sub-panel → control
RESTORE_PASSES = 3
POSITIONS = (QSlider, TimelineScrubber)  # set after everything else


def _is_control(widget: QWidget) -> bool:
    if isinstance(widget, QAbstractButton):
        return widget.isCheckable()
    return isinstance(widget, (QComboBox, QSpinBox, QDoubleSpinBox, QLineEdit, QTabWidget, *POSITIONS))


def _is_panel(widget: QWidget) -> bool:
    return type(widget).__module__.startswith("desktop_app.") and not isinstance(widget, QAbstractSpinBox)


def session_controls(view: QWidget) -> dict[str, QWidget]:
    """{name: control} of every control reachable from ``view``'s attributes, shortest name first."""
    found: dict[str, QWidget] = {}
    seen: set[int] = {id(view)}
    level: list[tuple[str, QObject]] = [("", view)]
    for _depth in range(MAX_DEPTH):
        panels: list[tuple[str, QObject]] = []
        for prefix, owner in level:
            for name, value in vars(owner).items():
                if name.startswith("_") or not isinstance(value, QWidget) or id(value) in seen:
                    continue
                if _is_control(value):
                    seen.add(id(value))
                    found[prefix + name] = value
                elif _is_panel(value):
                    panels.append((f"{prefix}{name}.", value))
        for _prefix, panel in panels:
            seen.add(id(panel))
        level = panels
    return found


def control_value(widget: QWidget):
    if isinstance(widget, QComboBox):
        data = widget.currentData()
        return data if isinstance(data, (str, int, float)) and not isinstance(data, bool) else widget.currentText()
    if isinstance(widget, QSpinBox):
        return widget.value()
    if isinstance(widget, QDoubleSpinBox):
        return round(widget.value(), widget.decimals())
    if isinstance(widget, QAbstractButton):
        return widget.isChecked()
    if isinstance(widget, QLineEdit):
        return widget.text()
    if isinstance(widget, QTabWidget):
        return widget.currentIndex()
    return widget.value()  # QSlider, TimelineScrubber


def panel_lists(view: QWidget) -> dict[str, list[QWidget]]:
    """{name: panels} of the view's lists of panels that come and go (Schedules' ``columns``)."""
    return {
        name: value
        for name, value in vars(view).items()
        if not name.startswith("_")
        and isinstance(value, list)
        and value
        and all(isinstance(item, QWidget) and _is_panel(item) for item in value)
    }


def _controls_state(root: QWidget) -> dict:
    return {name: control_value(widget) for name, widget in session_controls(root).items()}


def capture_view(view: QWidget) -> dict:
    """The state of ``view`` (its own ``session_state()`` where it has one)."""
    own = getattr(view, "session_state", None)
    if own is not None:
        return dict(own())
    state = {name: [_controls_state(panel) for panel in panels] for name, panels in panel_lists(view).items()}
    return {**state, **_controls_state(view)}


def check_value(widget: QWidget, value) -> str | None:
    """Why ``value`` cannot be the value of ``widget`` (None when it can)."""
    if isinstance(widget, QAbstractButton):
        return None if isinstance(value, bool) else "should be true or false"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(widget, QDoubleSpinBox):
        return None if number else "should be a number"
    if isinstance(widget, (QSpinBox, QTabWidget, *POSITIONS)):
        return None if number and float(value).is_integer() else "should be a whole number"
    if isinstance(widget, QLineEdit):
        return None if isinstance(value, str) else "should be text"
    return None if isinstance(value, (str, int, float)) and not isinstance(value, bool) else "should be a name"


def _combo_index(combo: QComboBox, value) -> int:
    index = combo.findData(value)
    if index < 0 and isinstance(value, str):
        index = combo.findText(value)
    if index < 0 and isinstance(value, str):  # a preset names a model by its file's stem: "fmnist_unet"
        for i in range(combo.count()):
            if combo.itemText(i).startswith(f"{value} ("):
                return i
    if index < 0 and isinstance(value, str) and value.startswith("file:"):  # a preset names a shipped file
        wanted = PurePath(value[5:]).name
        for i in range(combo.count()):
            data = combo.itemData(i)
            if isinstance(data, str) and data.startswith("file:") and PurePath(data[5:]).name == wanted:
                return i
    return index


def _reached(widget: QWidget, value) -> bool:
    """Whether ``widget`` shows ``value`` (a combo: the entry ``value`` names, however it names it)."""
    if control_value(widget) == value:
        return True
    return isinstance(widget, QComboBox) and 0 <= widget.currentIndex() == _combo_index(widget, value)


def set_control(widget: QWidget, value) -> str | None:
    """Set ``widget`` to ``value`` as a person would; returns why it could not be, or None."""
    if isinstance(widget, QComboBox):
        index = _combo_index(widget, value)
        if index < 0:
            return f"has no entry {value!r}"
        item = widget.model().item(index) if hasattr(widget.model(), "item") else None
        if item is not None and not item.isEnabled():
            return f"cannot use {widget.itemText(index)!r} here"
        widget.setCurrentIndex(index)
    elif isinstance(widget, QRadioButton):
        if value:  # a group of radio buttons is restored by checking the one that was checked
            widget.setChecked(True)
    elif isinstance(widget, QAbstractButton):
        widget.setChecked(bool(value))
    elif isinstance(widget, QDoubleSpinBox):
        widget.setValue(float(value))
    elif isinstance(widget, QLineEdit):
        widget.setText(value)
    elif isinstance(widget, QTabWidget):
        widget.setCurrentIndex(int(value))
    else:
        widget.setValue(int(value))
    return None


def _validate_controls(controls: dict[str, QWidget], state: dict, where: str) -> list[str]:
    problems = []
    for name, value in state.items():
        widget = controls.get(name)
        reason = check_value(widget, value) if widget is not None else None
        if reason:
            problems.append(f"{where}: {name} {reason}, not {value!r}.")
    return problems


def validate_view_state(view: QWidget, state: dict, where: str) -> list[str]:
    """Problems that make ``state`` unusable for ``view`` (each naming the control), before anything changes."""
    if not isinstance(state, dict):
        return [f"{where} should be a table of control values."]
    if getattr(view, "restore_session_state", None) is not None:
        return []
    lists = panel_lists(view)
    problems = []
    for name, panels in lists.items():
        if name not in state:
            continue
        entries = state[name]
        if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
            problems.append(f"{where}: {name} should be a list of tables, one per panel.")
            continue
        controls = session_controls(panels[0])
        for i, entry in enumerate(entries):
            problems += _validate_controls(controls, entry, f"{where} {name}[{i}]")
    flat = {name: value for name, value in state.items() if name not in lists}
    return problems + _validate_controls(session_controls(view), flat, where)


def _restore_list(view: QWidget, name: str, entries: list[dict], where: str) -> list[str]:
    """Make as many panels as ``entries`` (``view.add_column()`` / ``view.remove_column(i)``), then set each."""
    panels = getattr(view, name)
    add, remove = getattr(view, "add_column", None), getattr(view, "remove_column", None)
    while len(panels) < len(entries) and add is not None and add() is not None:
        pass
    while len(panels) > len(entries) and remove is not None:
        count = len(panels)
        remove(count - 1)
        if len(panels) == count:
            break
    skipped = (
        [] if len(panels) == len(entries) else [f"{where}: {name} keeps {len(panels)} panels, not {len(entries)}."]
    )
    for i, (panel, entry) in enumerate(zip(panels, entries, strict=False)):
        skipped += _restore_controls(session_controls(panel), entry, f"{where} {name}[{i}]")
    return skipped


def restore_view(view: QWidget, state: dict, where: str = "") -> list[str]:
    """Set ``view``'s controls to ``state`` (checked by ``validate_view_state``); returns what was skipped."""
    own = getattr(view, "restore_session_state", None)
    if own is not None:
        return list(own(dict(state)) or [])
    lists = panel_lists(view)
    skipped = []
    for name in lists:
        if name in state:
            skipped += _restore_list(view, name, state[name], where)
    flat = {name: value for name, value in state.items() if name not in lists}
    controls = session_controls(view)
    _open_missing_checkpoints(view, controls, flat)
    return skipped + _restore_controls(controls, flat, where)


def _open_missing_checkpoints(view: QWidget, controls: dict[str, QWidget], state: dict) -> None:
    """A checkpoint file the session names but the model list does not offer (opened on another day):
    open it as File ▸ Open checkpoint would, so the list offers it (the view's ``open_checkpoint``)."""
    opener = getattr(view, "open_checkpoint", None)
    for name, value in state.items():
        widget = controls.get(name)
        if opener is None or not isinstance(widget, QComboBox) or not isinstance(value, str):
            continue
        if value.startswith("file:") and _combo_index(widget, value) < 0 and Path(value[5:]).is_file():
            opener(value[5:])


def _restore_controls(controls: dict[str, QWidget], state: dict, where: str) -> list[str]:
    skipped = [f"{where}: this version has no control called {name}." for name in state if name not in controls]
    known = [(name, controls[name], value) for name, value in state.items() if name in controls]
    ordered = [entry for entry in known if not isinstance(entry[1], POSITIONS)]
    ordered += [entry for entry in known if isinstance(entry[1], POSITIONS)]
    problems: dict[str, str] = {}
    for _pass in range(RESTORE_PASSES):
        pending = [entry for entry in ordered if not _reached(entry[1], entry[2])]
        if not pending:
            break
        for name, widget, value in pending:
            reason = set_control(widget, value)
            if reason:
                problems[name] = reason
            else:
                problems.pop(name, None)
    for name, widget, value in ordered:  # still different after the passes: the view does not allow it
        if name not in problems and not _reached(widget, value) and widget.isEnabled():
            problems[name] = f"stays at {control_value(widget)!r} instead of {value!r}"
    return skipped + [f"{where}: {name} {reason}." for name, reason in problems.items()]
