"""The Compare view keeps what was trained in it: Save / Discard / Cancel before runs are lost (closing,
switching the data), saved runs resumable, and Resume… continuing them exactly where they stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from core.io.generative_checkpoints import load_generative, save_generative
from core.training import Finished
from core.training.gan import GANTrainConfig, train_gan
from core.training.vae import VAETrainConfig, train_vae
from desktop_app.views.compare.jobs import resume_plan
from desktop_app.views.compare_view import CompareView

Button = QMessageBox.StandardButton


@pytest.fixture
def answers(monkeypatch):
    """Scripted answers to the save question (and the folder / file dialogs); records what was asked."""
    script = {"answers": [], "asked": [], "folder": "", "files": []}

    def question(parent, title, text, *args):
        script["asked"].append(text)
        return script["answers"].pop(0)

    monkeypatch.setattr("desktop_app.views.compare.saving.QMessageBox.question", question)
    monkeypatch.setattr(
        "desktop_app.views.compare.saving.QFileDialog.getExistingDirectory", lambda *a: script["folder"]
    )
    monkeypatch.setattr(
        "desktop_app.views.compare.saving.QFileDialog.getOpenFileNames", lambda *a, **k: (script["files"], "")
    )
    return script


@pytest.fixture
def view(qtbot, tmp_path, answers):
    view = CompareView(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))

    def discard_and_shut_down(widget):  # qtbot closes the widget before this fixture's own teardown
        answers["answers"] = [Button.Discard] * 3
        widget.shutdown()

    qtbot.addWidget(view, before_close_func=discard_and_shut_down)
    view.resize(1000, 700)
    view.show()
    view.on_shown()
    return view


def train_in_view(qtbot, view, steps=50):
    view.controls.steps.setValue(steps)
    with qtbot.waitSignal(view.trained, timeout=120_000):
        qtbot.mouseClick(view.controls.train_button, Qt.MouseButton.LeftButton)


def test_closing_with_unsaved_runs_asks_and_save_writes_resumable_files(qtbot, view, answers, tmp_path):
    train_in_view(qtbot, view)
    assert view.unsaved() == ["diffusion", "gan", "vae"]
    answers["answers"] = [Button.Cancel, Button.Save]
    assert view.shutdown() is False  # Cancel: the window stays, nothing is lost
    assert "Diffusion, GAN, VAE trained in this view are not saved. Save before closing?" in answers["asked"][0]
    assert view.unsaved() == ["diffusion", "gan", "vae"] and view.models

    answers["folder"] = str(tmp_path / "kept")
    assert view.shutdown() is True
    for kind in ("diffusion", "gan", "vae"):
        plan = resume_plan(tmp_path / "kept" / f"{kind}.safetensors")  # refuses a weights-only file
        assert (plan.kind, plan.dataset, plan.step) == (kind, "eight_gaussians", 50)


def test_switching_the_data_asks_first_cancel_keeps_the_runs_and_discard_drops_them(qtbot, view, answers):
    train_in_view(qtbot, view)
    combo = view.controls.dataset_combo
    answers["answers"] = [Button.Cancel]
    combo.setCurrentIndex(combo.findData("two_moons"))
    assert "Save before switching the data?" in answers["asked"][0]
    assert view.controls.dataset() == "eight_gaussians" and set(view.models) == {"diffusion", "gan", "vae"}

    answers["answers"] = [Button.Discard]
    combo.setCurrentIndex(combo.findData("two_moons"))
    assert view.controls.dataset() == "two_moons" and not view.models and view.unsaved() == []
    assert len(answers["asked"]) == 2


def test_closing_while_training_saves_each_running_loop_where_it_stopped(qtbot, view, answers, tmp_path):
    view.controls.steps.setValue(20000)
    qtbot.mouseClick(view.controls.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(c.curves.steps() for c in view.columns.values()), timeout=60_000)
    answers["answers"], answers["folder"] = [Button.Save], str(tmp_path / "mid")
    assert view.shutdown() is True
    assert not view.training() and answers["asked"][0].startswith("Diffusion, GAN, VAE")
    gan = load_generative(tmp_path / "mid" / "gan.safetensors", "gan", with_training_state=True)
    assert 0 < gan.training_state["step"] < 20000  # stopped mid-run, with what resuming needs
    assert resume_plan(tmp_path / "mid" / "vae.safetensors").step > 0


def saved_run(train, config):
    for event in train(config):
        if isinstance(event, Finished):
            return event


def test_resume_continues_a_saved_gan_and_vae_exactly_as_an_uninterrupted_run(qtbot, view, answers, tmp_path):
    common = dict(
        dataset="toy:eight_gaussians", batch_size=64, data_limit=1024, preview_every=0, log_every=5, threads=1
    )
    gan_config = GANTrainConfig(steps=30, **common)
    vae_config = VAETrainConfig(steps=30, kl_warmup_steps=10, **common)
    saved_run(train_gan, GANTrainConfig(**{**gan_config.to_dict(), "checkpoint_path": str(tmp_path / "g.safetensors")}))
    saved_run(train_vae, VAETrainConfig(**{**vae_config.to_dict(), "checkpoint_path": str(tmp_path / "v.safetensors")}))

    view.controls.steps.setValue(50)
    answers["files"] = [str(tmp_path / "g.safetensors"), str(tmp_path / "v.safetensors")]
    with qtbot.waitSignal(view.trained, timeout=60_000):
        qtbot.mouseClick(view.controls.resume_button, Qt.MouseButton.LeftButton)
    assert view.controls.message.text().startswith("GAN, VAE trained")
    gan_column = view.columns["gan"]
    assert gan_column.status.text().startswith("completed after 80 steps")
    assert gan_column.curves.steps()[0] == 35  # the curve goes on from the saved step
    assert view.columns["diffusion"].status.text() == "not trained yet"  # only the chosen runs resume

    straight_gan = saved_run(train_gan, GANTrainConfig(**{**gan_config.to_dict(), "steps": 80})).model
    straight_vae = saved_run(train_vae, VAETrainConfig(**{**vae_config.to_dict(), "steps": 80})).model
    for resumed, straight in ((view.models["gan"][0], straight_gan), (view.models["vae"][0], straight_vae)):
        for (name, a), b in zip(resumed.state_dict().items(), straight.state_dict().values(), strict=True):
            assert torch.equal(a, b), name
    assert view.unsaved() == ["gan", "vae"]  # 50 steps beyond what is on disk


def test_resume_refuses_files_it_cannot_continue_in_words(qtbot, view, tmp_path):
    run = saved_run(train_gan, GANTrainConfig(steps=5, log_every=5, preview_every=0, threads=1))
    weights_only = save_generative(tmp_path / "w.safetensors", run.model, metadata={"step": 5})
    not_a_checkpoint = tmp_path / "notes.safetensors"
    not_a_checkpoint.write_text("hello")
    assert view.resume_from([weights_only]) is False
    assert "holds only a model's weights" in view.controls.message.text()
    assert view.resume_from([not_a_checkpoint]) is False
    assert "notes.safetensors" in view.controls.message.text() and not view.training()
    assert not Path(tmp_path / "gan.safetensors").exists()
