"""The Latent diffusion view: Stable Diffusion's two halves, small enough to watch on a CPU.

- **Autoencoder**: an image (held-out, opened or dropped), its 8×8×4 latent channels, the
  reconstruction, the error map and its numbers, and the scale factor (``views/latent/autoencoder_panel``).
- **Sample in latent space**: the shipped latent model runs deterministic DDIM on 8×8×4 latents
  (``core.diffusion.latent.trace_latent_ddim``) in an ``EventStreamWorker``; every step's latent z_t
  and the decoding of its prediction 𝒟(ẑ₀ / s) are recorded, and the shared timeline scrubber moves
  through them without another network call. The model is loaded with the autoencoder it names by
  content hash (``core.io.latent_checkpoint``); a missing one is explained, not guessed.
- **Train live**: the project's training loop on the shipped shapes autoencoder's latents
  (``core.training.latent.train_latent``) in the Train view's ``TrainingWorker``; the loss curve and
  decoded previews update as it learns, and the finished model joins the Sample tab's list.
- **Text to image**: a caption typed in the model's words, guided DDIM on latents with every step's
  x̂₀ and per-word cross-attention maps recorded and scrubbed (``views/latent/text_panel``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QTabWidget, QVBoxLayout, QWidget

from core.diffusion.guidance import ClassifierFreeGuidance
from core.diffusion.latent import LatentSampled, LatentStep, trace_latent_ddim
from core.io import Checkpoint, CheckpointError
from core.io.autoencoder_file import load_autoencoder
from core.io.latent_checkpoint import LatentCheckpoint, load_latent_checkpoint
from core.training import TrainConfig
from core.training.events import Finished
from core.training.latent import train_latent
from desktop_app.lessons import view_hooks
from desktop_app.views.latent.autoencoder_panel import AutoencoderPanel
from desktop_app.views.latent.files import latent_dir, latent_model_files
from desktop_app.views.latent.sample_panel import SAMPLES, LatentSamplePanel
from desktop_app.views.latent.text_panel import TextToImagePanel
from desktop_app.views.latent.train_panel import LatentTrainPanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads
from desktop_app.workers.training import TrainingWorker

GUIDANCE_SCALE = 2.0  # classifier-free guidance when a class is chosen (the scale training previews use)
LIVE_SHAPES = 5000  # shapes encoded for live training (the shipped model saw 20,000)


class LatentWorker(EventStreamWorker):
    """Runs the latent DDIM trace; its steps are batched for the GUI."""

    FREQUENT = ("LatentStep",)


def _train_on_latents(autoencoder_path: Path, config, control, *, resume_from=None, checkpoint_dir=None):
    """``train``'s signature for ``TrainingWorker``, training on ``autoencoder_path``'s latents."""
    return train_latent(config, autoencoder_path, control, checkpoint_dir=checkpoint_dir)


def _with_threads(threads: int, make_events):
    """Run ``make_events()`` with torch limited to ``threads`` CPU threads (the GUI keeps a core)."""
    torch.set_num_threads(threads)
    yield from make_events()


class LatentView(QWidget):
    """The autoencoder taken apart, and DDIM in its latent space (module docstring)."""

    title = "Latent diffusion"
    status_changed = Signal(str)
    values_changed = Signal()  # lesson_values() changed (the lesson panel re-renders)
    run_finished = Signal()  # a sampling run ended (completed, cancelled or failed)
    training_finished = Signal()  # a live training run ended

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)
        self._train_job = BackgroundJob(self)
        self._trainer: TrainingWorker | None = None
        self._models: list[Path | LatentCheckpoint] = list(latent_model_files())
        self.latent: LatentCheckpoint | None = None
        self._steps: list[LatentStep] = []
        self.samples = None

        self.autoencoder = AutoencoderPanel()
        self.sampling = LatentSamplePanel()
        self.training = LatentTrainPanel()
        self.text = TextToImagePanel()
        self.scrubber = TimelineScrubber()
        self.scrubber.setReversed(False)
        self.scrubber.setLabelFunction(self._step_label)
        self.scrubber.setToolTip("Move through the recorded steps: the latent z_t and its decoded prediction")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setToolTip("Steps sampled so far")
        sample_page = QWidget()
        column = QVBoxLayout(sample_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.sampling, 1)
        column.addWidget(self.scrubber)
        column.addWidget(self.progress)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.autoencoder, "Autoencoder")
        self.tabs.setTabToolTip(0, "An image, its latent, its reconstruction and the error")
        self.tabs.addTab(sample_page, "Sample in latent space")
        self.tabs.setTabToolTip(1, "DDIM on 8×8×4 latents, each step decoded to pixels")
        self.tabs.addTab(self.training, "Train live")
        self.tabs.setTabToolTip(2, "Train a U-Net on the shapes' latents with the project's training loop")
        self.tabs.addTab(self.text, "Text to image")
        self.tabs.setTabToolTip(3, "Type a caption, generate, and see which words each region attends to")
        self.status_label = QLabel("Press Sample to run DDIM in latent space.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self.autoencoder.status_changed.connect(self.status_changed)
        self.text.status_changed.connect(self.status_changed)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        view_hooks.watch_latent(self)
        self.sampling.model_chosen.connect(self._on_model_chosen)
        self.sampling.run_requested.connect(self._on_run)
        self.sampling.cancel_requested.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.training.start_requested.connect(self._on_train_start)
        self.training.stop_requested.connect(self._on_train_stop)
        self.sampling.set_models([path.stem for path in self._models])
        if not self._models:
            self.status_label.setText(
                "No latent model is shipped in resources/models/latent (scripts/train_latent.py)."
            )

    @Slot(int)
    def _on_tab_changed(self, _index: int) -> None:
        # The Text to image tab says everything under its own prompt; the label below is the sampler's.
        self.status_label.setVisible(self.tabs.currentWidget() is not self.text)

    # --- model ----------------------------------------------------------------------------------

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        self.latent = None
        if not 0 <= index < len(self._models):
            return
        source = self._models[index]
        try:
            self.latent = (
                source if isinstance(source, LatentCheckpoint) else load_latent_checkpoint(source, [latent_dir()])
            )
        except (CheckpointError, OSError) as error:
            self.status_label.setText(str(error))
            return
        names = self.latent.checkpoint.class_names or []
        self.sampling.set_classes(list(names) if self.latent.checkpoint.num_classes else [])
        sha = self.latent.autoencoder_info["weights_sha256"]
        self.status_label.setText(
            f"{self.sampling.model_combo.itemText(index)}: a U-Net on {'×'.join(map(str, self.latent.latent_shape))} latents, decoded by "
            f"{self.latent.autoencoder_path.name} (content hash {sha[:12]}…, scale factor "
            f"{float(self.latent.autoencoder.scale_factor):.4f}). Press Sample."
        )

    # --- running --------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._job.running

    @Slot()
    def _on_run(self) -> None:
        self.run()

    def run(self) -> None:
        """Sample with the form's settings, recording every step (does nothing while a run is going)."""
        if self.is_running() or self.latent is None:
            return
        form = self.sampling.settings()
        checkpoint = self.latent.checkpoint
        model, cond = checkpoint.model, None
        if checkpoint.num_classes:
            label = checkpoint.num_classes if form.class_index is None else form.class_index
            cond = {"class_labels": torch.full((SAMPLES,), label, dtype=torch.long)}
            if form.class_index is not None:
                model = ClassifierFreeGuidance(model, GUIDANCE_SCALE)
        z_T = torch.randn((SAMPLES, *self.latent.latent_shape), generator=torch.Generator().manual_seed(form.seed))
        make = functools.partial(trace_latent_ddim, model, self.latent.autoencoder.decode_scaled, z_T,
                                 checkpoint.schedule, form.steps, cond=cond)  # fmt: skip
        self._steps, self.samples = [], None
        self.sampling.clear()
        self.scrubber.setRange(0, 0)
        self.progress.setRange(0, form.steps)
        self.progress.setValue(0)
        worker = LatentWorker(functools.partial(_with_threads, default_worker_threads(), make))
        worker.events.connect(self._on_events)
        worker.errored.connect(self._on_error)
        worker.cancelled.connect(self._on_cancelled)
        worker.finished.connect(self._on_finished)
        self._job.start(worker)
        self.sampling.set_busy(True)
        self.status_label.setText(f"Sampling {SAMPLES} latents with {form.steps} DDIM steps…")

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, LatentStep):
                self._steps.append(event)
            elif isinstance(event, LatentSampled):
                self.samples = event.images.numpy()
                self.sampling.show_samples(self.samples)
        if self._steps:
            self.progress.setValue(len(self._steps))
            self.scrubber.setRange(0, len(self._steps) - 1)
            self.scrubber.setValue(len(self._steps) - 1)
            self._on_scrub(self.scrubber.value())

    @Slot(int)
    def _on_scrub(self, index: int) -> None:
        if 0 <= index < len(self._steps):
            self.sampling.show_step(self._steps[index])

    def _step_label(self, index: int) -> str:
        if not 0 <= index < len(self._steps):
            return "step – / t = –"
        step = self._steps[index]
        return f"step {index + 1} / {step.num_steps}, t = {step.t}"

    @Slot()
    def cancel(self) -> None:
        self._job.request_stop()

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self.status_label.setText(f"Sampling stopped: {message}")

    @Slot()
    def _on_cancelled(self) -> None:
        self.status_label.setText("Cancelled. The steps recorded so far can be scrubbed.")

    @Slot()
    def _on_finished(self) -> None:
        self._job.wait(2000)
        self.sampling.set_busy(False)
        self.scrubber.setLabelFunction(self._step_label)
        if self.samples is not None:
            self.status_label.setText(
                f"Recorded {len(self._steps)} steps: scrub them to watch the 8×8×4 latent sharpen and its decoding "
                "turn from a blur into a shape."
            )
        self.run_finished.emit()

    # --- live training --------------------------------------------------------------------------

    def training_running(self) -> bool:
        return self._train_job.running

    @Slot()
    def _on_train_start(self) -> None:
        self.start_training()

    def start_training(self, steps: int | None = None) -> None:
        """Train a latent model on the shipped shapes autoencoder with the form's settings."""
        if self.training_running():
            return
        path = latent_dir() / "shapes_autoencoder.safetensors"
        if not path.is_file():
            self.training.progress_label.setText(f"Live training needs the shapes autoencoder ({path}).")
            return
        steps = steps or self.training.steps_spin.value()
        config = TrainConfig(dataset="shapes", dataset_options={"n": LIVE_SHAPES}, model="small", steps=steps,
                             batch_size=self.training.batch_spin.value(), warmup_steps=min(100, steps // 5),
                             preview_every=max(25, steps // 4), preview_count=4, log_every=1)  # fmt: skip
        worker = TrainingWorker(config, train_function=functools.partial(_train_on_latents, path))
        worker.events.connect(self._on_train_events)
        worker.errored.connect(self._on_train_error)
        worker.finished.connect(self._on_train_finished)
        self._trainer = self._train_job.start(worker)
        self.training.set_busy(True)
        self.training.progress_label.setText(f"Encoding {LIVE_SHAPES:,} shapes with the autoencoder…")

    @Slot()
    def _on_train_stop(self) -> None:
        if self._trainer is not None:
            self._trainer.stop()

    @Slot(list)
    def _on_train_events(self, events: list) -> None:
        self.training.show_events(events)
        for event in events:
            if isinstance(event, Finished):
                self._add_trained(event)

    def _add_trained(self, event: Finished) -> None:
        ae_path = latent_dir() / "shapes_autoencoder.safetensors"
        try:
            autoencoder, info = load_autoencoder(ae_path)
        except (CheckpointError, OSError) as error:
            self.training.progress_label.setText(str(error))
            return
        checkpoint = Checkpoint(event.model, event.schedule, dict(event.metadata), None, Path("trained here"))
        self._models.append(LatentCheckpoint(checkpoint, autoencoder, info, ae_path))
        self.sampling.model_combo.addItem(f"trained here (step {event.step})")
        self.sampling.run_button.setEnabled(True)

    @Slot(str)
    def _on_train_error(self, message: str) -> None:
        self.training.progress_label.setText(f"Training stopped: {message}")

    @Slot()
    def _on_train_finished(self) -> None:
        self._train_job.wait(2000)
        self.training.set_busy(False)
        self.training_finished.emit()

    def steps(self) -> list[LatentStep]:
        return list(self._steps)

    def lesson_values(self) -> dict:
        """The live values a lesson may show (names and meanings: desktop_app/lessons/vocabulary.py)."""
        return view_hooks.latent_values(self)

    def apply_lesson_state(self, state: dict) -> None:
        """Show what a lesson step names (tab, prompt, guidance_scale, steps)."""
        view_hooks.apply_latent_state(self, state)

    def shutdown(self) -> bool:
        """Stop sampling and training (both stop between steps) and wait for their threads."""
        if self._trainer is not None and self.training_running():
            self._trainer.discard()
        self._train_job.stop()
        self._job.stop()
        self.text.shutdown()
        return True
