"""The image panel and value histogram: what lands on screen is what the caller's values say."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from desktop_app.widgets.image_panel import (  # noqa: E402
    PADDING_RGB,
    Y_TOPS,
    GridBuffer,
    ImagePanel,
    ValueHistogram,
    _y_top_for,
    normal_density,
    value_histogram,
)


@pytest.fixture
def panel(qtbot):
    panel = ImagePanel("x_t")
    qtbot.addWidget(panel)
    panel.resize(300, 330)
    panel.show()
    return panel


def _expected_u8(values: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    lo, hi = levels
    return np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def test_rgb_batch_lands_in_the_right_channels_and_tiles(panel):
    rng = np.random.default_rng(0)
    batch = rng.uniform(-1.2, 1.2, (4, 3, 5, 7)).astype(np.float32)  # includes values past the levels
    panel.set_batch(batch, (-1.0, 1.0), ncols=2)
    shown = panel.displayed_rgb()
    assert shown.shape == (2 * 5 + 2, 2 * 7 + 2, 3)  # 2×2 tiles, 2 pixels of padding between
    expected = _expected_u8(batch, (-1.0, 1.0)).transpose(0, 2, 3, 1)  # (N, H, W, RGB)
    for i, (row, col) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        tile = shown[row * 7 : row * 7 + 5, col * 9 : col * 9 + 7]
        np.testing.assert_array_equal(tile, expected[i])
    assert tuple(shown[5, 0]) == PADDING_RGB
    np.testing.assert_allclose(panel.last_picture[:5, :7], batch[0].transpose(1, 2, 0))


def test_grey_batch_fills_all_three_planes_and_the_levels_map_to_black_and_white(panel):
    batch = np.array([[[[-3.0, 0.0, 3.0, 9.0]]]], dtype=np.float32)  # N=1, C=1, H=1, W=4
    panel.set_batch(batch, (-3.0, 3.0))
    shown = panel.displayed_rgb()
    assert shown.shape == (1, 4, 3)
    np.testing.assert_array_equal(shown[0, :, 0], [0, 127, 255, 255])
    np.testing.assert_array_equal(shown[..., 0], shown[..., 1])
    np.testing.assert_array_equal(shown[..., 0], shown[..., 2])


def test_a_grid_that_is_not_full_leaves_the_empty_cells_as_background(panel):
    batch = np.ones((3, 1, 4, 4), dtype=np.float32)
    panel.set_batch(batch)  # 3 images → a 2×2 grid with one empty cell
    shown = panel.displayed_rgb()
    assert (shown[:4, :4] == 255).all() and (shown[6:, 6:] != 255).all()
    assert tuple(shown[7, 7]) != PADDING_RGB  # the empty cell is background, not padding


def test_what_is_painted_on_screen_is_the_picture(panel, qtbot):
    batch = np.zeros((1, 3, 2, 2), dtype=np.float32)
    batch[0, 0, 0, 0] = 1.0  # top-left pixel pure red
    batch[0, 2, 1, 1] = 1.0  # bottom-right pure blue
    batch[0, :, 0, 1] = -1.0  # top-right black
    panel.set_batch(batch)
    panel.canvas.repaint()
    grabbed = panel.canvas.grab().toImage()
    rect = panel.canvas.image_rect()
    assert rect.width() == pytest.approx(rect.height())  # square pixels, aspect kept
    quarter = rect.width() / 4
    top_left = grabbed.pixelColor(int(rect.left() + quarter), int(rect.top() + quarter))
    bottom_right = grabbed.pixelColor(int(rect.right() - quarter), int(rect.bottom() - quarter))
    top_right = grabbed.pixelColor(int(rect.right() - quarter), int(rect.top() + quarter))
    assert (top_left.red(), top_left.green(), top_left.blue()) == (255, 127, 127)
    assert (bottom_right.red(), bottom_right.green(), bottom_right.blue()) == (127, 127, 255)
    assert (top_right.red(), top_right.green(), top_right.blue()) == (0, 0, 0)


def test_set_image_takes_single_pictures_and_rejects_other_shapes(panel):
    picture = np.linspace(-1, 1, 6 * 8 * 3, dtype=np.float32).reshape(6, 8, 3)
    panel.set_image(picture)
    np.testing.assert_array_equal(panel.displayed_rgb(), _expected_u8(picture, (-1.0, 1.0)))
    np.testing.assert_allclose(panel.last_picture, picture)
    with pytest.raises(ValueError, match="pictures"):
        panel.set_image(np.zeros((2, 3, 4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="batches"):
        panel.set_batch(np.zeros((3, 4), dtype=np.float32))
    panel.clear()
    assert panel.last_picture is None


def test_grid_buffer_matches_the_panel_layout():
    batch = np.arange(2 * 1 * 2 * 2, dtype=np.float32).reshape(2, 1, 2, 2)
    picture = GridBuffer(batch.shape, ncols=2, padding=1, fill_value=-1.0).fill(batch)
    np.testing.assert_array_equal(picture, [[0, 1, -1, 4, 5], [2, 3, -1, 6, 7]])


def test_histogram_density_integrates_to_the_fraction_inside_the_range():
    values = np.random.default_rng(1).standard_normal(200_000).astype(np.float32)
    edges, density = value_histogram(values, 81, (-4.0, 4.0))
    assert (density * np.diff(edges)).sum() == pytest.approx(np.mean(np.abs(values) < 4), abs=2e-3)
    centres = (edges[:-1] + edges[1:]) / 2
    # ≈ 28,600 values after striding: about 1,100 per central bin, so ±3 % noise; 12 % is 4σ.
    np.testing.assert_allclose(density[30:51], normal_density(centres[30:51]), rtol=0.12)


def test_histogram_axis_grows_at_once_and_shrinks_with_hysteresis(qtbot):
    assert _y_top_for(0.3, Y_TOPS[0]) == 0.5
    assert _y_top_for(4.0, 0.5) == 5.0  # grows straight to the top that fits
    assert _y_top_for(3.0, 5.0) == 5.0  # 3.0 fits under 3.2, but not well below it: keep 5
    assert _y_top_for(2.0, 5.0) == 2.0  # well below 3.2: shrink to the smallest top that fits
    assert _y_top_for(50.0, 0.5) == Y_TOPS[-1]
    histogram = ValueHistogram()
    qtbot.addWidget(histogram)
    histogram.resize(500, 200)
    histogram.show()
    histogram.set_values(np.full(1000, -1.0, dtype=np.float32))  # one spike: density 1/bin width
    assert histogram.y_top == Y_TOPS[-1]
    histogram.repaint()
    histogram.set_values(np.random.default_rng(0).standard_normal(10_000).astype(np.float32))
    assert histogram.y_top == 0.5
    assert histogram.grab().toImage().width() == 500
