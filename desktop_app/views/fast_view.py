"""The Fast sampling view: fewer steps by straighter paths (flow matching, reflow) or by distillation.

On a 2-D toy, the student trains a flow-matching model live (``core.training.flow.train_flow``, a few
seconds), then sees the same noise transported by the shipped diffusion model's probability-flow ODE
(DDIM, drawn in the straight-path coordinates z = x/(α+σ) where DDIM is Euler) and by the
flow-matching ODE: curved paths against straighter ones, with Liu et al. 2023's straightness numbers
and the MMD of both at 1–10 steps. Reflow retrains on the ODE's own (ε, x̂_0) pairs and straightens the
paths further; progressive distillation (Salimans & Ho 2022) halves the shipped model's DDIM steps
round after round, and consistency distillation (Song et al. 2023) trains a one-step student of the same
model. Every method lands on one MMD-against-steps plot. A second tab trains a model with
learned variances (Nichol & Dhariwal 2021) and shows its σ_t, VLB and few-step DDPM beside fixed β̃_t / β_t;
a third shows the shipped few-step Fashion-MNIST student beside its teacher (``StudentPanel``).

Composed of ``desktop_app.views.fast``: ``FastControls``, ``TransportPanel``, ``FewStepQuality``,
``VariancePanel``; the
work runs in ``FastJobWorker`` (a core generator) and ``CallWorker`` (the measurements).
"""

from __future__ import annotations

import functools

from PySide6.QtCore import QSettings, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QSplitter, QTabWidget, QWidget

from core.data import make_toy_2d
from core.evaluation.fast_sampling import compare_transport
from core.io import load_denoiser
from core.runtime.resources import resource_path
from core.training.consistency import ConsistencyConfig, ConsistencyFinished, ConsistencyStep, consistency_distill
from core.training.distillation import (
    DistillConfig,
    DistillFinished,
    DistillRound,
    DistillStarted,
    DistillStep,
    distill,
)
from core.training.flow import FlowConfig, FlowFinished, FlowPreview, FlowStep, reflow, train_flow
from core.training.learned_variance import (
    LearnedVarianceConfig,
    VarianceFinished,
    VarianceStep,
    measure_variances,
    train_learned_variance,
)
from desktop_app.views.fast.controls_panel import TOY_TITLES, FastControls
from desktop_app.views.fast.jobs import COMPARE_POINTS, COMPARE_SEED, FastJobWorker, measure_flow
from desktop_app.views.fast.paths_panel import TransportPanel
from desktop_app.views.fast.quality_panel import FewStepQuality
from desktop_app.views.fast.student_panel import StudentPanel
from desktop_app.views.fast.variance_panel import VariancePanel
from desktop_app.workers import BackgroundJob, CallWorker, default_worker_threads

REFERENCE_POINTS = 2000
REFLOW_PAIRS = 6000


class FastView(QWidget):
    """Flow matching against diffusion on a 2-D toy, reflow, and progressive distillation, live."""

    title = "Fast sampling"
    status_changed = Signal(str)
    measured = Signal(str)  # "compare", "reflow", "distill", "consistency" or "variance": results drawn, job ended

    def __init__(self, settings: QSettings, parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings
        self._diffusion = None  # the shipped checkpoint of the current toy, loaded on first use
        self._flow = None  # the latest flow model (after reflow: the reflowed one)
        self._reflow_round = 0
        self.compare_points = COMPARE_POINTS  # noise draws every comparison shares (MMD and paths)
        self.reflow_pairs = REFLOW_PAIRS  # (ε, x̂_0) pairs one reflow round trains on
        self.variance_options: dict = {}  # keyword arguments of measure_variances (a test makes it smaller)
        self._job = BackgroundJob(self)
        self._job.finished.connect(self._on_job_finished)
        self._next_measurement = None  # (kind, function) to run once the training job's thread ended
        self._measuring = None  # the kind of the CallWorker now running
        self._done = None  # the kind of result drawn by the job now ending (sent with ``measured``)
        self._reference_shown = False
        self._build_ui()
        index = self.controls.dataset_combo.findData(str(settings.value("fast/dataset", "two_moons")))
        if index >= 0:
            self.controls.dataset_combo.setCurrentIndex(index)

    def _build_ui(self) -> None:
        self.controls = FastControls()
        self.transport = TransportPanel()
        self.quality = FewStepQuality()
        self.variance = VariancePanel()
        self.student = StudentPanel()
        self.controls.train_requested.connect(self._on_train)
        self.controls.reflow_requested.connect(self._on_reflow)
        self.controls.distill_requested.connect(self._on_distill)
        self.controls.variance_requested.connect(self._on_variance)
        self.controls.consistency_requested.connect(self._on_consistency)
        self.controls.stop_requested.connect(self._on_stop)
        self.controls.dataset_changed.connect(self._on_dataset_changed)

        scroll = QScrollArea()
        scroll.setWidget(self.controls)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # as wide as the controls need (they never scroll sideways), at most a little more
        scroll.setMinimumWidth(self.controls.minimumSizeHint().width() + 16)
        scroll.setMaximumWidth(max(270, scroll.minimumWidth()))
        self.tabs = QTabWidget()
        self.tabs.addTab(self.transport, "Paths and samples")
        self.tabs.addTab(self.variance, "Learned variance")
        self.tabs.addTab(self.student, "Fashion-MNIST student")
        self.tabs.setTabToolTip(0, "Transport paths of the ODEs, or a distilled student beside its teacher")
        self.tabs.setTabToolTip(1, "Improved DDPM: the learned Σ_θ against fixed β̃_t and β_t")
        self.tabs.setTabToolTip(2, "The shipped few-step distilled student beside its teacher, from the same noise")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.tabs)
        right.addWidget(self.quality)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 2)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(right, 1)

    # --- window contract ----------------------------------------------------------------------

    def on_shown(self) -> None:
        if not self._reference_shown:
            self._show_reference()

    def dataset_name(self) -> str:
        return TOY_TITLES.get(self.controls.dataset(), self.controls.dataset())

    def shutdown(self) -> bool:
        self._next_measurement = None
        self._job.stop()
        self.student.shutdown()
        self.settings.setValue("fast/dataset", self.controls.dataset())
        return True

    def is_busy(self) -> bool:
        return self._job.running

    # --- state --------------------------------------------------------------------------------

    def _show_reference(self) -> None:
        points = make_toy_2d(self.controls.dataset(), REFERENCE_POINTS, seed=1).points.numpy()
        self.transport.set_reference(points)
        self._reference_shown = True

    def _diffusion_model(self):
        if self._diffusion is None:
            self._diffusion = load_denoiser(resource_path("models", f"toy_{self.controls.dataset()}.safetensors"))
        return self._diffusion

    def _set_busy(self, busy: bool) -> None:
        self.controls.set_busy(busy, has_flow=self._flow is not None)

    def _start(self, worker) -> None:
        worker.errored.connect(self._on_error)
        if isinstance(worker, FastJobWorker):
            worker.events.connect(self._on_events)
        else:
            worker.result.connect(self._on_measured)
        self._set_busy(True)
        self._job.start(worker)

    @Slot(str)
    def _on_dataset_changed(self, dataset: str) -> None:
        self._diffusion, self._flow, self._reflow_round = None, None, 0
        self.transport.clear()
        self.quality.clear()
        self.variance.clear()
        self._show_reference()
        self._set_busy(False)
        self.controls.show_status(f"{self.dataset_name()}: train a flow-matching model to compare.")
        self.status_changed.emit(f"Fast sampling · {self.dataset_name()}")

    # --- buttons ------------------------------------------------------------------------------

    def _flow_config(self) -> FlowConfig:
        steps = self.controls.train_steps.value()
        return FlowConfig(
            dataset=self.controls.dataset(),
            steps=steps,
            preview_every=max(25, steps // 5),
            preview_points=500,
            preview_steps=10,
            log_every=max(1, min(20, steps // 20)),
            reflow_pairs=self.reflow_pairs,
            reflow_ode_steps=24,
            threads=default_worker_threads(),
        )

    @Slot()
    def _on_train(self) -> None:
        config = self._flow_config()
        self._reflow_round = 0
        self.quality.clear("flow", "reflow")
        self.tabs.setCurrentWidget(self.transport)
        self.controls.show_status("Training flow matching on straight paths x_t = (1−t)x₀ + tε …")
        self._start(FastJobWorker(functools.partial(train_flow, config)))

    @Slot()
    def _on_reflow(self) -> None:
        if self._flow is None:
            return
        config = self._flow_config()
        round_ = self._reflow_round + 1
        self.controls.show_status(
            f"Reflow round {round_}: sampling (ε, x̂₀) pairs with the ODE, then training on them …"
        )
        self._start(FastJobWorker(functools.partial(reflow, self._flow, config, reflow_round=round_)))

    @Slot()
    def _on_distill(self) -> None:
        ckpt = self._diffusion_model()
        config = DistillConfig(
            dataset=self.controls.dataset(),
            teacher_steps=int(self.controls.teacher_steps.currentData()),
            final_steps=1,
            steps_per_round=self.controls.round_steps.value(),
            eval_points=self.compare_points,
            seed=COMPARE_SEED,
            log_every=max(1, min(25, self.controls.round_steps.value() // 10)),
            threads=default_worker_threads(),
        )
        self.quality.clear("distilled")
        self.tabs.setCurrentWidget(self.transport)
        self.controls.show_status(f"Distilling DDIM-{config.teacher_steps} of the shipped model, round by round …")
        self._start(FastJobWorker(functools.partial(distill, ckpt.model, ckpt.schedule, config)))

    @Slot()
    def _on_consistency(self) -> None:
        ckpt = self._diffusion_model()
        steps = self.controls.consistency_steps.value()
        config = ConsistencyConfig(
            dataset=self.controls.dataset(), steps=steps, eval_points=self.compare_points, seed=COMPARE_SEED,
            log_every=max(1, min(25, steps // 10)), threads=default_worker_threads(),
        )  # fmt: skip
        self.quality.clear("consistency")
        self.tabs.setCurrentWidget(self.transport)
        self.controls.show_status(
            "Consistency distillation: every point of the teacher's ODE path should map to its end …"
        )
        self._start(FastJobWorker(functools.partial(consistency_distill, ckpt.model, ckpt.schedule, config)))

    @Slot()
    def _on_variance(self) -> None:
        steps = self.controls.variance_steps.value()
        config = LearnedVarianceConfig(
            dataset=self.controls.dataset(),
            steps=steps,
            log_every=max(1, min(25, steps // 20)),
            threads=default_worker_threads(),
        )
        self.variance.clear()
        self.tabs.setCurrentWidget(self.variance)
        self.controls.show_status("Training ε and the variance v with L_hybrid = L_simple + 0.001·L_vlb …")
        self._start(FastJobWorker(functools.partial(train_learned_variance, config)))

    @Slot()
    def _on_stop(self) -> None:
        self._next_measurement = None
        self._job.request_stop()
        self.controls.show_status("Stopping after the current step …")

    # --- results ------------------------------------------------------------------------------

    @Slot(list)
    def _on_events(self, events: list) -> None:
        for event in events:
            if isinstance(event, FlowStep):
                self.controls.show_progress(
                    event.step, event.total_steps, f"step {event.step}/{event.total_steps} · loss {event.loss:.3f}"
                )
            elif isinstance(event, FlowPreview):
                self.transport.show_flow_preview(event.points)
            elif isinstance(event, FlowFinished):
                self._on_flow_finished(event)
            elif isinstance(event, ConsistencyStep):
                self.controls.show_progress(
                    event.step, event.total_steps, f"step {event.step}/{event.total_steps} · loss {event.loss:.3g}"
                )
            elif isinstance(event, ConsistencyFinished):
                self._on_consistency_finished(event)
            elif isinstance(event, VarianceStep):
                self.controls.show_progress(
                    event.step, event.total_steps, f"step {event.step}/{event.total_steps} · L_hybrid {event.loss:.3f}"
                )
            elif isinstance(event, VarianceFinished):
                self._on_variance_finished(event)
            elif isinstance(event, DistillStarted):
                self.controls.show_progress(0, len(event.rounds), f"teacher scored at {event.teacher_steps} steps")
            elif isinstance(event, DistillStep):
                self.controls.show_progress(
                    event.step, event.total_steps, f"round {event.round} · step {event.step} · loss {event.loss:.3g}"
                )
            elif isinstance(event, DistillRound):
                self.quality.add_point("distilled", event.student_steps, event.student_mmd)
                self.transport.show_teacher_and_student(event)
                self.controls.show_status(
                    f"Round {event.round}: the {event.student_steps}-step student scores MMD² {event.student_mmd:.4f}; "
                    f"the teacher's DDIM-{event.student_steps} scores {event.teacher_mmd:.4f}."
                )
            elif isinstance(event, DistillFinished):
                self.controls.show_progress(1, 1, "distillation " + event.reason)
                self._done = "distill"

    def _on_consistency_finished(self, event: ConsistencyFinished) -> None:
        self.controls.show_progress(1, 1, "consistency distillation " + event.reason)
        if event.reason != "completed":
            self.controls.show_status("Stopped; the student was not kept.")
            return
        self.quality.set_series("consistency", event.nfe, event.student_mmd)
        n = event.nfe[0]
        self.transport.show_student(
            n, event.teacher_points, event.teacher_mmd[0], event.student_points, event.student_mmd[0],
            "Consistency model",
        )  # fmt: skip
        self.controls.show_status(
            f"Consistency model: MMD² {event.student_mmd[0]:.4f} in {n} step{'s' if n > 1 else ''}, the teacher's "
            f"DDIM-{n} {event.teacher_mmd[0]:.4f}; at {event.nfe[-1]} steps {event.student_mmd[-1]:.4f}."
        )
        self._done = "consistency"

    def _on_variance_finished(self, event: VarianceFinished) -> None:
        if event.reason != "completed":
            self.controls.show_status("Stopped; the model was not kept. Train again to compare variances.")
            return
        measure = functools.partial(
            measure_variances, event.model, event.schedule, event.dataset, sample_points=self.compare_points,
            **self.variance_options,
        )  # fmt: skip
        self._next_measurement = ("variance", measure)
        self.controls.show_status(
            "Measuring σ_t, the VLB and DDPM at 5–100 steps with each variance (about half a minute) …"
        )

    def _on_flow_finished(self, event: FlowFinished) -> None:
        if event.reason != "completed":
            self.controls.show_status("Stopped; the model was not kept. Train again to compare.")
            return
        self._flow, self._reflow_round = event.model, event.reflow_round
        dataset = self.controls.dataset()
        if event.reflow_round == 0:
            ckpt = self._diffusion_model()
            compare = functools.partial(
                compare_transport, ckpt.model, ckpt.schedule, event.model, dataset, num_points=self.compare_points,
                seed=COMPARE_SEED,
            )  # fmt: skip
            self._next_measurement = ("compare", compare)
        else:
            self._next_measurement = (
                "reflow",
                functools.partial(measure_flow, event.model, dataset, self.compare_points),
            )
        self.controls.show_status("Measuring paths and quality at 1–10 steps …")

    @Slot()
    def _on_job_finished(self) -> None:
        if self._next_measurement is not None:
            kind, function = self._next_measurement
            self._next_measurement, self._measuring = None, kind
            self._start(CallWorker(function))
            return
        self._set_busy(False)
        done, self._done = self._done, None
        if done is not None:
            self.measured.emit(done)

    @Slot(object)
    def _on_measured(self, result) -> None:
        if self._measuring == "compare":
            self.transport.show_diffusion(result.diffusion)
            self.transport.show_flow(result.flow, "Flow matching (Euler)")
            self.quality.set_series("diffusion", result.steps, result.diffusion_mmd)
            self.quality.set_series("flow", result.steps, result.flow_mmd)
            self.controls.show_status(
                f"1 step: diffusion MMD² {result.diffusion_mmd[0]:.3f}, flow {result.flow_mmd[0]:.3f}; "
                f"10 steps: {result.diffusion_mmd[-1]:.4f} and {result.flow_mmd[-1]:.4f}. Try Reflow."
            )
        elif self._measuring == "reflow":
            self.transport.show_flow(result.paths, f"Reflow ×{self._reflow_round} (Euler)")
            self.quality.set_series("reflow", result.steps, result.mmd)
            self.controls.show_status(
                f"After reflow: straightness {result.paths.straightness.curvature:.4f}; "
                f"1-step MMD² {result.mmd[0]:.4f}."
            )
        elif self._measuring == "variance":
            self.variance.show_comparison(result)
            i = result.steps.index(min(result.steps))
            mmd = {k: v[i] for k, v in result.mmd.items()}
            self.controls.show_status(
                f"DDPM-{result.steps[i]}: MMD² {mmd['learned']:.4f} with Σ_θ, {mmd['posterior']:.4f} with β̃_t, "
                f"{mmd['beta']:.4f} with β_t. VLB {result.vlb_bits_per_dim['learned']:.3f} bits/dim with Σ_θ."
            )
        self._done, self._measuring = self._measuring, None

    @Slot(str)
    def _on_error(self, message: str) -> None:
        self._next_measurement = None
        self.controls.show_status(f"Could not finish: {message}")
