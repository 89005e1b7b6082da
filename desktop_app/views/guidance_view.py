"""The Guidance view: classifier-free and classifier guidance taken apart, step by step and as a sweep over w.

- **Step by step**: a class-conditional model samples with guidance scale w (deterministic DDIM), and
  every step records ε(x_t, ∅), ε(x_t, c), their difference, the guided ε = ε_u + w (ε_c − ε_u) and
  the x̂₀ each implies (``core.diffusion.guided_sampling.trace_guidance``). The shared timeline
  scrubber then moves through the run without any network call. A guidance interval (Kynkäänniemi
  et al. 2024) switches guidance off outside [t_lo, t_hi]. 2-D models show the predictions as lines
  on the point cloud.
- **Classifier guidance** (Dhariwal & Nichol 2021): the model without its class plus a noise-conditional
  classifier, guided ε = ε(x_t) − s√(1−ᾱ)∇log p(c | x_t) (``core.diffusion.classifier_guidance``), shown
  in the same panels with the classifier's gradient in place of ε_c − ε_u.
- **Side by side**: both kinds from the same x_T, with the gradient as an image or arrows.
- **Sweep**: the same x_T at a row of scales, as a class × scale grid, with class accuracy, precision,
  recall and per-class feature spread plotted against w (``core.evaluation.guidance_sweep``).

All run in an ``EventStreamWorker`` with a progress bar and Cancel; the view only wires panels. The
first time the view is shown it runs a short trace by itself, so the panels are never empty.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QTabWidget, QVBoxLayout, QWidget

from core.data import make_toy_2d
from core.diffusion.classifier_guidance import SideBySide, SideBySideProgress, side_by_side, trace_classifier_guidance
from core.diffusion.guided_sampling import GuidanceFrame, trace_guidance
from core.evaluation.guidance_sweep import SweepFinished, SweepProgress, guidance_sweep
from core.io import CheckpointError
from desktop_app.lessons import view_hooks
from desktop_app.views.guidance.compare_panel import GuidanceComparePanel
from desktop_app.views.guidance.components_panel import GuidanceComponentsPanel
from desktop_app.views.guidance.model_choice import GuidanceModels
from desktop_app.views.guidance.setup_panel import GuidanceSetupPanel
from desktop_app.views.guidance.sweep_panel import GuidanceSweepPanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads

TRACE_IMAGES = 4  # images recorded per step (a 2×2 grid in each panel)
TRACE_POINTS = 512  # 2-D points recorded per step
COMPARE_IMAGES = 9  # a 3×3 grid per guidance in the Side by side tab
FIRST_RUN_STEPS = 10  # the run the view starts by itself when first shown (about a second on a CPU)


class GuidanceWorker(EventStreamWorker):
    """Runs a trace or a sweep generator; frames and progress events are batched for the GUI."""

    FREQUENT = ("GuidanceFrame", "SweepProgress", "SideBySideProgress")


def _with_threads(threads: int, make_events):
    """Run ``make_events()`` with torch limited to ``threads`` CPU threads (the GUI keeps a core)."""
    torch.set_num_threads(threads)
    yield from make_events()


class GuidanceView(QWidget):
    """Step-by-step guidance and the guidance sweep. See the module docstring."""

    title = "Guidance"
    status_changed = Signal(str)
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)
        self._worker: GuidanceWorker | None = None
        self.models = GuidanceModels()
        self._shown_once = False
        self._run_mode = "cfg"
        self._frames: list[GuidanceFrame] = []
        self._run_scale = 1.0
        self.sweep_result = None
        self.side_by_side_result = None

        self.setup = GuidanceSetupPanel()
        self.components = GuidanceComponentsPanel()
        self.scrubber = TimelineScrubber()
        # No label beside the scrubber: t is in the step caption, and a label whose text changes re-lays-out
        # the window at every step (≈ 4.5 ms of the 8 ms frame budget, bench_guidance.py --scrub).
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        step_page = QWidget()
        column = QVBoxLayout(step_page)
        column.setContentsMargins(0, 4, 0, 0)
        column.addWidget(self.components, 1)
        column.addWidget(self.scrubber)
        column.addWidget(self.progress)
        self.sweep = GuidanceSweepPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(step_page, "Step by step")
        self.tabs.addTab(self.sweep, "Sweep over w")
        self.compare = GuidanceComparePanel()
        self.tabs.addTab(self.compare, "Side by side")
        self.status_label = QLabel("Press Run step by step to see ε(x_t, ∅), ε(x_t, c) and the guided ε at every step.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.setup)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self.setup.model_chosen.connect(self._on_model_chosen)
        self.setup.run_requested.connect(self._on_run_trace)
        self.setup.mode_changed.connect(self._on_mode_changed)
        self.compare.run_requested.connect(self._on_run_compare)
        self.compare.cancel_requested.connect(self.cancel)
        self.setup.cancel_requested.connect(self.cancel)
        self.sweep.run_requested.connect(self._on_run_sweep)
        self.sweep.cancel_requested.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.setup.refresh()
        view_hooks.watch_guidance(self)

    # --- model ------------------------------------------------------------------------------------

    def on_shown(self) -> None:
        """Refresh the model list; the first time, run a short trace so the panels show something at once."""
        if self.is_running():
            return
        self.setup.refresh()
        if not self._shown_once and self.models.checkpoint is not None and not self._frames:
            self._shown_once = True
            try:
                self.run_trace(steps=min(FIRST_RUN_STEPS, self.setup.steps_spin.value()))
                self.status_label.setText(f"A first {FIRST_RUN_STEPS}-step run to start with: scrub it, or press "
                                          "Run step by step for the form's settings.")  # fmt: skip
            except ValueError as error:  # e.g. the default model cannot be guided the chosen way
                self.status_label.setText(str(error))

    @Slot(object)
    def _on_model_chosen(self, entry) -> None:
        self.models.clear()
        self._frames = []
        self.scrubber.setRange(0, 0)
        if entry is None:
            self.components.clear("No model found: train one in the Train view.")
            return
        try:
            self.models.load(entry)
        except (CheckpointError, OSError) as error:
            self.components.clear(f"Cannot load {entry.label}: {error}")
            return
        points = self.models.sample_shape == (2,)
        self.components.set_points_mode(points)
        reference = self._toy_reference(entry.metadata) if points else None
        self.components.set_reference(reference)
        self.compare.set_points_mode(points, reference)
        self.setup.set_num_timesteps(self.models.checkpoint.schedule.num_timesteps)
        self._on_mode_changed(self.setup.mode())
        self.sweep.run_button.setToolTip(
            "The sweep scores Fashion-MNIST samples with the project's classifier" if not points
            else "The sweep's metrics need the Fashion-MNIST model; choose it above"
        )  # fmt: skip
        self.status_changed.emit(f"Guidance model: {entry.label}")

    def use_classifier(self, classifier) -> None:
        """Guide with ``classifier`` (ValueError in words, and nothing changed, if it does not fit the model)."""
        self.models.use_classifier(classifier)
        self._on_mode_changed(self.setup.mode())

    @Slot(str)
    def _on_mode_changed(self, mode: str) -> None:
        self._frames = []
        self.scrubber.setRange(0, 0)
        self.components.set_mode(mode == "classifier")
        self.setup.set_class_names(self.models.class_names(mode))
        self.components.clear(self.models.problem(mode) or "Press Run step by step, then scrub the steps.")

    @staticmethod
    def _toy_reference(metadata: dict) -> np.ndarray | None:
        """Fresh points of the toy the model was trained on (None for a dataset not known here)."""
        try:
            return make_toy_2d(
                str(metadata.get("dataset_name") or metadata.get("dataset")), 2000, seed=1
            ).points.numpy()
        except (ValueError, KeyError):
            return None

    # --- running ----------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    def _start(self, make_events) -> None:
        worker = GuidanceWorker(functools.partial(_with_threads, default_worker_threads(), make_events))
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._worker = self._job.start(worker)
        self.setup.set_busy(True)
        self.sweep.set_busy(True)
        self.compare.set_busy(True)

    @Slot()
    def _on_run_trace(self) -> None:
        try:
            self.run_trace()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot run", str(error))

    def run_trace(self, steps: int | None = None) -> None:
        """Sample with the form's settings (``steps`` overrides its steps) and record every step (ValueError when
        they cannot work)."""
        if self.is_running():
            return
        form = self.setup.settings()
        if steps is not None:
            form = dataclasses.replace(form, steps=steps)
        problem = self.models.problem(form.mode)
        if problem:
            raise ValueError(problem)
        shape = self.models.sample_shape
        points = shape == (2,)
        count = TRACE_POINTS if points else TRACE_IMAGES
        x_T = torch.randn((count, *shape), generator=torch.Generator().manual_seed(form.seed))
        labels = torch.full((count,), form.class_index, dtype=torch.long)
        self._frames, self._run_scale, self._run_mode = [], form.scale, form.mode
        self.components.set_points_mode(points, labels.numpy())
        self.progress.setRange(0, form.steps)
        self.progress.setValue(0)
        model, schedule, clip = (
            self.models.checkpoint.model,
            self.models.checkpoint.schedule,
            None if points else "clip",
        )
        if form.mode == "classifier":
            make = functools.partial(trace_classifier_guidance, model, self.models.classifier, x_T, schedule, form.steps,
                                     labels, form.scale, clip_x0=clip, keep=count, interval=form.interval)  # fmt: skip
        else:
            make = functools.partial(trace_guidance, model, x_T, schedule, form.steps, labels, form.scale,
                                     interval=form.interval, clip_x0=clip, keep=count)  # fmt: skip
        self._start(make)
        what = "s" if form.mode == "classifier" else "w"
        self.status_label.setText(f"Sampling with {what} = {form.scale:g}, recording ε_u, ε_c and the guided ε…")

    @Slot()
    def _on_run_compare(self) -> None:
        try:
            self.run_compare()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot compare", str(error))

    def run_compare(self) -> None:
        """Classifier-free (w) and classifier guidance (s = the same scale) from one x_T (ValueError if impossible)."""
        if self.is_running():
            return
        form = self.setup.settings()
        problem = self.models.problem("cfg") or self.models.problem("classifier")
        if problem:
            raise ValueError(problem)
        shape = self.models.sample_shape
        points = shape == (2,)
        count = TRACE_POINTS if points else COMPARE_IMAGES
        x_T = torch.randn((count, *shape), generator=torch.Generator().manual_seed(form.seed))
        labels = torch.full((count,), form.class_index, dtype=torch.long)
        model = self.models.checkpoint.model
        self.compare.set_progress(0, 2 * form.steps)
        self._start(functools.partial(
            side_by_side, model, model, self.models.classifier, x_T, self.models.checkpoint.schedule, form.steps, labels,
            form.scale, form.scale, clip_x0=None if points else "clip",
        ))  # fmt: skip
        self.status_label.setText(f"Classifier-free and classifier guidance at scale {form.scale:g} from one x_T…")

    @Slot()
    def _on_run_sweep(self) -> None:
        try:
            self.run_sweep()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot run the sweep", str(error))

    def run_sweep(self) -> None:
        """Start the guidance sweep with the sweep form's scales (ValueError when it cannot run)."""
        if self.is_running():
            return
        problem = self.models.problem("cfg")
        if problem:
            raise ValueError(problem)
        form = self.setup.settings()
        scales = self.sweep.scales()
        entry = self.setup.current_entry()
        make = functools.partial(
            guidance_sweep, self.models.checkpoint.model, self.models.checkpoint.schedule, scales,
            per_class=self.sweep.per_class_spin.value(), steps=self.sweep.steps_spin.value(), seed=form.seed,
            interval=form.interval, class_names=entry.metadata.get("class_names", []) if entry else [],
        )  # fmt: skip
        make().close()  # the sweep checks its input when called: a wrong model or scale is a message here
        self.sweep.set_progress(0, 1)
        self._start(make)
        self.status_label.setText(f"Sweeping w over {', '.join(f'{s:g}' for s in scales)} from one x_T…")

    @Slot()
    def cancel(self) -> None:
        if self.is_running():
            self._job.request_stop()
            self.status_label.setText("Cancelling…")

    @Slot(list)
    def _on_events(self, events: list) -> None:
        new_frames = [e for e in events if isinstance(e, GuidanceFrame)]
        if new_frames:
            first_new = not self._frames
            self._frames.extend(new_frames)
            last = self._frames[-1]
            self.progress.setValue(len(self._frames))
            self.progress.setFormat(f"step {len(self._frames)} / {last.num_steps}")
            self.scrubber.setRange(0, len(self._frames) - 1)
            if first_new or self.scrubber.value() == len(self._frames) - len(new_frames) - 1:
                self.scrubber.setValue(len(self._frames) - 1)  # follow the run while it is at the end
            self._on_scrub(self.scrubber.value())
        for event in events:
            if isinstance(event, SweepProgress):
                self.sweep.set_progress(event.done, event.total)
            elif isinstance(event, SweepFinished):
                self.sweep_result = event.result
                self.sweep.show_result(event.result)
                self.status_label.setText(f"Sweep done in {event.result.seconds:.1f} s.")
                self.status_changed.emit("Guidance sweep done")
            elif isinstance(event, SideBySideProgress):
                self.compare.set_progress(event.done, event.total)
            elif isinstance(event, SideBySide):
                self.side_by_side_result = event
                self.compare.show_result(event, self.setup.class_combo.currentText())
                self.status_label.setText("Both guidances done from the same x_T.")

    @Slot(int)
    def _on_scrub(self, position: int) -> None:
        if 0 <= position < len(self._frames):
            self.components.show_frame(self._frames[position], self._run_scale)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"Stopped: {message}")
        QMessageBox.warning(self, "Guidance run failed", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. The steps recorded so far can be scrubbed.")
        self.status_changed.emit("Guidance run cancelled")

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        self.setup.set_busy(False)
        self.sweep.set_busy(False)
        self.compare.set_busy(False)
        if self._frames and not self.status_label.text().startswith(("Stopped", "Cancelled")):
            self.status_label.setText(
                f"Recorded {len(self._frames)} steps: scrub them (←/→, Home/End) to see how the guided ε leaves ε_c "
                "behind."
            )

    def shutdown(self) -> bool:
        """Stop a running trace or sweep (it stops between DDIM steps) and wait for the thread."""
        self._job.stop()
        return True

    def frames(self) -> list[GuidanceFrame]:
        return list(self._frames)

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.guidance_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names (guidance_scale, steps)."""
        view_hooks.apply_guidance_state(self, state)

    def grid_picture(self) -> np.ndarray | None:
        return self.sweep.grid.last_picture
