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

import logging
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QSettings, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.data import make_grid
from core.diffusion import (
    DEFAULT_STEPS,
    SAMPLER_LABELS,
    SAMPLERS,
    ClassifierFreeGuidance,
    TrajectoryFrame,
    evaluations_per_run,
)
from core.io import CheckpointError, load_denoiser
from core.runtime import select_device
from desktop_app import paths
from desktop_app.export import (
    ANIMATION_FILTER,
    PNG_FILTER,
    ExportAction,
    evenly_spaced_timesteps,
    grid_picture,
    save_animation,
    save_png,
    save_strip_png,
    scatter_picture,
)
from desktop_app.model_library import ModelEntry, describe_metadata, entry_for_file, list_models
from desktop_app.widgets.form_helpers import device_combo
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.point_cloud import PointCloudPlot
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import (
    SamplingJob,
    SamplingResult,
    SamplingWorker,
    default_worker_threads,
    start_worker,
    stop_thread,
)

log = logging.getLogger(__name__)
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

EPS_DISPLAY_RANGE = 3.0  # ε̂ ~ N(0, I): show [−3, 3] as black…white
MAX_IMAGE_BATCH = 256
MAX_POINT_BATCH = 20_000
DEFAULT_IMAGE_BATCH = 16
DEFAULT_POINT_BATCH = 1000
NO_MODEL = ""
STRIP_FRAMES = 8  # timesteps in an exported strip
ANIMATION_FRAMES = 100  # frames of an exported timeline animation (evenly spaced over all steps)
ANIMATION_FPS = 20
ANIMATION_HOLD_FRAMES = 20  # the final sample stays on screen for a second before the loop restarts


def image_grid(samples: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """uint8 grid of float images (N, C, H, W); values are divided by ``scale`` first ([−scale, scale] → 0…255)."""
    return make_grid(samples / scale if scale != 1.0 else samples, padding=2, pad_value=255)


class ImageGridPanel(ImagePanel):
    """A titled picture of an image grid on white (the shared fast ``ImagePanel``, fed uint8 grids)."""

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(title, parent=parent, background="#ffffff", margin=8)
        self.setMinimumSize(150, 150)
        self.picture: np.ndarray | None = None  # the uint8 grid on screen (None: empty)

    def set_picture(self, picture: np.ndarray | None) -> None:
        self.picture = picture
        if picture is None:
            self.clear()
        else:
            self.set_image(picture)


class RunPanel(QWidget):
    """One sampling run: a heading, x_t / x̂_0 / ε̂ side by side (or clouds for 2-D) and a timeline."""

    position_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.heading = QLabel("")
        self.heading.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.x_t_panel = ImageGridPanel("x_t")
        self.x0_panel = ImageGridPanel("predicted x̂₀")
        self.eps_panel = ImageGridPanel("predicted noise ε̂")
        self.cloud = PointCloudPlot("x_t and the paths so far")
        self.x0_cloud = PointCloudPlot("predicted x̂₀")
        self.scrubber = TimelineScrubber()
        self.scrubber.setToolTip("Scrub the reverse process: left is pure noise x_T, right the final sample x₀")
        self.scrubber.valueChanged.connect(self._on_scrubbed)
        grid = QGridLayout()
        grid.setSpacing(4)
        for column, widget in enumerate((self.x_t_panel, self.x0_panel, self.eps_panel)):
            grid.addWidget(widget, 0, column)
        grid.addWidget(self.cloud, 0, 0, 1, 2)
        grid.addWidget(self.x0_cloud, 0, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addLayout(grid, 1)
        layout.addWidget(self.scrubber)
        self.result: SamplingResult | None = None
        self.recorder = None
        self.labels: np.ndarray | None = None
        self._paths: np.ndarray | None = None
        self.set_points_mode(False)

    def set_points_mode(self, points: bool) -> None:
        self.points_mode = points
        for widget in (self.x_t_panel, self.x0_panel, self.eps_panel):
            widget.setVisible(not points)
        self.cloud.setVisible(points)
        self.x0_cloud.setVisible(points)

    def clear(self, heading: str = "") -> None:
        self.result = None
        self.recorder = None
        self._paths = None
        self.heading.setText(heading)
        for panel in (self.x_t_panel, self.x0_panel, self.eps_panel):
            panel.set_picture(None)
        empty = np.zeros((0, 2), np.float32)
        self.cloud.set_points(empty)
        self.cloud.set_paths(None)
        self.x0_cloud.set_points(empty)
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, 0)
        self.scrubber.setLabelFunction(None)
        self.scrubber.blockSignals(False)
        self.scrubber.setEnabled(False)

    def show_live(self, live) -> None:
        """While sampling: the current x_t and x̂_0 (the noise resolving, the final sample taking shape)."""
        labels = self._label_slice(len(live.pred_x0))
        if self.points_mode:
            self.cloud.set_points(live.x_t, labels)
            self.x0_cloud.set_points(live.pred_x0, labels)
        else:
            self.x_t_panel.set_picture(image_grid(live.x_t))
            self.x_t_panel.set_title(f"x_t at t = {live.t} (sampling…)")
            self.x0_panel.set_picture(image_grid(live.pred_x0))

    def _label_slice(self, n: int):
        return None if self.labels is None else self.labels[:n]

    def show_recording(self, recorder, heading: str, result: SamplingResult | None = None) -> None:
        """Make the timeline scrub ``recorder`` (a finished or a cancelled run) and show its last position."""
        self.result = result
        self.recorder = recorder
        self.heading.setText(heading)
        if len(recorder) == 0:
            self.clear(heading)
            return
        self._paths = recorder.x_t_path().astype(np.float32) if self.points_mode else None
        timesteps = recorder.timesteps
        total = recorder.num_steps

        def label(position: int) -> str:
            t = int(timesteps[position]) if 0 <= position < len(timesteps) else -1
            if t < 0:
                return "x₀: final"
            step = int(recorder.frame(position).step_index) + 1 if recorder.subsampled else position + 1
            return f"step {step}/{total} · t={t}"

        self.scrubber.setEnabled(True)
        self.scrubber.setLabelFunction(label)
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, len(recorder) - 1)
        self.scrubber.setValue(len(recorder) - 1)
        self.scrubber.blockSignals(False)
        self.show_position(len(recorder) - 1)

    def timestep_at(self, position: int) -> int:
        return int(self.recorder.timesteps[position]) if self.recorder is not None and len(self.recorder) else 0

    def nearest_position(self, t: int) -> int:
        """The position whose timestep is closest to ``t`` (t = −1 is the final sample)."""
        timesteps = self.recorder.timesteps
        return int(np.abs(timesteps - t).argmin())

    @Slot(int)
    def _on_scrubbed(self, position: int) -> None:
        if self.recorder is not None and len(self.recorder):
            self.show_position(position)
            self.position_changed.emit(position)

    def show_position(self, position: int) -> None:
        frame: TrajectoryFrame = self.recorder.frame(position)
        if self.points_mode:
            n = len(frame.x_t)
            self.cloud.set_points(frame.x_t, self._label_slice(n))
            self.cloud.set_paths(self._paths[: position + 1])
            self.x0_cloud.set_points(frame.pred_x0, self._label_slice(n))
            return
        self.x_t_panel.set_picture(image_grid(frame.x_t))
        self.x0_panel.set_picture(image_grid(frame.pred_x0))
        if frame.pred_eps is None:
            self.eps_panel.set_picture(None)
            self.eps_panel.set_title("predicted noise ε̂ (none after the last step)")
        else:
            self.eps_panel.set_picture(image_grid(frame.pred_eps, EPS_DISPLAY_RANGE))
            self.eps_panel.set_title("predicted noise ε̂ (shown over [−3, 3])")
        title = "x₀: the final sample" if frame.t < 0 else f"x_t at t = {frame.t}"
        self.x_t_panel.set_title(title)


class GenerateView(QWidget):
    """Sample, then scrub the reverse timeline. See the module docstring."""

    title = "Generate"
    status_changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._memory_models: dict[str, object] = {}  # key → Checkpoint-like objects (model, schedule, metadata)
        self._loaded: dict[str, object] = {}  # key → loaded checkpoint (small cache)
        self._current = None
        self._current_key = NO_MODEL
        self._worker: SamplingWorker | None = None
        self._thread: QThread | None = None
        self._syncing = False
        self._run_started = 0.0
        self._last_labels: np.ndarray | None = None
        self._build()
        self.refresh_models()
        self._restore_settings()

    # ------------------------------------------------------------------------------------------
    # Widgets
    # ------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(30)
        self.model_combo.setToolTip("Bundled models, your checkpoints, and the model trained in this session")
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.open_button = QPushButton("Open checkpoint…")
        self.open_button.setToolTip("Load a .safetensors checkpoint (or drop one on the window)")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.model_info = QLabel("")
        self.model_info.setStyleSheet("color: #555")
        model_row = QHBoxLayout()
        model_row.addWidget(QLabel("Model"))
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.open_button)
        model_row.addWidget(self.model_info, 1)

        self.sampler_combo = self._sampler_combo()
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4000)
        self.steps_spin.setToolTip("Number of sampling steps (at most T)")
        self.sampler_combo.currentIndexChanged.connect(self._on_sampler_changed)
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM's η: 0 is deterministic, 1 is as random as DDPM")
        self.eta_label = QLabel("η")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("The seed of the initial noise x_T (and of the sampler's own noise)")
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, MAX_IMAGE_BATCH)
        self.batch_spin.setValue(DEFAULT_IMAGE_BATCH)
        self.batch_spin.setToolTip("How many samples; the timeline records the first 16 images (or 2,048 points)")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Which class to generate (conditional models)")
        self.class_label = QLabel("Class")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(3.0)
        self.guidance_spin.setToolTip("Classifier-free guidance scale w: 1 = plain conditional, larger = more typical")
        self.guidance_label = QLabel("Guidance")
        self.device_combo = device_combo("Where to sample: auto takes the GPU when there is one, else the CPU")
        self.clip_check = QCheckBox("clip x̂₀")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clamp the predicted x̂₀ to [−1, 1] at every step (images)")
        self.generate_button = QPushButton("▶ Generate")
        self.generate_button.setToolTip("Sample with these settings (Ctrl+G)")
        self.generate_button.setShortcut("Ctrl+G")
        self.generate_button.clicked.connect(self._on_generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop sampling (Esc)")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.clicked.connect(self.cancel)
        sample_row = QHBoxLayout()
        for label, widget in (
            ("Sampler", self.sampler_combo), ("Steps", self.steps_spin), (self.eta_label, self.eta_spin),
            ("Seed", self.seed_spin), ("Batch", self.batch_spin), (self.class_label, self.class_combo),
            (self.guidance_label, self.guidance_spin),
        ):  # fmt: skip
            sample_row.addWidget(label if isinstance(label, QLabel) else QLabel(label))
            sample_row.addWidget(widget)
        sample_row.addWidget(self.clip_check)
        sample_row.addStretch(1)

        self.compare_check = QCheckBox("Compare with")
        self.compare_check.setToolTip("Run a second sampler from the same initial noise and scrub both together")
        self.compare_check.toggled.connect(self._on_compare_toggled)
        self.sampler_b_combo = self._sampler_combo()
        self.steps_b_spin = QSpinBox()
        self.steps_b_spin.setRange(1, 4000)
        self.sampler_b_combo.currentIndexChanged.connect(self._on_sampler_b_changed)
        self.sync_check = QCheckBox("sync timelines by noise level")
        self.sync_check.setChecked(True)
        self.sync_check.setToolTip("Moving one timeline moves the other to the step with the nearest t")
        self.export_button = QToolButton()
        self.export_button.setText("Export")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        export_menu = QMenu(self.export_button)
        export_menu.addAction("PNG grid of the final samples…", self._on_export_grid)
        export_menu.addAction(f"PNG strip of {STRIP_FRAMES} timesteps…", self._on_export_strip)
        export_menu.addAction("Animation of the timeline (GIF/WebP)…", self._on_export_gif)
        self.export_button.setMenu(export_menu)
        compare_row = QHBoxLayout()
        compare_row.addWidget(self.compare_check)
        compare_row.addWidget(self.sampler_b_combo)
        compare_row.addWidget(QLabel("Steps"))
        compare_row.addWidget(self.steps_b_spin)
        compare_row.addWidget(self.sync_check)
        compare_row.addStretch(1)
        compare_row.addWidget(QLabel("Device"))
        compare_row.addWidget(self.device_combo)
        compare_row.addWidget(self.generate_button)
        compare_row.addWidget(self.cancel_button)
        compare_row.addWidget(self.export_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.status_label = QLabel("Choose a model and press Generate.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.run_a = RunPanel()
        self.run_b = RunPanel()
        self.run_b.setVisible(False)
        self.run_a.position_changed.connect(self._on_a_scrubbed)
        self.run_b.position_changed.connect(self._on_b_scrubbed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(model_row)
        layout.addLayout(sample_row)
        layout.addLayout(compare_row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.run_a, 1)
        layout.addWidget(self.run_b, 1)

        self.sampler_combo.setCurrentIndex(self.sampler_combo.findData("ddim"))
        self.sampler_b_combo.setCurrentIndex(self.sampler_b_combo.findData("ddpm"))
        self._on_sampler_changed()
        self._on_sampler_b_changed()
        self._on_compare_toggled(False)
        self._update_controls()

    @staticmethod
    def _sampler_combo() -> QComboBox:
        combo = QComboBox()
        for name in SAMPLERS:
            combo.addItem(SAMPLER_LABELS.get(name, name), name)
        return combo

    # ------------------------------------------------------------------------------------------
    # Models
    # ------------------------------------------------------------------------------------------

    def refresh_models(self) -> None:
        """Rebuild the model list (bundled + user checkpoints + this session's models), keeping the choice."""
        keep = self._current_key
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItem("— choose a model —", NO_MODEL)
        for key, obj in self._memory_models.items():
            self.model_combo.addItem(self._memory_label(obj), key)
        entries = list_models()
        for entry in entries:
            self._add_entry(entry)
        extra = self._settings.value("generate/opened", [], type=list) or []
        for path in extra:
            key = f"file:{path}"
            if self.model_combo.findData(key) < 0 and Path(path).is_file():
                self._add_entry(entry_for_file(path))
        index = self.model_combo.findData(keep)
        self.model_combo.setCurrentIndex(max(0, index))
        self.model_combo.blockSignals(False)

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

    @Slot(object)
    def add_model(self, obj) -> None:
        """Offer a model trained in this session (Train view's Finished event or a Checkpoint) and select it."""
        key = f"memory:{len(self._memory_models)}"
        self._memory_models[key] = obj
        self._loaded[key] = obj
        self.model_combo.blockSignals(True)
        self.model_combo.insertItem(1, self._memory_label(obj), key)
        self.model_combo.blockSignals(False)
        if not self.is_sampling():
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
                self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(self._current_key)))
                self.model_combo.blockSignals(False)
                return
            if len(self._loaded) > 6:  # keep a few models in memory, not all
                for old in [k for k in self._loaded if not k.startswith("memory:")][:-4]:
                    self._loaded.pop(old, None)
            self._loaded[key] = checkpoint
        self._use_model(key, checkpoint)

    def _use_model(self, key: str, checkpoint) -> None:
        self._current_key = key
        self._current = checkpoint
        if not self.is_sampling() and self.run_a.recorder is None:  # nothing sampled yet: say what to do
            self.status_label.setText(
                "Choose a model and press Generate."
                if checkpoint is None
                else "Press Generate (Ctrl+G) to sample, then scrub the timeline from noise to image."
            )
        if checkpoint is None:
            self.model_info.setText("")
            self._update_controls()
            return
        metadata = getattr(checkpoint, "metadata", {}) or {}
        schedule = checkpoint.schedule
        model = checkpoint.model
        points = self.sample_shape() == (2,)
        self.batch_spin.setRange(1, MAX_POINT_BATCH if points else MAX_IMAGE_BATCH)
        self.batch_spin.setValue(DEFAULT_POINT_BATCH if points else DEFAULT_IMAGE_BATCH)
        self.clip_check.setChecked(not points)
        for spin in (self.steps_spin, self.steps_b_spin):
            spin.setMaximum(schedule.num_timesteps)
        self._on_sampler_changed()
        self._on_sampler_b_changed()
        names = list(metadata.get("class_names") or [])
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        self.class_combo.clear()
        if num_classes:
            self.class_combo.addItem("all classes, in turn", -1)
            for i in range(num_classes):
                self.class_combo.addItem(names[i] if i < len(names) else f"class {i}", i)
        prediction = getattr(model, "prediction_type", "eps")
        self.model_info.setText(
            f"{schedule.label} · predicts {prediction}" + (f" · {num_classes} classes" if num_classes else "")
        )
        for run in (self.run_a, self.run_b):
            run.set_points_mode(points)
            run.clear()
        self._update_controls()
        self.status_changed.emit(f"Model: {self.model_name()}")

    def model_name(self) -> str:
        return self.model_combo.currentText() if self._current is not None else "no model"

    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample of the current model, from its metadata or its config."""
        if self._current is None:
            raise ValueError("Choose a model first.")
        metadata = getattr(self._current, "metadata", {}) or {}
        shape = metadata.get("image_shape")
        if shape:
            return tuple(int(s) for s in shape)
        config = getattr(self._current.model, "config", None)
        if config is not None and hasattr(config, "image_size"):
            return (int(config.in_channels), int(config.image_size), int(config.image_size))
        return (2,)

    # ------------------------------------------------------------------------------------------
    # Form reactions
    # ------------------------------------------------------------------------------------------

    def _default_steps(self, sampler: str) -> int:
        T = self._current.schedule.num_timesteps if self._current is not None else 1000
        return T if sampler == "ddpm" else min(T, DEFAULT_STEPS.get(sampler, 50))

    @Slot()
    def _on_sampler_changed(self) -> None:
        sampler = self.sampler_combo.currentData()
        self.steps_spin.setValue(self._default_steps(sampler))
        is_ddim = sampler == "ddim"
        self.eta_spin.setEnabled(is_ddim)
        self.eta_label.setEnabled(is_ddim)

    @Slot()
    def _on_sampler_b_changed(self) -> None:
        self.steps_b_spin.setValue(self._default_steps(self.sampler_b_combo.currentData()))

    @Slot(bool)
    def _on_compare_toggled(self, on: bool) -> None:
        for widget in (self.sampler_b_combo, self.steps_b_spin, self.sync_check):
            widget.setEnabled(on)
        self.run_b.setVisible(on)

    def _update_controls(self) -> None:
        sampling = self.is_sampling()
        has_model = self._current is not None
        conditional = has_model and int(getattr(self._current.model, "num_classes", 0) or 0) > 0
        for widget in (self.class_combo, self.class_label, self.guidance_spin, self.guidance_label):
            widget.setVisible(conditional)
        self.generate_button.setEnabled(has_model and not sampling)
        self.cancel_button.setEnabled(sampling)
        for widget in (
            self.model_combo,
            self.open_button,
            self.sampler_combo,
            self.steps_spin,
            self.seed_spin,
            self.batch_spin,
            self.class_combo,
            self.guidance_spin,
            self.compare_check,
            self.clip_check,
            self.device_combo,
        ):
            widget.setEnabled(not sampling)
        self.eta_spin.setEnabled(not sampling and self.sampler_combo.currentData() == "ddim")
        compare = self.compare_check.isChecked() and not sampling
        for widget in (self.sampler_b_combo, self.steps_b_spin):
            widget.setEnabled(compare)
        self.export_button.setEnabled(not sampling and self.run_a.recorder is not None)

    def _save_settings(self) -> None:
        s = self._settings
        s.setValue("generate/sampler", self.sampler_combo.currentData())
        s.setValue("generate/sampler_b", self.sampler_b_combo.currentData())
        s.setValue("generate/compare", self.compare_check.isChecked())
        s.setValue("generate/seed", self.seed_spin.value())
        s.setValue("generate/eta", self.eta_spin.value())
        s.setValue("generate/guidance", self.guidance_spin.value())
        s.setValue("generate/device", self.device_combo.currentData())
        if self._current_key.startswith("file:"):
            s.setValue("generate/model", self._current_key)

    def _restore_settings(self) -> None:
        s = self._settings
        for combo, key in (
            (self.sampler_combo, "generate/sampler"),
            (self.sampler_b_combo, "generate/sampler_b"),
            (self.device_combo, "generate/device"),  # a GPU that is gone since stays unselected: auto
        ):
            index = combo.findData(s.value(key))
            if index >= 0:
                combo.setCurrentIndex(index)
        try:
            self.compare_check.setChecked(s.value("generate/compare", False) in (True, "true"))
            self.seed_spin.setValue(int(s.value("generate/seed", 0)))
            self.eta_spin.setValue(float(s.value("generate/eta", 0.0)))
            self.guidance_spin.setValue(float(s.value("generate/guidance", 3.0)))
        except (TypeError, ValueError):
            log.warning("Ignoring unreadable Generate settings")

    def on_shown(self) -> None:
        """Refresh the list; the first time, pick the last used model (or the first bundled one)."""
        if self.is_sampling():
            return
        self.refresh_models()
        if self._current is None and self.model_combo.count() > 1:
            wanted = self._settings.value("generate/model", "")
            index = self.model_combo.findData(wanted) if wanted else -1
            if index > 0 and not self.model_combo.model().item(index).isEnabled():
                index = -1
            if index < 0:
                bundled = [
                    i
                    for i in range(1, self.model_combo.count())
                    if self.model_combo.itemText(i).startswith("Bundled")
                    and self.model_combo.model().item(i).isEnabled()
                ]
                index = bundled[0] if bundled else -1
            if index > 0:
                self.model_combo.setCurrentIndex(index)

    # ------------------------------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------------------------------

    def is_sampling(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def jobs(self) -> list[SamplingJob]:
        def job(sampler: str, steps: int) -> SamplingJob:
            options = {"eta": self.eta_spin.value()} if sampler == "ddim" else {}
            return SamplingJob(sampler, steps, options)

        jobs = [job(self.sampler_combo.currentData(), self.steps_spin.value())]
        if self.compare_check.isChecked():
            jobs.append(job(self.sampler_b_combo.currentData(), self.steps_b_spin.value()))
        return jobs

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
        if self._current is None:
            raise ValueError("Choose a model first: a bundled one, one you trained, or a checkpoint file.")
        shape = self.sample_shape()
        device = select_device(str(self.device_combo.currentData()))  # ValueError names what is missing
        batch = self.batch_spin.value()
        seed = self.seed_spin.value()
        x_T = torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed))
        model = self._current.model
        num_classes = int(getattr(model, "num_classes", 0) or 0)
        cond, labels = None, None
        if num_classes:
            chosen = self.class_combo.currentData()
            if chosen is None or int(chosen) < 0:
                labels = torch.arange(batch) % num_classes
            else:
                labels = torch.full((batch,), int(chosen), dtype=torch.long)
            cond = {"class_labels": labels}
            scale = self.guidance_spin.value()
            if scale != 1.0:
                model = ClassifierFreeGuidance(model, scale)
        jobs = self.jobs()
        self._last_labels = None if labels is None else labels.numpy()
        points = shape == (2,)
        clip = "clip" if (self.clip_check.isChecked() and not points) else None
        worker = SamplingWorker(
            model,
            self._current.schedule,
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
        self._total_steps = sum(j.steps for j in jobs)
        self._job_offsets = np.cumsum([0] + [j.steps for j in jobs])
        self.progress.setRange(0, self._total_steps)
        self.progress.setValue(0)
        for run, job in zip((self.run_a, self.run_b), jobs, strict=False):
            run.set_points_mode(points)
            run.labels = self._last_labels
            run.clear(f"{job.label}: sampling…")
        self._worker = worker
        self._thread = start_worker(worker)
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
        nfe = evaluations_per_run(self._worker.jobs[job_index].sampler, done) if self._worker else done
        self.progress.setFormat(f"{self._worker.jobs[job_index].label}: step {done} / {total} ({nfe} NFE)")

    @Slot(int, object)
    def _on_preview(self, job_index: int, live) -> None:
        (self.run_a, self.run_b)[job_index].show_live(live)

    @Slot(object)
    def _on_result(self, result: SamplingResult) -> None:
        index = self._worker.results.index(result) if self._worker is not None else 0
        run = (self.run_a, self.run_b)[index]
        heading = f"{result.job.label} · {result.evaluations} network evaluations · {result.seconds:.2f} s"
        run.labels = self._last_labels
        run.show_recording(result.trajectory, heading, result)
        self.status_label.setText(result.trajectory.describe())

    @Slot()
    def _on_cancelled(self) -> None:
        worker = self._worker
        done = len(worker.results) if worker is not None else 0
        if worker is not None and done < len(worker.jobs):
            recorder = worker.recorders[done]
            run = (self.run_a, self.run_b)[done]
            heading = f"{worker.jobs[done].label} · cancelled after {recorder.steps_seen} steps"
            run.show_recording(recorder, heading)
        self.status_label.setText("Sampling cancelled. The steps done so far can be scrubbed.")
        self.status_changed.emit("Sampling cancelled")

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"Sampling failed: {message}")
        QMessageBox.warning(self, "Sampling failed", message)

    @Slot()
    def _on_finished(self) -> None:
        if self._thread is not None:
            self._thread.wait(2000)
        if self._worker is not None and len(self._worker.results) == len(self._worker.jobs):
            seconds = time.perf_counter() - self._run_started
            self.status_changed.emit(f"Sampled in {seconds:.1f} s")
            if len(self._worker.results) == 2:
                a, b = self._worker.results
                self.status_label.setText(
                    f"Same x_T for both. {a.job.label}: {a.evaluations} NFE in {a.seconds:.1f} s; "
                    f"{b.job.label}: {b.evaluations} NFE in {b.seconds:.1f} s. " + a.trajectory.describe()
                )
        self.progress.setFormat("%v / %m steps")
        self._update_controls()

    # --- synced timelines ----------------------------------------------------------------------

    @Slot(int)
    def _on_a_scrubbed(self, position: int) -> None:
        self._sync(self.run_a, self.run_b, position)

    @Slot(int)
    def _on_b_scrubbed(self, position: int) -> None:
        self._sync(self.run_b, self.run_a, position)

    def _sync(self, source: RunPanel, target: RunPanel, position: int) -> None:
        if self._syncing or not self.sync_check.isChecked() or not self.run_b.isVisible():
            return
        if source.recorder is None or target.recorder is None or not len(target.recorder):
            return
        self._syncing = True
        try:
            target.scrubber.setValue(target.nearest_position(source.timestep_at(position)))
        finally:
            self._syncing = False

    # ------------------------------------------------------------------------------------------
    # Export
    # ------------------------------------------------------------------------------------------

    def _require_recording(self):
        recorder = self.run_a.recorder
        if recorder is None or len(recorder) == 0:
            raise ValueError("Generate samples first; then the timeline can be exported.")
        return recorder

    def _picture(self, samples: np.ndarray) -> np.ndarray:
        """uint8 picture of samples: an enlarged image grid, or a fixed-extent scatter plot for 2-D points."""
        if samples.ndim == 2:
            labels = None if self._last_labels is None else self._last_labels[: len(samples)]
            return scatter_picture(samples, labels)
        return grid_picture(samples)

    def write_grid(self, path: str | Path) -> Path:
        """PNG of the final samples (a grid of images, or a scatter plot for 2-D points)."""
        result = self.run_a.result
        if result is None:
            raise ValueError("Generate samples first (a cancelled run has no final samples).")
        return save_png(path, self._picture(result.samples))

    def _timeline_frames(self, count: int) -> tuple[list[np.ndarray], list[str]]:
        """Pictures of x_t at ``count`` evenly spaced timeline positions, with captions "t = …"."""
        recorder = self._require_recording()
        positions = sorted(set(evenly_spaced_timesteps(0, len(recorder) - 1, min(count, len(recorder)))))
        pictures, captions = [], []
        for position in positions:
            frame = recorder.frame(position)
            pictures.append(self._picture(frame.x_t))
            captions.append("x0 (final)" if frame.t < 0 else f"t = {frame.t}")
        return pictures, captions

    def write_strip(self, path: str | Path, count: int = STRIP_FRAMES) -> Path:
        """A PNG strip of ``count`` timesteps, from the noise x_T on the left to the sample x_0 on the right."""
        pictures, captions = self._timeline_frames(count)
        return save_strip_png(path, pictures, captions)

    def write_animation(self, path: str | Path) -> Path:
        """An animated GIF or WebP (by suffix) of x_t along the whole timeline (at most ``ANIMATION_FRAMES`` frames)."""
        pictures, _ = self._timeline_frames(ANIMATION_FRAMES)
        pictures += [pictures[-1]] * ANIMATION_HOLD_FRAMES  # hold the final sample before looping
        return save_animation(path, pictures, fps=ANIMATION_FPS)

    def export_actions(self) -> list[ExportAction]:
        """What File ▸ Export… offers for this view."""
        return [
            ExportAction("PNG grid of the final samples…", PNG_FILTER, "samples.png", self.write_grid),
            ExportAction(f"PNG strip of {STRIP_FRAMES} timesteps…", PNG_FILTER, "timeline-strip.png", self.write_strip),
            ExportAction(
                "Animation of the timeline (GIF/WebP)…", ANIMATION_FILTER, "timeline.gif", self.write_animation
            ),
        ]

    def _export(self, action: ExportAction) -> None:
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

    @Slot()
    def _on_export_grid(self) -> None:
        self._export(self.export_actions()[0])

    @Slot()
    def _on_export_strip(self) -> None:
        self._export(self.export_actions()[1])

    @Slot()
    def _on_export_gif(self) -> None:
        self._export(self.export_actions()[2])

    # ------------------------------------------------------------------------------------------
    # Closing
    # ------------------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Cancel sampling (it stops within one network evaluation) and wait for the thread."""
        stop_thread(self._thread, self._worker)
        self._save_settings()
        return True
