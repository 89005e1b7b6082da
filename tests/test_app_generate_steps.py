"""Generate: the step count asked for is the step count run, and every place that shows it agrees.

Heun 25 used to run 15 steps and DPM-Solver++ 20 ran 12 on the cosine schedule (Karras σ spacing
collapsed at the clipped last β), so the progress bar stopped at "15 / 25" and looked stuck.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PySide6.QtCore import QSettings

from core.diffusion import IdealDenoiser, evaluations_per_run, make_schedule
from desktop_app.views.generate_view import GenerateView

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


def cosine_checkpoint():
    schedule = make_schedule("cosine", 1000)  # the shipped models' schedule, where the spacing collapsed
    data = torch.linspace(-1, 1, 2 * 16).reshape(2, 1, 4, 4)
    metadata = {"image_shape": [1, 4, 4], "dataset_name": "two test images", "step": 10}
    return SimpleNamespace(model=IdealDenoiser(data, schedule), schedule=schedule, metadata=metadata)


@pytest.fixture
def view(qtbot, tmp_path):
    view = GenerateView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1100, 750)
    view.show()
    yield view
    assert view.shutdown()


def choose(combo, data):
    index = combo.findData(data)
    assert index >= 0, data
    combo.setCurrentIndex(index)


def test_the_progress_bar_ends_full_and_every_label_says_the_steps_that_ran(qtbot, view):
    view.add_model(cosine_checkpoint())
    choose(view.sampler_combo, "heun")
    assert view.steps_spin.value() == 25  # Heun's default
    view.batch_spin.setValue(2)
    view.compare_check.setChecked(True)
    choose(view.sampler_b_combo, "dpmpp_2m")
    assert view.steps_b_spin.value() == 20  # DPM-Solver++'s default
    view.generate_button.click()
    qtbot.waitUntil(lambda: not view.is_sampling() and view._worker.done, timeout=30_000)
    qtbot.waitUntil(view.generate_button.isEnabled, timeout=30_000)

    assert view.progress.maximum() == 25 + 20
    assert view.progress.value() == view.progress.maximum()  # full, not "15 / 25"
    assert view.progress.text() == "45 / 45 steps"
    for run, sampler, steps in ((view.run_a, "heun", 25), (view.run_b, "dpmpp_2m", 20)):
        nfe = evaluations_per_run(sampler, steps)
        assert run.result.evaluations == nfe  # counted by the worker, not computed from the form
        assert f"{steps} steps" in run.heading.text() and f"{nfe} network evaluations" in run.heading.text()
        recorder = run.recorder
        assert recorder.num_steps == steps and len(set(recorder.timesteps[:-1].tolist())) == steps
        run.scrubber.setValue(run.scrubber.maximum() - 1)  # the last step, before the final sample
        assert f"step {steps}/{steps}" in run.scrubber.labelText(), run.scrubber.labelText()
        run.scrubber.setValue(0)
        assert f"step 1/{steps} · t=999" in run.scrubber.labelText(), run.scrubber.labelText()
