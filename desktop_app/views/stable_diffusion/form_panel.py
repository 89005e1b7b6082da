"""The Stable Diffusion view's controls: the folder, the prompts, and the sampling settings."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.diffusion.samplers import DEFAULT_STEPS, SAMPLER_LABELS, SAMPLERS
from desktop_app.views.stable_diffusion.generation import GenerationRequest
from desktop_app.widgets.flow_row import FlowRow

MAX_IMAGES = 4


class StableDiffusionForm(QWidget):
    """Folder row, prompt row and settings row; emits what the user asks for."""

    choose_requested = Signal()  # "Choose folder…"
    load_requested = Signal(str)  # load the folder typed in the path box
    generate_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.setToolTip(
            "Pick a Stable Diffusion folder saved by diffusers (it holds model_index.json, unet/, vae/, "
            "text_encoder/, tokenizer/ and scheduler/). Nothing is downloaded."
        )
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder of a saved Stable Diffusion pipeline")
        self.folder_edit.setToolTip("The folder to load from; press Enter or Load after typing a path")
        self.folder_edit.setMinimumWidth(260)
        self.load_button = QPushButton("Load")
        self.load_button.setToolTip("Check the folder and load the pipeline from it (in the background)")

        self.prompt_edit = QLineEdit()
        self.prompt_edit.setPlaceholderText("a prompt, e.g. a watercolour painting of a lighthouse")
        self.prompt_edit.setToolTip(
            "What to draw. CLIP reads at most 77 tokens; longer prompts are cut. An empty prompt samples "
            "unconditionally."
        )
        self.prompt_edit.setMinimumWidth(300)
        self.negative_edit = QLineEdit()
        self.negative_edit.setPlaceholderText("negative prompt (optional)")
        self.negative_edit.setToolTip(
            "What to steer away from: guidance pushes from this prompt towards yours. Empty: the usual "
            "unconditional (empty-prompt) prediction."
        )
        self.negative_edit.setMinimumWidth(200)

        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.0, 20.0)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(7.5)
        self.scale_spin.setToolTip(
            "Classifier-free guidance scale w: ε̃ = ε(∅) + w·(ε(prompt) − ε(∅)). 1 = no guidance, 7.5 = SD's "
            "default, 0 = ignore the prompt."
        )
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(25)
        self.steps_spin.setToolTip("Sampling steps: one U-Net call each (two with guidance, batched together)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip(
            "Seed of the starting latent noise z_T: the same seed and settings give the same image"
        )
        self.sampler_combo = QComboBox()
        for name in SAMPLERS:
            self.sampler_combo.addItem(SAMPLER_LABELS.get(name, name), name)
        self.sampler_combo.setToolTip(
            "The app's own sampler, run on the pipeline's β schedule (the one closest to the pipeline's "
            "scheduler is chosen when a folder loads)"
        )
        self.size_spin = QSpinBox()
        self.size_spin.setRange(8, 2048)
        self.size_spin.setSingleStep(8)
        self.size_spin.setValue(512)
        self.size_spin.setSuffix(" px")
        self.size_spin.setToolTip("Image width and height; the latent is this divided by the autoencoder's factor")
        self.images_spin = QSpinBox()
        self.images_spin.setRange(1, MAX_IMAGES)
        self.images_spin.setToolTip("How many images to sample at once (one batch, consecutive noise from the seed)")
        self.every_spin = QSpinBox()
        self.every_spin.setRange(1, 100)
        self.every_spin.setPrefix("every ")
        self.every_spin.setToolTip(
            "Record every n-th step (and the last) for the timeline. Each recorded step is decoded twice by the "
            "autoencoder, which on a CPU can take longer than the U-Net step itself."
        )
        self.generate_button = QPushButton("Generate")
        self.generate_button.setToolTip("Sample with these settings, recording every step for the timeline")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step; the steps so far can still be scrubbed")
        self.cancel_button.setEnabled(False)

        folder_row = FlowRow()
        for widget in (self.choose_button, self.folder_edit, self.load_button):
            folder_row.addWidget(widget)
        prompt_row = FlowRow()
        for widget in (QLabel("Prompt"), self.prompt_edit, QLabel("Negative"), self.negative_edit):
            prompt_row.addWidget(widget)
        settings_row = FlowRow()
        for widget in (QLabel("CFG scale"), self.scale_spin, QLabel("Steps"), self.steps_spin, QLabel("Seed"),
                       self.seed_spin, QLabel("Sampler"), self.sampler_combo, QLabel("Size"), self.size_spin,
                       QLabel("Images"), self.images_spin, QLabel("Record"), self.every_spin, self.generate_button,
                       self.cancel_button):  # fmt: skip
            settings_row.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for row in (folder_row, prompt_row, settings_row):
            layout.addLayout(row)

        self.choose_button.clicked.connect(self.choose_requested)
        self.load_button.clicked.connect(self._on_load)
        self.folder_edit.returnPressed.connect(self._on_load)
        self.prompt_edit.returnPressed.connect(self.generate_requested)
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.sampler_combo.setCurrentIndex(self.sampler_combo.findData("ddim"))
        self.sampler_combo.currentIndexChanged.connect(self._on_sampler)
        self.set_loaded(False)

    @Slot()
    def _on_load(self) -> None:
        self.load_requested.emit(self.folder_edit.text().strip())

    @Slot(int)
    def _on_sampler(self, _index: int) -> None:
        name = self.sampler_combo.currentData()
        # The multistep solvers and DDIM need few steps; DDPM and the SDE many (the app's defaults).
        self.steps_spin.setValue(min(DEFAULT_STEPS.get(name, 25), 50))

    def set_pipeline(self, image_size: int, size_step: int, sampler: str) -> None:
        """Fit the settings to a newly loaded pipeline: its native size, its size step, its sampler."""
        self.size_spin.setSingleStep(size_step)
        self.size_spin.setRange(size_step, max(2048, image_size))
        self.size_spin.setValue(image_size)
        index = self.sampler_combo.findData(sampler)
        if index >= 0:
            self.sampler_combo.setCurrentIndex(index)

    def request(self) -> GenerationRequest:
        return GenerationRequest(
            prompt=self.prompt_edit.text().strip(),
            negative_prompt=self.negative_edit.text().strip(),
            guidance_scale=self.scale_spin.value(),
            steps=self.steps_spin.value(),
            seed=self.seed_spin.value(),
            sampler=str(self.sampler_combo.currentData()),
            size=self.size_spin.value(),
            images=self.images_spin.value(),
            decode_every=self.every_spin.value(),
        )

    def set_loaded(self, loaded: bool) -> None:
        self.generate_button.setEnabled(loaded)

    def set_loading(self, loading: bool) -> None:
        for widget in (self.choose_button, self.folder_edit, self.load_button):
            widget.setEnabled(not loading)
        if loading:
            self.generate_button.setEnabled(False)

    def set_busy(self, busy: bool) -> None:
        """While generating: only Cancel works (the folder and the settings are locked)."""
        for widget in (self.choose_button, self.folder_edit, self.load_button, self.generate_button,
                       self.prompt_edit, self.negative_edit, self.scale_spin, self.steps_spin, self.seed_spin,
                       self.sampler_combo, self.size_spin, self.images_spin, self.every_spin):  # fmt: skip
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
