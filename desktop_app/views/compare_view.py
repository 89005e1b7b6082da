"""The Compare view: diffusion, a GAN and a VAE on the same data, trained live and measured (issue 14).

On a 2-D toy the three train at once, each on its own worker thread (``CompareTrainingWorker`` around
``core.training.train`` / ``train_gan`` / ``train_vae``): live loss curves (the GAN's two), samples from
fixed noise as they train, the GAN Lab picture (D over the plane, G's image of a latent grid) and the
VAE's latent space. Measure fills the table with ``core.evaluation.compare``: modes covered on 8
Gaussians, precision / recall, MMD², the likelihood where one exists, seconds per sample, parameters.
On Fashion-MNIST the shipped U-Net, GAN and VAE are loaded side by side with a latent interpolation of
each (z for GAN and VAE, DDIM's deterministic x_T for diffusion) and measured with FID.

Runs trained here can be saved (resumable: each run's final checkpoint keeps its training state) and
continued later with Resume…; closing the window, switching the data or training again with unsaved
runs asks to save first, as the Train view does.

Composed of ``desktop_app.views.compare``: ``CompareControls``, three ``ModelColumn``\\ s,
``MeasuredTable``; the work runs in ``CompareTrainingWorker`` and ``CallWorker`` (no maths here).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QSplitter, QVBoxLayout, QWidget

from core.data import make_toy_2d
from core.evaluation.compare import KINDS
from core.training.events import CheckpointSaved, Finished, Paused, Preview, Resumed, StepEvent
from core.training.generative import GANLandscape, VAELatents
from desktop_app.lessons import view_hooks
from desktop_app.views.compare.column import TITLES, ModelColumn, step_text
from desktop_app.views.compare.controls import CompareControls
from desktop_app.views.compare.jobs import (
    MEASURE_IMAGES,
    MEASURE_POINTS,
    bind,
    load_shipped,
    measure_shipped,
    measure_trained,
    resume_plans,
    save_models,
    shipped_previews,
    time_to_fid_cells,
    training_worker,
)
from desktop_app.views.compare.saving import RunLedger, choose_checkpoints, settle_unsaved
from desktop_app.views.compare.table import MeasuredTable, summary
from desktop_app.workers import BackgroundJob, CallWorker

REFERENCE_POINTS = 2000


class CompareView(QWidget):
    """Three kinds of generative model side by side, trained or loaded on the same data, and measured."""

    title = "Compare models"
    status_changed = Signal(str)
    measured = Signal()  # the table was filled
    trained = Signal()  # all three training runs ended
    loaded = Signal()  # the shipped image models are shown
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.models: dict = {}  # kind → (model, schedule or None) of the last finished run / loaded models
        self.measurements: dict = {}
        self._shipped = None  # kind → (model, schedule, metadata) once loaded
        self._jobs = {kind: BackgroundJob(self) for kind in KINDS}
        for job in self._jobs.values():
            job.finished.connect(self._on_training_job_finished)
        self._call = BackgroundJob(self)
        self._call.finished.connect(self._on_call_finished)
        self._call_kind = None
        self._reference_shown = self._closing = False
        self.measure_sizes = {"points": (MEASURE_POINTS, 500), "images": (MEASURE_IMAGES, 50)}  # (samples, likelihood)
        self._run_dir = Path(tempfile.mkdtemp(prefix="diffusion_lab_compare_"))  # the runs' final checkpoints
        self.runs = RunLedger()  # which runs trained here are saved, and their final checkpoints
        self._build_ui()
        index = self.controls.dataset_combo.findData(str(settings.value("compare/dataset", "eight_gaussians")))
        if index >= 0:
            self.controls.dataset_combo.setCurrentIndex(index)

    def _build_ui(self) -> None:
        self.controls = CompareControls()
        self.columns = {kind: ModelColumn(kind) for kind in KINDS}
        self.table = MeasuredTable()
        c = self.controls
        c.train_requested.connect(self._on_train)
        c.pause_requested.connect(self._on_pause)
        c.stop_requested.connect(self._on_stop)
        c.save_requested.connect(self._on_save)
        c.resume_requested.connect(self._on_resume)
        c.measure_requested.connect(self._on_measure)
        c.dataset_changed.connect(self._on_dataset_changed)
        view_hooks.watch_compare(self)
        row = QWidget()
        row_layout = QHBoxLayout(row)
        row_layout.setContentsMargins(0, 0, 0, 0)
        for column in self.columns.values():
            row_layout.addWidget(column, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(row)
        split.addWidget(self.table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(split, 1)

    # --- window contract ----------------------------------------------------------------------

    def lesson_values(self) -> dict:
        """Live values for lessons (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.compare_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        view_hooks.apply_compare_state(self, state)

    def on_shown(self) -> None:
        if not self._reference_shown:
            self._on_dataset_changed(self.controls.dataset())

    def dataset_name(self) -> str:
        return self.controls.dataset_combo.currentText()

    def is_busy(self) -> bool:
        return self.training() or self._call.running

    def training(self) -> bool:
        return any(job.running for job in self._jobs.values())

    def shutdown(self) -> bool:
        """Called when the window closes: offer to save unsaved runs (Cancel keeps the window), then stop and wait."""
        if not self.settle_unsaved("closing"):
            return False
        self._closing = True  # events still queued from the stopped runs change nothing now
        for job in self._jobs.values():
            job.stop()
        self._call.stop()
        self.settings.setValue("compare/dataset", self.controls.dataset())
        shutil.rmtree(self._run_dir, ignore_errors=True)
        return True

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)

    # --- state --------------------------------------------------------------------------------

    def _update_controls(self) -> None:
        self.controls.set_state(training=self.training(), trained=bool(self.models), busy=self._call.running)

    def _start_call(self, kind: str, function, message: str) -> None:
        self._call_kind = kind
        worker = CallWorker(function)
        worker.result.connect(self._on_call_result)
        worker.errored.connect(self._on_error)
        self._call.start(worker)
        self.controls.show_message(message)
        self._update_controls()

    # --- unsaved runs -------------------------------------------------------------------------

    def unsaved(self) -> list[str]:
        """The kinds trained in this view whose latest steps are not saved (running ones included)."""
        return self.runs.unsaved([k for k, job in self._jobs.items() if job.running])

    def settle_unsaved(self, action: str) -> bool:
        """Ask Save / Discard / Cancel when runs would be lost by ``action``; False when the person cancels."""
        return settle_unsaved(self, self.runs, self._jobs, self.models, action, self.controls.show_message)

    @Slot(str)
    def _on_dataset_changed(self, dataset: str) -> None:
        if self._reference_shown and not self.settle_unsaved("switching the data"):
            combo = self.controls.dataset_combo
            combo.blockSignals(True)
            combo.setCurrentIndex(combo.findData(self._dataset_shown))
            combo.blockSignals(False)
            return
        self._reference_shown, self._dataset_shown = True, dataset
        self.runs = RunLedger()
        self.models, self.measurements = {}, {}
        self.table.clear_values()
        images = self.controls.images()
        self.table.show_mode(images, dataset == "eight_gaussians")
        for column in self.columns.values():
            column.clear()
            column.show_images(images)
        if images:
            if self._shipped is None:
                self._start_call("load", load_shipped_with_previews, "Loading the shipped U-Net, GAN and VAE …")
            else:
                self._show_shipped(self._shipped_previews)
                self.loaded.emit()
        else:
            reference = make_toy_2d(dataset, REFERENCE_POINTS, seed=1).points.numpy()
            for column in self.columns.values():
                column.set_reference(reference)
            self.controls.show_message(
                "Train all three on the same points; watch the GAN's landscape and the VAE's latent space, then Measure."
            )
        self._update_controls()
        self.status_changed.emit(f"Compare · {self.dataset_name()}")

    # --- training -----------------------------------------------------------------------------

    @Slot()
    def _on_train(self) -> None:
        if not self.settle_unsaved("training new models"):
            return
        self.models, self.measurements = {}, {}
        self.table.clear_values()
        for kind in KINDS:
            worker = training_worker(
                kind, self.controls.dataset(), self.controls.steps.value(), self.controls.gan_setting(),
                checkpoint_dir=self._run_dir / kind,
            )  # fmt: skip
            self._start_training(kind, worker)
        self.controls.show_message("Training diffusion, GAN and VAE on the same data, each on its own thread …")
        self._update_controls()

    def _start_training(self, kind: str, worker) -> None:
        self.columns[kind].clear()
        self.models.pop(kind, None)
        self.runs.forget(kind)
        worker.events.connect(column_slot(self, kind))
        worker.errored.connect(self._on_error)
        self._jobs[kind].start(worker)

    @Slot()
    def _on_resume(self) -> None:
        files = choose_checkpoints(self)
        if files:
            self.resume_from(files)

    def resume_from(self, paths) -> bool:
        """Continue saved runs (one file per kind, all on one toy) for the Steps box's number of steps more."""
        try:
            plans, dataset = resume_plans(paths)
        except ValueError as error:
            self.controls.show_message(f"Cannot resume: {error}")
            return False
        if dataset != self.controls.dataset():
            self.controls.dataset_combo.setCurrentIndex(self.controls.dataset_combo.findData(dataset))
            if self.controls.dataset() != dataset:
                return False  # the person cancelled leaving unsaved runs behind
        elif not self.settle_unsaved("resuming saved runs"):
            return False
        self.measurements = {}
        self.table.clear_values()
        more = self.controls.steps.value()
        for plan in plans:
            worker = training_worker(
                plan.kind, dataset, plan.step + more, resume_from=plan.path, checkpoint_dir=self._run_dir / plan.kind
            )
            self._start_training(plan.kind, worker)
            self.runs.saved[plan.kind] = plan.step  # what is on disk already
            self.columns[plan.kind].status.setText(f"resuming {plan.path.name} from step {plan.step} …")
        names = ", ".join(TITLES[p.kind] for p in plans)
        self.controls.show_message(f"Resuming {names} for {more} more steps …")
        self._update_controls()
        return True

    def _on_events(self, kind: str, events: list) -> None:
        if self._closing:
            return
        column = self.columns[kind]
        steps = [e for e in events if isinstance(e, StepEvent)]
        column.curves.append(steps)
        if steps:
            column.status.setText(step_text(steps[-1]))
            self.runs.trained[kind] = steps[-1].step
        for event in events:
            if isinstance(event, Preview):
                column.samples.set_points(event.images[:, :2])
            elif isinstance(event, GANLandscape):
                column.inside.show_landscape(event)
            elif isinstance(event, VAELatents):
                column.show_latents(event)
            elif isinstance(event, CheckpointSaved):
                if event.reason == "requested":  # the person's Save (autosaves go to the view's own folder)
                    self.runs.saved[kind] = event.step
                    self.controls.show_message(f"{TITLES[kind]} saved to {event.path} (step {event.step}).")
            elif isinstance(event, (Paused, Resumed)):
                column.status.setText(f"{'paused' if isinstance(event, Paused) else 'resumed'} at step {event.step}")
            elif isinstance(event, Finished):
                self.models[kind] = (event.model, event.schedule)
                self.runs.finished(kind, event.step, event.checkpoint_path)
                column.status.setText(f"{event.reason} after {event.step} steps, {event.elapsed_s:.0f} s")

    @Slot(list)
    def _on_diffusion_events(self, events: list) -> None:
        self._on_events("diffusion", events)

    @Slot(list)
    def _on_gan_events(self, events: list) -> None:
        self._on_events("gan", events)

    @Slot(list)
    def _on_vae_events(self, events: list) -> None:
        self._on_events("vae", events)

    @Slot()
    def _on_pause(self) -> None:
        paused = self.controls.pause_button.isChecked()
        for job in self._jobs.values():
            if job.worker is not None:
                job.worker.pause() if paused else job.worker.resume()
        self.controls.pause_button.setText("Resume" if paused else "Pause")

    @Slot()
    def _on_stop(self) -> None:
        for job in self._jobs.values():
            job.request_stop()
        self.controls.show_message("Stopping after the current step …")

    @Slot()
    def _on_save(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save the three models into a folder")
        if folder:
            self.save_to(folder)

    def save_to(self, folder: str | Path) -> None:
        """Save each model as ``<kind>.safetensors`` in ``folder``: mid-run with its training state, else its weights."""
        folder = Path(folder)
        if self.training():
            for kind, job in self._jobs.items():
                if job.worker is not None:
                    job.worker.request_save(folder / f"{kind}.safetensors")
            self.controls.show_message(f"Saving into {folder} at the next step …")
        elif self.models:
            function = bind(save_models, dict(self.models), folder, dict(self.runs.final_paths))
            self._start_call("save", function, f"Saving into {folder} …")

    @Slot()
    def _on_training_job_finished(self) -> None:
        if self.training():
            return
        self._update_controls()
        if self.models:
            names = ", ".join(TITLES[k] for k in KINDS if k in self.models)
            trained = "All three" if len(self.models) == len(KINDS) else names
            self.controls.show_message(f"{trained} trained. Press Measure to fill the table.")
            self.trained.emit()

    # --- measuring ----------------------------------------------------------------------------

    @Slot()
    def _on_measure(self) -> None:
        if self.controls.images():
            function = bind(measure_shipped, self._shipped, *self.measure_sizes["images"])
            message = "Measuring FID, precision/recall, likelihood and speed of the shipped models (about a minute) …"
        else:
            function = bind(measure_trained, dict(self.models), self.controls.dataset(), *self.measure_sizes["points"])
            message = "Measuring samples, modes, precision/recall, likelihood and speed …"
        self.table.clear_values()
        self._start_call("measure", function, message)

    @Slot(object)
    def _on_call_result(self, result) -> None:
        if self._call_kind == "measure":
            self.measurements = result
            for measurement in result.values():
                self.table.set_measurement(measurement, self.controls.images())
            self.controls.show_message(summary(result))
        elif self._call_kind == "load":
            self._shipped, self._shipped_previews, self._time_to_fid = result
            self.models = {kind: (model, schedule) for kind, (model, schedule, _) in self._shipped.items()}
            self._show_shipped(self._shipped_previews)
        elif self._call_kind == "save":
            self.runs.saved.update({p.stem: self.runs.trained.get(p.stem, 0) for p in result})
            self.controls.show_message(f"Saved: {', '.join(p.name for p in result)}.")

    def _show_shipped(self, previews: dict) -> None:
        self.models = {kind: (model, schedule) for kind, (model, schedule, _) in self._shipped.items()}
        self.table.set_time_to_fid(*self._time_to_fid)
        for kind, (samples, path) in previews.items():
            column = self.columns[kind]
            column.image_samples.set_batch(samples, ncols=4)
            column.image_path.set_batch(path, ncols=len(path))
            meta = self._shipped[kind][2]
            column.status.setText(f"shipped: {meta.get('step', '?')} steps, {meta.get('wall_time_s', '?')} s")
        self.controls.show_message("The shipped models of Fashion-MNIST, from the same seed. Press Measure for FID.")
        self._update_controls()

    @Slot()
    def _on_call_finished(self) -> None:
        kind, self._call_kind = self._call_kind, None
        self._update_controls()
        if kind == "measure" and self.measurements:
            self.measured.emit()
        elif kind == "load" and self._shipped is not None:
            self.loaded.emit()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.controls.show_message(f"Could not finish: {message}")


def column_slot(view: CompareView, kind: str):
    """The @Slot method that receives ``kind``'s events (bound methods, never lambdas, across threads)."""
    return {"diffusion": view._on_diffusion_events, "gan": view._on_gan_events, "vae": view._on_vae_events}[kind]


def load_shipped_with_previews():
    shipped = load_shipped()
    return shipped, shipped_previews(shipped), time_to_fid_cells(shipped)
