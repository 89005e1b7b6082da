"""The model row of the Generate view: which trained denoiser to sample from.

The list holds the bundled models (``resources/models``), the user's checkpoints, files opened
before (remembered in the settings) and the models trained in this session (the Train view hands
them over). Choosing one loads it (a few are cached) and ``model_changed`` carries the loaded
Checkpoint-like object (``model``, ``schedule``, ``metadata``), or None for "no model".
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QWidget,
)

from core.evaluation.distilled_student import native_sampling
from core.io import CheckpointError, load_denoiser
from desktop_app import paths
from desktop_app.model_library import ModelEntry, describe_metadata, entry_for_file, list_models
from desktop_app.widgets.flow_row import FlowRow

NO_MODEL = ""  # the key of "— choose a model —"
MAX_CACHED = 6  # loaded checkpoint files kept in memory (models trained in this session always stay)


class ElidedComboBox(QComboBox):
    """A combo box that shows a long current entry elided in the middle ("fashion_mni…, step 3,580)"), keeps
    the whole text in its tooltip, and opens a popup wide enough for the longest entry."""

    def __init__(self, tooltip: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._tip = tooltip
        self.setToolTip(tooltip)
        self.currentIndexChanged.connect(self._on_current_changed)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        option.currentText = self.displayed_text(field.width() - 4)
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def displayed_text(self, width: int | None = None) -> str:
        """The current entry as painted in ``width`` pixels (default: the edit field's width)."""
        if width is None:
            option = QStyleOptionComboBox()
            self.initStyleOption(option)
            field = self.style().subControlRect(
                QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, self
            )
            width = field.width() - 4
        return self.fontMetrics().elidedText(self.currentText(), Qt.TextElideMode.ElideMiddle, max(0, width))

    def showPopup(self) -> None:  # noqa: N802 (Qt's name)
        widest = max((self.fontMetrics().horizontalAdvance(self.itemText(i)) for i in range(self.count())), default=0)
        room = self.screen().availableGeometry().width() - 40 if self.screen() else widest + 40
        self.view().setMinimumWidth(min(widest + 40, room))
        super().showPopup()

    @Slot(int)
    def _on_current_changed(self, index: int) -> None:
        text = self.itemText(index) if index >= 0 else ""
        self.setToolTip(f"{text}\n\n{self._tip}" if text else self._tip)


def num_classes(model) -> int:
    """How many classes a denoiser is conditioned on (0: unconditional)."""
    return int(getattr(model, "num_classes", 0) or 0)


def sample_shape(checkpoint) -> tuple[int, ...]:
    """The shape of one sample of ``checkpoint``'s model, from its metadata or its config."""
    metadata = getattr(checkpoint, "metadata", {}) or {}
    shape = metadata.get("image_shape")
    if shape:
        return tuple(int(s) for s in shape)
    config = getattr(checkpoint.model, "config", None)
    if config is not None and hasattr(config, "image_size"):
        return (int(config.in_channels), int(config.image_size), int(config.image_size))
    return (2,)


def class_names(checkpoint) -> list[str]:
    """One name per class of a conditional model (the metadata's, else "class i"); empty otherwise."""
    names = list((getattr(checkpoint, "metadata", {}) or {}).get("class_names") or [])
    return [names[i] if i < len(names) else f"class {i}" for i in range(num_classes(checkpoint.model))]


class ModelPanel(QWidget):
    """Model list, Open checkpoint… and a line about the chosen model (schedule, prediction, classes)."""

    model_changed = Signal(object)  # the loaded checkpoint, or None

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._memory_models: dict[str, object] = {}  # key → Checkpoint-like objects (model, schedule, metadata)
        self._loaded: dict[str, object] = {}  # key → loaded checkpoint (small cache)
        self.current = None  # the chosen checkpoint (None: no model)
        self.current_key = NO_MODEL
        self.model_combo = ElidedComboBox("Bundled models, your checkpoints, and the model trained in this session")
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(30)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.open_button = QPushButton("Open checkpoint…")
        self.open_button.setToolTip("Load a .safetensors checkpoint (or drop one on the window)")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.model_info = QLabel("")
        self.model_info.setStyleSheet("color: #555")
        row = FlowRow(self)  # wraps on a narrow window (projector)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Model"))
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.open_button)
        row.addWidget(self.model_info, 1)

    def model_name(self) -> str:
        return self.model_combo.currentText() if self.current is not None else "no model"

    def set_busy(self, busy: bool) -> None:
        """While sampling the model cannot change."""
        for widget in (self.model_combo, self.open_button):
            widget.setEnabled(not busy)

    def refresh(self) -> None:
        """Rebuild the list (bundled + user checkpoints + this session's models), keeping the choice."""
        keep = self.current_key
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("— choose a model —", NO_MODEL)
        for key, obj in self._memory_models.items():
            self.model_combo.addItem(self._memory_label(obj), key)
        for entry in list_models():
            self._add_entry(entry)
        for path in self._settings.value("generate/opened", [], type=list) or []:
            key = f"file:{path}"
            if self.model_combo.findData(key) < 0 and Path(path).is_file():
                self._add_entry(entry_for_file(path))
        index = self.model_combo.findData(keep)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.blockSignals(False)

    def choose_initial(self) -> None:
        """With no model chosen yet: the last used file, else the first usable bundled model."""
        combo = self.model_combo
        if self.current is not None or combo.count() <= 1:
            return
        wanted = self._settings.value("generate/model", "")
        index = combo.findData(wanted) if wanted else -1
        if index > 0 and not combo.model().item(index).isEnabled():
            index = -1
        if index < 0:
            bundled = [
                i
                for i in range(1, combo.count())
                if combo.itemText(i).startswith("Bundled") and combo.model().item(i).isEnabled()
            ]
            index = bundled[0] if bundled else -1
        if index > 0:
            combo.setCurrentIndex(index)

    def save_settings(self) -> None:
        if self.current_key.startswith("file:"):
            self._settings.setValue("generate/model", self.current_key)

    def _add_entry(self, entry: ModelEntry) -> int:
        key = f"file:{entry.path}"
        existing = self.model_combo.findData(key)
        if existing >= 0:
            return existing
        prefix = {"bundled": "Bundled: ", "checkpoint": "", "trained": "Just trained: "}.get(entry.source, "")
        self.model_combo.addItem(prefix + entry.label, key)
        index = self.model_combo.count() - 1
        if not entry.usable:
            self.model_combo.setItemData(index, entry.problem, Qt.ItemDataRole.ToolTipRole)
            item = self.model_combo.model().item(index)
            if item is not None:
                item.setEnabled(False)  # listed, so the user sees the file, but it cannot be chosen
        return index

    @staticmethod
    def _memory_label(obj) -> str:
        details = describe_metadata(getattr(obj, "metadata", {}) or {})
        return f"Just trained: {details}" if details else "Just trained"

    def add_model(self, obj, select: bool = True) -> None:
        """Offer a model trained in this session (a Checkpoint-like object); ``select`` chooses it."""
        key = f"memory:{len(self._memory_models)}"
        self._memory_models[key] = obj
        self._loaded[key] = obj
        self.model_combo.blockSignals(True)
        self.model_combo.insertItem(1, self._memory_label(obj), key)
        self.model_combo.blockSignals(False)
        if select:
            self.model_combo.setCurrentIndex(1)

    def open_checkpoint(self, path: str | Path) -> bool:
        """Load a checkpoint file and select it; a damaged file shows a message and changes nothing."""
        path = Path(path)
        key = f"file:{path}"
        try:
            checkpoint = load_denoiser(path)
        except (CheckpointError, OSError) as error:
            QMessageBox.warning(self, "Cannot open this checkpoint", str(error))
            return False
        self._loaded[key] = checkpoint
        opened = [p for p in (self._settings.value("generate/opened", [], type=list) or []) if p != str(path)]
        self._settings.setValue("generate/opened", [str(path), *opened][:10])
        index = self.model_combo.findData(key)
        if index < 0:
            self.model_combo.blockSignals(True)
            index = self._add_entry(entry_for_file(path))
            self.model_combo.blockSignals(False)
        if self.model_combo.currentIndex() == index:
            self._use_model(key, checkpoint)
        else:
            self.model_combo.setCurrentIndex(index)
        return True

    @Slot()
    def _on_open_clicked(self) -> None:
        start = self._settings.value("generate/last_folder", str(paths.checkpoints_dir()))
        path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint", str(start), "Checkpoints (*.safetensors)")
        if path:
            self._settings.setValue("generate/last_folder", str(Path(path).parent))
            self.open_checkpoint(path)

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        key = self.model_combo.itemData(index)
        if not key:
            self._use_model(NO_MODEL, None)
            return
        checkpoint = self._loaded.get(key)
        if checkpoint is None:
            path = key.partition(":")[2]
            try:
                checkpoint = load_denoiser(path)
            except (CheckpointError, OSError) as error:
                QMessageBox.warning(self, "Cannot open this checkpoint", str(error))
                self.model_combo.blockSignals(True)
                self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(self.current_key)))
                self.model_combo.blockSignals(False)
                return
            if len(self._loaded) > MAX_CACHED:  # keep a few models in memory, not all
                for old in [k for k in self._loaded if not k.startswith("memory:")][:-4]:
                    self._loaded.pop(old, None)
            self._loaded[key] = checkpoint
        self._use_model(key, checkpoint)

    def _use_model(self, key: str, checkpoint) -> None:
        self.current_key = key
        self.current = checkpoint
        if checkpoint is None:
            self.model_info.setText("")
        else:
            model, schedule = checkpoint.model, checkpoint.schedule
            classes = num_classes(model)
            prediction = getattr(model, "prediction_type", "eps")
            native = native_sampling(getattr(checkpoint, "metadata", None))
            self.model_info.setText(
                f"{schedule.label} · predicts {prediction}"
                + (f" · {classes} classes" if classes else "")
                + (f" · distilled for {native.steps} {native.sampler.upper()} steps" if native else "")
            )
        self.model_changed.emit(checkpoint)
