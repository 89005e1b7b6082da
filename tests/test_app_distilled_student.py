"""The shipped few-step student in the app: Generate samples it with its own steps, and the Fast sampling
view's "Fashion-MNIST student" tab draws it beside its teacher from the same noise."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from core.diffusion import IdealDenoiser, make_schedule
from core.evaluation.distilled_student import shipped_students
from desktop_app.views.fast_view import FastView
from desktop_app.views.generate_view import GenerateView

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


def checkpoint(**extra):
    schedule = make_schedule("cosine", 1000)
    data = torch.linspace(-1, 1, 2 * 16).reshape(2, 1, 4, 4)
    metadata = {"image_shape": [1, 4, 4], "dataset_name": "two test images", "step": 10, **extra}
    return SimpleNamespace(model=IdealDenoiser(data, schedule), schedule=schedule, metadata=metadata)


@pytest.fixture
def generate(qtbot, tmp_path):
    view = GenerateView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1100, 750)
    view.show()
    yield view
    assert view.shutdown()


def test_generate_picks_a_students_own_sampler_and_steps_and_an_ordinary_model_gets_the_default(qtbot, generate):
    generate.add_model(checkpoint(sampler="ddim", sampling_steps=4))
    assert generate.sampler_combo.currentData() == "ddim" and generate.steps_spin.value() == 4
    assert generate.eta_spin.value() == 0.0
    assert "distilled for 4 DDIM steps" in generate.model_info.text()

    generate.batch_spin.setValue(2)
    generate.generate_button.click()
    qtbot.waitUntil(lambda: not generate.is_sampling() and generate._worker.done, timeout=30_000)
    qtbot.waitUntil(generate.generate_button.isEnabled, timeout=30_000)
    assert generate.progress.text() == "4 / 4 steps"
    assert generate.run_a.recorder.num_steps == 4

    generate.add_model(checkpoint())  # an ordinary model: DDIM's usual 50 steps again
    assert generate.steps_spin.value() == 50
    assert "distilled" not in generate.model_info.text()


@pytest.mark.skipif(not shipped_students(), reason="no distilled student is shipped")
def test_the_fast_views_student_tab_samples_teacher_and_student_from_the_same_noise(qtbot, tmp_path):
    view = FastView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.on_shown()
    panel = view.student
    view.tabs.setCurrentWidget(panel)
    try:
        assert panel.student_combo.count() >= 1 and "FID" in panel.measured.text()
        panel.samples_spin.setValue(2)
        with qtbot.waitSignal(panel.sampled, timeout=60_000):
            qtbot.mouseClick(panel.sample_button, Qt.MouseButton.LeftButton)
            assert not panel.sample_button.isEnabled()  # one run at a time
        qtbot.waitUntil(panel.sample_button.isEnabled, timeout=10_000)
        titles = panel.row_labels
        assert titles[0].startswith("teacher, DDIM-") and titles[1].startswith("student, ")
        assert titles[2] == "teacher, DDIM-50"
        assert panel.grid.last_picture.shape == (3 * 34 - 2, 2 * 34 - 2)  # 3 rows × 2 columns of 32×32, 2 px apart
        pictures = panel.batches
        assert all(p is not None and p.shape == (2, 1, 32, 32) for p in pictures)
        assert all(np.abs(p).max() <= 1.0 for p in pictures)  # x̂₀ clipped, as the app samples
        assert not np.array_equal(pictures[0], pictures[1])  # the student is not the teacher
        student, teacher_50 = pictures[1], pictures[2]
        for i in range(2):  # the same x_T and label: the student's image is the 50-step teacher's, not the other's
            same, other = np.abs(student[i] - teacher_50[i]).mean(), np.abs(student[i] - teacher_50[1 - i]).mean()
            assert same < 0.5 * other, (i, same, other)
    finally:
        view.shutdown()
