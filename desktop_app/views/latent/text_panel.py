"""Text to image in miniature: type a caption, generate, scrub, and see which words each region looks at.

The Latent diffusion view's "Text to image" tab. The model (``core.io.text_to_image_file``) is a
tiny text encoder and a cross-attention U-Net on the shapes autoencoder's 8×8×4 latents, trained by
the project on captions written from the shapes' own parameters. ``TextToImageModel.trace`` runs
guided DDIM as a generator in an ``EventStreamWorker``; every step's decoded x̂₀ and per-token
attention maps are recorded, and the timeline scrubber moves through them without another network
call. Prompts are checked as they are typed: an unknown word, an empty or a too-long prompt is
explained in the model's own words (``PromptError``, which lists the vocabulary), and nothing runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.diffusion.text_to_image import TextToImageResult, TextToImageStep
from core.io import CheckpointError
from core.io.text_to_image_file import TextToImageModel, is_text_to_image_file, load_text_to_image
from core.runtime import set_threads
from core.text import PromptError
from desktop_app.views.latent.attention_panel import TokenAttentionPanel
from desktop_app.views.latent.files import latent_dir
from desktop_app.widgets.flow_row import FlowRow
from desktop_app.widgets.image_panel import ImagePanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads

MAX_IMAGES = 16


class TextToImageWorker(EventStreamWorker):
    """Runs ``TextToImageModel.trace``; its steps are batched for the GUI."""

    FREQUENT = ("TextToImageStep",)


def text_model_files() -> list[Path]:
    """Text-to-image models in resources/models/latent (headers only are read here)."""
    folder = latent_dir()
    out = []
    for path in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            if is_text_to_image_file(path):
                out.append(path)
        except (CheckpointError, OSError):
            continue
    return out


def _trace(model: TextToImageModel, threads: int, prompts: list[str], steps: int, scale: float, seed: int):
    """``model.trace`` with torch limited to ``threads`` CPU threads (the GUI keeps a core)."""
    set_threads(threads)
    yield from model.trace(prompts, steps, scale, seed, record_attention=True)


class TextToImagePanel(QWidget):
    """The prompt box, the guided run in a worker, and its timeline (module docstring)."""

    status_changed = Signal(str)
    run_finished = Signal()  # a run ended (completed, cancelled or failed)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._job = BackgroundJob(self)
        self._paths = text_model_files()
        self.model: TextToImageModel | None = None
        self.tokens: list[str] = []
        self._steps: list[TextToImageStep] = []
        self.samples: np.ndarray | None = None

        self.model_combo = QComboBox()
        self.model_combo.setToolTip("A text-to-image model from resources/models/latent and the autoencoder it names")
        self.prompt_edit = QLineEdit()
        self.prompt_edit.setPlaceholderText("a small red circle at the top left")
        self.prompt_edit.setMinimumWidth(280)
        self.prompt_edit.setToolTip("A caption in the model's words (listed below); press Enter to generate")
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.0, 20.0)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(3.0)
        self.scale_spin.setToolTip('Classifier-free guidance w: ε("") + w·(ε(prompt) − ε("")); 1 = no guidance')
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 1000)
        self.steps_spin.setValue(25)
        self.steps_spin.setToolTip("DDIM steps (deterministic); each is one U-Net call on the 8×8×4 latents")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("The seed of the starting noise: the same seed and prompt give the same images")
        self.images_spin = QSpinBox()
        self.images_spin.setRange(1, MAX_IMAGES)
        self.images_spin.setValue(4)
        self.images_spin.setToolTip("How many images of the prompt to draw (each from its own noise)")
        self.run_button = QPushButton("Generate")
        self.run_button.setToolTip("Draw the prompt, recording every step's x̂₀ and attention maps")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current step; the steps so far can still be scrubbed")
        self.cancel_button.setEnabled(False)
        self.image_spin = QSpinBox()
        self.image_spin.setRange(1, 1)
        self.image_spin.setToolTip("Which image's attention maps to show")
        form = FlowRow()
        for widget in (QLabel("Model"), self.model_combo, QLabel("Prompt"), self.prompt_edit, QLabel("CFG scale"),
                       self.scale_spin, QLabel("Steps"), self.steps_spin, QLabel("Seed"), self.seed_spin,
                       QLabel("Images"), self.images_spin, self.run_button, self.cancel_button):  # fmt: skip
            form.addWidget(widget)
        self.prompt_label = QLabel()
        self.prompt_label.setWordWrap(True)
        self.prompt_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.images_panel = ImagePanel("x̂₀ of every image", "𝒟(ẑ₀ / s) at this step; the chosen image is shown right")
        self.images_panel.setMinimumSize(160, 160)
        self.attention = TokenAttentionPanel()
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Image"))
        chooser.addWidget(self.image_spin)
        chooser.addStretch(1)
        right = QVBoxLayout()
        right.addLayout(chooser)
        right.addWidget(self.attention, 1)
        pictures = QHBoxLayout()
        pictures.addWidget(self.images_panel, 2)
        pictures.addLayout(right, 3)
        self.scrubber = TimelineScrubber()
        self.scrubber.setReversed(False)
        self.scrubber.setLabelFunction(self._step_label)
        self.scrubber.setToolTip("Move through the recorded steps: x̂₀ and where each word is looked at")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setToolTip("Steps sampled so far")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(form)
        layout.addWidget(self.prompt_label)
        layout.addLayout(pictures, 1)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.progress)

        self.model_combo.currentIndexChanged.connect(self._on_model_chosen)
        self.prompt_edit.textChanged.connect(self._on_prompt_changed)
        self.prompt_edit.returnPressed.connect(self._on_run)
        self.run_button.clicked.connect(self._on_run)
        self.cancel_button.clicked.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.image_spin.valueChanged.connect(self._on_image_chosen)
        self.model_combo.blockSignals(True)  # the model is read when the tab is first shown (showEvent)
        self.model_combo.addItems([path.stem for path in self._paths])
        self.model_combo.blockSignals(False)
        self._shown = False
        if not self._paths:
            self.run_button.setEnabled(False)
            self.prompt_label.setText(
                "No text-to-image model is shipped in resources/models/latent yet (scripts/train_text_to_image.py)."
            )

    # --- model and prompt -----------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._shown:  # read the model only when someone opens the tab: the app starts faster
            self._shown = True
            self._on_model_chosen(self.model_combo.currentIndex())

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        self.model = None
        if not 0 <= index < len(self._paths):
            return
        try:
            self.model = load_text_to_image(self._paths[index], [latent_dir()])
        except (CheckpointError, OSError) as error:
            self.run_button.setEnabled(False)
            self._say(str(error))
            return
        words = self.model.vocabulary.word_list()
        self.prompt_edit.setToolTip(f"A caption in the model's words: {words}. Press Enter to generate.")
        self.run_button.setEnabled(True)
        self._on_prompt_changed(self.prompt_edit.text())

    def _say(self, text: str) -> None:
        self.prompt_label.setText(text)
        self.status_changed.emit(text)

    def check_prompt(self) -> list[str] | None:
        """The prompt's tokens, or None after saying (in the model's words) what is wrong with it."""
        if self.model is None:
            return None
        try:
            return self.model.check_prompt(self.prompt_edit.text())
        except PromptError as error:
            self.prompt_label.setText(str(error))
            return None

    @Slot(str)
    def _on_prompt_changed(self, text: str) -> None:
        if self.model is None:
            return
        if not text.strip():
            self.prompt_label.setText(
                f"Type a caption. The words the model knows: {self.model.vocabulary.word_list()}."
            )
            return
        tokens = self.check_prompt()
        if tokens is not None:
            self.prompt_label.setText(f"The model reads {len(tokens)} tokens: {' · '.join(tokens)}")

    # --- running --------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    @Slot()
    def _on_run(self) -> None:
        self.run()

    def run(self) -> bool:
        """Generate with the form's settings; False (with the reason shown) when nothing could start."""
        if self.is_running() or self.model is None:
            return False
        tokens = self.check_prompt()
        if tokens is None:
            self.status_changed.emit(self.prompt_label.text())
            return False
        n, steps = self.images_spin.value(), self.steps_spin.value()
        prompts = [self.prompt_edit.text()] * n
        make = functools.partial(_trace, self.model, default_worker_threads(), prompts, steps,
                                 self.scale_spin.value(), self.seed_spin.value())  # fmt: skip
        self.tokens, self._steps, self.samples = tokens, [], None
        self.attention.set_tokens(tokens)
        self.images_panel.clear()
        self.image_spin.setRange(1, n)
        self.scrubber.setRange(0, 0)
        self.progress.setRange(0, steps)
        self.progress.setValue(0)
        worker = TextToImageWorker(make)
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._job.start(worker)
        self.set_busy(True)
        self._say(f"Drawing {n} × '{' '.join(tokens[1:])}' with {steps} guided DDIM steps…")
        return True

    def set_busy(self, busy: bool) -> None:
        for widget in (self.run_button, self.model_combo, self.prompt_edit, self.scale_spin, self.steps_spin,
                       self.seed_spin, self.images_spin):  # fmt: skip
            widget.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, TextToImageStep):
                self._steps.append(event)
            elif isinstance(event, TextToImageResult):
                self.samples = event.images.numpy()
        if self._steps:
            self.progress.setValue(len(self._steps))
            self.scrubber.setRange(0, len(self._steps) - 1)
            self.scrubber.setValue(len(self._steps) - 1)
            self._on_scrub(self.scrubber.value())

    @Slot(int)
    def _on_scrub(self, index: int) -> None:
        if not 0 <= index < len(self._steps):
            return
        step = self._steps[index]
        decoded = np.clip(step.decoded_x0.numpy(), -1, 1)
        self.images_panel.set_batch(decoded)
        chosen = min(self.image_spin.value(), decoded.shape[0]) - 1
        maps = None if step.attention is None else step.attention[chosen].numpy()
        self.attention.show_maps(decoded[chosen], maps, f" (image {chosen + 1}, t = {step.t})")

    @Slot(int)
    def _on_image_chosen(self, _value: int) -> None:
        self._on_scrub(self.scrubber.value())

    def _step_label(self, index: int) -> str:
        if not 0 <= index < len(self._steps):
            return "step – / t = –"
        step = self._steps[index]
        return f"step {index + 1} / {step.num_steps}, t = {step.t}"

    def steps(self) -> list[TextToImageStep]:
        return list(self._steps)

    def attention_shares(self) -> list[tuple[str, float]]:
        """(token, share of all the attention) for the chosen image at the scrubbed step, as the token
        pictures' captions show them; empty before a run or where no attention was recorded."""
        index = self.scrubber.value()
        if not 0 <= index < len(self._steps) or self._steps[index].attention is None:
            return []
        attention = self._steps[index].attention
        chosen = min(self.image_spin.value(), attention.shape[0]) - 1
        maps = attention[chosen, : len(self.tokens)]
        return [(token, float(m.mean())) for token, m in zip(self.tokens, maps, strict=False)]

    @Slot()
    def cancel(self) -> None:
        self._job.request_stop()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._say(f"Generation stopped: {message}")

    @Slot()
    def _on_cancelled(self) -> None:
        self._say(f"Cancelled after {len(self._steps)} steps. The steps recorded so far can be scrubbed.")

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        self.set_busy(False)
        self.scrubber.setLabelFunction(self._step_label)
        if self.samples is not None:
            self._say(
                f"Recorded {len(self._steps)} steps: scrub back to watch each word's attention settle on the "
                "region where its shape, colour or place is drawn."
            )
        self.run_finished.emit()

    def shutdown(self) -> None:
        self._job.stop()
