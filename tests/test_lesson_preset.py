"""The lesson preset (four garment classes at 16×16) trains, the Train view offers it, and its shipped
gallery shows a model that learned: the last checkpoint draws the asked-for garment more often than the first.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings

from core.evaluation import lesson_quality as lq
from core.io import load_denoiser
from core.runtime import resource_path
from core.training import Finished, Preview, Started, StepEvent, train
from core.training.lesson import LESSON_CLASSES, LESSON_DOWNSAMPLE, LESSON_GALLERY_STEPS, lesson_config

torch.set_num_threads(1)
GALLERY = resource_path("models", "gallery")


def test_the_preset_builds_and_trains_a_few_steps_with_an_ema_preview():
    config = lesson_config(steps=3, preview_every=3, preview_steps=2, threads=1)
    assert config.dataset_options["classes"] == LESSON_CLASSES and config.model == "tiny"
    events = list(train(config))
    started = events[0]
    assert isinstance(started, Started)
    assert started.class_names == LESSON_CLASSES and tuple(started.image_shape) == (1, 16, 16)
    assert started.dataset_size == 24000  # 6,000 training images of each of the four classes
    losses = [e.loss for e in events if isinstance(e, StepEvent)]
    assert len(losses) == 3 and all(math.isfinite(x) and x > 0 for x in losses)
    (preview,) = [e for e in events if isinstance(e, Preview)]
    assert preview.images.shape == (16, 1, 16, 16) and preview.labels.tolist() == [0, 1, 2, 3] * 4
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.step == 3
    assert finished.metadata["class_names"] == LESSON_CLASSES and finished.metadata["image_shape"] == [1, 16, 16]


def test_the_gallery_is_one_run_at_increasing_steps_with_provenance():
    files = sorted(GALLERY.glob("lesson_garments_step_*.safetensors"))
    metas = [load_denoiser(f).metadata for f in files]
    assert [m["step"] for m in metas] == list(LESSON_GALLERY_STEPS)
    assert all(m["recipe"].startswith("python scripts/train_lesson_gallery.py") for m in metas)
    assert all(m["train_config"]["dataset_options"]["classes"] == LESSON_CLASSES for m in metas)
    assert all(f.stat().st_size < 1_500_000 for f in files)  # EMA weights only, no optimizer state
    times = [m["wall_time_s"] for m in metas]
    assert times == sorted(times) and times[0] > 0


def test_the_last_gallery_checkpoint_draws_the_asked_for_garment_more_often_than_the_first():
    files = sorted(GALLERY.glob("lesson_garments_step_*.safetensors"))
    accuracies = []
    for path in (files[0], files[-1]):
        ckpt = load_denoiser(path)
        images, labels = lq.garment_samples(
            ckpt.model, ckpt.schedule, ckpt.metadata["class_names"], 24, downsample=LESSON_DOWNSAMPLE, steps=10
        )
        assert images.shape == (24, 1, 32, 32)
        assert sorted(set(labels.tolist())) == [0, 1, 7, 8]  # the classifier's T-shirt, trouser, sneaker, bag
        accuracies.append(float((_predicted(images) == labels.numpy()).mean()))
    first, last = accuracies
    assert last >= 0.75 and last > first + 0.2, accuracies


def _predicted(images: torch.Tensor) -> np.ndarray:
    from core.evaluation import metrics

    _, probs = metrics.classifier_outputs(metrics.quantize_images(images))
    return probs.argmax(1)


@pytest.fixture
def view(qtbot, tmp_path, user_data_home):
    from desktop_app.views.train_view import TrainView

    view = TrainView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    return view


def test_the_train_view_lesson_button_sets_the_preset_and_reset_clears_it(qtbot, view):
    from PySide6.QtCore import Qt

    panel = view.setup_panel
    qtbot.mouseClick(panel.lesson_button, Qt.MouseButton.LeftButton)
    config = view.config()
    assert config.dataset == "fashion_mnist" and config.dataset_options["downsample"] == LESSON_DOWNSAMPLE
    assert config.model == "tiny" and config.model_options == {"channel_mult": [1, 2], "attention_resolutions": [8]}
    assert (config.learning_rate, config.batch_size, config.steps, config.prediction_type) == (3e-3, 32, 500, "v")
    assert panel.batch_spin.value() == 32 and panel.lr_spin.value() == pytest.approx(3e-3)
    subset = panel.data.subset_label
    assert subset.isVisibleTo(view) and subset.text().startswith(f"{len(LESSON_CLASSES)} classes (T-shirt/top")
    # The user may still change a visible field: it overrides the preset, the hidden settings stay.
    panel.steps_spin.setValue(200)
    assert view.config().steps == 200 and view.config().dataset_options["classes"] == LESSON_CLASSES
    # Another dataset or Reset ends the preset.
    qtbot.mouseClick(panel.reset_button, Qt.MouseButton.LeftButton)
    assert not panel.lesson_button.isChecked() and view.config().dataset.startswith("toy:")
    assert view.config().dataset_options == {}
    assert not panel.data.subset_label.isVisibleTo(view)  # the whole dataset again: nothing to name
