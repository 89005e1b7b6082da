"""The Stable Diffusion view: a real text-to-image model from a folder on disk, step by step.

For classrooms with a copy of a Stable Diffusion model (diffusers' folder layout) and, ideally, a
GPU. Nothing is downloaded and nothing of diffusers is imported until a folder is loaded
(``core.models.stable_diffusion``); without the optional ``[sd]`` extra the view says how to install it.

- **Folder**: chosen with a dialog (remembered between sessions) or typed; it is checked and loaded
  in a ``CallWorker`` (``views/stable_diffusion/loading.py``), and a folder that cannot be used is
  explained in words.
- **Generate**: prompt, negative prompt, CFG scale, steps, seed, size and one of the app's samplers
  run the pipeline's U-Net in a ``GenerationWorker`` (``views/stable_diffusion/generation.py``) on
  the GPU when there is one, recording every step.
- **Timeline**: the shared scrubber moves through the recorded steps: the latent channels, the
  decoded latent and the x̂₀ preview of each step (``views/stable_diffusion/step_panel.py``).
"""

from __future__ import annotations

import functools
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QFileDialog, QLabel, QProgressBar, QVBoxLayout, QWidget

from core.diffusion.samplers import SAMPLER_LABELS
from core.models.stable_diffusion import EXTRA_HINT
from desktop_app.views.stable_diffusion.form_panel import StableDiffusionForm
from desktop_app.views.stable_diffusion.generation import GenerationWorker, SDFrame, SDResult
from desktop_app.views.stable_diffusion.loading import LoadedPipeline, extra_installed, load_folder
from desktop_app.views.stable_diffusion.step_panel import StepPictures
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, CallWorker, default_worker_threads

FOLDER_KEY = "stable_diffusion/folder"


class StableDiffusionView(QWidget):
    """Load a Stable Diffusion folder, generate with the app's samplers, scrub every step."""

    title = "Stable Diffusion"
    status_changed = Signal(str)
    loaded = Signal(bool)  # a folder finished loading: True when it can be used
    run_finished = Signal()  # a generation ended (completed, cancelled or failed)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._load_job = BackgroundJob(self)
        self._job = BackgroundJob(self)
        self.pipeline: LoadedPipeline | None = None
        self._frames: list[SDFrame] = []
        self.result: SDResult | None = None

        self.form = StableDiffusionForm()
        self.form.folder_edit.setText(str(settings.value(FOLDER_KEY, "") or ""))
        self.pictures = StepPictures()
        self.scrubber = TimelineScrubber()
        self.scrubber.setReversed(False)
        self.scrubber.setLabelFunction(self._step_label)
        self.scrubber.setToolTip("Move through the recorded steps: the latent, its decoding and the x̂₀ preview")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setToolTip("Steps sampled so far")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.form)
        layout.addWidget(self.pictures, 1)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)

        self.form.choose_requested.connect(self._on_choose)
        self.form.load_requested.connect(self._on_load_requested)
        self.form.generate_requested.connect(self._on_generate)
        self.form.cancel_requested.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        if not extra_installed():
            self._say(
                f"Stable Diffusion needs the optional packages diffusers and transformers. Install them with: {EXTRA_HINT}"
            )
        else:
            self._say(
                "Choose a folder holding a Stable Diffusion model saved by diffusers (model_index.json, unet/, "
                "vae/, text_encoder/, tokenizer/, scheduler/). It is read from disk only; nothing is downloaded."
            )

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_changed.emit(text)

    # --- the folder -----------------------------------------------------------------------------

    @Slot()
    def _on_choose(self) -> None:
        start = self.form.folder_edit.text().strip() or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose a Stable Diffusion folder", start)
        if folder:
            self.load(folder)

    @Slot(str)
    def _on_load_requested(self, folder: str) -> None:
        if not folder:
            self._say("Type or choose the folder of a Stable Diffusion model first.")
            return
        self.load(folder)

    def is_loading(self) -> bool:
        return self._load_job.running

    def load(self, folder: str | Path) -> None:
        """Check and load ``folder`` in the background; ``loaded`` says how it went."""
        if self.is_loading() or self.is_running():
            return
        folder = Path(folder)
        self.form.folder_edit.setText(str(folder))
        self.pipeline = None
        self.form.set_loading(True)
        worker = CallWorker(functools.partial(load_folder, folder))
        worker.result.connect(self._on_loaded)
        worker.errored.connect(self._on_load_error)
        worker.finished.connect(self._on_load_finished)
        self._load_job.start(worker)
        self._say(f"Loading {folder.name}…")

    @Slot(object)
    def _on_loaded(self, pipeline: LoadedPipeline) -> None:
        self.pipeline = pipeline
        self._settings.setValue(FOLDER_KEY, str(pipeline.folder))  # offered again next time
        self.form.set_pipeline(pipeline.image_size, pipeline.size_step, pipeline.default_sampler)
        self._say(f"{pipeline.describe()} Type a prompt and press Generate.")

    @Slot(str)
    def _on_load_error(self, message: str) -> None:
        self._say(message)

    @Slot()
    def _on_load_finished(self) -> None:
        self._load_job.wait(2000)
        self.form.set_loading(False)
        self.form.set_loaded(self.pipeline is not None)
        self.loaded.emit(self.pipeline is not None)

    # --- generating -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    @Slot()
    def _on_generate(self) -> None:
        self.generate()

    def generate(self) -> None:
        """Generate with the form's settings (does nothing without a pipeline or while a run is going)."""
        if self.pipeline is None or self.is_running() or self.is_loading():
            return
        request = self.form.request()
        if request.size % self.pipeline.size_step:
            self._say(f"The image size must be a multiple of {self.pipeline.size_step} pixels for this model.")
            return
        self._frames, self.result = [], None
        self.pictures.clear()
        self.scrubber.setRange(0, 0)
        self.progress.setRange(0, request.steps)
        self.progress.setValue(0)
        threads = default_worker_threads() if self.pipeline.device.type == "cpu" else None
        worker = GenerationWorker(self.pipeline, request, threads)
        worker.frames.connect(self._on_frames)
        worker.result.connect(self._on_result)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._job.start(worker)
        self.form.set_busy(True)
        sampler = SAMPLER_LABELS.get(request.sampler, request.sampler)
        self._say(
            f"Generating {request.images} image(s) of {request.size}×{request.size} with {request.steps} {sampler} steps…"
        )

    @Slot(list)
    def _on_frames(self, frames: list) -> None:
        self._frames.extend(frames)
        if self._frames:
            self.progress.setValue(self._frames[-1].index + 1)
            self.scrubber.setRange(0, len(self._frames) - 1)
            self.scrubber.setValue(len(self._frames) - 1)
            self._on_scrub(self.scrubber.value())

    @Slot(object)
    def _on_result(self, result: SDResult) -> None:
        self.result = result
        self.pictures.show_result(result.images)

    @Slot(int)
    def _on_scrub(self, index: int) -> None:
        if 0 <= index < len(self._frames):
            self.pictures.show_frame(self._frames[index])

    def _step_label(self, index: int) -> str:
        if not 0 <= index < len(self._frames):
            return "step – / t = –"
        frame = self._frames[index]
        return f"step {frame.index + 1} / {frame.num_steps}, t = {frame.t}"

    @Slot()
    def cancel(self) -> None:
        self._job.request_stop()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._say(f"Generation stopped: {message}")

    @Slot()
    def _on_cancelled(self) -> None:
        done = self._frames[-1].index + 1 if self._frames else 0
        self._say(f"Cancelled after step {done}. The steps recorded so far can be scrubbed.")

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        self.form.set_busy(False)
        self.scrubber.setLabelFunction(self._step_label)
        if self.result is not None:
            self._say(
                f"Recorded {len(self._frames)} of {self._frames[-1].num_steps} steps in {self.result.seconds:.1f} s: scrub back to watch the "
                "decoded latent lose its noise while the x̂₀ preview settles on the picture."
            )
        self.run_finished.emit()

    def frames(self) -> list[SDFrame]:
        return list(self._frames)

    def shutdown(self) -> bool:
        """Stop generating (between steps) and wait for the threads."""
        self._job.stop()
        self._load_job.stop()
        return True
