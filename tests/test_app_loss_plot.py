"""The live loss curve's axes: steady 1-2-5 ranges that move only when the data leaves them."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from desktop_app.widgets.loss_plot import LossPlot, _nice_step, _steady_bounds  # noqa: E402


@pytest.fixture
def plot(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(400, 300)
    plot.show()
    return plot


def ranges(plot):
    (x0, x1), (y0, y1) = plot.getPlotItem().getViewBox().viewRange()
    return (round(x0, 9), round(x1, 9)), (round(y0, 9), round(y1, 9))


def test_nice_numbers():
    assert [_nice_step(v) for v in (0.7, 1.0, 1.3, 3.0, 7.0, 55.0, 0.013)] == [1.0, 1.0, 2.0, 5.0, 10.0, 100.0, 0.02]
    assert _steady_bounds(0.5, 1.2, (0.0, 1.5)) == (0.0, 1.5)  # holds the data, which fills 47 %: kept
    lo, hi = _steady_bounds(0.5, 1.2, (0.0, 10.0))  # data fills 7 %: re-framed on 0.2 multiples
    assert (lo, hi) == pytest.approx((0.4, 1.2))
    assert _steady_bounds(0.5, 1.3, (0.4, 1.2)) == pytest.approx((0.4, 1.4))  # data left: re-framed


def test_axes_move_in_steps_not_with_every_point(plot):
    steps = np.arange(1, 51)
    plot.append(steps, 1.0 + 0.2 * np.sin(steps))
    plot.flush()
    x_range, y_range = ranges(plot)
    assert x_range == (0.0, 100.0)  # 1.1 × 50 → the next 1-2-5 number
    assert y_range[0] <= 0.8 and y_range[1] >= 1.2
    plot.append(np.arange(51, 100), 1.0 + 0.1 * np.sin(np.arange(51, 100)))  # still inside
    plot.flush()
    assert ranges(plot) == (x_range, y_range)
    plot.append([150], [1.0])  # past the end of x
    plot.flush()
    assert ranges(plot)[0] == (0.0, 200.0)


def test_the_user_can_zoom_and_the_a_button_gives_the_axes_back(plot):
    plot.append(np.arange(1, 51), np.linspace(2.0, 1.0, 50))
    plot.flush()
    box = plot.getPlotItem().getViewBox()
    box.setXRange(10, 20, padding=0)
    box.sigRangeChangedManually.emit([True, False])  # what a mouse drag emits
    plot.append(np.arange(51, 400), np.full(349, 1.0))
    plot.flush()
    assert ranges(plot)[0] == (10.0, 20.0)  # the user's zoom is kept
    box.enableAutoRange()  # the "A" button
    plot.append([400], [1.0])
    plot.flush()
    assert ranges(plot)[0] == (0.0, 500.0)
    assert not any(box.state["autoRange"])  # ours again, not pyqtgraph's per-redraw auto-range


def test_log_y_frames_the_decades(plot):
    steps = np.arange(1, 101)
    plot.append(steps, 10.0 ** np.linspace(0, -3, 100))
    plot.set_log_y(True)
    plot.flush()
    _, (y0, y1) = ranges(plot)
    assert y0 == pytest.approx(-3.0) and y1 == pytest.approx(0.0)  # log10 units
    plot.set_log_y(False)
    plot.flush()
    _, (y0, y1) = ranges(plot)
    assert y0 <= 0.001 and y1 >= 1.0 and y1 <= 1.2


def test_the_smoothed_curve_follows_a_fast_early_fall_and_is_smooth_later(plot):
    """A loss falling from 1.0 to 0.1 in ~100 steps, with noise: the smoothed value at step 150 is near
    the true 0.1 (a fixed 50-step window showed ~0.13), and later it averages the noise away."""
    rng = np.random.default_rng(0)
    steps = np.arange(3000)
    truth = 0.1 + 0.9 * np.exp(-steps / 20.0)
    noisy = truth * (1.0 + 0.3 * rng.standard_normal(steps.size))
    plot.append(steps, noisy)
    _, raw, smoothed = plot.data()
    assert np.array_equal(raw, noisy)
    assert abs(smoothed[150] - truth[150]) < 0.15 * truth[150]
    late = slice(2000, 3000)
    assert np.std(smoothed[late] - truth[late]) < 0.25 * np.std(noisy[late] - truth[late])
