"""The Edit view: inpainting, SDEdit and super-resolution with a trained denoiser, timeline included.

1. Image: a shipped Fashion-MNIST test image or coloured shape, a drawing made here, or any image
   file opened or dropped on the view (converted to the model's size; the conversion is shown).
2. Mask: paint the hole to fill (brush / eraser, size, invert, clear).
3. Method: RePaint vs the replacement method side by side; SDEdit at a chosen strength plus a strip
   of strengths with a faithfulness number (distance to the input) and a realism number (the shipped
   classifier's confidence); super-resolution 16×16 → 32×32 by projection beside bicubic.

The maths is ``core.diffusion.editing``; the runs are an ``EditWorker`` (an ``EventStreamWorker``)
with progress and Cancel. Every run that calls the network is recorded by a ``TrajectoryRecorder``,
so its reverse timeline can be scrubbed (RePaint's jumps show as t going back up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from core.data.shapes import SHAPE_COLORS
from core.diffusion.editing import check_hole_mask
from core.io import CheckpointError, load_denoiser
from desktop_app import paths
from desktop_app.export import ANIMATION_FILTER, PNG_FILTER, ExportAction
from desktop_app.views.edit import edit_export
from desktop_app.views.edit.edit_worker import EditOutcome, EditRequest, EditWorker
from desktop_app.views.edit.mask_panel import MaskPanel
from desktop_app.views.edit.method_panel import ANY_CLASS, MethodPanel
from desktop_app.views.edit.results_panel import ResultsPanel
from desktop_app.views.edit.source_panel import SourcePanel
from desktop_app.views.edit.sources import (
    IMAGE_FILE_FILTER,
    SOURCE_DRAWING,
    SOURCE_FASHION,
    SOURCE_FILE,
    SOURCE_SHAPES,
    EditSource,
    builtin_source,
    drawing_source,
    file_source,
)
from desktop_app.workers import BackgroundJob, default_worker_threads

STRIP_TILE_COUNT = 5


class EditView(QWidget):
    """Edit images with a diffusion model. See the module docstring."""

    title = "Edit"

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)
        self._worker: EditWorker | None = None
        self._checkpoints: dict[str, object] = {}
        self._opened_path: Path | None = None
        self._opened: EditSource | None = None
        self.source: EditSource | None = None
        self._run_task = ""
        self._strip_index = 0

        self.source_panel = SourcePanel()
        self.mask_panel = MaskPanel()
        self.method_panel = MethodPanel()
        self.results = ResultsPanel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status_label = QLabel("Paint a mask (or choose SDEdit / super-resolution) and press Run.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.source_panel, 2)
        top.addWidget(self.mask_panel, 3)
        top.addWidget(self.method_panel, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top, 4)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.results, 5)
        self.setAcceptDrops(True)

        self.source_panel.source_changed.connect(self._on_source_changed)
        self.source_panel.open_requested.connect(self._on_open_clicked)
        self.method_panel.model_chosen.connect(self._on_model_chosen)
        self.method_panel.run_requested.connect(self._on_run)
        self.method_panel.cancel_requested.connect(self.cancel)
        self.method_panel.export_requested.connect(self._on_export_clicked)
        self._job.finished.connect(self._on_finished)
        self.method_panel.task_changed.connect(self._on_task_changed)
        self._update_controls()

    @Slot(str)
    def _on_task_changed(self, task: str) -> None:
        self.mask_panel.setEnabled(task == "inpaint")  # the mask means nothing to SDEdit or super-resolution
        if task == "colourise" and not self.is_running():
            self._prepare_colourisation()

    def _prepare_colourisation(self) -> None:
        """Colourising needs a colour model: switch to one (and to coloured shapes) if a grey one is chosen."""
        try:
            colour = self.model_shape()[0] == 3
        except ValueError:
            colour = False
        if not colour and not self.method_panel.select_colour_model():
            self.status_label.setText("Colourisation needs a colour model: train one on colour images first.")
            return
        if self.source_panel.kind() == SOURCE_FASHION:
            self.source_panel.source_combo.setCurrentText(SOURCE_SHAPES)

    # --- model and source -----------------------------------------------------------------------

    def on_shown(self) -> None:
        if not self.is_running():
            self.method_panel.refresh_models()
            if self.source is None:
                self._on_model_chosen()

    def checkpoint(self):
        """The chosen model, loaded once (ValueError in words when there is none or it is damaged)."""
        key = self.method_panel.form().model_key
        if key is None:
            raise ValueError("There is no image model to edit with: train one in the Train view and save it.")
        if key not in self._checkpoints:
            try:
                self._checkpoints[key] = load_denoiser(Path(key))
            except (CheckpointError, OSError) as error:
                raise ValueError(str(error)) from error
        return self._checkpoints[key]

    @Slot(object)
    def add_model(self, obj) -> None:
        """Offer a model trained in this session (Train's Finished event) if it makes images; 2-D models are
        skipped, since there is no picture to edit with them."""
        metadata = dict(getattr(obj, "metadata", {}) or {})
        if len(metadata.get("image_shape") or []) != 3:
            return
        key = self.method_panel.add_session_model(metadata, select=not self.is_running())
        self._checkpoints[key] = obj

    def model_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.checkpoint().metadata["image_shape"])

    def _is_fashion(self) -> bool:
        return "fashion" in str(self.checkpoint().metadata.get("dataset_name", "")).lower()

    def model_name(self) -> str:
        return self.method_panel.model_combo.currentText()

    @Slot()
    def _on_model_chosen(self) -> None:
        try:
            checkpoint = self.checkpoint()
        except ValueError as error:
            self.status_label.setText(str(error))
            return
        classes = int(getattr(checkpoint.model, "num_classes", 0) or 0)
        names = list(checkpoint.metadata.get("class_names") or [])[:classes]
        self.method_panel.set_classes(names + [f"class {i}" for i in range(len(names), classes)])
        self._opened = None  # re-fitted to the new model's shape on the next source update
        self._on_source_changed()
        self.mask_panel.set_default_hole()

    @Slot()
    def _on_source_changed(self) -> None:
        try:
            shape, fashion = self.model_shape(), self._is_fashion()
            kind = self.source_panel.kind()
            if kind == SOURCE_DRAWING:
                if self.source_panel.drawing.layer.shape != shape[1:]:
                    self.source_panel.drawing.set_base(np.zeros((*shape[1:], 3), np.uint8))
                source = drawing_source(self.source_panel.drawing.layer, shape)
            elif kind == SOURCE_FILE and self._opened_path is not None:
                if self._opened is None or self._opened.image.shape != shape:
                    self._opened = file_source(self._opened_path, shape, fashion)
                source = self._opened
            else:
                source = builtin_source(kind, self.source_panel.index(), shape, fashion)
        except ValueError as error:
            self.status_label.setText(str(error))
            return
        self.source = source
        self.mask_panel.set_base(source.display_rgb())
        self.source_panel.show_conversion(source.conversion)

    def open_image(self, path: str | Path) -> bool:
        """Edit the image file at ``path``; a file that is not a usable image shows a message. Returns success."""
        path = Path(path)
        try:
            opened = file_source(path, self.model_shape(), self._is_fashion())
        except ValueError as error:  # ImageFileError and a missing model both say what is wrong
            self.status_label.setText(str(error))
            QMessageBox.warning(self, "Cannot open this file", str(error))
            return False
        self._opened_path, self._opened = path, opened
        self._settings.setValue("edit/last_image_dir", str(path.resolve().parent))
        self.source_panel.show_opened(path.name)
        self._on_source_changed()
        return True

    @Slot()
    def _on_open_clicked(self) -> None:
        folder = self._settings.value("edit/last_image_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open an image to edit", folder, IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_image(files[0])

    # --- running ----------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    def _update_controls(self) -> None:
        running = self.is_running()
        self.method_panel.update_controls(running, bool(self.results.shown_tiles()))
        self.source_panel.set_busy(running)
        self.mask_panel.set_busy(running)

    @Slot()
    def _on_run(self) -> None:
        try:
            self.run()
        except ValueError as error:
            self.status_label.setText(str(error))
            QMessageBox.warning(self, "Cannot run this edit", str(error))

    def run(self) -> None:
        """Start the chosen edit (ValueError in words when it cannot work)."""
        if self.is_running():
            return
        checkpoint = self.checkpoint()
        if self.source is None:
            raise ValueError("Choose an image to edit first.")
        form = self.method_panel.form()
        image = torch.from_numpy(self.source.image)[None]
        hole = self.mask_panel.hole()
        if form.task == "inpaint":
            check_hole_mask(torch.from_numpy(hole), image)  # an empty or full mask is explained here
        if form.task == "colourise" and image.shape[1] != 3:
            raise ValueError(
                "Colourisation needs a colour model: this one makes grey images. "
                "Choose the coloured-shapes model (or one you trained on colour images)."
            )
        if form.task == "super_resolution" and image.shape[-1] % 2:
            raise ValueError(f"Super-resolution needs an even image size; this model's is {image.shape[-1]}.")
        classes = int(getattr(checkpoint.model, "num_classes", 0) or 0)
        cond = None
        if classes:
            label = classes if form.class_choice == ANY_CLASS else form.class_choice  # index num_classes = no class
            cond = {"class_labels": torch.full((form.samples,), label, dtype=torch.long)}
        request = EditRequest(
            form.task, checkpoint.model, checkpoint.schedule, image, hole, form.steps, form.strength,
            jump_length=form.jump_length, resamplings=form.resamplings, samples=form.samples, seed=form.seed,
            cond=cond, realism=self._is_fashion() and tuple(image.shape[1:]) == (1, 32, 32),
            threads=default_worker_threads(), palette=self._source_palette(),
        )  # fmt: skip
        worker = EditWorker(request)
        worker.events.connect(self._on_events)
        worker.progress.connect(self._on_progress)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        self.results.clear()
        self._show_inputs(form.task, image.numpy(), hole)
        self._run_task, self._strip_index = form.task, 0
        self._worker = self._job.start(worker)
        self.status_label.setText("Running…")
        self._update_controls()

    def _source_palette(self) -> np.ndarray | None:
        """The colours a coloured-shapes source can have, in [−1, 1] (None for any other source)."""
        if self.source_panel.kind() != SOURCE_SHAPES:
            return None
        return np.array(list(SHAPE_COLORS.values()), dtype=np.float32) / 127.5 - 1.0

    def _show_inputs(self, task: str, image: np.ndarray, hole: np.ndarray) -> None:
        self.results.set_tile(0, "Before", image, self.source.name)
        if task == "inpaint":
            masked = np.where(hole[None, None] > 0.5, 0.0, image).astype(np.float32)  # the hole in mid-grey
            self.results.set_tile(1, "Mask (grey = fill)", masked, f"{hole.mean():.0%} of the pixels")

    @Slot()
    def cancel(self) -> None:
        if self._worker is not None and self.is_running():
            self._worker.cancel()
            self.status_label.setText("Cancelling…")

    @Slot(int, int, str)
    def _on_progress(self, done: int, total: int, label: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(f"step {done} / {total} ({label})")

    @Slot(list)
    def _on_events(self, outcomes: list) -> None:
        for outcome in outcomes:
            if isinstance(outcome, EditOutcome):
                self._show_outcome(outcome)

    def _show_outcome(self, outcome: EditOutcome) -> None:
        slots = {"repaint": 2, "replace": 3, "sdedit": 1, "low": 1, "bicubic": 2, "super_resolution": 3, "grey": 1,
                 "colourise": 2}  # fmt: skip
        if outcome.key == "strip":
            index = 2 + self._strip_index
            self._strip_index += 1
        else:
            index = slots[outcome.key]
        self.results.set_tile(index, outcome.title, outcome.images, outcome.caption)
        self.results.add_recording(outcome)
        self._update_controls()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"The edit failed: {message}")
        QMessageBox.warning(self, "Edit failed", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. The runs that finished are shown.")

    @Slot()
    def _on_finished(self) -> None:
        if self.status_label.text() == "Running…":
            notes = {
                "inpaint": "The kept pixels are exactly the input's. RePaint's resampling lets the fill agree "
                "with them; the replacement method often leaves a seam.",
                "sdedit": "Left to right: more noise (larger t₀) forgets more of the input (larger distance) "
                "and looks more like the training data.",
                "super_resolution": "Both upscalings average back down to the 16×16 input; the distance is to "
                "the original 32×32 image.",
                "colourise": "Each result has exactly the grey levels of the input; the colours are the model's "
                "guess. Colours of the same grey (red and blue shapes) cannot be told apart.",
            }
            self.status_label.setText("Done. " + notes.get(self._run_task, ""))
        self.progress.setFormat("%v / %m steps")
        self._update_controls()

    # --- export and closing ---------------------------------------------------------------------

    def write_strip(self, path: str | Path) -> Path:
        """The before / mask / after tiles (or the SDEdit strip) side by side as one PNG."""
        tiles = self.results.shown_tiles()
        return edit_export.write_strip(path, [t.picture for t in tiles], [t.title() for t in tiles])

    def write_timeline(self, path: str | Path) -> Path:
        return edit_export.write_timeline(path, self.results.timeline_pictures())

    def export_actions(self) -> list[ExportAction]:
        return [
            ExportAction("PNG strip: before / mask / after…", PNG_FILTER, "edit-strip.png", self.write_strip),
            ExportAction(
                "Animation of the timeline (GIF/WebP)…", ANIMATION_FILTER, "edit-timeline.gif", self.write_timeline
            ),  # fmt: skip
        ]

    @Slot()
    def _on_export_clicked(self) -> None:
        folder = Path(self._settings.value("edit/export_folder", str(paths.exports_dir())))
        path, _ = QFileDialog.getSaveFileName(self, "Export the strip", str(folder / "edit-strip.png"), PNG_FILTER)
        if not path:
            return
        try:
            written = self.write_strip(path)
        except (ValueError, OSError) as error:
            QMessageBox.warning(self, "Export failed", str(error))
            return
        self._settings.setValue("edit/export_folder", str(Path(path).parent))
        self.status_label.setText(f"Exported {written}")

    def shutdown(self) -> bool:
        self._job.stop()
        return True
