"""The Schedules view: columns, alignment by equal SNR, curves and cursor."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

from core.diffusion import make_schedule, timestep_of_equal_snr  # noqa: E402
from desktop_app.views.schedules_view import MAX_COLUMNS, SchedulesView  # noqa: E402


@pytest.fixture
def view(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    view = SchedulesView(settings)
    qtbot.addWidget(view)
    view.resize(1100, 720)
    view.show()
    return view


def test_opens_with_linear_and_cosine_and_plots_their_curves(view):
    assert [s.kind for s in view.schedules] == ["linear", "cosine"]
    for key, curves in view.curves.items():
        assert len(curves) == 2
        x, y = curves[1].getData()
        expected = {"beta": "betas", "alpha_bar": "alphas_cumprod", "log_snr": "log_snr"}[key]
        np.testing.assert_allclose(x, np.arange(1000) / 1000)
        if key != "beta":  # the β plot is in log mode, so its item stores log10 values
            np.testing.assert_allclose(y, getattr(make_schedule("cosine", 1000), expected).numpy())


def test_add_and_remove_columns(view):
    column = view.add_column()
    assert column is not None and len(view.columns) == 3
    assert all(len(curves) == 3 for curves in view.curves.values())
    assert view.schedules[2].kind == "sigmoid"
    view.add_column()
    assert view.add_column() is None and len(view.columns) == MAX_COLUMNS
    assert not view.add_button.isEnabled()
    view.remove_column(1)
    assert len(view.columns) == 3 and view.add_button.isEnabled()
    assert [s.kind for s in view.schedules] == ["linear", "sigmoid", "quadratic"]


def test_same_noise_same_t_then_align_by_equal_snr(view):
    view.scrubber.setValue(300)
    assert view.column_timesteps() == [300, 300]
    unaligned = [c.panel.last_picture.copy() for c in view.columns]
    assert np.abs(unaligned[0] - unaligned[1]).max() > 0.3  # cosine keeps much more signal at t = 300

    view.set_align_by_snr(True)
    linear, cosine = view.schedules
    expected = timestep_of_equal_snr(300, linear, cosine)
    assert expected != 300
    assert view.column_timesteps() == [300, expected]
    assert view.columns[1].position_label.text().startswith(f"t = {expected} of 1000")
    aligned = [c.panel.last_picture for c in view.columns]
    # Same x_0, same ε, (nearly) the same SNR: the two columns now show (nearly) the same picture.
    assert np.abs(aligned[0] - aligned[1]).max() < 0.05


def test_different_timestep_counts_compare_at_equal_fraction_and_cursor_follows(view):
    view.columns[1].T_spin.setValue(250)
    assert view.schedules[1].num_timesteps == 250
    view.scrubber.setValue(999)
    assert view.column_timesteps() == [999, 249]
    view.scrubber.setValue(500)
    assert view.column_timesteps()[1] == round(500 / 999 * 249)
    assert all(cursor.value() == pytest.approx(0.5) for cursor in view.cursors)
    view.cursors[0].setValue(0.25)
    view.cursors[0].sigDragged.emit(view.cursors[0])  # dragging the cursor moves the scrubber
    assert view.scrubber.value() == 250


def test_bad_beta_range_keeps_the_old_schedule_and_says_why(view):
    column = view.columns[0]
    column.beta_end_spin.setValue(0.00005)  # below β_start = 0.0001
    assert "must not be smaller" in column.position_label.text()
    assert view.schedules[0].beta_end == pytest.approx(0.02)


def test_settings_survive_a_restart(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = SchedulesView(settings)
    qtbot.addWidget(first)
    first.add_column()
    first.columns[2].T_spin.setValue(400)
    first.set_align_by_snr(True)
    assert first.shutdown() is True
    second = SchedulesView(settings)
    qtbot.addWidget(second)
    assert [(s.kind, s.num_timesteps) for s in second.schedules] == [
        ("linear", 1000),
        ("cosine", 1000),
        ("sigmoid", 400),
    ]
    assert second.align_check.isChecked()


def test_export_csv_of_the_curves(view, tmp_path):
    csv_action = next(a for a in view.export_actions() if "CSV" in a.label)
    path = csv_action.write(tmp_path / "curves.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == "schedule,t,t_over_T,beta,alpha_bar,sqrt_alpha_bar,snr,log_snr"
    assert len(lines) == 1 + 1000 + 1000
    name, t, frac, beta, alpha_bar, *_ = lines[1 + 1000 + 10].split(",")
    assert name == "2: cosine (T=1000)" and t == "10"
    assert float(alpha_bar) == pytest.approx(float(make_schedule("cosine", 1000).alphas_cumprod[10]))
