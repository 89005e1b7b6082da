"""The Train view: pick data, a model and the diffusion settings, then watch a denoiser learn.

All torch work runs in a ``TrainingWorker`` (desktop_app/workers/training.py) driving
``core.training.train``. The view owns that worker, reads the events it receives in throttled
batches and hands them to its panels (desktop_app/views/train/), which draw them:

- a loss curve (raw and smoothed, log-y switch) and the gradient norm, per step;
- the loss per timestep bucket (which noise levels the network still finds hard);
- a preview from the EMA weights with fixed noise (an image grid, or a point cloud for 2-D data),
  so improvement is visible while it trains.

Start / Pause / Resume / Stop, Save (a resumable checkpoint), autosave every N steps and Load &
resume. Every run writes its checkpoint to a new file in the user's ``checkpoints`` folder when it
ends, and the trained model is handed to the Generate view (``model_trained``). A resumed run goes
on into a new file too, unless the user chooses to overwrite the loaded one; its loss curve starts
with the history stored in the checkpoint, and the form shows its settings only while it runs.

Defaults: pressing Start with nothing changed trains an MLP on the 2-D swiss roll, which converges
in well under a minute on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QMessageBox, QSplitter, QVBoxLayout, QWidget

from core.io import CheckpointError
from core.training import TrainConfig
from desktop_app import paths
from desktop_app.export import CSV_FILTER, PNG_FILTER, ExportAction, save_png
from desktop_app.lessons import view_hooks
from desktop_app.views.train.data_picker import DRAWING_SPEC
from desktop_app.views.train.form_parts import show_field_value
from desktop_app.views.train.formatting import format_count, format_duration
from desktop_app.views.train.loss_curves import LossCurves
from desktop_app.views.train.preview_panel import PreviewPanel, preview_picture, scored_training
from desktop_app.views.train.progress_panel import ProgressPanel
from desktop_app.views.train.resume_question import ask_overwrite
from desktop_app.views.train.run_controls import RunControls, RunState
from desktop_app.views.train.saved_runs import CHECKPOINT_FILTER, CHECKPOINT_SUFFIX, new_checkpoint_path, resume_config
from desktop_app.views.train.setup_panel import SetupPanel, network_label
from desktop_app.workers import TrainingWorker, start_worker, stop_thread

__all__ = ["DRAWING_SPEC", "TrainView", "format_count", "format_duration"]

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class TrainView(QWidget):
    """Train a denoiser live. See the module docstring."""

    title = "Train"
    speed_probe_enabled = True  # measure the time per 1,000 steps when settings change (benchmarks turn it off)
    status_changed = Signal(str)
    model_trained = Signal(object)  # the Finished event: .model (EMA, CPU), .schedule, .metadata, .checkpoint_path
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        # The current or last run's worker and thread, kept after it ended (tests and benchmarks read them).
        self._worker: TrainingWorker | None = None
        self._thread: QThread | None = None
        self._checkpoint_path: Path | None = None  # where the current / last run saves
        self._last_preview = None  # the latest Preview event (for File ▸ Export)
        self._run_parameters = 0  # the current / last run's number of parameters
        self._dataset_label = ""  # the current / last run's dataset, as core names it
        self._model_label = ""  # the current / last run's network (what it is, not what the form now says)
        self._form_before_resume: dict | None = None  # the user's form while a resumed run shows its own
        self.last_step_event = None  # the latest StepEvent (the lesson panel's step and loss)

        self.setup_panel = SetupPanel(settings, speed_probe=self.speed_probe_enabled)
        self.controls = RunControls()
        self.progress_panel = ProgressPanel()
        self.preview_panel = PreviewPanel()
        self.curves = LossCurves(preview=self.preview_panel)
        self._expose_widgets()
        self._lay_out()
        view_hooks.watch_train(self)

        self.setup_panel.dataset_changed.connect(self._on_dataset_changed)
        self.controls.start_requested.connect(self._on_start)
        self.controls.pause_resume_requested.connect(self._on_pause_resume)
        self.controls.stop_requested.connect(self._on_stop)
        self.controls.save_requested.connect(self._on_save)
        self.controls.load_requested.connect(self._on_load_resume)
        self.controls.log_y_toggled.connect(self.curves.set_log_y)
        log_y = settings.value("train/log_y")
        if log_y is not None:
            show_field_value(self.controls.log_check, "check", log_y)
        self.preview_panel.show_kind(self.dataset_kind() == "points")
        self._update_buttons()

    def _expose_widgets(self) -> None:
        """The panels' widgets under the names they had on the view (tests, benchmarks and scripts use them)."""
        data, setup, controls = self.setup_panel.data, self.setup_panel, self.controls
        self._data_form = data.form
        self.dataset_combo = data.dataset_combo
        self.word_edit = data.word_edit
        self.drawing_row = data.drawing_row
        self.drawing_label = data.drawing_label
        self.draw_button = data.draw_button
        self.conditional_check = data.conditional_check
        self.model_combo = setup.model_combo
        self.estimate_label = setup.estimate_label
        self.timesteps_spin = setup.timesteps_spin
        self.batch_spin = setup.batch_spin
        self.steps_spin = setup.steps_spin
        self.threads_spin = setup.threads_spin
        self.autosave_spin = setup.autosave_spin
        self.preview_spin = setup.preview_spin
        for widget in (self.threads_spin, self.autosave_spin, self.preview_spin):  # hidden in teacher mode
            widget.setProperty("advanced", True)
        self.start_button = controls.start_button
        self.pause_button = controls.pause_button
        self.stop_button = controls.stop_button
        self.progress = self.progress_panel.progress
        self.progress_label = self.progress_panel.progress_label
        self.loss_plot = self.curves.loss_plot
        self.grad_plot = self.curves.grad_plot
        self.bucket_bars = self.curves.bucket_bars
        self.preview_points = self.preview_panel.preview_points

    def _lay_out(self) -> None:
        """Settings on the left; buttons, progress and the charts around the preview on the right."""
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(6, 0, 0, 0)
        column.addWidget(self.controls)
        column.addWidget(self.progress_panel)
        column.addWidget(self.curves, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.setup_panel)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

    # ------------------------------------------------------------------------------------------
    # The form (SetupPanel)
    # ------------------------------------------------------------------------------------------

    def dataset_spec(self) -> str:
        return self.setup_panel.data.spec()

    def dataset_kind(self) -> str:
        return self.setup_panel.dataset_kind()

    def dataset_name(self) -> str:
        return self._dataset_label or self.dataset_combo.currentText()

    def model_name(self) -> str:
        return self._model_label or self.model_combo.currentText()

    def config(self) -> TrainConfig:
        """The TrainConfig the form describes (ValueError with a readable message when it is not valid)."""
        return self.setup_panel.config()

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (used by Load & resume)."""
        self.setup_panel.set_config(config)

    def set_drawing(self, strokes: list[np.ndarray]) -> Path | None:
        """Train on a new drawing from now on (see ``DataPicker.set_drawing``)."""
        return self.setup_panel.data.set_drawing(strokes)

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.train_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names (T, steps)."""
        view_hooks.apply_train_state(self, state)

    def on_shown(self) -> None:
        """The window shows this view: measure the speed now if it is not known yet."""
        self.estimate_label.schedule()

    def _save_settings(self) -> None:
        self.setup_panel.save_settings()
        self._settings.setValue("train/log_y", self.controls.log_check.isChecked())

    @Slot(str)
    def _on_dataset_changed(self, kind: str) -> None:
        if not self.is_training():
            self.preview_panel.show_kind(kind == "points")

    # ------------------------------------------------------------------------------------------
    # Training control
    # ------------------------------------------------------------------------------------------

    def is_training(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    @Slot()
    def _on_start(self) -> None:
        if self.is_training():
            return
        try:
            config = self.config()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot start training", str(error))
            return
        self._save_settings()
        self.start_training(config)

    def start_training(
        self, config: TrainConfig, resume_from: str | Path | None = None, overwrite: bool = False
    ) -> bool:
        """Start a run in a worker thread (the form is locked until it ends); False (and a message) if it cannot.

        The run saves to a new file in the checkpoints folder; a resumed run saves over ``resume_from``
        only when ``overwrite`` is True.
        """
        if self.is_training():
            raise RuntimeError("A training run is already going on.")
        try:
            path = Path(resume_from) if resume_from and overwrite else new_checkpoint_path(config.dataset)
        except OSError as error:
            QMessageBox.warning(self, "Cannot start training", f"The checkpoints folder cannot be written: {error}")
            return False
        config = dataclasses.replace(config, checkpoint_path=str(path))
        self._checkpoint_path = path
        self.estimate_label.cancel()
        self.curves.clear()
        self.preview_panel.start_run(config)
        self.progress_panel.reset(config.batch_size)
        worker = TrainingWorker(config, resume_from=resume_from, train_function=scored_training)
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._thread = start_worker(worker)
        self.progress_panel.show_message("Loading the data and building the model…")
        self._update_buttons()
        self.status_changed.emit("Training: starting…")
        return True

    @Slot()
    def _on_pause_resume(self) -> None:
        if not self.is_training():
            return
        if self._worker.control.paused:
            self._worker.resume()
        else:
            self._worker.pause()
        self._update_buttons()

    @Slot()
    def _on_stop(self) -> None:
        if self.is_training():
            self._worker.stop()
            self.progress_panel.show_message("Stopping after the current step…")
            self._update_buttons()

    def pause(self) -> None:
        if self.is_training() and not self._worker.control.paused:
            self._on_pause_resume()

    def resume(self) -> None:
        if self.is_training() and self._worker.control.paused:
            self._on_pause_resume()

    def stop(self) -> None:
        self._on_stop()

    @Slot()
    def _on_save(self) -> None:
        default = self._checkpoint_path or new_checkpoint_path(self.dataset_combo.currentText())
        path, _ = QFileDialog.getSaveFileName(self, "Save the training run", str(default), CHECKPOINT_FILTER)
        if path:
            self.save_to(path)

    def save_to(self, path: str | Path) -> None:
        """Save a resumable checkpoint to ``path``: now (between steps) while training, else a copy of the last one."""
        path = Path(path)
        if path.suffix != CHECKPOINT_SUFFIX:
            path = path.with_suffix(CHECKPOINT_SUFFIX)
        if self.is_training():
            self._worker.request_save(path)
            self.progress_panel.show_message(f"Saving to {path.name} after the current step…")
            return
        source = self._checkpoint_path
        if source is None or not source.is_file():
            QMessageBox.information(self, "Nothing to save", "Train a model first; then it can be saved.")
            return
        try:
            if source.resolve() != path.resolve():
                shutil.copy2(source, path)
        except OSError as error:
            QMessageBox.warning(self, "Could not save", f"Could not write {path}: {error}")
            return
        self.progress_panel.show_message(f"Saved to {path}")

    @Slot()
    def _on_load_resume(self) -> None:
        if self.is_training():
            return
        start = self._settings.value("train/last_checkpoint_folder", str(paths.checkpoints_dir()))
        path, _ = QFileDialog.getOpenFileName(self, "Resume a training run", str(start), CHECKPOINT_FILTER)
        if not path:
            return
        self._settings.setValue("train/last_checkpoint_folder", str(Path(path).parent))
        overwrite = ask_overwrite(self, Path(path))
        if overwrite is not None:
            self.load_and_resume(path, overwrite=overwrite)

    def load_and_resume(self, path: str | Path, overwrite: bool = False) -> bool:
        """Continue the run saved in ``path`` (into a new file unless ``overwrite``), showing its settings in the
        form while it runs; False (and a message) if it cannot."""
        try:
            config = resume_config(path)
        except (CheckpointError, ValueError, OSError) as error:
            QMessageBox.warning(self, "Cannot resume this checkpoint", str(error))
            return False
        self._form_before_resume = self.setup_panel.snapshot()
        self.set_config(config)
        if not self.start_training(config, resume_from=path, overwrite=overwrite):
            self._restore_form()
            return False
        return True

    def _restore_form(self) -> None:
        """After a resumed run: the form shows the user's own settings again, not the checkpoint's."""
        if self._form_before_resume is not None:
            self.setup_panel.restore(self._form_before_resume)
            self._form_before_resume = None
            note = "The form shows your own settings again (Load & resume showed the checkpoint's while it ran)."
            self.progress_panel.show_message(f"{self.progress_label.text()} {note}".strip())

    def _update_buttons(self) -> None:
        running = self.is_training()
        worker = self._worker if running else None
        stopping = worker is not None and worker.stop_requested
        paused = worker is not None and worker.control.paused
        self.controls.show_state(RunState(running=running, paused=paused, stopping=stopping))
        self.setup_panel.set_locked(running)

    # ------------------------------------------------------------------------------------------
    # Events from the worker
    # ------------------------------------------------------------------------------------------

    @Slot(list)
    def _on_events(self, events: list) -> None:
        steps, losses, grads = [], [], []
        last_step_event = None
        for event in events:
            kind = type(event).__name__
            if kind == "StepEvent":
                steps.append(event.step)
                losses.append(event.loss)
                grads.append(event.grad_norm)
                last_step_event = event
            elif kind == "Started":
                self._on_started(event)
            elif kind == "TimestepLosses":
                self.curves.show_timestep_losses(event)
            elif kind == "Preview":
                self._last_preview = event
                self.preview_panel.show_samples(event)
            elif kind == "PreviewScore":
                self.preview_panel.show_score(event)
            elif kind == "CheckpointSaved":
                self.progress_panel.show_message(f"Step {event.step:,}: saved ({event.reason}) to {event.path}")
                self._checkpoint_path = Path(event.path) if event.reason != "requested" else self._checkpoint_path
            elif kind == "Paused":
                self.progress_panel.show_message(f"Paused at step {event.step:,}. Press Resume to go on.")
                self.status_changed.emit(f"Training paused at step {event.step:,}")
                self._update_buttons()
            elif kind == "Resumed":
                self._update_buttons()
            elif kind == "Finished":
                self._on_finished(event)
        if steps:
            self.curves.append(steps, losses, grads)
        if last_step_event is not None:
            self._show_progress(last_step_event)
            self.last_step_event = last_step_event
            self.values_changed.emit()

    def _on_started(self, event) -> None:
        points = len(event.image_shape) == 1
        self._dataset_label = event.dataset_name
        self._model_label = network_label(event.config.model, points)
        self._run_parameters = int(event.num_parameters)
        self.preview_panel.show_kind(points)
        self.progress_panel.show_started(event, points)
        if len(event.history):  # a resumed run: the curve before the resume point, from the checkpoint
            self.curves.append(event.history.steps, event.history.losses, event.history.grad_norms)
        self.status_changed.emit(f"Training on {event.device}: {event.dataset_name}")
        self.estimate_label.time_run(self._run_parameters)  # no speed measured yet: this run is the measurement

    def _show_progress(self, event) -> None:
        paused = self._worker is not None and self._worker.control.paused
        report = self.progress_panel.show_step(event, paused)
        if report is None:
            return
        eta = format_duration(report.eta_s)
        self.status_changed.emit(f"Training: step {report.step:,} / {report.total_steps:,}, ETA {eta}")
        self.estimate_label.show_run_speed(self._run_parameters, report.seconds_per_step, report.steps_this_run)

    def _on_finished(self, event) -> None:
        if event.checkpoint_path:
            self._checkpoint_path = Path(event.checkpoint_path)
        where = f" Saved to {event.checkpoint_path}." if event.checkpoint_path else ""
        verb = "Finished" if event.reason == "completed" else "Stopped"
        self.progress_panel.show_message(
            f"{verb} at step {event.step:,} after {format_duration(event.elapsed_s)}.{where} "
            "The model is now in the Generate view."
        )
        self.status_changed.emit(f"Training {verb.lower()} at step {event.step:,}")
        self.model_trained.emit(event)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.progress_panel.show_message(f"Training stopped: {message}")
        self.status_changed.emit("Training failed")
        QMessageBox.warning(self, "Training stopped", message)

    @Slot()
    def _on_worker_finished(self) -> None:
        # The thread quits right after this signal; wait for it so the buttons see it stopped.
        if self._thread is not None:
            self._thread.wait(2000)
        self._update_buttons()
        self._restore_form()

    # ------------------------------------------------------------------------------------------
    # Export and closing
    # ------------------------------------------------------------------------------------------

    def export_actions(self) -> list[ExportAction]:
        """What File ▸ Export… offers for this view."""
        return [
            ExportAction("CSV of the loss history…", CSV_FILTER, "loss_history.csv", self.write_loss_csv),
            ExportAction("PNG of the latest preview…", PNG_FILTER, "training_preview.png", self.write_preview),
        ]

    def write_loss_csv(self, path: str | Path) -> Path:
        """step, loss, smoothed loss and gradient norm of every step of the current (or last) run."""
        return self.curves.write_csv(path)

    def write_preview(self, path: str | Path) -> Path:
        """The latest preview: an image grid, or a scatter plot of 2-D samples."""
        if self._last_preview is None:
            raise ValueError("There is no preview yet: previews appear every few hundred steps while training.")
        return save_png(path, preview_picture(self._last_preview))

    def shutdown(self) -> bool:
        """Called when the window closes: offer to save a running training, then stop it and wait."""
        self.estimate_label.cancel()
        if self.is_training():
            answer = QMessageBox.question(
                self,
                "Training is running",
                "Save the training before closing?\n\nSave keeps a checkpoint you can resume later.",
                QMessageBox.StandardButton.Save
                | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Save,
            )
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.Discard:
                self._worker.discard()
            # Save: stopping writes the final checkpoint (train() saves to checkpoint_path on stop).
            stop_thread(self._thread, self._worker)
        self.setup_panel.shutdown()
        self.preview_panel.shutdown()
        self._restore_form()
        self._save_settings()
        self._update_buttons()
        return True
