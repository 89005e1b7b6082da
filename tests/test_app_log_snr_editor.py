"""The Schedules view's log-SNR editor: a drawn column follows the dragged control points, monotone kept."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
import pytest  # noqa: E402
from PySide6.QtCore import QPointF, QSettings, Qt  # noqa: E402

from desktop_app.views.schedules.log_snr_editor import DRAWN_KIND, KNOT_POSITIONS  # noqa: E402
from desktop_app.views.schedules_view import SchedulesView  # noqa: E402


@pytest.fixture
def view(qtbot, tmp_path):
    # pyqtgraph drops mouse moves closer than 1/mouseRateLimit s apart; a test's moves come all at once
    rate = pg.getConfigOption("mouseRateLimit")
    pg.setConfigOption("mouseRateLimit", -1)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    view = SchedulesView(settings)
    qtbot.addWidget(view)
    view.resize(1100, 720)
    view.show()
    qtbot.waitExposed(view)
    yield view
    pg.setConfigOption("mouseRateLimit", rate)


def _drag(qtbot, plot, u: float, from_y: float, to_y: float) -> None:
    """Press on the control point at (u, from_y) of the log-SNR plot, move to to_y, release (as a mouse would)."""
    plot.grab()  # a paint applies the pending auto-range, so the mapping below uses the final range
    vb = plot.getPlotItem().vb
    viewport = plot.viewport()
    start = plot.mapFromScene(vb.mapViewToScene(QPointF(u, from_y)))
    end = plot.mapFromScene(vb.mapViewToScene(QPointF(u, to_y)))
    qtbot.mouseMove(viewport, start)  # hover over the point first, as a hand on the mouse does
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for k in range(1, 9):
        qtbot.mouseMove(viewport, start + (end - start) * (k / 8))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


def test_a_drawn_column_follows_dragged_points_and_log_snr_never_rises(qtbot, view):
    editor = view.log_snr_editor
    assert not editor.handles.isVisible()  # no drawn column yet
    column = view.columns[1]
    column.kind_combo.setCurrentText(DRAWN_KIND)
    assert editor.handles.isVisible() and not column.beta_start_spin.isEnabled()
    cosine_like = column.schedule.log_snr.numpy().copy()
    before = column.schedule

    plot = view.plots["log_snr"]
    knot = 4  # t/T = 0.8
    old = float(editor.values()[knot])
    with qtbot.waitSignal(editor.changed, timeout=5000):
        _drag(qtbot, plot, KNOT_POSITIONS[knot], old, old - 4.0)
    new = float(editor.values()[knot])
    assert new == pytest.approx(old - 4.0, abs=0.5), (old, new)  # the point moved down with the mouse
    drawn = column.schedule.log_snr.numpy()
    t_knot = int(KNOT_POSITIONS[knot] * 1000) - 1
    assert drawn[t_knot] == pytest.approx(new, abs=0.05) and drawn[t_knot] < cosine_like[t_knot] - 1.0
    assert np.all(np.diff(drawn) < 0) and bool(((column.schedule.betas > 0) & (column.schedule.betas < 1)).all())
    # the curves and the forward images follow: x_t at t/T = 0.8 is redrawn with the new, noisier ᾱ_t
    x, y = view.curves["log_snr"][1].getData()
    np.testing.assert_allclose(y, drawn)
    view.scrubber.setValue(799)  # t/T = 0.8, where the dragged point sits
    np.testing.assert_allclose(column.xt, view._noised(column.schedule, 799), rtol=1e-5, atol=1e-6)
    assert not np.allclose(column.xt, view._noised(before, 799), atol=1e-3)

    # dragging a point far above its left neighbour stops at the neighbour: log-SNR never rises with t
    editor.handles.move_knot(knot, 50.0)
    values = editor.values()
    assert values[knot] == pytest.approx(values[knot - 1]) and np.all(np.diff(values) <= 0)
    assert np.all(np.diff(column.schedule.log_snr.numpy()) < 0)

    column.kind_combo.setCurrentText("linear")
    assert not editor.handles.isVisible()


def test_drawn_points_survive_a_restart(qtbot, tmp_path):
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    first = SchedulesView(settings)
    qtbot.addWidget(first)
    first.columns[0].kind_combo.setCurrentText(DRAWN_KIND)
    first.log_snr_editor.handles.move_knot(3, -3.0)
    kept = first.log_snr_editor.values()
    first.shutdown()
    second = SchedulesView(settings)
    qtbot.addWidget(second)
    assert second.columns[0].settings().kind == DRAWN_KIND
    np.testing.assert_allclose(second.log_snr_editor.values(), kept, atol=1e-3)
    np.testing.assert_allclose(
        second.columns[0].schedule.log_snr.numpy(), first.columns[0].schedule.log_snr.numpy(), atol=1e-3
    )


def test_learning_a_schedule_draws_it_in_a_column(qtbot, view):
    view.learn_panel.steps = 30  # a quick run; the app learns for LEARN_STEPS
    with qtbot.waitSignal(view.learn_panel.learned, timeout=180_000) as learned:
        qtbot.mouseClick(view.learn_panel.button, Qt.MouseButton.LeftButton)
        assert not view.learn_panel.button.isEnabled()
    knots = learned.args[0]
    assert knots.shape == KNOT_POSITIONS.shape and np.all(np.diff(knots) < 0)
    assert 8.0 < knots[0] < 11.0 and -9.0 < knots[-1] < -6.0  # VDM's endpoints start at log-SNR +10 and −8
    column = view.columns[-1]
    assert column.settings().kind == DRAWN_KIND
    np.testing.assert_allclose(view.log_snr_editor.values(), knots)
    drawn = column.schedule.log_snr.numpy()
    assert drawn[499] == pytest.approx(np.interp(0.5, KNOT_POSITIONS, knots), abs=0.05)
    qtbot.waitUntil(lambda: view.learn_panel.button.isEnabled(), timeout=10_000)
    assert "learned" in view.learn_panel.status.text()
