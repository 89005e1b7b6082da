"""Export helpers: the files they write are real and read back with the right content."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from core.diffusion import make_schedule
from desktop_app import export


def _images(n=6, c=1, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, c, size, size)).astype(np.float32)


def test_grid_picture_is_enlarged_with_sharp_pixels():
    images = _images(4, 3)
    picture = export.grid_picture(images, nrow=2, min_side=0)
    assert picture.shape == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(picture[2:10, 2:10], export.to_uint8(images[0]))
    big = export.grid_picture(images, nrow=2, min_side=100)
    factor = big.shape[0] // picture.shape[0]
    assert factor == 5 and big.shape[0] >= 100
    np.testing.assert_array_equal(big[::factor, ::factor], picture)


def test_strip_png_has_one_panel_per_timestep(tmp_path):
    frames = [np.full((20, 30), v, dtype=np.uint8) for v in (0, 128, 255)]
    path = export.save_strip_png(tmp_path / "strip.png", frames, ["t = 0", "t = 50", "t = 99"])
    with Image.open(path) as image:
        strip = np.asarray(image.convert("RGB"))
    gap = export.STRIP_GAP
    assert strip.shape[1] == 3 * 30 + 4 * gap
    for i, v in enumerate((0, 128, 255)):
        x = gap + i * (30 + gap)
        assert (strip[gap : gap + 20, x : x + 30] == v).all()
    with pytest.raises(ValueError, match="one caption per picture"):
        export.save_strip_png(tmp_path / "bad.png", frames, ["only one"])


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_animation_has_the_requested_number_of_frames(tmp_path, suffix):
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (24, 24, 3), dtype=np.uint8) for _ in range(7)]
    path = export.save_animation(tmp_path / f"timeline{suffix}", frames, fps=20)
    with Image.open(path) as image:
        assert image.n_frames == 7
        assert image.is_animated
        image.seek(3)
        if suffix == ".webp":  # lossless: the frame comes back exactly
            np.testing.assert_array_equal(np.asarray(image.convert("RGB")), frames[3])


def test_animation_refuses_other_formats_and_mixed_sizes(tmp_path):
    frame = np.zeros((4, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=".gif or .webp"):
        export.save_animation(tmp_path / "a.mp4", [frame])
    with pytest.raises(ValueError, match="same size"):
        export.save_animation(tmp_path / "a.gif", [frame, np.zeros((5, 4), dtype=np.uint8)])
    with pytest.raises(ValueError, match="nothing to export"):
        export.save_animation(tmp_path / "a.gif", [])


def test_evenly_spaced_timesteps():
    assert export.evenly_spaced_timesteps(0, 999, 5) == [0, 250, 500, 749, 999]
    assert export.evenly_spaced_timesteps(3, 3, 1) == [3]
    with pytest.raises(ValueError):
        export.evenly_spaced_timesteps(0, 10, 0)


def test_schedule_csv_round_trips_the_curves(tmp_path):
    linear, cosine = make_schedule("linear", 20), make_schedule("cosine", 10)
    path = export.save_schedule_csv(tmp_path / "s.csv", {"linear": linear, "cosine": cosine})
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 30
    row = rows[20 + 4]  # cosine, t = 4
    assert row["schedule"] == "cosine" and int(row["t"]) == 4 and float(row["t_over_T"]) == pytest.approx(0.4)
    assert float(row["alpha_bar"]) == float(cosine.alphas_cumprod[4])  # full precision, exactly
    assert float(row["log_snr"]) == float(cosine.log_snr[4])
    assert float(rows[7]["beta"]) == float(linear.betas[7])


def test_loss_history_csv(tmp_path):
    path = export.save_loss_history_csv(tmp_path / "loss.csv", [1, 2, 3], [0.9, 0.5, 0.25], lr=[1e-3, 1e-3, 5e-4])
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["step", "loss", "lr"]
    assert rows[3] == ["3", "0.25", "0.0005"]
    with pytest.raises(ValueError, match="one value per step"):
        export.save_loss_history_csv(tmp_path / "bad.csv", [1, 2], [0.1])
