"""Sample pictures: uint8 conversion, grids, PNG, .npz and scatter plots."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import make_grid, save_png, save_samples_npz, scatter_image, to_uint8


def test_to_uint8_maps_minus_one_to_zero_and_one_to_255():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 3.0, float("nan")]).reshape(1, 1, 1, 7)
    assert to_uint8(x).tolist() == [[[0, 64, 128, 191, 255, 255, 0]]]  # (x + 1)·127.5 rounded, clipped


def test_to_uint8_layouts():
    assert to_uint8(np.zeros((5, 1, 4, 6))).shape == (5, 4, 6)
    rgb = torch.zeros(2, 3, 4, 6)
    rgb[:, 1] = 1.0
    out = to_uint8(rgb)
    assert out.shape == (2, 4, 6, 3) and out[0, 0, 0].tolist() == [128, 255, 128]
    assert to_uint8(torch.zeros(3, 4, 4)).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="N, C, H, W"):
        to_uint8(np.zeros((2, 2, 4, 4)))


def test_grid_places_each_image_in_row_major_order():
    images = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3) + 1
    grid = make_grid(images, nrow=2, padding=1, pad_value=0)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
    for i in range(5):
        r, c = divmod(i, 2)
        np.testing.assert_array_equal(grid[1 + 3 * r : 3 + 3 * r, 1 + 4 * c : 4 + 4 * c], images[i])
    assert grid[7:9, 5:8].sum() == 0  # the empty sixth cell stays padding
    assert make_grid(np.zeros((4, 2, 2, 3), np.uint8)).shape == (2 * 4 + 2, 2 * 4 + 2, 3)


def test_png_and_npz_round_trip(tmp_path):
    grid = make_grid(torch.rand(4, 1, 5, 5) * 2 - 1, nrow=2)
    path = save_png(tmp_path / "sub" / "g.png", grid, scale=2)
    back = np.asarray(Image.open(path))
    np.testing.assert_array_equal(back[::2, ::2], grid)
    save_samples_npz(tmp_path / "s.npz", images=torch.zeros(3, 1, 4, 4), labels=torch.tensor([2, 0, 1]))
    data = np.load(tmp_path / "s.npz")
    assert data["images"].dtype == np.uint8 and data["images"].shape == (3, 4, 4)
    assert data["labels"].tolist() == [2, 0, 1]


def test_scatter_draws_points_where_they_are():
    picture = scatter_image(np.array([[1.0, 1.0], [-1.0, -1.0]]), labels=[0, 1], size=100, extent=2.0)
    assert picture.shape == (100, 100, 3)
    # (1, 1) is up and to the right of the centre; (−1, −1) down and to the left (y axis points up).
    assert tuple(picture[26, 74]) == (0, 114, 178) and tuple(picture[74, 26]) == (230, 159, 0)
    assert tuple(picture[10, 10]) == (255, 255, 255)
