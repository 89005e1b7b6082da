"""CallWorker: run one function off the GUI thread and hand its return value back."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Signal, Slot

from desktop_app.workers.base import Worker


class CallWorker(Worker):
    """Run one function off the GUI thread and emit its return value with ``result``."""

    result = Signal(object)

    def __init__(self, function: Callable[[], object]) -> None:
        super().__init__()
        self._function = function

    @Slot()
    def run(self) -> None:
        self.started.emit()
        try:
            value = self._function()
        except Exception as error:  # reported to the user, never raised into Qt
            self._fail(error)
        else:
            self.result.emit(value)
        finally:
            self._finish()
