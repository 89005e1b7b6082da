"""The Train view scores each preview while it trains (core.evaluation.training_quality)."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QSettings

from desktop_app.views.train_view import TrainView

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


@pytest.fixture
def view(qtbot, tmp_path, user_data_home):
    view = TrainView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    yield view
    if view.is_training():
        view._worker.discard()
        view._thread.quit()
        view._thread.wait()


def test_every_preview_of_a_run_is_scored_and_the_score_is_shown(qtbot, view):
    view.batch_spin.setValue(32)
    view.steps_spin.setValue(30)
    view.preview_spin.setValue(15)
    view.autosave_spin.setValue(0)
    view.timesteps_spin.setValue(100)
    with qtbot.waitSignal(view.model_trained, timeout=120_000):
        view.start_button.click()
    qtbot.waitUntil(lambda: not view.is_training() and view.start_button.isEnabled(), timeout=60_000)
    scores = view.preview_panel.scores
    assert [s.step for s in scores] == [15, 30] and all(s.headline == "mmd" for s in scores)
    assert all(s.metrics["mmd"] > 0 for s in scores)  # 30 steps of an MLP are not the swiss roll yet
    title = view.preview_panel.preview_points.plotItem.titleLabel.text
    assert "Step 30" in title and f"{scores[-1].metrics['mmd']:.3g}" in title
    assert "step 15:" in view.preview_panel.preview_points.toolTip()
