"""The Generate view: sample from a trained denoiser and scrub back through every step it took.

- Model: a bundled one (``resources/models``), one the user trained (the Train view hands it over,
  and its checkpoints are listed), or any checkpoint file (Open… or drag and drop).
- Sampler, steps, η (DDIM), seed, batch size; class and guidance scale for conditional models.
- Sampling runs in a ``SamplingWorker`` with a progress bar and Cancel. A ``TrajectoryRecorder``
  (core/trajectory.py) keeps x_t, x̂_0 and ε̂ of the first samples at every step (all 1,000 steps
  of a DDPM run fit in its memory budget), so afterwards the **reverse timeline** scrubs through them
  side by side.
- Compare mode runs a second sampler from the same initial noise x_T; the two timelines are synced
  by noise level (the positions with the nearest timestep t), and each shows its number of network
  evaluations (NFE) and wall time.
- 2-D models show the particle cloud moving along the timeline, with faint trajectories.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QProgressBar, QVBoxLayout, QWidget

from core.diffusion import ClassifierFreeGuidance
from core.diffusion.samplers import evaluations_after
from core.evaluation.distilled_student import native_sampling
from core.runtime import select_device
from desktop_app import paths
from desktop_app.export import ANIMATION_FILTER, PNG_FILTER, ExportAction
from desktop_app.lessons import view_hooks
from desktop_app.views.generate import run_export
from desktop_app.views.generate.model_panel import ModelPanel, class_names, num_classes, sample_shape
from desktop_app.views.generate.results_panel import ResultsPanel
from desktop_app.views.generate.run_export import STRIP_FRAMES
from desktop_app.views.generate.sampler_panel import SamplerPanel
from desktop_app.workers import (
    BackgroundJob,
    SamplingJob,
    SamplingResult,
    SamplingWorker,
    default_worker_threads,
)


class GenerateView(QWidget):
    """Sample, then scrub the reverse timeline. See the module docstring."""

    title = "Generate"
    status_changed = Signal(str)
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)  # owns the sampling thread while it runs
        self._worker: SamplingWorker | None = None  # the last run's worker and thread, kept after it ended
        self._thread: QThread | None = None
        self._run_started = 0.0
        self._last_labels: np.ndarray | None = None  # class labels of the last run's samples

        self.model_panel = ModelPanel(settings)
        self.sampler_panel = SamplerPanel()
        self.results = ResultsPanel()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("Choose a model and press Generate.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        for widget in (self.model_panel, self.sampler_panel, self.progress, self.status_label):
            layout.addWidget(widget)
        layout.addWidget(self.results, 1)

        # The panels' widgets under the view's names (tests, benchmarks and scripts drive them).
        self.model_combo = self.model_panel.model_combo
        self.open_button = self.model_panel.open_button
        self.model_info = self.model_panel.model_info
        form = self.sampler_panel
        self.sampler_combo, self.steps_spin, self.eta_spin = form.sampler_combo, form.steps_spin, form.eta_spin
        self.seed_spin, self.batch_spin, self.clip_check = form.seed_spin, form.batch_spin, form.clip_check
        self.class_combo, self.guidance_spin = form.class_combo, form.guidance_spin
        self.compare_check, self.sampler_b_combo, self.steps_b_spin = (
            form.compare_check, form.sampler_b_combo, form.steps_b_spin,
        )  # fmt: skip
        self.sync_check, self.device_combo, self.export_button = form.sync_check, form.device_combo, form.export_button
        self.generate_button, self.cancel_button = form.generate_button, form.cancel_button
        self.run_a, self.run_b = self.results.run_a, self.results.run_b
        for widget in (self.eta_spin, form.eta_label, self.clip_check, self.sync_check):  # hidden in teacher mode
            widget.setProperty("advanced", True)

        self.model_panel.model_changed.connect(self._on_model_changed)
        form.generate_requested.connect(self._on_generate)
        form.cancel_requested.connect(self.cancel)
        form.export_requested.connect(self._on_export_requested)
        form.compare_toggled.connect(self.results.set_compare)
        form.sync_toggled.connect(self.results.set_synced)
        form.set_exports([action.label for action in self.export_actions()])
        self._update_controls()
        self.refresh_models()
        form.restore_settings(settings)
        view_hooks.watch_generate(self)

    # ------------------------------------------------------------------------------------------
    # Models
    # ------------------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        """Rebuild the model list (bundled + user checkpoints + this session's models), keeping the choice."""
        self.model_panel.refresh()

    @Slot(object)
    def add_model(self, obj) -> None:
        """Offer a model trained in this session (Train view's Finished event or a Checkpoint) and select it."""
        self.model_panel.add_model(obj, select=not self.is_sampling())

    def open_checkpoint(self, path: str | Path) -> bool:
        """Load a checkpoint file and select it; a damaged file shows a message and changes nothing."""
        return self.model_panel.open_checkpoint(path)

    def model_name(self) -> str:
        return self.model_panel.model_name()

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.generate_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names (sampler, steps, eta, guidance_scale, seed)."""
        view_hooks.apply_generate_state(self, state)

    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample of the current model, from its metadata or its config."""
        if self.model_panel.current is None:
            raise ValueError("Choose a model first.")
        return sample_shape(self.model_panel.current)

    def on_shown(self) -> None:
        """Refresh the list; the first time, pick the last used model (or the first bundled one)."""
        if self.is_sampling():
            return
        self.model_panel.refresh()
        self.model_panel.choose_initial()

    @Slot(object)
    def _on_model_changed(self, checkpoint) -> None:
        if not self.is_sampling() and self.run_a.recorder is None:  # nothing sampled yet: say what to do
            self.status_label.setText(
                "Choose a model and press Generate."
                if checkpoint is None
                else "Press Generate (Ctrl+G) to sample, then scrub the timeline from noise to image."
            )
        if checkpoint is None:
            self.sampler_panel.set_model(None)
            self._update_controls()
            return
        points = self.sample_shape() == (2,)
        native = native_sampling(getattr(checkpoint, "metadata", None))  # a distilled student's own steps
        self.sampler_panel.set_model(checkpoint.schedule.num_timesteps, points, class_names(checkpoint), native)
        self.results.reset(points)
        self._update_controls()
        self.status_changed.emit(f"Model: {self.model_name()}")

    def _update_controls(self) -> None:
        sampling = self.is_sampling()
        current = self.model_panel.current
        self.model_panel.set_busy(sampling)
        self.sampler_panel.update_controls(
            has_model=current is not None,
            conditional=current is not None and num_classes(current.model) > 0,
            sampling=sampling,
            can_export=self.run_a.recorder is not None,
        )

    def _save_settings(self) -> None:
        self.sampler_panel.save_settings(self._settings)
        self.model_panel.save_settings()

    # ------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------

    def is_sampling(self) -> bool:
        return self._job.running

    def jobs(self) -> list[SamplingJob]:
        return self.sampler_panel.settings().jobs

    @Slot()
    def _on_generate(self) -> None:
        try:
            self.generate()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot generate", str(error))

    def generate(self) -> None:
        """Start sampling with the form's settings (ValueError when they cannot work)."""
        if self.is_sampling():
            return
        checkpoint = self.model_panel.current
        if checkpoint is None:
            raise ValueError("Choose a model first: a bundled one, one you trained, or a checkpoint file.")
        shape = self.sample_shape()
        form = self.sampler_panel.settings()
        device = select_device(form.device)  # ValueError names what is missing
        batch, seed = form.batch, form.seed
        x_T = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed))
        model = checkpoint.model
        classes = num_classes(model)
        cond, labels = None, None
        if classes:
            if form.class_choice is None:
                labels = torch.arange(batch) % classes
            else:
                labels = torch.full((batch,), form.class_choice, dtype=torch.long)
            cond = {"class_labels": labels}
            if form.guidance != 1.0:
                model = ClassifierFreeGuidance(model, form.guidance)
        jobs = form.jobs
        self._last_labels = None if labels is None else labels.numpy()
        points = shape == (2,)
        clip = "clip" if (form.clip_x0 and not points) else None
        worker = SamplingWorker(
            model,
            checkpoint.schedule,
            x_T,
            jobs,
            cond=cond,
            seed=seed,
            clip_x0=clip,
            threads=default_worker_threads(),
            device=device,
        )
        worker.progress.connect(self._on_progress)
        worker.preview.connect(self._on_preview)
        worker.result.connect(self._on_result)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._save_settings()
        self._job_offsets = np.cumsum([0] + [j.steps for j in jobs])
        self.progress.setRange(0, sum(j.steps for j in jobs))
        self.progress.setValue(0)
        for run, job in zip(self.results.runs, jobs, strict=False):
            run.set_points_mode(points)
            run.set_labels(self._last_labels, class_names(checkpoint))
            run.clear(f"{job.label}: sampling…")
        self._worker = self._job.start(worker)
        self._thread = self._job.thread
        self._run_started = time.perf_counter()
        self.status_label.setText(f"Sampling {batch} {'points' if points else 'images'}…")
        self._update_controls()

    @Slot()
    def cancel(self) -> None:
        if self.is_sampling():
            self._worker.cancel()
            self.status_label.setText("Cancelling…")

    @Slot(int, int, int)
    def _on_progress(self, job_index: int, done: int, total: int) -> None:
        self.progress.setValue(int(self._job_offsets[job_index]) + done)
        nfe = evaluations_after(self._worker.jobs[job_index].sampler, done, total) if self._worker else done
        self.progress.setFormat(f"{self._worker.jobs[job_index].label}: step {done} / {total} ({nfe} NFE)")

    @Slot(int, object)
    def _on_preview(self, job_index: int, live) -> None:
        self.results.runs[job_index].show_live(live)

    @Slot(object)
    def _on_result(self, result: SamplingResult) -> None:
        index = self._worker.results.index(result) if self._worker is not None else 0
        run = self.results.runs[index]
        heading = f"{result.job.label} · {result.evaluations} network evaluations · {result.seconds:.2f} s"
        run.show_recording(result.trajectory, heading, result)
        shown = "the particles x_t and their predicted x̂₀" if run.points_mode else "x_t, the predicted x̂₀ and ε̂"
        self.status_label.setText(
            f"The timeline opens half way ({run.scrubber.labelText()}): {shown} side by side. Drag it to "
            f"the right end for the final samples. {result.trajectory.describe()}"
        )

    @Slot()
    def _on_cancelled(self) -> None:
        worker = self._worker
        done = len(worker.results) if worker is not None else 0
        if worker is not None and done < len(worker.jobs):
            recorder = worker.recorders[done]
            heading = f"{worker.jobs[done].label} · cancelled after {recorder.steps_seen} steps"
            self.results.runs[done].show_recording(recorder, heading)
        self.status_label.setText("Sampling cancelled. The steps done so far can be scrubbed.")
        self.status_changed.emit("Sampling cancelled")

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"Sampling failed: {message}")
        QMessageBox.warning(self, "Sampling failed", message)

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        worker = self._worker
        if worker is not None and len(worker.results) == len(worker.jobs):
            seconds = time.perf_counter() - self._run_started
            self.status_changed.emit(f"Sampled in {seconds:.1f} s")
            if len(worker.results) == 2:
                a, b = worker.results
                self.status_label.setText(
                    f"Same x_T for both. {a.job.label}: {a.evaluations} NFE in {a.seconds:.1f} s; "
                    f"{b.job.label}: {b.evaluations} NFE in {b.seconds:.1f} s. " + a.trajectory.describe()
                )
        self.progress.setFormat("%v / %m steps")
        self._update_controls()

    # ------------------------------------------------------------------------------------------
    # Export
    # ------------------------------------------------------------------------------------------

    def write_grid(self, path: str | Path) -> Path:
        """PNG of the final samples (a grid of images, or a scatter plot for 2-D points)."""
        return run_export.write_grid(path, self.run_a.result, self._last_labels)

    def write_strip(self, path: str | Path, count: int = STRIP_FRAMES) -> Path:
        """A PNG strip of ``count`` timesteps, from the noise x_T on the left to the sample x_0 on the right."""
        return run_export.write_strip(path, self.run_a.recorder, count, self._last_labels)

    def write_animation(self, path: str | Path) -> Path:
        """An animated GIF or WebP (by suffix) of x_t along the whole timeline."""
        return run_export.write_animation(path, self.run_a.recorder, self._last_labels)

    def export_actions(self) -> list[ExportAction]:
        """What File ▸ Export… (and the Export button) offers for this view."""
        return [
            ExportAction("PNG grid of the final samples…", PNG_FILTER, "samples.png", self.write_grid),
            ExportAction(f"PNG strip of {STRIP_FRAMES} timesteps…", PNG_FILTER, "timeline-strip.png", self.write_strip),
            ExportAction(
                "Animation of the timeline (GIF/WebP)…", ANIMATION_FILTER, "timeline.gif", self.write_animation
            ),
        ]

    @Slot(int)
    def _on_export_requested(self, index: int) -> None:
        action = self.export_actions()[index]
        folder = Path(self._settings.value("generate/export_folder", str(paths.exports_dir())))
        folder.mkdir(parents=True, exist_ok=True)
        path, _ = QFileDialog.getSaveFileName(
            self, action.label.rstrip("…"), str(folder / action.default_name), action.file_filter
        )
        if not path:
            return
        try:
            written = action.write(Path(path))
        except (ValueError, OSError) as error:
            QMessageBox.warning(self, "Export failed", str(error))
            return
        self._settings.setValue("generate/export_folder", str(Path(path).parent))
        self.status_label.setText(f"Exported {written}")

    # ------------------------------------------------------------------------------------------
    # Closing
    # ------------------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Cancel sampling (it stops within one network evaluation) and wait for the thread."""
        self._job.stop()
        self._save_settings()
        return True
