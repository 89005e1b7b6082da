"""The Forward process view: watch q(x_t | x_0) destroy an image (or a point cloud) one step at a time.

At the scrubbed timestep t the view shows, side by side (DDPM, Ho et al. 2020, eq. 4)::

    x_t  =  √ᾱ_t · x_0  +  √(1 − ᾱ_t) · ε          ε ~ N(0, I)

the noisy x_t, the noise ε and the signal part √ᾱ_t·x_0, with the numbers β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t),
the SNR ᾱ_t/(1−ᾱ_t) in decibels, and a histogram of x_t's values against the N(0, 1) density that
x_t approaches as t → T.

"Closed form" jumps straight to x_t with one fixed ε (``core.diffusion.forward_process.q_sample``). "Markov
chain" runs x_t = √α_t x_{t−1} + √β_t z_t step by step (eq. 2, ``core.diffusion.MarkovChainCache``)
with fresh z_t each step; its ε panel shows the accumulated noise (x_t − √ᾱ_t x_0)/√(1−ᾱ_t), which is
again N(0, I). The chain is computed once per source/schedule/seed (small sources at once, large ones
by a ``ChainWorker`` owned by a ``BackgroundJob``) and cached, so scrubbing only reads arrays.

The view composes the panels of ``desktop_app.views.forward``: ``SourcePanel``, ``SchedulePanel``,
``ModePanel``, ``FramePanel`` and ``NumbersPanel``. Every frame is computed into the preallocated
arrays of ``FrameBuffers`` and pushed to widgets built once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QMessageBox, QVBoxLayout, QWidget

from core.data.image_file import IMAGE_FILE_FILTER, MAX_IMAGE_PIXELS
from core.diffusion import DEFAULT_CHAIN_BUDGET_BYTES, MarkovChainCache, NoiseSchedule, make_schedule
from desktop_app import export
from desktop_app.lessons import view_hooks
from desktop_app.views.forward.chain_worker import ChainWorker
from desktop_app.views.forward.frame_buffers import FrameBuffers
from desktop_app.views.forward.frame_panel import IMAGE_LEVELS, NOISE_LEVELS, FramePanel
from desktop_app.views.forward.mode_panel import ModePanel
from desktop_app.views.forward.numbers_panel import NumbersPanel
from desktop_app.views.forward.schedule_panel import ScheduleChoice, SchedulePanel
from desktop_app.views.forward.source_panel import SourceChoice, SourcePanel
from desktop_app.views.forward.sources import (
    IMAGE_COUNTS,
    MAX_COMPUTE_SIDE,
    POINT_COUNT,
    SOURCE_FASHION,
    SOURCE_POINTS,
    SOURCE_SHAPES,
    ForwardSource,
    ImageLoadError,
    dataset_source,
    load_image_source,
)
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ValueHistogram
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob

__all__ = [  # the names other modules, tests and benchmarks import from here
    "CHAIN_BUDGET_BYTES",
    "CHAIN_CHUNK",
    "CHAIN_SYNC_LIMIT",
    "IMAGE_COUNTS",
    "IMAGE_FILE_FILTER",
    "IMAGE_LEVELS",
    "MAX_COMPUTE_SIDE",
    "MAX_IMAGE_PIXELS",
    "NOISE_LEVELS",
    "POINT_COUNT",
    "SOURCE_FASHION",
    "SOURCE_POINTS",
    "SOURCE_SHAPES",
    "ChainWorker",
    "ForwardSource",
    "ForwardView",
    "ImageLoadError",
    "MarkovChainCache",
    "dataset_source",
    "load_image_source",
]

CHAIN_SYNC_LIMIT = 12_000_000  # values (elements × T) up to which the chain is computed at once on the GUI thread
CHAIN_BUDGET_BYTES = DEFAULT_CHAIN_BUDGET_BYTES  # memory for stored chain states (see MarkovChainCache)
CHAIN_CHUNK = 25  # chain steps the worker computes between two progress reports


class ForwardView(QWidget):
    """Scrub the forward process of a dataset batch, a point cloud or the user's own image."""

    title = "Forward process"
    status_changed = Signal(str)
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.source: ForwardSource | None = None
        self.schedule: NoiseSchedule | None = None
        self._opened: ForwardSource | None = None
        self._chain: MarkovChainCache | None = None
        self._chain_job: BackgroundJob | None = None  # one job per chain computed by a worker
        self._frames: FrameBuffers | None = None
        self._last_dir = str(settings.value("forward/last_image_dir", str(Path.home())))
        self._build_ui()
        self._restore_settings()
        self._rebuild_schedule()
        self._load_source()

    # --- UI -------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.source_panel = SourcePanel()
        self.schedule_panel = SchedulePanel()
        self.mode_panel = ModePanel()
        self.frame_panel = FramePanel()
        self.scrubber = TimelineScrubber()
        self.scrubber.setLabelFunction(self._scrubber_label)
        self.numbers_panel = NumbersPanel()
        self.histogram = ValueHistogram()
        self.histogram.setMinimumHeight(150)
        self.histogram.setMaximumHeight(230)
        self.chain_label = QLabel("")
        self.chain_label.setStyleSheet("color: #b06000;")
        self._expose_panel_widgets()

        controls = FlowRow()  # wraps on a narrow window (projector)
        controls.addWidget(self.source_panel)
        controls.addSpacing(20)
        controls.addWidget(self.schedule_panel)
        controls.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.numbers_panel)
        bottom.addWidget(self.histogram, stretch=1)
        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addWidget(self.mode_panel)
        layout.addWidget(self.frame_panel, stretch=3)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.chain_label)
        layout.addLayout(bottom)

        self.source_panel.source_chosen.connect(self._on_source_changed)
        self.source_panel.open_requested.connect(self._on_open_clicked)
        self.schedule_panel.schedule_chosen.connect(self._on_schedule_changed)
        self.mode_panel.mode_changed.connect(self._on_mode_changed)
        self.mode_panel.seed_changed.connect(self._on_seed_changed)
        self.scrubber.valueChanged.connect(self._on_t_changed)

    def _expose_panel_widgets(self) -> None:
        """The panels' widgets under the names the view has always had (tests and scripts drive them)."""
        source, schedule, mode, frame = self.source_panel, self.schedule_panel, self.mode_panel, self.frame_panel
        self.source_combo, self.count_combo, self.toy_combo = source.source_combo, source.count_combo, source.toy_combo
        self.open_button = source.open_button
        self.kind_combo, self.T_spin = schedule.kind_combo, schedule.T_spin
        self.closed_radio, self.chain_radio, self.equation = mode.closed_radio, mode.chain_radio, mode.equation
        self.seed_spin, self.new_noise_button = mode.seed_spin, mode.new_noise_button
        self.xt_panel, self.noise_panel, self.signal_panel = frame.xt_panel, frame.noise_panel, frame.signal_panel
        self.points_plot = frame.points_plot
        self.points_x0_item, self.points_xt_item = frame.points_x0_item, frame.points_xt_item
        self.display_stack = frame
        self.numbers = self.numbers_panel.numbers

    def _restore_settings(self) -> None:
        s = self.settings
        self.source_panel.set_choice(
            SourceChoice(
                str(s.value("forward/source", SOURCE_FASHION)),
                int(s.value("forward/count", 8)),
                str(s.value("forward/toy", "two_moons")),
            )
        )
        self.schedule_panel.set_choice(
            ScheduleChoice(str(s.value("forward/kind", "linear")), int(s.value("forward/T", 1000)))
        )
        self.mode_panel.set_seed(int(s.value("forward/seed", 0)))

    def _save_settings(self) -> None:
        s = self.settings
        source, schedule, noise = self.source_panel.choice(), self.schedule_panel.choice(), self.mode_panel.choice()
        s.setValue("forward/source", source.builtin_name)
        s.setValue("forward/count", source.count)
        s.setValue("forward/toy", source.toy)
        s.setValue("forward/kind", schedule.kind)
        s.setValue("forward/T", schedule.num_timesteps)
        s.setValue("forward/seed", noise.seed)
        s.setValue("forward/last_image_dir", self._last_dir)

    # --- public API -----------------------------------------------------------------------------

    def open_image(self, path: str | Path) -> bool:
        """Use the image at ``path`` as x_0. A file that is not an image shows a message; returns success."""
        try:
            source = load_image_source(path)
        except ImageLoadError as error:
            QMessageBox.warning(self, "Cannot open this file", str(error))
            return False
        self._last_dir = str(Path(path).resolve().parent)
        self._opened = source
        self.source_panel.show_opened(source.name)
        self.set_source(source)
        return True

    def set_source(self, source: ForwardSource) -> None:
        """Show the forward process of ``source`` (resets the noise buffers and the chain)."""
        self.source = source
        self._prepare_buffers()
        self._restart_chain()
        self.frame_panel.show_page()
        self._render()
        self.status_changed.emit(f"Forward process of {source.name} · {self.schedule.label}")

    def dataset_name(self) -> str:
        return self.source.name if self.source is not None else ""

    def current_t(self) -> int:
        return self.scrubber.value()

    def is_chain_mode(self) -> bool:
        return self.mode_panel.choice().chain

    def set_chain_mode(self, chain: bool) -> None:
        self.mode_panel.set_chain_mode(chain)

    def current_frame(self) -> dict[str, np.ndarray]:
        """The arrays on screen: x_t, eps, signal, each (N, C, H, W) or (N, 2)."""
        frames = self._frames
        return {"x_t": frames.x_t.copy(), "eps": frames.eps_shown.copy(), "signal": frames.signal.copy()}

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.forward_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names: t, schedule, T, mode, seed."""
        view_hooks.apply_forward_state(self, state)

    def shutdown(self) -> bool:
        self._stop_chain_worker()
        self._save_settings()
        return True

    # --- computation ----------------------------------------------------------------------------

    def _rebuild_schedule(self) -> None:
        choice = self.schedule_panel.choice()
        self.schedule = make_schedule(choice.kind, choice.num_timesteps)
        old = self.scrubber.value()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, self.schedule.num_timesteps - 1)
        self.scrubber.setValue(min(old, self.schedule.num_timesteps - 1) if old else self.schedule.num_timesteps // 4)
        self.scrubber.blockSignals(False)
        self.scrubber.setLabelFunction(self._scrubber_label)

    def _load_source(self) -> None:
        choice = self.source_panel.choice()
        if choice.is_opened_image and self._opened is not None:
            self.set_source(self._opened)
            return
        self.set_source(dataset_source(choice.name, choice.count, choice.toy))

    def _prepare_buffers(self) -> None:
        """Draw ε for the seed and allocate every per-frame buffer once per source/seed."""
        self._frames = FrameBuffers(self.source.x0, self.mode_panel.choice().seed)
        self.frame_panel.show_source(self._frames.x0, self.source.is_points)

    def _restart_chain(self) -> None:
        self._stop_chain_worker()
        self._chain = None
        self.chain_label.setText("")
        if self.source is None or not self.is_chain_mode():
            return
        self._chain = MarkovChainCache(self.schedule, self.source.x0, self.mode_panel.choice().seed)
        work = self.source.x0.numel() * self.schedule.num_timesteps
        if work <= CHAIN_SYNC_LIMIT:
            self._chain.extend_to(self.schedule.num_timesteps - 1)
            return
        worker = ChainWorker(self._chain, chunk=CHAIN_CHUNK)
        worker.events.connect(self._on_chain_progress)
        self._chain_job = BackgroundJob(self)
        self._chain_job.start(worker)

    def _stop_chain_worker(self) -> None:
        if self._chain_job is None:
            return
        self._chain_job.stop()  # the worker stops after its current chunk; then its thread is waited for
        # A fresh job per chain: a BackgroundJob reused at once would take the old thread's queued
        # ``finished`` for the new thread's and drop the running thread (Qt aborts the process).
        self._chain_job.deleteLater()
        self._chain_job = None

    def _compute(self, t: int) -> None:
        """Fill the frame buffers for timestep t (eq. 4, or the chain) and say how far the chain is."""
        shown = self._frames.compute(self.schedule, t, self._chain)
        if self._chain is None:
            return
        if shown < t:
            self.chain_label.setText(
                f"Computing the Markov chain… ready up to t = {max(shown, 0)}; showing that step for now."
            )
        else:
            self.chain_label.setText("")

    def _render(self) -> None:
        if self.source is None:
            return
        t = self.scrubber.value()
        self._compute(t)
        frames = self._frames
        self.frame_panel.show_frame(frames.x_t, frames.eps_shown, frames.signal, fixed_noise=self._chain is None)
        self.histogram.set_values(frames.x_t)
        self.numbers_panel.show_step(self.schedule, t, frames.x_t)
        self.values_changed.emit()

    def _scrubber_label(self, t: int) -> str:
        if self.schedule is None:
            return ""
        return f"ᾱ = {float(self.schedule.alphas_cumprod[t]):.3f}"

    # --- handlers -------------------------------------------------------------------------------

    @Slot(int)
    def _on_t_changed(self, _t: int) -> None:
        self._render()

    @Slot(object)
    def _on_source_changed(self, _choice: SourceChoice) -> None:
        self._load_source()

    @Slot()
    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image as x₀", self._last_dir, IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    @Slot(object)
    def _on_schedule_changed(self, _choice: ScheduleChoice) -> None:
        self._rebuild_schedule()
        self._restart_chain()
        self._render()
        if self.source is not None:
            self.status_changed.emit(f"Forward process of {self.source.name} · {self.schedule.label}")

    @Slot(bool)
    def _on_mode_changed(self, chain: bool) -> None:
        self.frame_panel.set_chain_mode(chain)
        self._restart_chain()
        self.frame_panel.invalidate_noise()
        self._render()

    @Slot(int)
    def _on_seed_changed(self, _seed: int) -> None:
        if self.source is None:
            return
        self._prepare_buffers()
        self._restart_chain()
        self._render()

    @Slot(list)
    def _on_chain_progress(self, frontiers: list) -> None:
        # Redraw when t lay beyond the frontier before this batch (the frame on screen was short of t).
        # The batch's first frontier is the oldest, so one redraw covers every report in it.
        if self._chain is not None and frontiers and self.scrubber.value() > frontiers[0] - CHAIN_CHUNK:
            self._render()

    # --- export ---------------------------------------------------------------------------------

    def _frame_at(self, t: int) -> np.ndarray:
        """x_t at timestep t as a uint8 picture (grid of images, or a scatter plot for points)."""
        self._compute(t)
        if self.source.is_points:
            return export.scatter_picture(self._frames.x_t)
        return export.grid_picture(self._frames.x_t)

    def export_actions(self) -> list[export.ExportAction]:
        if self.source is None:
            return []
        t = self.scrubber.value()
        T = self.schedule.num_timesteps

        def restore(result):
            self._render()
            return result

        def write_png(path: Path) -> Path:
            return restore(export.save_png(path, self._frame_at(t)))

        def write_strip(path: Path, k: int = 8) -> Path:
            steps = export.evenly_spaced_timesteps(0, T - 1, k)
            frames = [self._frame_at(s) for s in steps]
            return restore(export.save_strip_png(path, frames, [f"t = {s}" for s in steps]))

        def write_animation(path: Path, frames: int = 40) -> Path:
            steps = export.evenly_spaced_timesteps(0, T - 1, frames)
            return restore(export.save_animation(path, [self._frame_at(s) for s in steps], fps=12))

        return [
            export.ExportAction(f"PNG of x_t at t = {t}…", export.PNG_FILTER, f"forward_t{t}.png", write_png),
            export.ExportAction("PNG strip of 8 timesteps…", export.PNG_FILTER, "forward_strip.png", write_strip),
            export.ExportAction(
                "Animated GIF/WebP of the timeline…", export.ANIMATION_FILTER, "forward.gif", write_animation
            ),
        ]
