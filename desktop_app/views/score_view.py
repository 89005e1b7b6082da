"""The Score & likelihood view: the continuous-time picture of a 2-D diffusion model, exact where it can be.

Top: the learned score s_θ(x, t) = −ε̂_θ(x, t)/√(1−ᾱ_t) of a shipped 2-D model as arrows over the plane at
the scrubbed t, over the training data (grey) and x_t samples (orange); beside it the exact score of the
training set noised to t (the ideal denoiser, ``core.diffusion.score.ideal_score``) over a heat map of
‖ε̂_θ − ε*‖, the learned network's error in units of the noise. Dragging t redraws both at once.

Below, in tabs: Langevin and annealed Langevin particles (Song & Ermon 2019), reverse-SDE vs
probability-flow-ODE paths from the same starts (Song et al. 2021), and the exact NLL with the density
over the plane from the PF-ODE (computed by a worker with progress and Cancel).

All of that is the "2-D score field" page; the "Image models" page (``score/image_models_panel.py``) measures
the shipped Fashion-MNIST model: its variational bound, ideal vs learned denoiser, nearest training images.
"""

from __future__ import annotations

import logging

import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.data.registry import get_dataset
from core.diffusion.ideal_denoiser import IdealDenoiser
from core.diffusion.score import check_score_model
from core.io import CheckpointError, load_denoiser
from desktop_app.model_library import list_models
from desktop_app.views.score.field_frames import FieldFrame, FieldFrames, FieldSource
from desktop_app.views.score.field_plot import FieldPlot
from desktop_app.views.score.image_models_panel import ImageModelsPanel
from desktop_app.views.score.likelihood_panel import LikelihoodPanel
from desktop_app.views.score.particles_panel import ParticlesPanel
from desktop_app.views.score.paths_panel import PathsPanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber

log = logging.getLogger(__name__)

GRID = 32  # arrows per side
EXTENT = 3.0  # the field covers [−EXTENT, EXTENT]²
IDEAL_POINTS = 500  # training points behind the exact score (a subset of the model's training set; cost ∝ points)
HELD_OUT = 500  # fresh points for the NLL
SAMPLES = 300  # x_t samples drawn under the arrows
DEFAULT_T = 100


class PageTabs(QTabWidget):
    """Tabs whose height does not depend on their width: a QTabWidget answers heightForWidth with the largest
    *preferred* height of all its pages (both fields' full size), which made the window's scroll area scroll."""

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return False


def _is_2d(entry) -> bool:
    return list(entry.metadata.get("image_shape") or []) == [2]


class ScoreView(QWidget):
    """Learned vs exact score fields, Langevin, SDE vs ODE paths, and the PF-ODE likelihood of a 2-D model."""

    title = "Score & likelihood"
    status_changed = Signal(str)
    field_drawn = Signal(int)  # t of the field now on screen

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self.model = self.schedule = None
        self._ideal: IdealDenoiser | None = None
        self._data: torch.Tensor | None = None
        self._noise: torch.Tensor | None = None
        self._entries = [e for e in list_models() if e.usable and _is_2d(e)]
        self.drawn_t: int | None = None
        self.frames = FieldFrames(self)
        self.frames.ready.connect(self._on_frame)
        self.frames.failed.connect(self._on_frame_failed)
        self._build_ui()
        saved = str(settings.value("score/model", ""))
        names = [e.path.stem for e in self._entries]
        self.model_combo.setCurrentIndex(names.index(saved) if saved in names else 0)
        if self._entries:
            self._on_model_chosen(self.model_combo.currentIndex())

    # --- UI -------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("A 2-D model shipped with the app (resources/models)")
        for entry in self._entries:
            self.model_combo.addItem(entry.label)
        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.scrubber = TimelineScrubber()
        self.scrubber.setToolTip(
            "The timestep t of the fields; σ_t = √(1−ᾱ_t), the noise scale, is in the left plot's title"
        )
        self.scrubber.valueChanged.connect(self._on_t_changed)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.learned_plot = FieldPlot("learned score s_θ(x, t)")
        self.exact_plot = FieldPlot("exact score (training set) over ‖ε̂_θ − ε*‖", arrow_color=(0, 0, 0))
        self.particles = ParticlesPanel()
        self.paths = PathsPanel()
        self.likelihood = LikelihoodPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.particles, "Langevin")
        self.tabs.addTab(self.paths, "SDE vs ODE")
        self.tabs.addTab(self.likelihood, "Likelihood")

        top = QHBoxLayout()
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo, 1)
        fields = QWidget()
        row = QHBoxLayout(fields)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.learned_plot)
        row.addWidget(self.exact_plot)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(fields)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        field_page = QWidget()
        page = QVBoxLayout(field_page)
        page.addLayout(top)
        page.addWidget(self.scrubber)
        page.addWidget(self.info)
        page.addWidget(split, 1)
        self.images = ImageModelsPanel()
        self.pages = PageTabs()
        self.pages.addTab(field_page, "2-D score field")
        self.pages.setTabToolTip(0, "Scores, Langevin, SDE vs ODE paths and the exact likelihood of a 2-D model")
        self.pages.addTab(self.images, "Image models")
        self.pages.setTabToolTip(1, "The shipped Fashion-MNIST model: its variational bound, ideal vs learned "
                                    "denoiser, and the nearest training images of its samples")  # fmt: skip
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)
        if not self._entries:
            self.info.setText("No 2-D model was found in resources/models, so there is no score to draw.")

    def _field_title(self, t: int) -> str:
        if self.schedule is None:
            return f"t = {t}"
        return f"t = {t}, σ_t = {float(self.schedule.sqrt_one_minus_alphas_cumprod[t]):.3f}"

    # --- model ----------------------------------------------------------------------------------

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        if not 0 <= index < len(self._entries):
            return
        entry = self._entries[index]
        try:
            checkpoint = load_denoiser(entry.path)
            check_score_model(checkpoint.model)
            data, held_out = self._datasets(checkpoint.metadata)
        except (CheckpointError, ValueError, OSError) as error:
            log.warning("Score view cannot use %s: %s", entry.path, error)
            self.info.setText(f"{entry.path.stem}: {error}")
            return
        self.model, self.schedule, self._data = checkpoint.model, checkpoint.schedule, data
        self._ideal = IdealDenoiser(data, self.schedule)
        self._noise = torch.randn(min(SAMPLES, len(data)), 2, generator=torch.Generator().manual_seed(0))
        self.frames.set_source(FieldSource(self.model, self.schedule, self._ideal, data, self._noise, EXTENT, GRID))
        self.settings.setValue("score/model", entry.path.stem)
        cloud = data.numpy()
        for plot in (self.learned_plot, self.exact_plot):
            plot.set_cloud(cloud)
        self.particles.set_model(self.model, self.schedule, cloud)
        self.paths.set_model(self.model, self.schedule, cloud)
        self.likelihood.set_model(self.model, self.schedule, cloud, held_out)
        self.scrubber.setRange(0, self.schedule.num_timesteps - 1)
        t = min(DEFAULT_T, self.schedule.num_timesteps - 1)
        if self.scrubber.value() == t:
            self._on_t_changed(t)
        else:
            self.scrubber.setValue(t)
        self.status_changed.emit(f"{entry.path.stem} · {self.schedule.label}")

    @staticmethod
    def _datasets(metadata: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """A subset of the model's own training points, and fresh points of the same distribution."""
        spec = metadata.get("dataset") or f"toy:{metadata.get('dataset_name')}"
        options = dict((metadata.get("train_config") or {}).get("dataset_options") or {})
        train = get_dataset(spec, **options).points
        seed = int(options.get("seed", 0)) + 1000
        held_out = get_dataset(spec, **{**options, "n": HELD_OUT, "seed": seed}).points
        return train[:IDEAL_POINTS].clone(), held_out

    def model_name(self) -> str:
        index = self.model_combo.currentIndex()
        return self._entries[index].path.stem if 0 <= index < len(self._entries) else ""

    # --- the field at t -------------------------------------------------------------------------

    @Slot(int)
    def _on_t_changed(self, t: int) -> None:
        if self.model is None:
            return
        self.particles.set_t(t)
        self.frames.request(t)  # drawn by _on_frame, at once when cached, else when a worker has computed it

    @Slot(object)
    def _on_frame(self, frame: FieldFrame) -> None:
        # Text that changes with t lives in the plots' titles: a new text in a QLabel (the scrubber's label, the
        # info line) re-lays out and repaints the whole page, ~5 ms a frame each.
        self.learned_plot.setTitle(f"learned score at {self._field_title(frame.t)}", color="#333", size="10pt")
        self.learned_plot.set_segments(frame.learned_segments)
        self.exact_plot.set_segments(frame.exact_segments)
        error = frame.error
        self.exact_plot.set_heat(error, EXTENT, levels=(0.0, max(float(error.max()), 1e-6)))
        self.learned_plot.set_samples(frame.samples)
        self.exact_plot.setTitle(
            f"exact score; ‖ε̂_θ − ε*‖ mean {float(error.mean()):.2f}, max {float(error.max()):.2f}",
            color="#333",
            size="10pt",
        )
        note = (
            f" {frame.outside} of the {GRID * GRID} arrows lie beyond the data (extrapolation)."
            if frame.outside
            else ""
        )
        text = (
            f"Right: the exact score of {len(self._data)} training points over the error of the network, "
            f"‖ε̂_θ − ε*‖ (in units of the noise).{note}"
        )
        if text != self.info.text():
            self.info.setText(text)
        self.drawn_t = frame.t
        self.field_drawn.emit(frame.t)

    @Slot(str)
    def _on_frame_failed(self, text: str) -> None:
        self.info.setText(text)

    def field_arrow_count(self) -> int:
        return self.learned_plot.segment_count // 3

    # --- lifecycle --------------------------------------------------------------------------------

    def shutdown(self) -> bool:
        for panel in (self.frames, self.particles, self.paths, self.likelihood, self.images):
            panel.shutdown()
        return True
