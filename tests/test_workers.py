"""Workers and trajectory recording: signals, throttling, cancel, errors, memory budget.

The sampling tests use core's exact ``IdealDenoiser`` (no training needed), so every number the
worker produces can be checked against a direct call of the same sampler.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from core.diffusion import IdealDenoiser, SamplingCancelled, TrajectoryRecorder, get_sampler, make_schedule

torch.set_num_threads(1)


@pytest.fixture
def schedule():
    return make_schedule("linear", 100)


@pytest.fixture
def image_model(schedule):
    data = torch.linspace(-1, 1, 3 * 1 * 4 * 4).reshape(3, 1, 4, 4)
    return IdealDenoiser(data, schedule)


def _noise(shape, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


# --- TrajectoryRecorder (no Qt) ---------------------------------------------------------------


def test_recorder_keeps_every_step_and_matches_the_sampler(schedule, image_model):
    seen = []

    def reference(step):
        seen.append((step.t, step.x_t[:2].clone(), step.pred_x0[:2].clone(), step.pred_eps[:2].clone()))

    x_T = _noise((5, 1, 4, 4))
    expected = get_sampler("ddim")(image_model, x_T, schedule, 20, callback=reference)
    recorder = TrajectoryRecorder(max_samples=2)
    result = get_sampler("ddim")(image_model, x_T, schedule, 20, callback=recorder)
    torch.testing.assert_close(result, expected)
    assert len(recorder) == 21  # 20 steps + the final sample
    assert recorder.stride == 1 and not recorder.subsampled
    assert recorder.samples_kept == 2
    np.testing.assert_array_equal(recorder.timesteps[:-1], [s[0] for s in seen])
    assert recorder.timesteps[-1] == -1
    for position in (0, 7, 19):
        frame = recorder.frame(position)
        t, x_t, x0, eps = seen[position]
        assert frame.t == t and frame.x_t.shape == (2, 1, 4, 4)
        np.testing.assert_allclose(frame.x_t, x_t.numpy(), atol=4e-3)  # float16 storage
        np.testing.assert_allclose(frame.pred_x0, x0.numpy(), atol=4e-3)
        np.testing.assert_allclose(frame.pred_eps, eps.numpy(), atol=1e-2)
    final = recorder.frame(20)
    assert final.t == -1 and final.pred_eps is None
    np.testing.assert_allclose(final.x_t, result[:2].numpy(), atol=4e-3)


def test_recorder_subsamples_steps_to_stay_within_its_budget(schedule, image_model):
    # 4 samples × 16 values × 2 bytes × 3 arrays = 384 bytes per step; 8 KiB hold about 21 steps of 100.
    budget = 8 * 1024
    recorder = TrajectoryRecorder(max_samples=4, budget_bytes=budget)
    get_sampler("ddpm")(
        image_model, _noise((4, 1, 4, 4)), schedule, 100, callback=recorder, generator=torch.Generator().manual_seed(1)
    )
    assert recorder.subsampled and recorder.stride > 1
    assert recorder.nbytes <= budget
    steps_kept = [recorder.frame(p).step_index for p in range(len(recorder) - 1)]
    assert steps_kept[0] == 0 and steps_kept[-1] == 99  # first and last step always kept
    assert np.all(np.diff(steps_kept) <= recorder.stride)
    assert recorder.timesteps[0] == 99 and recorder.timesteps[-1] == -1
    assert "every" in recorder.describe()


def test_a_thousand_step_ddpm_run_of_16_images_fits_in_the_default_budget():
    recorder = TrajectoryRecorder()
    schedule = make_schedule("linear", 1000)
    model = IdealDenoiser(torch.zeros(1, 1, 32, 32), schedule)
    get_sampler("ddpm")(
        model, _noise((20, 1, 32, 32)), schedule, 1000, callback=recorder, generator=torch.Generator().manual_seed(0)
    )
    assert len(recorder) == 1001 and recorder.stride == 1
    assert recorder.samples_kept == 16  # only the images the timeline shows
    assert recorder.nbytes <= 256 * 2**20
    assert recorder.nbytes == 3 * 1000 * 16 * 1024 * 2 + 16 * 1024 * 2


def test_recorder_cancel_stops_the_sampler(schedule, image_model):
    recorder = TrajectoryRecorder()

    def cancel_at_five(step):
        if step.index == 4:
            recorder.cancel()
        return recorder(step)

    with pytest.raises(SamplingCancelled):
        get_sampler("ddim")(image_model, _noise((2, 1, 4, 4)), schedule, 50, callback=cancel_at_five)
    assert recorder.steps_seen == 5 and len(recorder) == 5 and not recorder.complete


def test_recorder_rejects_nonsense_settings():
    with pytest.raises(ValueError, match="at least 1"):
        TrajectoryRecorder(max_samples=0)
    with pytest.raises(ValueError, match="budget"):
        TrajectoryRecorder(budget_bytes=10)


# --- Qt workers ------------------------------------------------------------------------------

from desktop_app.workers import (  # noqa: E402 - after the Qt-free tests on purpose
    UPDATE_INTERVAL_S,
    CallWorker,
    SamplingJob,
    SamplingWorker,
    TrainingWorker,
    readable_error,
    start_worker,
    stop_thread,
)


def test_sampling_worker_runs_two_samplers_from_the_same_noise(qtbot, schedule, image_model):
    x_T = _noise((6, 1, 4, 4), seed=3)
    jobs = [SamplingJob("ddpm", 100), SamplingJob("ddim", 10, {"eta": 0.0})]
    worker = SamplingWorker(image_model, schedule, x_T, jobs, seed=5)
    results = []
    worker.result.connect(results.append)
    with qtbot.waitSignal(worker.finished, timeout=20_000):
        thread = start_worker(worker)
    assert thread.wait(5000) and not thread.isRunning()
    assert [r.evaluations for r in results] == [100, 10]
    assert [len(r.trajectory) for r in results] == [101, 11]
    # DDIM with η = 0 is deterministic: the worker's result equals a direct call from the same x_T.
    direct = get_sampler("ddim")(image_model, x_T, schedule, 10, eta=0.0)
    np.testing.assert_allclose(results[1].samples, direct.numpy(), atol=1e-6)
    # Both runs started from the same x_T.
    np.testing.assert_allclose(results[0].trajectory.frame(0).x_t, results[1].trajectory.frame(0).x_t)
    assert all(r.seconds > 0 for r in results)


class _SlowModel(torch.nn.Module):
    """An ideal denoiser that also waits a little per call, so a run lasts long enough to be cancelled."""

    prediction_type = "x0"
    num_classes = 0

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.calls = 0
        self._pause = threading.Event()

    def forward(self, x, t, class_labels=None):
        self.calls += 1
        self._pause.wait(0.005)
        return self.model(x, t)


def test_sampling_worker_cancel_stops_within_a_step(qtbot, image_model):
    schedule = make_schedule("linear", 1000)
    model = _SlowModel(IdealDenoiser(torch.zeros(2, 1, 4, 4), schedule))
    worker = SamplingWorker(model, schedule, _noise((2, 1, 4, 4)), [SamplingJob("ddpm", 1000)])
    with qtbot.waitSignal(worker.progress, timeout=10_000):
        thread = start_worker(worker)
    with qtbot.waitSignals([worker.cancelled, worker.finished], timeout=10_000):
        worker.cancel()
    assert thread.wait(5000)
    assert worker.results == []
    assert 0 < worker.recorders[0].steps_seen < 1000
    assert model.calls == worker.recorders[0].steps_seen  # the sampler stopped right after the cancel


def test_sampling_worker_reports_errors_as_sentences(qtbot, schedule):
    class Broken(torch.nn.Module):
        prediction_type = "eps"
        num_classes = 0

        def forward(self, x, t, class_labels=None):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    worker = SamplingWorker(Broken(), schedule, _noise((2, 2)), [SamplingJob("ddim", 5)])
    messages = []
    worker.errored.connect(messages.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        thread = start_worker(worker)
    thread.wait(5000)
    assert len(messages) == 1 and "ran out of memory" in messages[0] and "smaller batch" in messages[0]


class _Step:
    def __init__(self, step):
        self.step = step


class StepEvent(_Step):
    pass


class Finished(_Step):
    pass


class _FakeControl:
    """Records the flag calls; train() would read them between steps."""

    def __init__(self):
        self.paused = False
        self.stopped = False
        self.saves = []

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def stop(self):
        self.stopped = True

    def request_save(self, path):
        self.saves.append(str(path))


def test_training_worker_batches_every_event_and_honours_stop(qtbot):
    cleaned_up = threading.Event()

    def fake_train(config, control, resume_from=None, checkpoint_dir=None):
        try:
            step = 0
            while not control.stopped and step < 1_000_000:
                step += 1
                yield StepEvent(step)
            yield Finished(step)
        finally:
            cleaned_up.set()

    control = _FakeControl()
    worker = TrainingWorker(None, train_function=fake_train, control=control)
    batches = []
    worker.events.connect(batches.append)
    thread = start_worker(worker)
    qtbot.waitUntil(lambda: len(batches) >= 3, timeout=10_000)
    worker.pause()
    assert control.paused
    worker.resume()
    assert not control.paused
    worker.request_save("/tmp/x.safetensors")
    assert control.saves == ["/tmp/x.safetensors"]
    assert stop_thread(thread, worker, timeout_ms=10_000)
    assert not thread.isRunning() and worker.done and cleaned_up.is_set()
    qtbot.waitUntil(lambda: batches and type(batches[-1][-1]).__name__ == "Finished", timeout=5000)
    steps = [e.step for batch in batches for e in batch if isinstance(e, StepEvent)]
    assert steps == list(range(1, len(steps) + 1))  # none lost, none reordered
    assert len(batches) < len(steps)  # batched, not one signal per step
    assert worker.finished_event is not None and worker.finished_event.step == steps[-1]


def test_training_worker_discard_closes_the_generator_without_the_final_event(qtbot):
    def fake_train(config, control, resume_from=None, checkpoint_dir=None):
        step = 0
        while not control.stopped:
            step += 1
            yield StepEvent(step)
        yield Finished(step)  # "the final save" that Discard must skip

    worker = TrainingWorker(None, train_function=fake_train, control=_FakeControl())
    batches = []
    worker.events.connect(batches.append)
    thread = start_worker(worker)
    qtbot.waitUntil(lambda: len(batches) >= 1, timeout=10_000)
    worker.discard()
    assert stop_thread(thread, worker, timeout_ms=10_000)
    qtbot.wait(50)
    assert all(not isinstance(e, Finished) for batch in batches for e in batch)
    assert worker.finished_event is None


def test_training_worker_turns_a_diverged_run_into_a_message(qtbot):
    from core.training import TrainingDiverged

    def fake_train(config, control, resume_from=None, checkpoint_dir=None):
        yield StepEvent(1)
        raise TrainingDiverged("The loss became nan at step 2, so training stopped. Try a smaller learning rate.")

    worker = TrainingWorker(None, train_function=fake_train, control=_FakeControl())
    messages = []
    worker.errored.connect(messages.append)
    with qtbot.waitSignal(worker.finished, timeout=10_000):
        thread = start_worker(worker)
    thread.wait(5000)
    assert messages == ["The loss became nan at step 2, so training stopped. Try a smaller learning rate."]


def test_call_worker_returns_the_value(qtbot):
    worker = CallWorker(lambda: 6 * 7)
    with qtbot.waitSignal(worker.result, timeout=5000) as blocker:
        thread = start_worker(worker)
    assert blocker.args == [42]
    assert stop_thread(thread, worker, 5000)


def test_readable_error_messages():
    assert "ran out of memory" in readable_error(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert readable_error(ValueError("The batch size must be positive.")) == "The batch size must be positive."
    assert readable_error(KeyError("x")).startswith("KeyError")
    assert UPDATE_INTERVAL_S <= 1 / 30 + 1e-9


def test_python_garbage_is_collected_on_the_gui_thread_while_workers_run(qtbot):
    import gc
    import sys

    assert gc.isenabled()
    switch_interval = sys.getswitchinterval()
    release = threading.Event()
    worker = CallWorker(lambda: release.wait(30))
    thread = start_worker(worker)
    assert not gc.isenabled()  # a worker thread must not run the collector (it would delete GUI objects)
    assert sys.getswitchinterval() <= 0.0005  # the GUI thread gets the GIL back quickly
    release.set()
    assert stop_thread(thread, worker, 10_000)
    qtbot.waitUntil(gc.isenabled, timeout=5000)  # restored once the last worker thread has finished
    assert sys.getswitchinterval() == switch_interval


def test_a_job_started_right_after_the_last_one_is_not_released_by_its_late_signal(qtbot):
    """A view that waits for its job in a finished-slot and starts the next at once must keep it."""
    from PySide6.QtCore import QCoreApplication

    from desktop_app.workers import BackgroundJob

    job = BackgroundJob()
    first = CallWorker(lambda: 1)
    job.start(first)
    first_thread = job.thread  # kept alive, so its queued 'finished' is surely delivered late
    assert first_thread.wait(5000)  # ended; no event processed yet, so its 'finished' is still queued
    assert job.wait(5000) and not job.running
    gate = threading.Event()
    second = CallWorker(gate.wait)
    job.start(second)
    second_thread = job.thread  # (held here too, so a wrong release fails this test instead of aborting Qt)
    try:
        QCoreApplication.processEvents()  # delivers the first thread's late signal
        assert job.running and job.worker is second and job.thread is second_thread
    finally:
        gate.set()
        second_thread.wait(5000)
    assert first_thread.isFinished()
