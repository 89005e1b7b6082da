"""The Latent diffusion view: Stable Diffusion's two halves, small enough to watch on a CPU.

- **Autoencoder**: an image (held-out, opened or dropped), its 8×8×4 latent channels, the
  reconstruction, the error map and its numbers, and the scale factor (``views/latent/autoencoder_panel``).
- **Sample in latent space**: the shipped latent model runs deterministic DDIM on 8×8×4 latents
  (``core.diffusion.latent.trace_latent_ddim``) in an ``EventStreamWorker``; every step's latent z_t
  and the decoding of its prediction 𝒟(ẑ₀ / s) are recorded, and the shared timeline scrubber moves
  through them without another network call. The model is loaded with the autoencoder it names by
  content hash (``core.io.latent_checkpoint``); a missing one is explained, not guessed.
"""

from __future__ import annotations

import functools

import torch
from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressBar, QTabWidget, QVBoxLayout, QWidget

from core.diffusion.guidance import ClassifierFreeGuidance
from core.diffusion.latent import LatentSampled, LatentStep, trace_latent_ddim
from core.io import CheckpointError
from core.io.latent_checkpoint import LatentCheckpoint, load_latent_checkpoint
from desktop_app.views.latent.autoencoder_panel import AutoencoderPanel
from desktop_app.views.latent.files import latent_dir, latent_model_files
from desktop_app.views.latent.sample_panel import SAMPLES, LatentSamplePanel
from desktop_app.widgets.timeline_scrubber import TimelineScrubber
from desktop_app.workers import BackgroundJob, EventStreamWorker, default_worker_threads

GUIDANCE_SCALE = 2.0  # classifier-free guidance when a class is chosen (the scale training previews use)


class LatentWorker(EventStreamWorker):
    """Runs the latent DDIM trace; its steps are batched for the GUI."""

    FREQUENT = ("LatentStep",)


def _with_threads(threads: int, make_events):
    """Run ``make_events()`` with torch limited to ``threads`` CPU threads (the GUI keeps a core)."""
    torch.set_num_threads(threads)
    yield from make_events()


class LatentView(QWidget):
    """The autoencoder taken apart, and DDIM in its latent space (module docstring)."""

    title = "Latent diffusion"
    status_changed = Signal(str)
    run_finished = Signal()  # a sampling run ended (completed, cancelled or failed)

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        self._job = BackgroundJob(self)
        self._files = latent_model_files()
        self.latent: LatentCheckpoint | None = None
        self._steps: list[LatentStep] = []
        self.samples = None

        self.autoencoder = AutoencoderPanel()
        self.sampling = LatentSamplePanel()
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
        self.status_label = QLabel("Press Sample to run DDIM in latent space.")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self.autoencoder.status_changed.connect(self.status_changed)
        self.sampling.model_chosen.connect(self._on_model_chosen)
        self.sampling.run_requested.connect(self._on_run)
        self.sampling.cancel_requested.connect(self.cancel)
        self.scrubber.valueChanged.connect(self._on_scrub)
        self.sampling.set_models([path.stem for path in self._files])
        if not self._files:
            self.status_label.setText(
                "No latent model is shipped in resources/models/latent (scripts/train_latent.py)."
            )

    # --- model ----------------------------------------------------------------------------------

    @Slot(int)
    def _on_model_chosen(self, index: int) -> None:
        self.latent = None
        if not 0 <= index < len(self._files):
            return
        try:
            self.latent = load_latent_checkpoint(self._files[index], [latent_dir()])
        except (CheckpointError, OSError) as error:
            self.status_label.setText(str(error))
            return
        names = self.latent.checkpoint.class_names or []
        self.sampling.set_classes(list(names) if self.latent.checkpoint.num_classes else [])
        sha = self.latent.autoencoder_info["weights_sha256"]
        self.status_label.setText(
            f"{self._files[index].stem}: a U-Net on {'×'.join(map(str, self.latent.latent_shape))} latents, decoded by "
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

    def steps(self) -> list[LatentStep]:
        return list(self._steps)

    def shutdown(self) -> bool:
        self._job.stop()
        return True
