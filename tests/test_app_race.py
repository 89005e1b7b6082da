"""The Sampler race view, driven as a person would: race on a toy and on Fashion-MNIST, scrub, score, cancel."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.views.race.lanes_panel import RaceLanesPanel
from desktop_app.views.race_view import RACE_POINTS, RaceView

torch.set_num_threads(1)
RUN_TIMEOUT_MS = 120_000


@pytest.fixture
def view(qtbot, tmp_path):
    view = RaceView(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    yield view
    view.shutdown()


@pytest.fixture
def messages(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda parent, title, text, *a: shown.append(text)))
    return shown


def _tick(view, lanes):
    for key, check in view.setup.lane_checks.items():
        check.setChecked(key in lanes)


def _run(qtbot, view, button):
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_a_toy_race_shares_the_start_counts_nfe_and_scrubs_every_lane_together(qtbot, view, messages):
    assert view.setup.current_entry().path.stem == "toy_spiral"
    _tick(view, ("ddim", "heun", "ddpm"))
    view.setup.steps_spin.setValue(5)
    view.setup.reference_spin.setValue(50)
    _run(qtbot, view, view.setup.run_button)
    assert not messages
    runs = view.race_result.lanes
    assert [r.key for r in runs] == ["ddpm", "ddim", "heun"]
    assert [r.nfe for r in runs] == [5, 5, 9]
    assert all(np.array_equal(r.states[0], runs[0].states[0]) for r in runs)
    assert len(view.errors.curves) == 3 and "NFE 9" in view.status_label.text()

    view.scrubber.setFocus()
    qtbot.keyClick(view.scrubber, Qt.Key.Key_Home)  # back to x_T: every lane shows the same cloud
    assert view.scrubber.value() == 0 and view.errors.cursor.value() == 0.0
    clouds = [lane.points() for lane in view.lanes.views]
    assert clouds[0].shape == (RACE_POINTS, 2) and all(np.array_equal(c, clouds[0]) for c in clouds)
    qtbot.keyClick(view.scrubber, Qt.Key.Key_Right)
    assert view.scrubber.value() == 1
    assert np.array_equal(view.lanes.views[1].points(), runs[1].states[1])
    assert not np.array_equal(view.lanes.views[1].points(), view.lanes.views[2].points())  # DDIM vs Heun after one step


def test_quality_vs_nfe_on_a_toy_plots_every_sampler_and_the_floor(qtbot, view, messages):
    _tick(view, ("ddim", "dpmpp_2m"))
    view.tabs.setCurrentIndex(1)
    view.quality.nfe_edit.setText("1, 5")
    view.quality.samples_spin.setValue(200)
    _run(qtbot, view, view.quality.run_button)
    assert not messages
    result = view.quality.result
    assert [(p.lane, p.nfe) for p in result.points] == [("ddim", 1), ("ddim", 5), ("dpmpp_2m", 1), ("dpmpp_2m", 5)]
    assert set(view.quality.curves) == {"ddim", "dpmpp_2m"}
    assert view.quality.floor_line.isVisible() and view.quality.floor_line.value() == result.floor["mmd"]
    assert "real vs real" in view.quality.floor_label.text().lower()
    view.quality.nfe_edit.setText("five")
    qtbot.mouseClick(view.quality.run_button, Qt.MouseButton.LeftButton)
    assert messages and "whole numbers" in messages[-1]


def test_cancel_stops_a_race_without_a_result(qtbot, view, messages):
    _tick(view, ("ddim", "ddpm"))
    view.setup.steps_spin.setValue(50)
    view.setup.reference_spin.setValue(1000)
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.setup.run_button, Qt.MouseButton.LeftButton)
        assert view.setup.cancel_button.isEnabled()
        qtbot.mouseClick(view.setup.cancel_button, Qt.MouseButton.LeftButton)
    assert view.race_result is None and view.status_label.text().startswith("Cancelled")
    assert view.setup.run_button.isEnabled() and not view.setup.cancel_button.isEnabled()
    _tick(view, ())
    qtbot.mouseClick(view.setup.run_button, Qt.MouseButton.LeftButton)
    assert messages and "at least one sampler" in messages[-1]


def test_a_fashion_mnist_race_shows_image_lanes(qtbot, view, messages):
    view.setup.select_model("fmnist_unet")
    _tick(view, ("ddim", "euler"))
    view.setup.steps_spin.setValue(2)
    view.setup.reference_spin.setValue(10)
    _run(qtbot, view, view.setup.run_button)
    assert not messages
    assert isinstance(view.lanes, RaceLanesPanel) and len(view.lanes.views) == 2
    picture = view.lanes.views[0].last_picture
    assert picture is not None and picture.shape[0] > 32  # a 2×2 grid of 32×32 images
    assert view.race_result.lanes[0].states.shape == (3, 4, 1, 32, 32)
    assert view.quality.metric_combo.itemData(0) == "fid"


def test_the_xy_grid_fills_every_cell_from_one_start_and_exports_one_png(qtbot, view, messages, tmp_path):
    from PIL import Image

    _tick(view, ("ddim", "heun"))
    view.setup.reference_spin.setValue(50)
    view.tabs.setCurrentWidget(view.grid)
    view.grid.nfe_edit.setText("2, 5, 10")
    assert view.export_actions() == []  # nothing to export before the grid ran
    _run(qtbot, view, view.grid.run_button)
    assert not messages
    result = view.grid.result
    assert sorted(result.cells) == sorted((k, n) for k in ("ddim", "heun") for n in (2, 5, 10))
    assert [result.cells[("heun", n)].nfe for n in (2, 5, 10)] == [1, 5, 9]
    errors = [result.cells[("ddim", n)].error for n in (2, 5, 10)]
    assert errors[0] > errors[1] > errors[2]
    picture = view.grid.picture()
    assert picture.ndim == 3 and picture.shape[1] > 3 * 128 and picture.shape[0] > 2 * 128  # 2 rows × 3 columns
    (action,) = view.export_actions()
    path = action.write(tmp_path / "grid.png")
    assert Image.open(path).size == (picture.shape[1], picture.shape[0])
    view.grid.nfe_edit.setText("5, 5")
    qtbot.mouseClick(view.grid.run_button, Qt.MouseButton.LeftButton)
    assert messages and "only once" in messages[-1]


def test_cancel_stops_the_grid(qtbot, view, messages):
    _tick(view, ("ddim", "ddpm"))
    view.tabs.setCurrentWidget(view.grid)
    view.grid.nfe_edit.setText("100, 200")
    with qtbot.waitSignal(view._job.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(view.grid.run_button, Qt.MouseButton.LeftButton)
        assert view.grid.cancel_button.isEnabled()
        qtbot.mouseClick(view.grid.cancel_button, Qt.MouseButton.LeftButton)
    assert view.grid.result is None and view.status_label.text().startswith("Cancelled")
    assert view.grid.run_button.isEnabled() and not view.grid.export_button.isEnabled()


def test_a_measured_table_beside_the_model_is_shown_until_the_user_scores_their_own(qtbot, view, tmp_path):
    import json

    from core.evaluation.sampler_quality import QualityPoint, QualityResult, quality_table

    result = QualityResult("images", "fid", 100, {"fid": 6.8, "precision": 0.9, "recall": 0.9})
    for lane, label, fids in (("ddim", "DDIM η = 0", (30.0, 12.0)), ("deis", "DEIS (3rd order)", (15.0, 8.0))):
        for nfe, fid in zip((5, 10), fids, strict=True):
            result.points.append(QualityPoint(lane, label, nfe, nfe, {"fid": fid, "recall": 0.8}, 1.0))
    table = quality_table(result, {"date": "2026-12-06", "threads": 1, "commit": "abc1234"})
    (tmp_path / "m_sampler_quality.json").write_text(json.dumps(table))
    view._show_measured_quality(tmp_path / "m.safetensors")
    quality = view.quality
    assert set(quality.curves) == {"ddim", "deis"} and quality.measured["commit"] == "abc1234"
    x, y = quality.curves["deis"].xData, quality.curves["deis"].yData  # as given (getData is in log x)
    assert list(x) == [5, 10] and list(y) == [15.0, 8.0]
    assert quality.floor_line.value() == 6.8 and "Measured on 2026-12-06" in quality.floor_label.text()
    (tmp_path / "broken_sampler_quality.json").write_text("{not json")
    view._show_measured_quality(tmp_path / "broken.safetensors")  # ignored: the last table stays
    assert quality.measured is not None


def test_the_shipped_fashion_mnist_table_is_shown_when_its_model_is_chosen(qtbot, view):
    view.setup.select_model("fmnist_unet")
    quality = view.quality
    assert quality.measured is not None and quality.measured["threads"] == 1
    assert {"ddim", "dpmpp_3m", "unipc", "deis"} <= set(quality.curves)
    assert quality.chosen_metric() == "fid" and quality.floor_line.isVisible()
    view.setup.select_model("toy_spiral")  # no table beside the spiral: the plot is empty again
    assert quality.measured is None and not quality.curves
