"""The Sampler race view: how few steps can you get away with, measured.

- **Race**: the checked samplers run from the same x_T (same seed) in a worker; each lane appears
  when it finishes, titled with its NFE (network evaluations actually made) and its error. One
  timeline scrubber moves every lane to the same step, and the plot beside it shows each lane's RMS
  error to a high-accuracy reference ODE solve after every step (``core.evaluation.sampler_race``).
- **X/Y grid**: rows = the checked samplers, columns = NFE budgets, every cell from the same x_T and
  captioned with its NFE and its distance to the reference; exported as one PNG (File ▸ Export…).
- **Quality vs NFE**: the same samplers scored at a row of NFE budgets (FID, class accuracy and recall
  for the Fashion-MNIST model, MMD² for the 2-D toys, and seconds), with the real-vs-real floor.

Both run in an ``EventStreamWorker`` with a progress bar and Cancel; the view only wires panels.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QMessageBox, QProgressBar, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.data import make_toy_2d
from core.evaluation.sampler_grid import GridCell, GridFinished, GridProgress, sampler_grid
from core.evaluation.sampler_quality import (
    QualityFinished,
    QualityPoint,
    QualityProgress,
    quality_vs_nfe,
    read_quality_table,
)
from core.evaluation.sampler_race import LaneFinished, RaceFinished, RaceProgress, sampler_race
from core.io import CheckpointError, load_denoiser
from desktop_app import export
from desktop_app.views.generate.model_panel import sample_shape
from desktop_app.views.race.error_plot import ErrorPlotPanel
from desktop_app.views.race.grid_panel import GridPanel
from desktop_app.views.race.lanes_panel import RaceLanesPanel
from desktop_app.views.race.quality_panel import QualityPanel
from desktop_app.views.race.setup_panel import RaceSetupPanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads

RACE_POINTS = 1000  # 2-D samples per lane
RACE_IMAGES = 4  # images per lane (a 2×2 grid)
IMAGE_REFERENCE_STEPS = 200  # the U-Net reference: 200 steps plus the lanes' timesteps keeps a race under a minute


class RaceWorker(EventStreamWorker):
    FREQUENT = ("RaceProgress", "QualityProgress", "GridProgress")


def _with_threads(threads: int, make_events):
    torch.set_num_threads(threads)
    yield from make_events()


def _dataset_name(metadata: dict) -> str:
    return str(metadata.get("dataset_name") or metadata.get("dataset") or "").removeprefix("toy:")


class RaceView(QWidget):
    """Sampler race and quality vs NFE. See the module docstring."""

    title = "Sampler race"
    status_changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)
        self._stop = threading.Event()
        self._checkpoint = None
        self._dataset = ""
        self.race_result = None

        self.setup = RaceSetupPanel()
        self.lanes = RaceLanesPanel()
        self.errors = ErrorPlotPanel()
        self.scrubber = TimelineScrubber()
        self.scrubber.setLabelFunction(self._step_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.lanes)
        split.addWidget(self.errors)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        race_page = QWidget()
        column = QVBoxLayout(race_page)
        column.setContentsMargins(0, 4, 0, 0)
        column.addWidget(split, 1)
        column.addWidget(self.scrubber)
        column.addWidget(self.progress)
        self.quality = QualityPanel()
        self.grid = GridPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(race_page, "Race")
        self.tabs.addTab(self.grid, "X/Y grid")
        self.tabs.addTab(self.quality, "Quality vs NFE")
        self.status_label = QLabel("Tick some samplers and press Run race: they all start from the same x_T.")
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.setup)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self.setup.model_chosen.connect(self._on_model_chosen)
        self.setup.run_requested.connect(self._on_run_race)
        self.setup.cancel_requested.connect(self.cancel)
        self.quality.run_requested.connect(self._on_run_quality)
        self.quality.cancel_requested.connect(self.cancel)
        self.grid.run_requested.connect(self._on_run_grid)
        self.grid.cancel_requested.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.setup.refresh()

    def on_shown(self) -> None:
        if not self.is_running():
            self.setup.refresh()

    @Slot(object)
    def _on_model_chosen(self, entry) -> None:
        self._checkpoint = None
        self.scrubber.setRange(0, 0)
        self.lanes.clear()
        self.errors.clear()
        if entry is None:
            self.status_label.setText("No model found: train one in the Train view.")
            return
        try:
            self._checkpoint = load_denoiser(entry.path)
        except (CheckpointError, OSError) as error:
            self.status_label.setText(f"Cannot load {entry.label}: {error}")
            return
        points = sample_shape(self._checkpoint) == (2,)
        self._dataset = _dataset_name(entry.metadata) if points else ""
        reference = None
        if points:
            try:
                reference = make_toy_2d(self._dataset, 2000, seed=1).points.numpy()
            except (ValueError, KeyError):
                reference = None
        num_classes = int(getattr(self._checkpoint.model, "num_classes", 0) or 0)
        count = RACE_POINTS if points else RACE_IMAGES
        labels = np.arange(count) % num_classes if num_classes else None
        self.lanes.set_mode(points, reference, labels)
        self.grid.set_kind(points, np.arange(RACE_POINTS) % num_classes if num_classes else None)
        self.quality.set_kind("points" if points else "images")
        self._show_measured_quality(entry.path)
        T = self._checkpoint.schedule.num_timesteps
        self.setup.set_limits(T, T if points else min(T, IMAGE_REFERENCE_STEPS))
        self.status_changed.emit(f"Race model: {entry.label}")
        self.status_label.setText("Press Run race: every sampler starts from the same x_T.")

    def _show_measured_quality(self, checkpoint_path) -> None:
        """The table ``benchmarks/bench_sampler_race.py --json`` measured for this model, if one lies beside it."""
        table = checkpoint_path.with_name(f"{checkpoint_path.stem}_sampler_quality.json")
        if not table.is_file():
            return
        try:
            result, provenance = read_quality_table(table)
        except ValueError:
            return  # an unreadable table is not worth a message: the user can score their own
        self.quality.show_measured(result, provenance)

    # --- running ------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    def _start(self, make_events) -> None:
        self._stop.clear()
        worker = RaceWorker(functools.partial(_with_threads, default_worker_threads(), make_events))
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._job.start(worker)
        self.setup.set_busy(True)
        self.quality.set_busy(True)
        self.grid.set_busy(True)

    @Slot()
    def _on_run_race(self) -> None:
        try:
            self.run_race()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot run the race", str(error))

    def run_race(self) -> None:
        """Start the race with the form's settings (ValueError when they cannot work)."""
        if self.is_running():
            return
        if self._checkpoint is None:
            raise ValueError("Choose a model first.")
        form = self.setup.settings()
        shape = sample_shape(self._checkpoint)
        count = RACE_POINTS if shape == (2,) else RACE_IMAGES
        x_T = torch.randn((count, *shape), generator=torch.Generator().manual_seed(form.seed))
        make = functools.partial(
            sampler_race, self._checkpoint.model, self._checkpoint.schedule, form.lanes, form.steps, x_T=x_T,
            seed=form.seed, spacing=form.spacing, clip_x0=None if shape == (2,) else "clip",
            reference_steps=form.reference_steps, stop=self._stop.is_set,
        )  # fmt: skip
        make().close()  # checks the input now, so a bad choice is a message here
        self.lanes.clear()
        self.errors.clear()
        self.race_result = None
        self.scrubber.setRange(0, 0)
        self.progress.setValue(0)
        self._start(make)
        self.status_label.setText(
            f"Computing the reference (DPM-Solver++(3M), {form.reference_steps} steps), then the lanes…"
        )

    @Slot()
    def _on_run_quality(self) -> None:
        try:
            self.run_quality()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot score quality", str(error))

    def run_quality(self) -> None:
        if self.is_running():
            return
        if self._checkpoint is None:
            raise ValueError("Choose a model first.")
        form = self.setup.settings()
        make = functools.partial(
            quality_vs_nfe, self._checkpoint.model, self._checkpoint.schedule, form.lanes, self.quality.nfes(),
            num_samples=self.quality.samples_spin.value(), dataset=self._dataset or None, seed=form.seed,
            spacing=form.spacing, stop=self._stop.is_set,
        )  # fmt: skip
        make().close()
        self.quality.clear()
        self.quality.set_progress(0, 1)
        self._start(make)
        self.status_label.setText("Sampling and scoring every sampler at every NFE budget…")

    @Slot()
    def _on_run_grid(self) -> None:
        try:
            self.run_grid()
        except ValueError as error:
            QMessageBox.warning(self, "Cannot draw the grid", str(error))

    def run_grid(self) -> None:
        """Start the X/Y grid: the checked samplers × the grid's NFE columns, from one x_T."""
        if self.is_running():
            return
        if self._checkpoint is None:
            raise ValueError("Choose a model first.")
        form = self.setup.settings()
        shape = sample_shape(self._checkpoint)
        x_T = torch.randn((self.grid.samples_per_cell(), *shape), generator=torch.Generator().manual_seed(form.seed))
        make = functools.partial(
            sampler_grid, self._checkpoint.model, self._checkpoint.schedule, form.lanes, self.grid.nfes(), x_T=x_T,
            seed=form.seed, spacing=form.spacing, clip_x0=None if shape == (2,) else "clip",
            reference_steps=form.reference_steps, stop=self._stop.is_set,
        )  # fmt: skip
        make().close()
        self.grid.clear()
        self.grid.set_progress(0, 1)
        self._start(make)
        self.status_label.setText("Drawing every sampler at every budget from the same x_T…")

    def export_actions(self) -> list[export.ExportAction]:
        if self.grid.picture() is None:
            return []
        return [
            export.ExportAction("PNG of the X/Y grid…", export.PNG_FILTER, "sampler_grid.png", self.grid.save_picture)
        ]

    @Slot()
    def cancel(self) -> None:
        if self.is_running():
            self._stop.set()
            self._job.request_stop()
            self.status_label.setText("Cancelling…")

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, RaceProgress):
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
                self.progress.setFormat(f"{event.lane}: %v / %m network evaluations")
            elif isinstance(event, LaneFinished):
                self._add_lane(event.run)
            elif isinstance(event, RaceFinished):
                self.race_result = event.result
                self.status_label.setText(self._summary(event.result))
                self.status_changed.emit("Sampler race done")
            elif isinstance(event, GridProgress):
                self.grid.set_progress(event.done, event.total)
            elif isinstance(event, GridCell):
                self.grid.add_cell(event)
            elif isinstance(event, GridFinished):
                self.grid.show_result(event.result)
                self.status_label.setText(
                    "Grid done: each cell says the NFE it made and its RMS distance to the reference."
                )
                self.status_changed.emit("X/Y grid done")
            elif isinstance(event, QualityProgress):
                self.quality.set_progress(event.done, event.total)
            elif isinstance(event, QualityPoint):
                self.quality.add_point(event)
            elif isinstance(event, QualityFinished):
                self.quality.show_result(event.result)
                self.status_label.setText("Quality vs NFE done: the dashed line is real data scored against real data.")
                self.status_changed.emit("Quality vs NFE done")

    def _add_lane(self, run) -> None:
        at_end = self.scrubber.value() == self.scrubber.maximum()
        self.lanes.add_run(run)
        self.errors.add_run(run)
        steps = max(len(r.timesteps) for r in self.lanes.runs)
        self.scrubber.setRange(0, steps)
        if at_end or len(self.lanes.runs) == 1:
            self.scrubber.setValue(steps)
        self._on_scrub(self.scrubber.value())

    @staticmethod
    def _summary(result) -> str:
        parts = [f"{r.label} {r.final_error:.3g} (NFE {r.nfe})" for r in result.lanes]
        return (
            f"Final RMS error to the reference ({result.reference_steps} DPM-Solver++(3M) steps): "
            + "; ".join(parts)
            + "."
        )

    @Slot(int)
    def _on_scrub(self, position: int) -> None:
        self.lanes.show_step(position)
        steps = self.scrubber.maximum()
        self.errors.set_position(position / steps if steps else 0.0)

    def _step_label(self, position: int) -> str:
        return f"step {position} / {self.scrubber.maximum()}" if self.lanes.runs else ""

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"Stopped: {message}")
        QMessageBox.warning(self, "Sampler race failed", message)

    @Slot()
    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. Lanes that finished can still be scrubbed.")
        self.status_changed.emit("Sampler race cancelled")

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        self.setup.set_busy(False)
        self.quality.set_busy(False)
        self.grid.set_busy(False)
        self.scrubber.setLabelFunction(self._step_label)

    def shutdown(self) -> bool:
        self._stop.set()
        self._job.stop()
        return True
