"""The Forward process view: watch q(x_t | x_0) destroy an image (or a point cloud) one step at a time.

At the scrubbed timestep t the view shows, side by side (DDPM, Ho et al. 2020, eq. 4)::

    x_t  =  √ᾱ_t · x_0  +  √(1 − ᾱ_t) · ε          ε ~ N(0, I)

the noisy x_t, the noise ε and the signal part √ᾱ_t·x_0, with the numbers β_t, ᾱ_t, √ᾱ_t, √(1−ᾱ_t),
the SNR ᾱ_t/(1−ᾱ_t) in decibels, and a histogram of x_t's values against the N(0, 1) density that
x_t approaches as t → T.

"Closed form" jumps straight to x_t with one fixed ε (``core.diffusion.forward_process.q_sample``). "Markov
chain" runs x_t = √α_t x_{t−1} + √β_t z_t step by step (eq. 2, ``simulate_chain``) with fresh z_t
each step; its ε panel shows the accumulated noise (x_t − √ᾱ_t x_0)/√(1−ᾱ_t), which is again N(0, I).
The chain is computed once per source/schedule/seed (small sources at once, large ones by a worker
thread) and cached, so scrubbing only reads arrays.

Every frame is computed into preallocated numpy buffers and pushed to pyqtgraph items built once.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QObject, QSettings, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.diffusion import MAX_TIMESTEPS, MIN_TIMESTEPS, SCHEDULE_KINDS, NoiseSchedule, make_schedule
from desktop_app import export
from desktop_app.widgets.image_panel import ImagePanel, ValueHistogram
from desktop_app.widgets.timeline_scrubber import TimelineScrubber

MAX_COMPUTE_SIDE = 256  # an opened image is downsized so its longer side is at most this (pixels)
MAX_IMAGE_PIXELS = 120_000_000  # refuse decompression bombs before decoding
IMAGE_FILE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
IMAGE_COUNTS = (1, 8, 16, 64)
POINT_COUNT = 1500
CHAIN_SYNC_LIMIT = 12_000_000  # values (elements × T) up to which the chain is computed at once on the GUI thread
CHAIN_BUDGET_BYTES = 128 * 2**20  # memory for stored chain states; beyond it, only every k-th state is kept
NOISE_LEVELS = (-3.0, 3.0)  # ε ~ N(0, 1): ±3σ covers 99.7 % of values
IMAGE_LEVELS = (-1.0, 1.0)

SOURCE_FASHION = "Fashion-MNIST test images"
SOURCE_SHAPES = "Coloured shapes"
SOURCE_POINTS = "2-D point cloud"


class ImageLoadError(ValueError):
    """A file that cannot be shown as a source image; the message says which file and why."""


@dataclass(eq=False)
class ForwardSource:
    """What the forward process starts from: images (N, C, H, W) in [−1, 1] or points (N, 2)."""

    name: str
    x0: torch.Tensor
    kind: str  # "images" or "points"

    @property
    def is_points(self) -> bool:
        return self.kind == "points"


def load_image_source(path: str | Path, max_side: int = MAX_COMPUTE_SIDE) -> ForwardSource:
    """Open any image Pillow reads; downsize it (keeping its aspect) so the longer side ≤ ``max_side``.

    Grayscale stays one channel, everything else becomes RGB (transparency over white).
    Raises ``ImageLoadError`` with a sentence naming the file for anything that is not a usable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(f"“{path.name}” does not exist or is not a file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise ImageLoadError(
                        f"“{path.name}” is {width}×{height} pixels, larger than the "
                        f"{MAX_IMAGE_PIXELS // 1_000_000}-megapixel limit that protects memory. Shrink it first."
                    )
                image.draft("RGB", (max_side, max_side))  # JPEG decodes straight at a reduced size
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
                    image = Image.alpha_composite(background, image.convert("RGBA"))
                gray = image.mode in ("1", "L", "I", "I;16", "F")
                image = image.convert("L" if gray else "RGB")
                scale = min(1.0, max_side / max(image.size))
                if scale < 1.0:
                    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
                    image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
                pixels = np.asarray(image, dtype=np.uint8)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"“{path.name}” is not an image Diffusion Lab can read. Open a PNG, JPEG, BMP, GIF, WebP or TIFF file."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        raise ImageLoadError(f"“{path.name}” could not be read as an image ({error}).") from error
    chw = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    x0 = torch.from_numpy(np.array(chw, dtype=np.float32)).mul_(2.0 / 255.0).sub_(1.0)[None]
    return ForwardSource(name=path.name, x0=x0, kind="images")


def dataset_source(name: str, count: int, toy: str = "two_moons") -> ForwardSource:
    """A built-in source: ``count`` Fashion-MNIST test images, coloured shapes, or a 2-D toy cloud."""
    if name == SOURCE_FASHION:
        from core.data import load_fashion_mnist

        return ForwardSource(f"Fashion-MNIST ×{count}", load_fashion_mnist("test", limit=count).images, "images")
    if name == SOURCE_SHAPES:
        from core.data import make_shapes

        return ForwardSource(f"coloured shapes ×{count}", make_shapes(count, seed=1).images, "images")
    if name == SOURCE_POINTS:
        from core.data import make_toy_2d

        return ForwardSource(
            f"{toy.replace('_', ' ')} ({POINT_COUNT} points)", make_toy_2d(toy, POINT_COUNT).points, "points"
        )
    raise ValueError(f"Unknown source '{name}'.")


class MarkovChainCache:
    """States of the chain x_t = √α_t x_{t−1} + √β_t z_t (DDPM eq. 2), computed once and then read.

    The noise z_t comes from one ``torch.Generator`` seeded with ``seed``, drawn in the order
    ``core.diffusion.forward_process.simulate_chain`` draws it, so ``get(t)`` equals
    ``simulate_chain(schedule, x0, Generator().manual_seed(seed), [t])[t]`` exactly. When all T
    states do not fit in ``budget_bytes``, every ``keyframe_every``-th state is stored with the
    generator's state, and states in between are recomputed from the nearest one (a few steps).
    """

    def __init__(self, schedule: NoiseSchedule, x0: torch.Tensor, seed: int, budget_bytes: int = CHAIN_BUDGET_BYTES):
        self.schedule = schedule
        self.x0 = x0
        self.seed = int(seed)
        state_bytes = x0.numel() * x0.element_size()
        self.keyframe_every = max(1, math.ceil(schedule.num_timesteps * state_bytes / budget_bytes))
        self._sqrt_alphas = schedule.alphas.sqrt().tolist()
        self._sqrt_betas = schedule.betas.sqrt().tolist()
        generator = torch.Generator().manual_seed(self.seed)
        self._keys: dict[int, tuple[torch.Tensor, torch.Tensor]] = {-1: (x0, generator.get_state())}
        self.frontier = -1  # the largest t whose keyframe chain has been computed
        self._cursor: tuple[int, torch.Tensor, torch.Tensor] = (-1, x0, generator.get_state())
        self.cancelled = False

    @property
    def complete(self) -> bool:
        return self.frontier >= self.schedule.num_timesteps - 1

    def _run(self, start: int, x: torch.Tensor, state: torch.Tensor, stop: int, store: bool):
        """Step from x_start (after step ``start``) to x_stop; keep keyframes when ``store``."""
        generator = torch.Generator()
        generator.set_state(state)
        for t in range(start + 1, stop + 1):
            z = torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x = self._sqrt_alphas[t] * x + self._sqrt_betas[t] * z  # DDPM eq. 2
            if store and t % self.keyframe_every == 0:
                self._keys[t] = (x, generator.get_state())
        return x, generator.get_state()

    def extend_to(self, t: int) -> None:
        """Compute (and store keyframes) up to timestep ``t``; used by the worker, chunk by chunk."""
        t = min(int(t), self.schedule.num_timesteps - 1)
        if t <= self.frontier:
            return
        start = self.frontier
        x, state = self._keys[start]
        x, state = self._run(start, x, state, t, store=True)
        self._keys[t] = (x, state)  # the frontier is always stored, so the next chunk starts there
        self.frontier = t

    def get(self, t: int) -> torch.Tensor:
        """x_t of the chain; computes what is missing (from the nearest stored state below t)."""
        t = int(t)
        cursor_t, cursor_x, cursor_state = self._cursor
        if t == cursor_t:
            return cursor_x
        if t > self.frontier:
            self.extend_to(t)
        start = max(k for k in list(self._keys) if k <= t)  # list(): the worker may add keys meanwhile
        if cursor_t <= t and cursor_t > start:
            x, state = self._run(cursor_t, cursor_x, cursor_state, t, store=False)
        else:
            key_x, key_state = self._keys[start]
            x, state = self._run(start, key_x, key_state, t, store=False)
        self._cursor = (t, x, state)
        return x


class ChainWorker(QObject):
    """Runs ``MarkovChainCache.extend_to`` in chunks on a worker thread; reports progress (no maths here)."""

    progress = Signal(int)  # the frontier reached
    finished = Signal()

    CHUNK = 25

    def __init__(self, cache: MarkovChainCache):
        super().__init__()
        self.cache = cache

    @Slot()
    def run(self) -> None:
        while not self.cache.cancelled and not self.cache.complete:
            self.cache.extend_to(self.cache.frontier + self.CHUNK)
            self.progress.emit(self.cache.frontier)
        self.finished.emit()


class ForwardView(QWidget):
    """Scrub the forward process of a dataset batch, a point cloud or the user's own image."""

    title = "Forward process"
    status_changed = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.source: ForwardSource | None = None
        self.schedule: NoiseSchedule | None = None
        self._opened: ForwardSource | None = None
        self._chain: MarkovChainCache | None = None
        self._chain_thread: QThread | None = None
        self._chain_worker: ChainWorker | None = None
        self._last_dir = str(settings.value("forward/last_image_dir", str(Path.home())))
        self._build_ui()
        self._restore_settings()
        self._rebuild_schedule()
        self._load_source()

    # --- UI -------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.source_combo = QComboBox()
        self.source_combo.addItems([SOURCE_FASHION, SOURCE_SHAPES, SOURCE_POINTS])
        self.source_combo.setToolTip("What the forward process starts from (x_0)")
        self.count_combo = QComboBox()
        for n in IMAGE_COUNTS:
            self.count_combo.addItem(f"{n} image{'s' if n > 1 else ''}", n)
        self.count_combo.setCurrentIndex(IMAGE_COUNTS.index(8))
        self.toy_combo = QComboBox()
        from core.data import TOY_DATASETS

        for name in TOY_DATASETS:
            self.toy_combo.addItem(name.replace("_", " "), name)
        self.open_button = QPushButton("Open image…")
        self.open_button.setToolTip("Use any image file as x_0 (you can also drop one onto the window)")

        self.kind_combo = QComboBox()
        self.kind_combo.addItems(list(SCHEDULE_KINDS))
        self.T_spin = QSpinBox()
        self.T_spin.setRange(MIN_TIMESTEPS, MAX_TIMESTEPS)
        self.T_spin.setValue(1000)
        self.T_spin.setKeyboardTracking(False)
        self.T_spin.setPrefix("T = ")

        self.closed_radio = QRadioButton("Closed form q(x_t | x_0)")
        self.closed_radio.setToolTip("x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε with one fixed ε (DDPM eq. 4)")
        self.chain_radio = QRadioButton("Markov chain")
        self.chain_radio.setToolTip("x_t = √α_t x_{t−1} + √β_t z_t, step by step with fresh noise (DDPM eq. 2)")
        self.closed_radio.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.closed_radio)
        self._mode_group.addButton(self.chain_radio)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setPrefix("seed ")
        self.seed_spin.setKeyboardTracking(False)
        self.new_noise_button = QPushButton("New noise")
        self.new_noise_button.setToolTip("Draw a new ε (and new chain noise): next seed")

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Source:"))
        controls.addWidget(self.source_combo)
        controls.addWidget(self.count_combo)
        controls.addWidget(self.toy_combo)
        controls.addWidget(self.open_button)
        controls.addSpacing(20)
        controls.addWidget(QLabel("Schedule:"))
        controls.addWidget(self.kind_combo)
        controls.addWidget(self.T_spin)
        controls.addStretch(1)

        self.equation = QLabel("x<sub>t</sub> = √ᾱ<sub>t</sub> · x<sub>0</sub> + √(1 − ᾱ<sub>t</sub>) · ε")
        self.equation.setTextFormat(Qt.TextFormat.RichText)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.closed_radio)
        mode_row.addWidget(self.chain_radio)
        mode_row.addSpacing(20)
        mode_row.addWidget(self.seed_spin)
        mode_row.addWidget(self.new_noise_button)
        mode_row.addStretch(1)
        mode_row.addWidget(self.equation)

        self.xt_panel = ImagePanel("x_t  (what the model sees)")
        self.noise_panel = ImagePanel("noise ε")
        self.signal_panel = ImagePanel("signal part √ᾱ_t · x_0")
        images = QWidget()
        image_row = QHBoxLayout(images)
        image_row.setContentsMargins(0, 0, 0, 0)
        for panel in (self.xt_panel, self.noise_panel, self.signal_panel):
            image_row.addWidget(panel, stretch=1)

        self.points_plot = pg.PlotWidget()
        self.points_plot.setAspectLocked(True)
        self.points_plot.setMenuEnabled(False)
        self.points_plot.showGrid(x=True, y=True, alpha=0.2)
        self.points_plot.setXRange(-3.5, 3.5)
        self.points_plot.setYRange(-3.5, 3.5)
        self.points_plot.addLegend(offset=(-8, 8))
        self.points_x0_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(150, 150, 150, 90), name="x_0")
        self.points_xt_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(90, 160, 230, 200), name="x_t")
        self.points_plot.addItem(self.points_x0_item)
        self.points_plot.addItem(self.points_xt_item)
        self.display_stack = QStackedWidget()
        self.display_stack.addWidget(images)
        self.display_stack.addWidget(self.points_plot)

        self.scrubber = TimelineScrubber()
        self.scrubber.setLabelFunction(self._scrubber_label)

        self.numbers: dict[str, QLabel] = {}
        numbers_box = QGroupBox("At this timestep")
        form = QFormLayout(numbers_box)
        rows = [
            ("t", "t"),
            ("beta", "β_t  (noise added by this step)"),
            ("alpha_bar", "ᾱ_t = ∏ (1 − β_s)"),
            ("sqrt_alpha_bar", "√ᾱ_t  (signal scale)"),
            ("sqrt_one_minus_alpha_bar", "√(1 − ᾱ_t)  (noise scale)"),
            ("snr_db", "SNR = ᾱ_t / (1 − ᾱ_t)"),
            ("stats", "x_t values: mean, std"),
        ]
        for key, text in rows:
            value = QLabel("–")
            # Not mouse-selectable: a selectable label paints through a rich-text document, 3× slower.
            # A fixed size: a label whose size may change asks for a new layout of the whole view
            # on every setText, which costs more than the rest of a frame.
            value.setFixedSize(value.fontMetrics().horizontalAdvance("−43.94 dB  (4.036e-05)") + 12,
                               value.fontMetrics().height() + 4)  # fmt: skip
            self.numbers[key] = value
            form.addRow(text, value)
        numbers_box.setMinimumWidth(330)
        numbers_box.setMaximumHeight(230)

        self.histogram = ValueHistogram()
        self.histogram.setMinimumHeight(150)
        self.histogram.setMaximumHeight(230)
        self.chain_label = QLabel("")
        self.chain_label.setStyleSheet("color: #b06000;")

        bottom = QHBoxLayout()
        bottom.addWidget(numbers_box)
        bottom.addWidget(self.histogram, stretch=1)

        layout = QVBoxLayout(self)
        layout.addLayout(controls)
        layout.addLayout(mode_row)
        layout.addWidget(self.display_stack, stretch=3)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.chain_label)
        layout.addLayout(bottom)

        self.source_combo.currentIndexChanged.connect(self._on_source_changed)
        self.count_combo.currentIndexChanged.connect(self._on_source_changed)
        self.toy_combo.currentIndexChanged.connect(self._on_source_changed)
        self.open_button.clicked.connect(self._on_open_clicked)
        self.kind_combo.currentIndexChanged.connect(self._on_schedule_changed)
        self.T_spin.valueChanged.connect(self._on_schedule_changed)
        self.closed_radio.toggled.connect(self._on_mode_changed)
        self.seed_spin.valueChanged.connect(self._on_seed_changed)
        self.new_noise_button.clicked.connect(self._on_new_noise)
        self.scrubber.valueChanged.connect(self._on_t_changed)

    def _restore_settings(self) -> None:
        s = self.settings
        widgets = [self.source_combo, self.count_combo, self.toy_combo, self.kind_combo, self.T_spin, self.seed_spin]
        for w in widgets:
            w.blockSignals(True)
        self.source_combo.setCurrentText(str(s.value("forward/source", SOURCE_FASHION)))
        count = int(s.value("forward/count", 8))
        if count in IMAGE_COUNTS:
            self.count_combo.setCurrentIndex(IMAGE_COUNTS.index(count))
        index = self.toy_combo.findData(str(s.value("forward/toy", "two_moons")))
        self.toy_combo.setCurrentIndex(max(index, 0))
        self.kind_combo.setCurrentText(str(s.value("forward/kind", "linear")))
        self.T_spin.setValue(int(s.value("forward/T", 1000)))
        self.seed_spin.setValue(int(s.value("forward/seed", 0)))
        for w in widgets:
            w.blockSignals(False)
        self._update_source_widgets()

    def _save_settings(self) -> None:
        s = self.settings
        source = self.source_combo.currentText()
        s.setValue(
            "forward/source", source if source in (SOURCE_FASHION, SOURCE_SHAPES, SOURCE_POINTS) else SOURCE_FASHION
        )
        s.setValue("forward/count", self.count_combo.currentData())
        s.setValue("forward/toy", self.toy_combo.currentData())
        s.setValue("forward/kind", self.kind_combo.currentText())
        s.setValue("forward/T", self.T_spin.value())
        s.setValue("forward/seed", self.seed_spin.value())
        s.setValue("forward/last_image_dir", self._last_dir)

    def _update_source_widgets(self) -> None:
        name = self.source_combo.currentText()
        self.count_combo.setVisible(name in (SOURCE_FASHION, SOURCE_SHAPES))
        self.toy_combo.setVisible(name == SOURCE_POINTS)

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
        label = f"Image: {source.name}"
        self.source_combo.blockSignals(True)
        index = 3
        if self.source_combo.count() > 3:
            self.source_combo.setItemText(index, label)
        else:
            self.source_combo.addItem(label)
        self.source_combo.setCurrentIndex(index)
        self.source_combo.blockSignals(False)
        self._update_source_widgets()
        self.set_source(source)
        return True

    def set_source(self, source: ForwardSource) -> None:
        """Show the forward process of ``source`` (resets the noise buffers and the chain)."""
        self.source = source
        self._prepare_buffers()
        self._restart_chain()
        self.display_stack.setCurrentIndex(1 if source.is_points else 0)
        self._render()
        self.status_changed.emit(f"Forward process of {source.name} · {self.schedule.label}")

    def dataset_name(self) -> str:
        return self.source.name if self.source is not None else ""

    def current_t(self) -> int:
        return self.scrubber.value()

    def is_chain_mode(self) -> bool:
        return self.chain_radio.isChecked()

    def set_chain_mode(self, chain: bool) -> None:
        (self.chain_radio if chain else self.closed_radio).setChecked(True)

    def current_frame(self) -> dict[str, np.ndarray]:
        """The arrays on screen: x_t, eps, signal, each (N, C, H, W) or (N, 2)."""
        return {"x_t": self._xt.copy(), "eps": self._eps_shown.copy(), "signal": self._signal.copy()}

    def shutdown(self) -> bool:
        self._stop_chain_worker()
        self._save_settings()
        return True

    # --- computation ----------------------------------------------------------------------------

    def _rebuild_schedule(self) -> None:
        self.schedule = make_schedule(self.kind_combo.currentText(), self.T_spin.value())
        old = self.scrubber.value()
        self.scrubber.blockSignals(True)
        self.scrubber.setRange(0, self.schedule.num_timesteps - 1)
        self.scrubber.setValue(min(old, self.schedule.num_timesteps - 1) if old else self.schedule.num_timesteps // 4)
        self.scrubber.blockSignals(False)
        self.scrubber.setLabelFunction(self._scrubber_label)

    def _load_source(self) -> None:
        name = self.source_combo.currentText()
        if name.startswith("Image:") and self._opened is not None:
            self.set_source(self._opened)
            return
        self.set_source(dataset_source(name, int(self.count_combo.currentData()), str(self.toy_combo.currentData())))

    def _prepare_buffers(self) -> None:
        """Draw ε for the seed and allocate every per-frame buffer once per source/seed."""
        x0 = self.source.x0
        generator = torch.Generator().manual_seed(self.seed_spin.value())
        self._x0 = np.ascontiguousarray(x0.numpy(), dtype=np.float32)
        self._eps = torch.randn(x0.shape, generator=generator).numpy()
        self._xt = np.empty_like(self._x0)
        self._signal = np.empty_like(self._x0)
        self._eps_chain = np.empty_like(self._x0)
        self._eps_shown = self._eps
        if not self.source.is_points:
            self._eps_uploaded = False
            self.points_x0_item.setData(pos=np.zeros((0, 2)))
        else:
            self.points_x0_item.setData(pos=self._x0)

    def _restart_chain(self) -> None:
        self._stop_chain_worker()
        self._chain = None
        self.chain_label.setText("")
        if self.source is None or not self.is_chain_mode():
            return
        self._chain = MarkovChainCache(self.schedule, self.source.x0, self.seed_spin.value())
        work = self.source.x0.numel() * self.schedule.num_timesteps
        if work <= CHAIN_SYNC_LIMIT:
            self._chain.extend_to(self.schedule.num_timesteps - 1)
            return
        self._chain_thread = QThread(self)
        self._chain_worker = ChainWorker(self._chain)
        self._chain_worker.moveToThread(self._chain_thread)
        self._chain_thread.started.connect(self._chain_worker.run)
        self._chain_worker.progress.connect(self._on_chain_progress)
        self._chain_worker.finished.connect(self._chain_thread.quit)
        self._chain_thread.start()

    def _stop_chain_worker(self) -> None:
        if self._chain is not None:
            self._chain.cancelled = True
        if self._chain_thread is not None:
            self._chain_thread.quit()
            self._chain_thread.wait()
            self._chain_thread.deleteLater()
            self._chain_worker.deleteLater()
        self._chain_thread = None
        self._chain_worker = None

    def _compute(self, t: int) -> None:
        """Fill self._xt, self._eps_shown and self._signal for timestep t (eq. 4, or the chain)."""
        a = float(self.schedule.sqrt_alphas_cumprod[t])
        s = float(self.schedule.sqrt_one_minus_alphas_cumprod[t])
        np.multiply(self._x0, a, out=self._signal)  # √ᾱ_t x_0
        if self._chain is None:
            np.multiply(self._eps, s, out=self._xt)  # √(1−ᾱ_t) ε
            np.add(self._xt, self._signal, out=self._xt)
            self._eps_shown = self._eps
            return
        reachable = min(t, self._chain.frontier) if not self._chain.complete else t
        if reachable < 0:
            np.copyto(self._xt, self._x0)
        else:
            np.copyto(self._xt, self._chain.get(reachable).numpy())
        if reachable < t:
            self.chain_label.setText(
                f"Computing the Markov chain… ready up to t = {max(reachable, 0)}; showing that step for now."
            )
        else:
            self.chain_label.setText("")
        # The chain's accumulated noise, rescaled: (x_t − √ᾱ_t x_0) / √(1 − ᾱ_t) ~ N(0, I).
        shown_t = max(reachable, 0)
        a_shown = float(self.schedule.sqrt_alphas_cumprod[shown_t])
        s_shown = float(self.schedule.sqrt_one_minus_alphas_cumprod[shown_t])
        np.multiply(self._x0, a_shown, out=self._eps_chain)
        np.subtract(self._xt, self._eps_chain, out=self._eps_chain)
        np.multiply(self._eps_chain, 1.0 / s_shown, out=self._eps_chain)
        self._eps_shown = self._eps_chain

    def _render(self) -> None:
        if self.source is None:
            return
        t = self.scrubber.value()
        self._compute(t)
        if self.source.is_points:
            self.points_xt_item.setData(pos=self._xt)
        else:
            self.xt_panel.set_batch(self._xt, IMAGE_LEVELS)  # a square grid: the biggest tiles in a square-ish panel
            self.signal_panel.set_batch(self._signal, IMAGE_LEVELS)
            if self._chain is not None or not self._eps_uploaded:  # a fixed ε is uploaded once
                self.noise_panel.set_batch(self._eps_shown, NOISE_LEVELS)
                self._eps_uploaded = self._chain is None
        self.histogram.set_values(self._xt)
        self._update_numbers(t)

    def _update_numbers(self, t: int) -> None:
        q = self.schedule.at(t)
        self.numbers["t"].setText(f"{t}  (t/T = {t / self.schedule.num_timesteps:.3f})")
        self.numbers["beta"].setText(f"{q['beta']:.5f}")
        self.numbers["alpha_bar"].setText(f"{q['alpha_bar']:.5f}")
        self.numbers["sqrt_alpha_bar"].setText(f"{q['sqrt_alpha_bar']:.4f}")
        self.numbers["sqrt_one_minus_alpha_bar"].setText(f"{q['sqrt_one_minus_alpha_bar']:.4f}")
        self.numbers["snr_db"].setText(f"{q['snr_db']:+.2f} dB  ({q['snr']:.4g})")
        stride = max(1, self._xt.size // 65536)
        sample = self._xt.reshape(-1)[::stride]
        self.numbers["stats"].setText(f"{float(sample.mean()):+.3f}, {float(sample.std()):.3f}")

    def _scrubber_label(self, t: int) -> str:
        if self.schedule is None:
            return ""
        return f"ᾱ = {float(self.schedule.alphas_cumprod[t]):.3f}"

    # --- handlers -------------------------------------------------------------------------------

    @Slot(int)
    def _on_t_changed(self, _t: int) -> None:
        self._render()

    @Slot()
    def _on_source_changed(self) -> None:
        self._update_source_widgets()
        self._load_source()

    @Slot()
    def _on_open_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an image as x₀", self._last_dir, IMAGE_FILE_FILTER)
        if path:
            self.open_image(path)

    @Slot()
    def _on_schedule_changed(self) -> None:
        self._rebuild_schedule()
        self._restart_chain()
        self._render()
        if self.source is not None:
            self.status_changed.emit(f"Forward process of {self.source.name} · {self.schedule.label}")

    @Slot(bool)
    def _on_mode_changed(self, _checked: bool) -> None:
        self._restart_chain()
        self._eps_uploaded = False
        self._render()

    @Slot(int)
    def _on_seed_changed(self, _seed: int) -> None:
        if self.source is None:
            return
        self._prepare_buffers()
        self._restart_chain()
        self._render()

    @Slot()
    def _on_new_noise(self) -> None:
        self.seed_spin.setValue(self.seed_spin.value() + 1)

    @Slot(int)
    def _on_chain_progress(self, frontier: int) -> None:
        if self._chain is not None and self.scrubber.value() > frontier - ChainWorker.CHUNK:
            self._render()

    # --- export ---------------------------------------------------------------------------------

    def _frame_at(self, t: int) -> np.ndarray:
        """x_t at timestep t as a uint8 picture (grid of images, or a scatter plot for points)."""
        self._compute(t)
        if self.source.is_points:
            return export.scatter_picture(self._xt)
        return export.grid_picture(self._xt)

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
