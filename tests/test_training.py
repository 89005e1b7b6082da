"""The training loop: events, learning, pause/stop, save/resume identity, divergence."""

import dataclasses

import pytest
import torch

from core.data import make_toy_2d
from core.diffusion import sample_ddim
from core.io import load_checkpoint
from core.training import (
    CheckpointSaved,
    Finished,
    Paused,
    Preview,
    Resumed,
    Started,
    StepEvent,
    TimestepLosses,
    TrainConfig,
    TrainingControl,
    TrainingDiverged,
    train,
)
from core.training import loop as training  # the module whose q_sample the divergence test poisons


def _mmd(x, y, bandwidths=(0.1, 0.3, 1.0)):
    """Biased RBF-kernel MMD² between two point clouds (enough to compare trained vs untrained)."""
    xy = torch.cat([x, y])
    d2 = torch.cdist(xy, xy).pow(2)
    k = sum(torch.exp(-d2 / (2 * b * b)) for b in bandwidths)
    n = len(x)
    return float(k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean())


def _run(config, **kwargs):
    return list(train(config, **kwargs))


def test_swiss_roll_learns_the_data():
    config = TrainConfig(
        dataset="toy:swiss_roll", steps=1500, batch_size=256, learning_rate=2e-3, preview_every=0, log_every=100
    )
    events = _run(config)
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    model, schedule = events[-1].model, events[-1].schedule
    g = torch.Generator().manual_seed(0)
    samples = sample_ddim(model, torch.randn(1000, 2, generator=g), schedule, 50)
    truth = make_toy_2d("swiss_roll", 1000, seed=123).points
    untrained = training.build_denoiser(training.model_config_for(config, make_toy_2d("swiss_roll", 10)))
    noise_samples = sample_ddim(untrained, torch.randn(1000, 2, generator=g), schedule, 50)
    trained_mmd, untrained_mmd = _mmd(samples, truth), _mmd(noise_samples, truth)
    assert trained_mmd < 0.2 * untrained_mmd, (trained_mmd, untrained_mmd)


def _tiny_fmnist(tmp_path, **overrides):
    base = dict(
        dataset="fashion_mnist",
        dataset_options={"limit": 512},
        model="tiny",
        batch_size=16,
        steps=8,
        preview_every=4,
        preview_count=4,
        preview_steps=2,
        log_every=1,
        seed=3,
        checkpoint_path=str(tmp_path / "run.safetensors"),
        warmup_steps=2,
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_fashion_mnist_events_save_and_resume_identically(tmp_path):
    straight = _run(_tiny_fmnist(tmp_path / "a"))
    kinds = {type(e) for e in straight}
    assert {Started, StepEvent, TimestepLosses, Preview, CheckpointSaved, Finished} <= kinds
    preview = next(e for e in straight if isinstance(e, Preview))
    assert preview.images.shape == (4, 1, 32, 32) and list(preview.labels) == [0, 1, 2, 3]

    # Stop half way, then resume from the saved training state.
    control = TrainingControl()
    first = []
    for e in train(_tiny_fmnist(tmp_path / "b"), control):
        first.append(e)
        if isinstance(e, StepEvent) and e.step == 4:
            control.stop()
    assert first[-1].reason == "stopped" and first[-1].step == 4
    resumed = _run(_tiny_fmnist(tmp_path / "b"), resume_from=tmp_path / "b" / "run.safetensors")
    assert resumed[0].start_step == 4 and resumed[-1].step == 8
    a = straight[-1].model.state_dict()
    b = resumed[-1].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resuming must continue the same run exactly"
    losses_a = [e.loss for e in straight if isinstance(e, StepEvent)]
    losses_b = [e.loss for e in first + resumed if isinstance(e, StepEvent)]
    assert losses_a == losses_b


def test_fashion_mnist_loss_falls(tmp_path):
    events = _run(
        _tiny_fmnist(
            tmp_path, steps=60, batch_size=32, preview_every=0, learning_rate=2e-3, checkpoint_path=None, warmup_steps=5
        )
    )
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:5]) / 5


def test_pause_and_resume_events():
    control = TrainingControl()
    seen = []
    for e in train(TrainConfig(steps=30, batch_size=32, preview_every=0), control):
        seen.append(type(e))
        if isinstance(e, StepEvent) and e.step == 5:
            control.pause()
        if isinstance(e, Paused):
            control.resume()
    assert Paused in seen and Resumed in seen and seen[-1] is Finished


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    config = TrainConfig(
        steps=20, batch_size=16, preview_every=0, checkpoint_every=5, checkpoint_path=str(tmp_path / "good.safetensors")
    )
    real_q_sample = training.q_sample
    calls = {"n": 0}

    def poisoned(*args):
        calls["n"] += 1
        x = real_q_sample(*args)
        return x * float("nan") if calls["n"] > 7 else x

    monkeypatch.setattr(training, "q_sample", poisoned)
    with pytest.raises(TrainingDiverged, match="learning rate"):
        _run(config)
    saved = load_checkpoint(tmp_path / "good.safetensors")
    assert saved.metadata["step"] == 5
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())


def test_save_requested_mid_run(tmp_path):
    control = TrainingControl()
    out = tmp_path / "manual.safetensors"
    for e in train(TrainConfig(steps=10, batch_size=16, preview_every=0), control):
        if isinstance(e, StepEvent) and e.step == 3:
            control.request_save(out)
    assert load_checkpoint(out).metadata["step"] == 3


def test_bad_settings():
    with pytest.raises(ValueError):
        TrainConfig(prediction_type="score")
    with pytest.raises(ValueError):
        TrainConfig(learning_rate=5)
    with pytest.raises(ValueError):
        TrainConfig.from_dict({"nonsense": 1})
    with pytest.raises(ValueError):
        list(train(dataclasses.replace(TrainConfig(), model="small")))


def _tiny_toy(path, **overrides):
    base = dict(dataset="toy:two_moons", steps=6, batch_size=16, preview_every=0, checkpoint_path=str(path), seed=5)
    base.update(overrides)
    return TrainConfig(**base)


def test_a_resumed_run_starts_with_the_loss_history_saved_before_it(tmp_path):
    path = tmp_path / "run.safetensors"
    first = _run(_tiny_toy(path))
    logged = [(e.step, e.loss, e.grad_norm) for e in first if isinstance(e, StepEvent)]
    assert len(first[0].history) == 0  # a fresh run has no past

    resumed = _run(_tiny_toy(path, steps=9), resume_from=path)
    started = resumed[0]
    assert started.start_step == 6
    assert list(zip(started.history.steps, started.history.losses, started.history.grad_norms, strict=True)) == logged

    # The history grows with the run and is saved again, so a second resume sees all nine steps.
    again = _run(_tiny_toy(path, steps=10), resume_from=path)
    later = [e.step for e in resumed if isinstance(e, StepEvent)]
    assert again[0].history.steps == [s for s, _, _ in logged] + later == list(range(1, 10))


def test_a_checkpoint_saved_without_a_loss_history_still_resumes(tmp_path):
    from core.io import save_checkpoint

    path = tmp_path / "old.safetensors"
    _run(_tiny_toy(path))
    saved = load_checkpoint(path, with_training_state=True)
    state = {k: v for k, v in saved.training_state.items() if k != "loss_history"}  # as older versions wrote it
    save_checkpoint(path, saved.model, schedule=saved.schedule, metadata=saved.metadata, training_state=state)

    resumed = _run(_tiny_toy(path, steps=8), resume_from=path)
    assert resumed[0].start_step == 6 and len(resumed[0].history) == 0 and resumed[-1].step == 8


def test_only_a_class_conditional_model_names_classes_in_its_metadata(tmp_path):
    unconditional = _run(_tiny_toy(tmp_path / "u.safetensors", class_conditional=False, steps=2))[-1]
    conditional = _run(_tiny_toy(tmp_path / "c.safetensors", class_conditional=True, steps=2))[-1]
    assert unconditional.metadata["class_names"] == [] and unconditional.model.num_classes == 0
    assert len(conditional.metadata["class_names"]) == conditional.model.num_classes == 2
    assert load_checkpoint(tmp_path / "u.safetensors").metadata["class_names"] == []
