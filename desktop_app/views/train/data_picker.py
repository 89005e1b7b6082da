"""The Data box of the Train view: what the model learns to generate.

A bundled dataset (2-D toys, Fashion-MNIST, shapes), 2-D points from a word the user types or a
shape they draw, or a folder of their own images. The box shows only the rows the choice needs
(the word, the folder and its colour switch, the drawing) and offers class conditioning only where
the data has classes.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QFileDialog, QGroupBox, QLabel, QLineEdit, QMessageBox, QPushButton, QWidget

from core.data import DATASET_CHOICES, get_dataset, load_drawing, save_drawing
from core.training import TrainConfig
from desktop_app import paths
from desktop_app.views.train.form_parts import compact_combo, form_layout, select
from desktop_app.widgets.drawing_canvas import DrawingDialog
from desktop_app.widgets.form_helpers import widget_row

WORD_SPEC, FOLDER_SPEC, DRAWING_SPEC = "word", "folder", "drawing"  # the combo's entries that need more input
DEFAULT_DATASET = "toy:swiss_roll"
DEFAULT_WORD = "diffusion"


@functools.cache
def has_classes(choice: str) -> bool:
    """Whether the dataset a combo entry names has class labels (a folder may: its subfolders)."""
    if choice in (WORD_SPEC, DRAWING_SPEC):
        return False
    if choice.startswith("toy:"):
        return get_dataset(choice, n=8).labels is not None  # eight points: instant
    return True


class DataPicker(QGroupBox):
    """The "Data" box: dataset, word / folder / drawing as the choice needs, colour, class conditioning."""

    dataset_changed = Signal()  # another dataset was chosen (the rows already fit it)
    drawing_changed = Signal()  # another drawing is the one to train on

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__("Data", parent)
        self._settings = settings
        self.drawing_path: Path | None = None  # the JSON file of the current drawing (DRAWING_SPEC)

        self.dataset_combo = compact_combo()
        self.dataset_combo.setToolTip("What the model learns to generate")
        for choice in sorted(DATASET_CHOICES, key=lambda c: c.kind != "points"):
            self.dataset_combo.addItem(choice.label, choice.spec)
        self.dataset_combo.insertItem(self._index_after_toys(), "2-D: points from a word you type", WORD_SPEC)
        self.dataset_combo.insertItem(self._index_after_toys() + 1, "2-D: points from your drawing…", DRAWING_SPEC)
        self.dataset_combo.addItem("Your images: a folder (subfolders are classes)…", FOLDER_SPEC)
        self.dataset_combo.setCurrentIndex(max(0, self.dataset_combo.findData(DEFAULT_DATASET)))
        self.dataset_combo.currentIndexChanged.connect(self._on_dataset_changed)
        self.word_edit = QLineEdit(DEFAULT_WORD)
        self.word_edit.setMaxLength(24)
        self.word_edit.setToolTip("The points are sampled from the ink of this word")
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("Choose a folder of images…")
        self.folder_button = QPushButton("Browse…")
        self.folder_button.clicked.connect(self._on_browse_folder)
        self.folder_row = widget_row(self.folder_edit, self.folder_button)
        self.drawing_label = QLabel("no drawing yet")
        self.drawing_label.setWordWrap(True)
        self.draw_button = QPushButton("Draw…")
        self.draw_button.setToolTip("Draw a shape with the mouse; the model learns to generate points along it")
        self.draw_button.clicked.connect(self._on_draw)
        self.drawing_row = widget_row(self.drawing_label, self.draw_button)
        self.color_check = QCheckBox("Colour (RGB)")
        self.color_check.setToolTip("Load the folder's images in colour instead of grayscale")
        self.conditional_check = QCheckBox("Class-conditional (enables guidance)")
        self.conditional_check.setChecked(True)
        self.conditional_check.setToolTip(
            "Give the model the class label (dropped 10% of the time, so classifier-free guidance works)"
        )
        self.subset_label = QLabel()  # the part of the dataset a preset trains on; hidden when it is all of it
        self.subset_label.setWordWrap(True)
        self.subset_label.setToolTip("The lesson preset trains on part of the dataset, small, so it learns fast")
        self.form = form_layout(self)
        self.form.addRow("Dataset", self.dataset_combo)
        self.form.addRow("Uses", self.subset_label)
        self.form.addRow("Word", self.word_edit)
        self.form.addRow("Folder", self.folder_row)
        self.form.addRow("Drawing", self.drawing_row)
        self.form.addRow("", self.color_check)
        self.form.addRow("", self.conditional_check)
        self._show_rows()

    def _index_after_toys(self) -> int:
        last = 0
        for i in range(self.dataset_combo.count()):
            if str(self.dataset_combo.itemData(i)).startswith("toy:"):
                last = i + 1
        return last

    # ------------------------------------------------------------------------------------------
    # What the box describes
    # ------------------------------------------------------------------------------------------

    def choice(self) -> str:
        """The combo's entry: a dataset spec, or WORD_SPEC / FOLDER_SPEC / DRAWING_SPEC."""
        return str(self.dataset_combo.currentData())

    def kind(self) -> str:
        """ "points" (2-D data) or "images"."""
        spec = self.choice()
        return "points" if spec.startswith("toy:") or spec in (WORD_SPEC, DRAWING_SPEC) else "images"

    def spec(self) -> str:
        """The dataset spec ``core.data.get_dataset`` reads (ValueError with a readable message when incomplete)."""
        spec = self.dataset_combo.currentData()
        if spec == WORD_SPEC:
            word = self.word_edit.text().strip()
            if not word:
                raise ValueError("Type a word for the points to be sampled from.")
            return f"word:{word}"
        if spec == FOLDER_SPEC:
            folder = self.folder_edit.text().strip()
            if not folder:
                raise ValueError("Choose a folder of images first (Browse…).")
            return f"folder:{folder}"
        if spec == DRAWING_SPEC:
            if self.drawing_path is None:
                raise ValueError("Draw a shape first (press Draw…): there is nothing to train on yet.")
            if not self.drawing_path.is_file():
                raise ValueError(f"The drawing file {self.drawing_path} is missing; press Draw… to draw again.")
            return f"drawing:{self.drawing_path}"
        return str(spec)

    def options(self) -> dict:
        """``TrainConfig.dataset_options``: how a folder's images are loaded."""
        if self.choice() == FOLDER_SPEC:
            return {"channels": 3 if self.color_check.isChecked() else 1, "size": 32}
        return {}

    def class_conditional(self) -> bool:
        """Conditioning on class labels: asked for, and the data has them."""
        return self.conditional_check.isChecked() and has_classes(self.choice())

    def speed_family(self) -> str:
        """What of the data changes the time per step: every 2-D set is alike; images by dataset and channels."""
        spec = self.choice()
        if spec == FOLDER_SPEC:
            return f"folder-{3 if self.color_check.isChecked() else 1}ch"
        return "points" if self.kind() == "points" else spec

    def show_dataset(self, config: TrainConfig) -> None:
        """Choose the dataset ``config`` trains on (used by Load & resume)."""
        spec = config.dataset
        kind, _, argument = spec.partition(":")
        if kind == WORD_SPEC:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(WORD_SPEC))
            self.word_edit.setText(argument)
        elif kind == FOLDER_SPEC:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(FOLDER_SPEC))
            self.folder_edit.setText(argument)
            self.color_check.setChecked(config.dataset_options.get("channels", 1) == 3)
        elif kind == DRAWING_SPEC and argument:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(DRAWING_SPEC))
            self.show_drawing(Path(argument))
        elif self.dataset_combo.findData(spec) >= 0:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(spec))

    def settings_fields(self) -> dict:
        """The fields stored in QSettings, as (widget, kind) (see ``form_parts.field_value``)."""
        return {
            "dataset": (self.dataset_combo, "combo"), "word": (self.word_edit, "text"),
            "folder": (self.folder_edit, "text"), "color": (self.color_check, "check"),
            "conditional": (self.conditional_check, "check"),
        }  # fmt: skip

    # ------------------------------------------------------------------------------------------
    # Reactions
    # ------------------------------------------------------------------------------------------

    def set_subset(self, text: str) -> None:
        """Name the part of the dataset that is trained on ("" when it is the whole dataset)."""
        self.subset_label.setText(text)
        self._show_rows()

    def _show_rows(self) -> None:
        spec = self.dataset_combo.currentData()
        self.form.setRowVisible(self.subset_label, bool(self.subset_label.text()))
        self.form.setRowVisible(self.word_edit, spec == WORD_SPEC)
        self.form.setRowVisible(self.folder_row, spec == FOLDER_SPEC)
        self.form.setRowVisible(self.color_check, spec == FOLDER_SPEC)
        self.form.setRowVisible(self.drawing_row, spec == DRAWING_SPEC)
        # Words, drawings and some toys have no classes: nothing to condition on.
        self.form.setRowVisible(self.conditional_check, has_classes(str(spec)))

    @Slot()
    def _on_dataset_changed(self) -> None:
        self._show_rows()
        self.dataset_changed.emit()

    @Slot()
    def _on_browse_folder(self) -> None:
        start = self._settings.value("train/last_folder", str(Path.home()))
        folder = QFileDialog.getExistingDirectory(self, "Folder of training images", str(start))
        if folder:
            self.folder_edit.setText(folder)
            self._settings.setValue("train/last_folder", folder)

    @Slot()
    def _on_draw(self) -> None:
        strokes = None
        if self.drawing_path is not None:
            try:
                strokes = load_drawing(self.drawing_path)  # start from the current drawing
            except ValueError:
                strokes = None
        dialog = DrawingDialog(self, strokes=strokes)
        if dialog.exec() == DrawingDialog.DialogCode.Accepted:
            self.set_drawing(dialog.strokes())

    def set_drawing(self, strokes: list[np.ndarray]) -> Path | None:
        """Save ``strokes`` ((M, 2) arrays in [−1, 1]², y up) to a new file in the user's ``drawings`` folder
        and train on it from now on; the file's path, or None (and a message) when it cannot be written."""
        try:
            folder = paths.user_data_dir() / "drawings"
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = folder / f"drawing-{stamp}.json"
            number = 2
            while path.exists():  # two drawings within one second
                path = folder / f"drawing-{stamp}-{number}.json"
                number += 1
            save_drawing(path, strokes)
        except (OSError, ValueError) as error:
            QMessageBox.warning(self, "Cannot use this drawing", f"The drawing could not be saved: {error}")
            return None
        select(self.dataset_combo, DRAWING_SPEC)
        self.show_drawing(path, len(strokes))
        self._settings.setValue("train/drawing", str(path))
        return path

    def show_drawing(self, path: Path, strokes: int | None = None) -> None:
        """Make ``path`` the current drawing and say how many strokes it has."""
        self.drawing_path = path
        if strokes is None:
            try:
                strokes = len(load_drawing(path))
            except ValueError as error:
                self.drawing_label.setText("cannot be read")
                self.drawing_label.setToolTip(str(error))
                return
        self.drawing_label.setText(f"{strokes} stroke{'s' if strokes != 1 else ''}")
        self.drawing_label.setToolTip(str(path))
        self.drawing_changed.emit()
