"""The Compare view, driven as a student would: train the three models on 8 Gaussians, watch, measure."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.views.compare.table import ROWS
from desktop_app.views.compare_view import CompareView


@pytest.fixture
def view(qtbot, tmp_path, monkeypatch):
    # closing with runs trained here asks to save (tests/test_app_compare_runs.py); these tests discard them
    monkeypatch.setattr(
        "desktop_app.views.compare.saving.QMessageBox.question", lambda *a: QMessageBox.StandardButton.Discard
    )
    view = CompareView(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.on_shown()
    view.measure_sizes["points"] = (300, 60)  # a smaller table than the view's default, same code
    yield view
    view.shutdown()


def test_train_three_models_live_then_measure_the_table(qtbot, view, tmp_path):
    controls = view.controls
    assert controls.dataset() == "eight_gaussians" and not controls.measure_button.isEnabled()
    before = view.lesson_values()
    assert before["measured"] == 0 and before["gan_collapsed"] is None and before["gan_modes"] is None
    view.apply_lesson_state({"dataset": "eight_gaussians", "gan_setting": "r1", "steps": 100})
    assert controls.gan_setting() == "r1" and controls.steps.value() == 100
    with qtbot.waitSignal(view.trained, timeout=120_000):
        qtbot.mouseClick(controls.train_button, Qt.MouseButton.LeftButton)
        assert controls.stop_button.isEnabled() and not controls.train_button.isEnabled()
    # live curves: the GAN's two losses, the VAE's −ELBO and KL, the diffusion loss
    gan = view.columns["gan"]
    assert len(gan.curves.values("loss")) == len(gan.curves.values("g_loss")) == 20
    assert np.isfinite(gan.curves.values("g_loss")).all()
    assert len(view.columns["diffusion"].curves.values("loss")) == 20
    assert gan.inside.last is not None and gan.inside.last.step == 100
    assert gan.inside.heat.image.shape == (64, 64)
    assert gan.inside.heat in gan.inside.getPlotItem().items  # still drawn after the columns were cleared
    assert view.columns["vae"].inside.last.means.shape == (1000, 2)
    assert len(gan.samples.points()) == 512 and gan.status.text().startswith("completed after 100 steps")
    assert set(view.models) == {"diffusion", "gan", "vae"}

    with qtbot.waitSignal(view.measured, timeout=120_000):
        qtbot.mouseClick(controls.measure_button, Qt.MouseButton.LeftButton)
    table = view.table
    assert table.text("nll", "gan") == "cannot compute (no density)"
    assert table.text("nll", "diffusion").endswith("(exact)")
    assert table.text("nll", "vae").startswith("≤")
    for kind in ("diffusion", "gan", "vae"):
        covered, total = table.text("modes", kind).split(" / ")
        assert total == "8" and 0 <= int(covered) <= 8
        assert view.measurements[kind].num_samples == 300
    # a GAN samples with one network call, DDIM with 50
    assert table.text("speed", "gan").endswith("(1 calls)") and table.text("speed", "diffusion").endswith("(50 calls)")
    assert "GAN:" in controls.message.text()
    values = view.lesson_values()  # what the lesson shows and asks about
    assert values["measured"] == 3 and values["num_modes"] == 8 and values["steps"] == 100
    for kind in ("diffusion", "gan", "vae"):
        assert f"{values[f'{kind}_modes']} / 8" == table.text("modes", kind)
    assert values["gan_collapsed"] == ("yes" if values["gan_modes"] < 8 else "no")

    view.save_to(tmp_path / "saved")
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=30_000)
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [
        "diffusion.safetensors", "gan.safetensors", "vae.safetensors",
    ]  # fmt: skip


def test_pause_and_stop_reach_all_three_loops(qtbot, view):
    controls = view.controls
    controls.steps.setValue(5000)
    qtbot.mouseClick(controls.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all(c.curves.values("loss") for c in view.columns.values()), timeout=60_000)
    qtbot.mouseClick(controls.pause_button, Qt.MouseButton.LeftButton)
    assert controls.pause_button.text() == "Resume"
    qtbot.waitUntil(lambda: all("paused" in c.status.text() for c in view.columns.values()), timeout=30_000)
    with qtbot.waitSignal(view.trained, timeout=60_000):
        qtbot.mouseClick(controls.stop_button, Qt.MouseButton.LeftButton)
    assert all(c.status.text().startswith("stopped") for c in view.columns.values())
    assert controls.measure_button.isEnabled() and controls.pause_button.text() in ("Pause", "Resume")


def test_fashion_mnist_mode_shows_the_shipped_models_side_by_side(qtbot, view):
    controls = view.controls
    with qtbot.waitSignal(view.loaded, timeout=120_000):
        controls.dataset_combo.setCurrentIndex(controls.dataset_combo.findData("fashion_mnist"))
    assert not controls.train_button.isEnabled() and controls.measure_button.isEnabled()
    for kind, column in view.columns.items():
        assert column.pages.currentIndex() == 1
        grid = column.image_samples.last_picture
        assert grid is not None and np.isfinite(grid).all() and grid.std() > 0.05, kind  # not a blank grid
        assert column.image_path.last_picture is not None
        assert column.status.text().startswith("shipped")
    view.measure_sizes["images"] = (20, 0)  # FID etc. on 20 samples: the code path, not the number
    with qtbot.waitSignal(view.measured, timeout=180_000):
        qtbot.mouseClick(controls.measure_button, Qt.MouseButton.LeftButton)
    assert view.table.text("nll", "gan") == "cannot compute (no density)"
    assert view.table.text("nll", "vae") == "not measured"
    assert float(view.table.text("fid", "gan")) > 0
    # training time to a FID all three reach, from the histories the recipes recorded (not re-measured)
    time_row = [key for key, _, _ in ROWS].index("time")
    assert not view.table.isRowHidden(time_row)
    assert view.table.verticalHeaderItem(time_row).text().startswith("Training time to FID ≤ ")
    for kind in ("diffusion", "gan", "vae"):
        assert view.table.text("time", kind).endswith(")") and "CPU-s" in view.table.text("time", kind), kind
    assert view.table.isRowHidden(0) and not view.table.isRowHidden(2)  # no mode count for images; FID shown
