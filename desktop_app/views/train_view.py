"""The Train view: pick data, a model and the diffusion settings, then watch a denoiser learn.

All torch work runs in a ``TrainingWorker`` (desktop_app/workers.py) driving ``core.training.train``.
The view only reads the events it receives in throttled batches and draws them:

- a loss curve (raw and smoothed, log-y switch) and the gradient norm, per step;
- the loss per timestep bucket (which noise levels the network still finds hard);
- a preview from the EMA weights with fixed noise (an image grid, or a point cloud for 2-D data),
  so improvement is visible while it trains.

Start / Pause / Resume / Stop, Save (a resumable checkpoint), autosave every N steps and Load &
resume. Every run writes its checkpoint to the user's ``checkpoints`` folder when it ends, and the
trained model is handed to the Generate view (``model_trained``).

Defaults: pressing Start with nothing changed trains an MLP on the 2-D swiss roll, which converges
in well under a minute on a laptop CPU.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import re
import shutil
import time
from functools import partial
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QSettings, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.data import DATASET_CHOICES, get_dataset, load_drawing, make_grid, save_drawing
from core.diffusion import MAX_TIMESTEPS, MIN_TIMESTEPS, SCHEDULE_KINDS
from core.io import CheckpointError, read_metadata
from core.runtime import cpu_count
from core.training import TrainConfig, train
from desktop_app import paths
from desktop_app.export import (
    CSV_FILTER,
    PNG_FILTER,
    ExportAction,
    grid_picture,
    save_loss_history_csv,
    save_png,
    scatter_picture,
)
from desktop_app.widgets.drawing_canvas import DrawingDialog
from desktop_app.widgets.form_helpers import device_combo, widget_row
from desktop_app.widgets.loss_plot import LossPlot
from desktop_app.widgets.point_cloud import PointCloudPlot
from desktop_app.workers import CallWorker, TrainingWorker, default_worker_threads, start_worker, stop_thread

log = logging.getLogger(__name__)
pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

OBJECTIVES = {"eps": "ε: the noise (DDPM)", "x0": "x₀: the clean data", "v": "v: velocity (Salimans & Ho)"}
MODELS_FOR_POINTS = {"mlp": "MLP (for 2-D points)"}
MODELS_FOR_IMAGES = {"tiny": "U-Net tiny", "small": "U-Net small", "base": "U-Net base"}
WORD_SPEC, FOLDER_SPEC, DRAWING_SPEC = "word", "folder", "drawing"
DEFAULT_DATASET = "toy:swiss_roll"
DEFAULT_WORD = "diffusion"

# Defaults that differ between 2-D points and images: both visibly learn within minutes on a CPU.
# 2-D points predict v: with the cosine schedule ᾱ_{T−1} ≈ 2e-9, so an ε-model's x̂_0 = (x_t − √(1−ᾱ)ε̂)/√ᾱ
# amplifies any error in ε̂ ~20,000× at the first sampling step, and unlike images, points are not clipped
# to [−1, 1] (measured: every sampler gave |x| up to 2·10⁴ after 1,500 steps of ε-training).
# v-prediction's x̂_0 = √ᾱ x_t − √(1−ᾱ) v̂ stays bounded (Salimans & Ho 2022).
KIND_DEFAULTS = {
    "points": {"model": "mlp", "batch": 128, "steps": 2000, "lr": 1e-3, "preview_every": 100, "objective": "v"},
    "images": {"model": "tiny", "batch": 64, "steps": 3000, "lr": 1e-3, "preview_every": 100, "objective": "eps"},
}
PROGRESS_TEXT_INTERVAL_S = 0.2  # progress bar and text refresh at most 5 times a second
SPEED_PROBE_STEPS = 3  # timed training steps (after one warm-up step) for the time estimate
SPEED_PROBE_DELAY_MS = 800  # wait for the settings to stop changing before measuring


def probe_training_speed(config: TrainConfig) -> tuple[int, float]:
    """(number of parameters, seconds per step) of ``config`` on this machine, from a few real steps."""
    probe = dataclasses.replace(
        config, steps=SPEED_PROBE_STEPS + 1, preview_every=0, checkpoint_every=0, checkpoint_path=None, warmup_steps=0
    )
    num_parameters, times = 0, []
    for event in train(probe):
        kind = type(event).__name__
        if kind == "Started":
            num_parameters = event.num_parameters
        elif kind == "StepEvent":
            times.append(time.perf_counter())
    seconds = (times[-1] - times[0]) / max(1, len(times) - 1) if len(times) > 1 else math.nan
    return num_parameters, seconds


def default_training_threads() -> int:
    """All CPU cores but one (see ``desktop_app.workers.default_worker_threads``)."""
    return default_worker_threads()


def reference_points(spec: str, n: int = 2000) -> np.ndarray:
    """``n`` points of a 2-D dataset (the grey background of the preview)."""
    return get_dataset(spec, n=n).points.numpy()


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.0f} k" if n >= 1e3 else str(n)


@functools.cache
def _has_classes(spec: str) -> bool:
    """Whether the dataset a form entry names has class labels (a folder may: its subfolders)."""
    if spec in (WORD_SPEC, DRAWING_SPEC):
        return False
    if spec.startswith("toy:"):
        return get_dataset(spec, n=8).labels is not None  # eight points: instant
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "run"


class TrainView(QWidget):
    """Train a denoiser live. See the module docstring."""

    title = "Train"
    speed_probe_enabled = True  # measure the time per 1,000 steps when settings change (benchmarks turn it off)
    status_changed = Signal(str)
    model_trained = Signal(object)  # the Finished event: .model (EMA, CPU), .schedule, .metadata, .checkpoint_path

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._worker: TrainingWorker | None = None
        self._thread: QThread | None = None
        self._speed_worker: CallWorker | None = None
        self._speed_thread: QThread | None = None
        self._speed_key: str | None = None
        self._helper_worker: CallWorker | None = None
        self._helper_thread: QThread | None = None
        self._kind = "points"
        self._checkpoint_path: Path | None = None  # where the current / last run saves
        self._last_finished = None
        self._last_preview = None
        self._total_steps = 0
        self._start_step = 0
        self._rate_ema = math.nan  # smoothed samples per second
        self._last_progress_text = 0.0
        self._batch_size = 1
        self._run_parameters = 0
        self._estimate_from_run = False  # no speed estimate when the run started: show the run's own
        self._is_points = True
        self._dataset_label = ""
        self._drawing_path: Path | None = None  # the JSON file of the current drawing (DRAWING_SPEC)

        self._build_controls()
        self._build_plots()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._settings_scroll)
        splitter.addWidget(self._right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

        self._probe_timer = QTimer(self)
        self._probe_timer.setSingleShot(True)
        self._probe_timer.setInterval(SPEED_PROBE_DELAY_MS)
        self._probe_timer.timeout.connect(self._on_probe_timer)

        self._restore_settings()
        self._on_dataset_changed()
        self._update_buttons()
        self._connect_estimate_triggers()

    # ------------------------------------------------------------------------------------------
    # Building the widgets
    # ------------------------------------------------------------------------------------------

    def _build_controls(self) -> None:
        panel = QWidget()
        column = QVBoxLayout(panel)
        column.setContentsMargins(0, 0, 6, 0)

        # Data
        self.dataset_combo = self._combo()
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
        self.folder_row = folder_row = widget_row(self.folder_edit, self.folder_button)
        self.drawing_label = QLabel("no drawing yet")
        self.drawing_label.setWordWrap(True)
        self.draw_button = QPushButton("Draw…")
        self.draw_button.setToolTip("Draw a shape with the mouse; the model learns to generate points along it")
        self.draw_button.clicked.connect(self._on_draw)
        self.drawing_row = drawing_row = widget_row(self.drawing_label, self.draw_button)
        self.color_check = QCheckBox("Colour (RGB)")
        self.color_check.setToolTip("Load the folder's images in colour instead of grayscale")
        self.conditional_check = QCheckBox("Class-conditional (enables guidance)")
        self.conditional_check.setChecked(True)
        self.conditional_check.setToolTip(
            "Give the model the class label (dropped 10% of the time, so classifier-free guidance works)"
        )
        data_box, data_form = self._group("Data")
        data_form.addRow("Dataset", self.dataset_combo)
        data_form.addRow("Word", self.word_edit)
        data_form.addRow("Folder", folder_row)
        data_form.addRow("Drawing", drawing_row)
        data_form.addRow("", self.color_check)
        data_form.addRow("", self.conditional_check)
        self._data_form = data_form

        # Model
        self.model_combo = self._combo()
        self.model_combo.setToolTip("The denoising network: an MLP for 2-D points, a U-Net for images")
        self.estimate_label = QLabel("–")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setToolTip("Parameters, and the time 1,000 training steps take on this machine (measured)")
        model_box, model_form = self._group("Model")
        model_form.addRow("Network", self.model_combo)
        model_form.addRow("Size / speed", self.estimate_label)

        # Diffusion
        self.schedule_combo = QComboBox()
        for kind in SCHEDULE_KINDS:
            self.schedule_combo.addItem(kind, kind)
        self.schedule_combo.setCurrentIndex(self.schedule_combo.findData("cosine"))
        self.timesteps_spin = self._spin(MIN_TIMESTEPS, MAX_TIMESTEPS, 1000, "T: number of noising steps")
        self.objective_combo = self._combo()
        for key, label in OBJECTIVES.items():
            self.objective_combo.addItem(label, key)
        self.objective_combo.setToolTip("What the network is trained to predict from x_t")
        diffusion_box, diffusion_form = self._group("Diffusion")
        diffusion_form.addRow("Noise schedule", self.schedule_combo)
        diffusion_form.addRow("Timesteps T", self.timesteps_spin)
        diffusion_form.addRow("Objective", self.objective_combo)

        # Optimisation
        self.lr_spin = QDoubleSpinBox()
        self.lr_spin.setDecimals(5)
        self.lr_spin.setRange(0.00001, 0.1)
        self.lr_spin.setSingleStep(0.0001)
        self.lr_spin.setValue(1e-3)
        self.lr_spin.setToolTip("Peak AdamW learning rate (after a 100-step warm-up)")
        self.batch_spin = self._spin(1, 4096, 128, "Examples per optimisation step")
        self.steps_spin = self._spin(1, 10_000_000, 2000, "Optimisation steps in total")
        self.steps_spin.setSingleStep(500)
        self.ema_spin = QDoubleSpinBox()
        self.ema_spin.setDecimals(4)
        self.ema_spin.setRange(0.0, 0.9999)
        self.ema_spin.setSingleStep(0.001)
        self.ema_spin.setValue(0.999)
        self.ema_spin.setToolTip("Exponential moving average of the weights (what previews and checkpoints use)")
        self.clip_spin = QDoubleSpinBox()
        self.clip_spin.setRange(0.0, 100.0)
        self.clip_spin.setSingleStep(0.5)
        self.clip_spin.setValue(1.0)
        self.clip_spin.setToolTip("Clip the gradient norm to this value (0 turns clipping off)")
        self.precision_combo = QComboBox()
        for key in ("auto", "fp32", "bf16") + (("fp16",) if torch.cuda.is_available() else ()):
            self.precision_combo.addItem(key, key)
        self.precision_combo.setToolTip("auto: bf16 on GPUs that support it, fp32 on the CPU (measured fastest here)")
        optim_box, optim_form = self._group("Optimisation")
        optim_form.addRow("Learning rate", self.lr_spin)
        optim_form.addRow("Batch size", self.batch_spin)
        optim_form.addRow("Steps", self.steps_spin)
        optim_form.addRow("EMA decay", self.ema_spin)
        optim_form.addRow("Gradient clipping", self.clip_spin)
        optim_form.addRow("Precision", self.precision_combo)

        # Run
        self.seed_spin = self._spin(0, 2**31 - 1, 0, "Same seed, same settings: the same run (on the CPU)")
        self.device_combo = device_combo("Where to train: auto takes the GPU when there is one, else the CPU")
        self.threads_spin = self._spin(
            1, max(1, cpu_count()), default_training_threads(), "CPU threads for training (the window keeps the rest)"
        )
        self.autosave_spin = self._spin(
            0, 1_000_000, 1000, "Save a resumable checkpoint every this many steps (0: only at the end)"
        )
        self.autosave_spin.setSingleStep(500)
        self.autosave_spin.setSpecialValueText("only at the end")
        self.preview_spin = self._spin(0, 1_000_000, 100, "Sample a preview from the EMA weights every this many steps")
        self.preview_spin.setSpecialValueText("never")
        run_box, run_form = self._group("Run")
        run_form.addRow("Seed", self.seed_spin)
        run_form.addRow("Device", self.device_combo)
        run_form.addRow("CPU threads", self.threads_spin)
        run_form.addRow("Autosave every", self.autosave_spin)
        run_form.addRow("Preview every", self.preview_spin)

        self.reset_button = QPushButton("Reset to defaults")
        self.reset_button.setToolTip("Defaults that visibly learn within minutes on a CPU")
        self.reset_button.clicked.connect(self._on_reset_defaults)

        for box in (data_box, model_box, diffusion_box, optim_box, run_box):
            column.addWidget(box)
        column.addWidget(self.reset_button)
        column.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        self._settings_scroll = scroll
        self._setting_widgets = [
            self.dataset_combo, self.word_edit, self.folder_row, self.drawing_row, self.color_check,
            self.conditional_check,
            self.model_combo, self.schedule_combo, self.timesteps_spin, self.objective_combo, self.lr_spin,
            self.batch_spin, self.steps_spin, self.ema_spin, self.clip_spin, self.precision_combo, self.seed_spin,
            self.device_combo, self.threads_spin, self.autosave_spin, self.preview_spin, self.reset_button,
        ]  # fmt: skip

    def _index_after_toys(self) -> int:
        last = 0
        for i in range(self.dataset_combo.count()):
            if str(self.dataset_combo.itemData(i)).startswith("toy:"):
                last = i + 1
        return last

    @staticmethod
    def _group(title: str) -> tuple[QGroupBox, QFormLayout]:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setContentsMargins(8, 6, 8, 6)
        return box, form

    @staticmethod
    def _combo() -> QComboBox:
        """A combo box whose long entries do not widen the settings panel (the popup shows them in full)."""
        combo = QComboBox()
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)
        return combo

    @staticmethod
    def _spin(lo: int, hi: int, value: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(lo, hi)
        spin.setValue(value)
        spin.setGroupSeparatorShown(True)
        spin.setToolTip(tip)
        return spin

    def _build_plots(self) -> None:
        right = QWidget()
        column = QVBoxLayout(right)
        column.setContentsMargins(6, 0, 0, 0)

        self.start_button = QPushButton("▶ Start")
        self.start_button.setToolTip("Start training with these settings (Ctrl+Return)")
        self.start_button.setShortcut("Ctrl+Return")
        self.start_button.clicked.connect(self._on_start)
        self.pause_button = QPushButton("❚❚ Pause")
        self.pause_button.setToolTip("Pause / resume training (between two steps)")
        self.pause_button.clicked.connect(self._on_pause_resume)
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setToolTip("Stop training; the model so far is saved and sent to the Generate view")
        self.stop_button.clicked.connect(self._on_stop)
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save a resumable checkpoint (Ctrl+S)")
        self.save_button.setShortcut("Ctrl+S")
        self.save_button.clicked.connect(self._on_save)
        self.load_button = QPushButton("Load && resume…")
        self.load_button.setToolTip("Continue a run from a checkpoint saved with its training state")
        self.load_button.clicked.connect(self._on_load_resume)
        self.log_check = QCheckBox("log-y")
        self.log_check.setToolTip("Logarithmic loss axis")
        self.log_check.toggled.connect(self._on_log_toggled)
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button, self.save_button, self.load_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.log_check)
        column.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m steps")
        self.progress_label = QLabel("Press Start: the defaults train a 2-D swiss roll in about a minute.")
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_label.setWordWrap(True)
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        column.addWidget(self.progress)
        column.addWidget(self.progress_label)

        self.loss_plot = LossPlot("Training loss", "loss")
        self.grad_plot = LossPlot("Gradient norm", "‖g‖ before clipping", smoothing=0.95, legend=False)
        self.bucket_plot = pg.PlotWidget()
        self.bucket_plot.setBackground("w")
        self.bucket_plot.setTitle("Loss per timestep t (last 50 steps)", color="#333", size="10pt")
        self.bucket_plot.setLabel("bottom", "timestep t")
        self.bucket_plot.setLabel("left", "mean loss")
        self.bucket_plot.setMenuEnabled(False)
        self.bucket_bars = pg.BarGraphItem(x=[], height=[], width=1.0, brush=(30, 90, 200, 170), pen=None)
        self.bucket_plot.addItem(self.bucket_bars)

        # The preview: an image grid, or a point cloud for 2-D data (one of the two is shown).
        self.preview_images = pg.GraphicsLayoutWidget()
        self.preview_images.setBackground("w")
        self._preview_title = self.preview_images.addLabel(
            "Preview (EMA weights, fixed noise)", color="#333", size="10pt"
        )
        self.preview_images.nextRow()
        self._preview_box = self.preview_images.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.preview_image_item = pg.ImageItem()
        self._preview_box.addItem(self.preview_image_item)
        self.preview_points = PointCloudPlot("Preview (EMA weights, fixed noise)")
        self.preview_points.setVisible(False)

        grid = QGridLayout()
        grid.setSpacing(6)
        grid.addWidget(self.loss_plot, 0, 0)
        grid.addWidget(self.preview_images, 0, 1)
        grid.addWidget(self.preview_points, 0, 1)
        grid.addWidget(self.bucket_plot, 1, 0)
        grid.addWidget(self.grad_plot, 1, 1)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        for widget in (self.loss_plot, self.grad_plot, self.bucket_plot, self.preview_images, self.preview_points):
            widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
            widget.setMinimumSize(180, 140)
        column.addLayout(grid, 1)
        self._right = right

    # ------------------------------------------------------------------------------------------
    # Settings ↔ TrainConfig
    # ------------------------------------------------------------------------------------------

    def dataset_spec(self) -> str:
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
            if self._drawing_path is None:
                raise ValueError("Draw a shape first (press Draw…): there is nothing to train on yet.")
            if not self._drawing_path.is_file():
                raise ValueError(f"The drawing file {self._drawing_path} is missing; press Draw… to draw again.")
            return f"drawing:{self._drawing_path}"
        return str(spec)

    def dataset_kind(self) -> str:
        spec = str(self.dataset_combo.currentData())
        return "points" if spec.startswith("toy:") or spec in (WORD_SPEC, DRAWING_SPEC) else "images"

    def dataset_name(self) -> str:
        return self._dataset_label or self.dataset_combo.currentText()

    def model_name(self) -> str:
        return self.model_combo.currentText()

    def config(self) -> TrainConfig:
        """The TrainConfig the form describes (ValueError with a readable message when it is not valid)."""
        spec = self.dataset_spec()
        options = {}
        if spec.startswith("folder:"):
            options = {"channels": 3 if self.color_check.isChecked() else 1, "size": 32}
        return TrainConfig(
            dataset=spec,
            dataset_options=options,
            model=str(self.model_combo.currentData()),
            schedule=str(self.schedule_combo.currentData()),
            num_timesteps=self.timesteps_spin.value(),
            prediction_type=str(self.objective_combo.currentData()),
            class_conditional=self.conditional_check.isChecked()
            and _has_classes(str(self.dataset_combo.currentData())),
            learning_rate=self.lr_spin.value(),
            batch_size=self.batch_spin.value(),
            steps=self.steps_spin.value(),
            ema_decay=self.ema_spin.value(),
            grad_clip=self.clip_spin.value(),
            precision=str(self.precision_combo.currentData()),
            device=str(self.device_combo.currentData()),
            threads=self.threads_spin.value(),
            seed=self.seed_spin.value(),
            preview_every=self.preview_spin.value(),
            checkpoint_every=self.autosave_spin.value(),
            recipe="Diffusion Lab app, Train view",
        )

    def set_config(self, config: TrainConfig) -> None:
        """Show ``config`` in the form (used by Load & resume)."""
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
            self._show_drawing(Path(argument))
        elif self.dataset_combo.findData(spec) >= 0:
            self.dataset_combo.setCurrentIndex(self.dataset_combo.findData(spec))
        self._select(
            self.model_combo, "small" if config.model == "auto" and self.dataset_kind() == "images" else config.model
        )
        self._select(self.schedule_combo, config.schedule)
        self.timesteps_spin.setValue(config.num_timesteps)
        self._select(self.objective_combo, config.prediction_type)
        self.conditional_check.setChecked(config.class_conditional)
        self.lr_spin.setValue(config.learning_rate)
        self.batch_spin.setValue(config.batch_size)
        self.steps_spin.setValue(config.steps)
        self.ema_spin.setValue(config.ema_decay)
        self.clip_spin.setValue(config.grad_clip)
        self._select(self.precision_combo, config.precision)
        self.seed_spin.setValue(config.seed)
        self.preview_spin.setValue(config.preview_every)
        self.autosave_spin.setValue(config.checkpoint_every)

    @staticmethod
    def _select(combo: QComboBox, data) -> None:
        index = combo.findData(data)
        if index >= 0:
            combo.setCurrentIndex(index)

    def _settings_fields(self) -> dict:
        return {
            "dataset": (self.dataset_combo, "combo"), "word": (self.word_edit, "text"),
            "folder": (self.folder_edit, "text"), "color": (self.color_check, "check"),
            "conditional": (self.conditional_check, "check"), "model": (self.model_combo, "combo"),
            "schedule": (self.schedule_combo, "combo"), "timesteps": (self.timesteps_spin, "spin"),
            "objective": (self.objective_combo, "combo"), "lr": (self.lr_spin, "spin"),
            "batch": (self.batch_spin, "spin"), "steps": (self.steps_spin, "spin"), "ema": (self.ema_spin, "spin"),
            "clip": (self.clip_spin, "spin"), "precision": (self.precision_combo, "combo"),
            "seed": (self.seed_spin, "spin"), "device": (self.device_combo, "combo"),
            "threads": (self.threads_spin, "spin"),
            "autosave": (self.autosave_spin, "spin"), "preview": (self.preview_spin, "spin"),
            "log_y": (self.log_check, "check"),
        }  # fmt: skip

    def _save_settings(self) -> None:
        s = self._settings
        s.beginGroup("train")
        for key, (widget, kind) in self._settings_fields().items():
            value = {
                "combo": lambda w: w.currentData(),
                "text": lambda w: w.text(),
                "check": lambda w: w.isChecked(),
                "spin": lambda w: w.value(),
            }[kind](widget)
            s.setValue(key, value)
        s.setValue("drawing", str(self._drawing_path) if self._drawing_path else "")
        s.endGroup()

    def _restore_settings(self) -> None:
        s = self._settings
        s.beginGroup("train")
        try:
            # The dataset first: choosing it resets the kind-specific defaults the other fields override.
            dataset = s.value("dataset")
            if dataset is not None:
                self._select(self.dataset_combo, dataset)
                self._on_dataset_changed()
            for key, (widget, kind) in self._settings_fields().items():
                value = s.value(key)
                if value is None or key == "dataset":
                    continue
                try:
                    if kind == "combo":
                        self._select(widget, value)
                    elif kind == "text":
                        widget.setText(str(value))
                    elif kind == "check":
                        widget.setChecked(value in (True, "true", "1", 1))
                    elif isinstance(widget, QDoubleSpinBox):
                        widget.setValue(float(value))
                    else:
                        widget.setValue(int(value))
                except (TypeError, ValueError):
                    log.warning("Ignoring the stored Train setting %s=%r", key, value)
            drawing = s.value("drawing")
            if drawing and Path(str(drawing)).is_file():
                self._show_drawing(Path(str(drawing)))
        finally:
            s.endGroup()

    # ------------------------------------------------------------------------------------------
    # Form reactions
    # ------------------------------------------------------------------------------------------

    @Slot()
    def _on_dataset_changed(self) -> None:
        spec = self.dataset_combo.currentData()
        kind = self.dataset_kind()
        self._data_form.setRowVisible(self.word_edit, spec == WORD_SPEC)
        self._data_form.setRowVisible(self.folder_row, spec == FOLDER_SPEC)
        self._data_form.setRowVisible(self.color_check, spec == FOLDER_SPEC)
        self._data_form.setRowVisible(self.drawing_row, spec == DRAWING_SPEC)
        # Words, drawings and some toys have no classes: nothing to condition on.
        self._data_form.setRowVisible(self.conditional_check, _has_classes(str(spec)))
        models = MODELS_FOR_POINTS if kind == "points" else MODELS_FOR_IMAGES
        if kind != self._kind or self.model_combo.count() == 0:
            self.model_combo.blockSignals(True)
            self.model_combo.clear()
            for key, label in models.items():
                self.model_combo.addItem(label, key)
            self.model_combo.blockSignals(False)
            self._apply_kind_defaults(kind)
        self._kind = kind
        if not self.is_training():
            self.preview_points.setVisible(kind == "points")
            self.preview_images.setVisible(kind != "points")
        self._schedule_estimate()

    def _apply_kind_defaults(self, kind: str) -> None:
        defaults = KIND_DEFAULTS[kind]
        self._select(self.model_combo, defaults["model"])
        self.batch_spin.setValue(defaults["batch"])
        self.steps_spin.setValue(defaults["steps"])
        self.lr_spin.setValue(defaults["lr"])
        self.preview_spin.setValue(defaults["preview_every"])
        self._select(self.objective_combo, defaults["objective"])

    @Slot()
    def _on_reset_defaults(self) -> None:
        defaults = TrainConfig()
        self._select(self.dataset_combo, DEFAULT_DATASET)
        self._on_dataset_changed()
        self._apply_kind_defaults("points")
        self._select(self.schedule_combo, defaults.schedule)
        self.timesteps_spin.setValue(defaults.num_timesteps)
        self.conditional_check.setChecked(True)
        self.ema_spin.setValue(defaults.ema_decay)
        self.clip_spin.setValue(defaults.grad_clip)
        self._select(self.precision_combo, "auto")
        self._select(self.device_combo, "auto")
        self.threads_spin.setValue(default_training_threads())
        self.seed_spin.setValue(0)
        self.autosave_spin.setValue(1000)

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
        if self._drawing_path is not None:
            try:
                strokes = load_drawing(self._drawing_path)  # start from the current drawing
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
        self._select(self.dataset_combo, DRAWING_SPEC)
        self._show_drawing(path, len(strokes))
        self._settings.setValue("train/drawing", str(path))
        return path

    def _show_drawing(self, path: Path, strokes: int | None = None) -> None:
        """Make ``path`` the current drawing and say how many strokes it has."""
        self._drawing_path = path
        if strokes is None:
            try:
                strokes = len(load_drawing(path))
            except ValueError as error:
                self.drawing_label.setText("cannot be read")
                self.drawing_label.setToolTip(str(error))
                return
        self.drawing_label.setText(f"{strokes} stroke{'s' if strokes != 1 else ''}")
        self.drawing_label.setToolTip(str(path))
        self._schedule_estimate()

    @Slot(bool)
    def _on_log_toggled(self, log_y: bool) -> None:
        self.loss_plot.set_log_y(log_y)
        self.grad_plot.set_log_y(log_y)

    # ------------------------------------------------------------------------------------------
    # Parameter count and time per 1,000 steps (measured once per setting, cached in QSettings)
    # ------------------------------------------------------------------------------------------

    def _connect_estimate_triggers(self) -> None:
        for combo in (self.model_combo, self.precision_combo, self.device_combo):
            combo.currentIndexChanged.connect(self._schedule_estimate)
        self.batch_spin.valueChanged.connect(self._schedule_estimate)
        self.threads_spin.valueChanged.connect(self._schedule_estimate)
        self.conditional_check.toggled.connect(self._schedule_estimate)
        self.color_check.toggled.connect(self._schedule_estimate)

    def _estimate_key(self) -> str:
        spec = str(self.dataset_combo.currentData())
        family = "points" if self.dataset_kind() == "points" else spec
        if spec == FOLDER_SPEC:
            family = f"folder-{3 if self.color_check.isChecked() else 1}ch"
        conditional = self.conditional_check.isChecked() and _has_classes(spec)
        parts = (
            family,
            self.model_combo.currentData(),
            self.batch_spin.value(),
            self.precision_combo.currentData(),
            self.device_combo.currentData(),
            self.threads_spin.value(),
            conditional,
        )
        return "|".join(str(x) for x in parts)

    @Slot()
    def _schedule_estimate(self) -> None:
        key = self._estimate_key()
        cached = self._settings.value(f"train_speed/{key}")
        if cached:
            try:
                num_parameters, seconds = (float(v) for v in str(cached).split(","))
                self._show_estimate(int(num_parameters), seconds)
                return
            except ValueError:
                pass
        self.estimate_label.setText("measuring…" if self.isVisible() else "measured when this view is shown")
        self._probe_timer.start()

    def on_shown(self) -> None:
        """The window shows this view: measure the speed now if it is not known yet."""
        self._schedule_estimate()

    @Slot()
    def _on_probe_timer(self) -> None:
        if not self.speed_probe_enabled:
            self.estimate_label.setText("–")
            return
        if not self.isVisible() or self.is_training() or self._speed_running():
            if self._speed_running() or self.is_training():
                self._probe_timer.start()  # try again when the machine is free
            return
        if self.dataset_combo.currentData() == FOLDER_SPEC and not self.folder_edit.text().strip():
            self.estimate_label.setText("choose a folder to measure")
            return
        if self.dataset_combo.currentData() == DRAWING_SPEC and self._drawing_path is None:
            self.estimate_label.setText("draw a shape to measure")
            return
        try:
            config = self.config()
        except ValueError as error:
            self.estimate_label.setText(str(error))
            return
        self._speed_key = self._estimate_key()
        worker = CallWorker(partial(probe_training_speed, config))
        worker.result.connect(self._on_speed_measured)
        worker.errored.connect(self._on_speed_failed)
        self._speed_worker = worker
        self._speed_thread = start_worker(worker)

    def _speed_running(self) -> bool:
        return self._speed_thread is not None and self._speed_thread.isRunning()

    @Slot(object)
    def _on_speed_measured(self, value) -> None:
        num_parameters, seconds = value
        if self._speed_key:
            self._settings.setValue(f"train_speed/{self._speed_key}", f"{num_parameters},{seconds}")
        if self._speed_key == self._estimate_key():
            self._show_estimate(num_parameters, seconds)
        else:
            self._schedule_estimate()

    @Slot(str)
    def _on_speed_failed(self, message: str) -> None:
        self.estimate_label.setText(f"could not measure: {message}")

    def _show_estimate(self, num_parameters: int, seconds_per_step: float) -> None:
        per_thousand = format_duration(1000 * seconds_per_step)
        total = format_duration(self.steps_spin.value() * seconds_per_step)
        self.estimate_label.setText(
            f"{format_count(num_parameters)} parameters · {per_thousand} per 1,000 steps here (this run ≈ {total})"
        )

    # ------------------------------------------------------------------------------------------
    # Training control
    # ------------------------------------------------------------------------------------------

    def is_training(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def _new_checkpoint_path(self, spec: str) -> Path:
        folder = paths.checkpoints_dir()
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{_slug(spec)}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"

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

    def start_training(self, config: TrainConfig, resume_from: str | Path | None = None) -> None:
        """Start a run in a worker thread (the form is locked until it ends)."""
        if self.is_training():
            raise RuntimeError("A training run is already going on.")
        try:
            path = Path(resume_from) if resume_from else self._new_checkpoint_path(config.dataset)
        except OSError as error:
            QMessageBox.warning(self, "Cannot start training", f"The checkpoints folder cannot be written: {error}")
            return
        config = dataclasses.replace(config, checkpoint_path=str(path))
        self._checkpoint_path = path
        self._last_finished = None
        self._probe_timer.stop()
        self._reset_plots()
        self._batch_size = config.batch_size
        self._show_training_data(config)
        worker = TrainingWorker(config, resume_from=resume_from)
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self._thread = start_worker(worker)
        self.progress_label.setText("Loading the data and building the model…")
        self._update_buttons()
        self.status_changed.emit("Training: starting…")

    def _show_training_data(self, config: TrainConfig) -> None:
        """For 2-D data, draw the training points in grey behind the preview (loaded off the GUI thread)."""
        self.preview_points.set_reference(None)
        first = f"first at step {config.preview_every:,}" if config.preview_every else "off"
        self.preview_points.setTitle(f"Preview ({first}) · grey: data", color="#333", size="10pt")
        self._preview_title.setText(f"Preview ({first})", color="#333", size="10pt")
        if not config.dataset.startswith(("toy:", "word:", "drawing:")) or self._helper_running():
            return
        worker = CallWorker(partial(reference_points, config.dataset))
        worker.result.connect(self._on_reference_points)
        self._helper_worker = worker
        self._helper_thread = start_worker(worker)

    def _helper_running(self) -> bool:
        return self._helper_thread is not None and self._helper_thread.isRunning()

    @Slot(object)
    def _on_reference_points(self, points) -> None:
        self.preview_points.set_reference(points)

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
            self.progress_label.setText("Stopping after the current step…")
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
        default = self._checkpoint_path or self._new_checkpoint_path(self.dataset_combo.currentText())
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the training run", str(default), "Checkpoints (*.safetensors)"
        )
        if path:
            self.save_to(path)

    def save_to(self, path: str | Path) -> None:
        """Save a resumable checkpoint to ``path``: now (between steps) while training, else a copy of the last one."""
        path = Path(path)
        if path.suffix != ".safetensors":
            path = path.with_suffix(".safetensors")
        if self.is_training():
            self._worker.request_save(path)
            self.progress_label.setText(f"Saving to {path.name} after the current step…")
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
        self.progress_label.setText(f"Saved to {path}")

    @Slot()
    def _on_load_resume(self) -> None:
        if self.is_training():
            return
        start = self._settings.value("train/last_checkpoint_folder", str(paths.checkpoints_dir()))
        path, _ = QFileDialog.getOpenFileName(self, "Resume a training run", str(start), "Checkpoints (*.safetensors)")
        if path:
            self._settings.setValue("train/last_checkpoint_folder", str(Path(path).parent))
            self.load_and_resume(path)

    def load_and_resume(self, path: str | Path) -> bool:
        """Fill the form from a checkpoint's settings and continue its run; False (and a message) if it cannot."""
        try:
            metadata = read_metadata(path)
            saved = metadata.get("train_config")
            if not saved:
                raise CheckpointError(path, "it holds no training settings, so there is no run to resume.")
            config = TrainConfig.from_dict(saved)
        except (CheckpointError, ValueError, OSError) as error:
            QMessageBox.warning(self, "Cannot resume this checkpoint", str(error))
            return False
        step = int(metadata.get("step") or 0)
        if step >= config.steps:  # a finished run: train as many steps again
            config = dataclasses.replace(config, steps=step + config.steps)
        self.set_config(config)
        self.start_training(config, resume_from=path)
        return True

    def _update_buttons(self) -> None:
        running = self.is_training()
        stopping = running and self._worker is not None and self._worker.stop_requested
        paused = running and self._worker is not None and self._worker.control.paused
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running and not stopping)
        self.pause_button.setText("▶ Resume" if paused else "❚❚ Pause")
        self.stop_button.setEnabled(running and not stopping)
        self.load_button.setEnabled(not running)
        for widget in self._setting_widgets:
            widget.setEnabled(not running)

    # ------------------------------------------------------------------------------------------
    # Events from the worker
    # ------------------------------------------------------------------------------------------

    def _reset_plots(self) -> None:
        self.loss_plot.clear_data()
        self.grad_plot.clear_data()
        self.bucket_bars.setOpts(x=[], height=[])
        self.preview_image_item.clear()
        self.preview_points.set_points(np.zeros((0, 2), np.float32))
        self._preview_box.autoRange()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self._rate_ema = math.nan

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
                self._show_timestep_losses(event)
            elif kind == "Preview":
                self._show_preview(event)
            elif kind == "CheckpointSaved":
                self.progress_label.setText(f"Step {event.step:,}: saved ({event.reason}) to {event.path}")
                self._checkpoint_path = Path(event.path) if event.reason != "requested" else self._checkpoint_path
            elif kind == "Paused":
                self.progress_label.setText(f"Paused at step {event.step:,}. Press Resume to go on.")
                self.status_changed.emit(f"Training paused at step {event.step:,}")
                self._update_buttons()
            elif kind == "Resumed":
                self._update_buttons()
            elif kind == "Finished":
                self._on_finished(event)
        if steps:
            self.loss_plot.append(steps, losses)
            self.grad_plot.append(steps, grads)
        if last_step_event is not None:
            self._show_progress(last_step_event)

    def _on_started(self, event) -> None:
        self._total_steps = event.config.steps
        self._start_step = event.start_step
        self._is_points = len(event.image_shape) == 1
        self._dataset_label = event.dataset_name
        self.preview_points.setVisible(self._is_points)
        self.preview_images.setVisible(not self._is_points)
        self.progress.setRange(0, max(1, self._total_steps))
        self.progress.setValue(event.start_step)
        unit = "points" if self._is_points else "images"
        resumed = f", resumed at step {event.start_step:,}" if event.start_step else ""
        self.progress_label.setText(
            f"{event.dataset_name}: {event.dataset_size:,} {unit} · {format_count(event.num_parameters)} parameters "
            f"· {event.device}{resumed}"
        )
        self.status_changed.emit(f"Training on {event.device}: {event.dataset_name}")
        # Started before the speed probe had its turn: this run is the measurement.
        self._run_parameters = int(event.num_parameters)
        self._estimate_from_run = self.estimate_label.text().startswith(("measuring", "measured when"))
        if self._estimate_from_run:
            self.estimate_label.setText(f"{format_count(event.num_parameters)} parameters · timing this run…")

    def _show_progress(self, event) -> None:
        rate = float(event.images_per_s)
        if math.isfinite(rate) and rate > 0:
            self._rate_ema = rate if not math.isfinite(self._rate_ema) else 0.9 * self._rate_ema + 0.1 * rate
        now = time.perf_counter()
        if now - self._last_progress_text < PROGRESS_TEXT_INTERVAL_S and event.step < event.total_steps:
            return  # the numbers change faster than anyone reads them; each update costs a relayout
        self._last_progress_text = now
        self.progress.setValue(min(event.step, self.progress.maximum()))
        remaining = (
            (event.total_steps - event.step) * self._batch_size / self._rate_ema if self._rate_ema > 0 else math.nan
        )
        unit = "points/s" if self._is_points else "images/s"
        text = (
            f"Step {event.step:,} / {event.total_steps:,} · loss {event.loss:.4f} · {self._rate_ema:,.0f} {unit} "
            f"· elapsed {format_duration(event.elapsed_s)} · ETA {format_duration(remaining)}"
        )
        if self._worker is not None and self._worker.control.paused:
            return
        self.progress_label.setText(text)
        self.status_changed.emit(
            f"Training: step {event.step:,} / {event.total_steps:,}, ETA {format_duration(remaining)}"
        )
        if self._estimate_from_run and self._rate_ema > 0 and event.step - self._start_step >= 20:
            self._show_estimate(self._run_parameters, self._batch_size / self._rate_ema)

    def _show_timestep_losses(self, event) -> None:
        edges = np.asarray(event.bucket_edges, dtype=np.float64)
        heights = np.nan_to_num(np.asarray(event.losses, dtype=np.float64), nan=0.0)
        centers = 0.5 * (edges[:-1] + edges[1:])
        self.bucket_bars.setOpts(x=centers, height=heights, width=0.85 * float(np.diff(edges).min()))

    def _show_preview(self, event) -> None:
        self._last_preview = event
        samples = np.asarray(event.images)
        if samples.ndim == 2:
            self.preview_points.set_points(samples, event.labels)
            self.preview_points.setTitle(f"Samples at step {event.step:,} · grey: data", color="#333", size="10pt")
            return
        grid = make_grid(samples, padding=2)
        self.preview_image_item.setImage(np.ascontiguousarray(grid), autoLevels=False, levels=(0, 255))
        self._preview_box.autoRange(padding=0.02)
        self._preview_title.setText(f"Samples at step {event.step:,} (EMA weights)", color="#333", size="10pt")

    def _on_finished(self, event) -> None:
        self._last_finished = event
        if event.checkpoint_path:
            self._checkpoint_path = Path(event.checkpoint_path)
        where = f" Saved to {event.checkpoint_path}." if event.checkpoint_path else ""
        verb = "Finished" if event.reason == "completed" else "Stopped"
        self.progress_label.setText(
            f"{verb} at step {event.step:,} after {format_duration(event.elapsed_s)}.{where} "
            "The model is now in the Generate view."
        )
        self.status_changed.emit(f"Training {verb.lower()} at step {event.step:,}")
        self.model_trained.emit(event)

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.progress_label.setText(f"Training stopped: {message}")
        self.status_changed.emit("Training failed")
        QMessageBox.warning(self, "Training stopped", message)

    @Slot()
    def _on_worker_finished(self) -> None:
        # The thread quits right after this signal; wait for it so the buttons see it stopped.
        if self._thread is not None:
            self._thread.wait(2000)
        self._update_buttons()

    # ------------------------------------------------------------------------------------------
    # Export
    # ------------------------------------------------------------------------------------------

    def export_actions(self) -> list[ExportAction]:
        """What File ▸ Export… offers for this view."""
        return [
            ExportAction("CSV of the loss history…", CSV_FILTER, "loss_history.csv", self.write_loss_csv),
            ExportAction("PNG of the latest preview…", PNG_FILTER, "training_preview.png", self.write_preview),
        ]

    def write_loss_csv(self, path: str | Path) -> Path:
        """step, loss, smoothed loss and gradient norm of every step of the current (or last) run."""
        steps, losses, smoothed = self.loss_plot.data()
        if len(steps) == 0:
            raise ValueError("There is no loss history yet: start a training run first.")
        grad_steps, grads, _ = self.grad_plot.data()
        columns = {"smoothed_loss": smoothed}
        if np.array_equal(grad_steps, steps):
            columns["grad_norm"] = grads
        return save_loss_history_csv(path, steps.astype(np.int64).tolist(), losses, **columns)

    def write_preview(self, path: str | Path) -> Path:
        """The latest preview: an image grid, or a scatter plot of 2-D samples."""
        event = self._last_preview
        if event is None:
            raise ValueError("There is no preview yet: previews appear every few hundred steps while training.")
        samples = np.asarray(event.images)
        picture = scatter_picture(samples, event.labels) if samples.ndim == 2 else grid_picture(samples)
        return save_png(path, picture)

    # ------------------------------------------------------------------------------------------
    # Closing
    # ------------------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        """Called when the window closes: offer to save a running training, then stop it and wait."""
        self._probe_timer.stop()
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
        stop_thread(self._speed_thread, self._speed_worker)
        stop_thread(self._helper_thread, self._helper_worker)
        self._save_settings()
        self._update_buttons()
        return True
