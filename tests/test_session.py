"""Session files: the whole state of the app saved and reopened exactly; a damaged, foreign or too new
file gets a clear message and changes nothing; the shipped lesson presets open as they say."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from desktop_app.main_window import MainWindow  # noqa: E402
from desktop_app.teacher import presets_dir, session, view_state  # noqa: E402
from desktop_app.window import themes, zoom  # noqa: E402


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    settings = QSettings(str(tmp_path_factory.mktemp("session") / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.show()
    window.show_view("Generate")  # picks the bundled model
    QApplication.processEvents()
    yield window
    window.teacher.mode.set_on(False)
    window.set_zoom(zoom.DEFAULT_ZOOM)
    window.set_theme(themes.DEFAULT_THEME)
    window.close()
    window.deleteLater()


@pytest.fixture
def warnings(monkeypatch):
    """The messages the user would see in a warning box (the box itself would wait for a click)."""
    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a, **k: shown.append(text))
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text, *a, **k: shown.append(text))
    return shown


def _state(window) -> dict:
    return session.capture_session(window).to_dict()


def _set(window, title: str, name: str, value) -> None:
    widget = view_state.session_controls(window.view(title))[name]
    assert view_state.set_control(widget, value) is None, f"{title}: {name} = {value!r}"


def _choose(window, forward_kind, t, seed, sampler, steps, scale, guidance_scale, zoom_factor, theme, view):
    _set(window, "Forward process", "kind_combo", forward_kind)
    _set(window, "Forward process", "seed_spin", seed)
    _set(window, "Forward process", "scrubber", t)
    _set(window, "Generate", "sampler_combo", sampler)
    _set(window, "Generate", "steps_spin", steps)
    _set(window, "Generate", "seed_spin", seed)
    _set(window, "Generate", "guidance_spin", scale)
    _set(window, "Guidance", "setup.scale_spin", guidance_scale)
    window.set_zoom(zoom_factor)
    window.set_theme(theme)
    window.show_view(view)


def _set_columns(window, kinds: list[str]) -> None:
    schedules = window.view("Schedules")
    while len(schedules.columns) < len(kinds):
        schedules.add_column()
    while len(schedules.columns) > len(kinds):
        schedules.remove_column(len(schedules.columns) - 1)
    for column, kind in zip(schedules.columns, kinds, strict=True):
        assert view_state.set_control(column.kind_combo, kind) is None


def test_a_session_round_trips_exactly(window, tmp_path, warnings):
    _choose(window, "cosine", 437, 5, "ddpm", 37, 2.5, 4.0, 1.25, "High contrast", "Schedules")
    _set_columns(window, ["linear", "sigmoid", "cosine"])
    saved = _state(window)
    path = window.teacher.save_session(tmp_path / "lesson")
    assert path.suffix == session.SUFFIX
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["format"] == session.FORMAT and on_disk["version"] == session.VERSION
    assert on_disk["views"]["Generate"]["sampler_combo"] == "ddpm"
    assert on_disk["views"]["Forward process"]["scrubber"] == 437
    assert on_disk["appearance"] == {"text_size": 1.25, "theme": "High contrast", "teacher_mode": False}

    assert [c["kind_combo"] for c in on_disk["views"]["Schedules"]["columns"]] == ["linear", "sigmoid", "cosine"]

    _choose(window, "linear", 90, 1, "ddim", 12, 1.0, 1.5, 1.0, "Light", "Train")
    _set_columns(window, ["quadratic", "cosine"])
    assert _state(window) != saved
    assert window.teacher.open_session(path), warnings
    assert not warnings
    assert _state(window) == saved
    forward = window.view("Forward process")
    assert forward.current_t() == 437 and forward.schedule.num_timesteps == 1000
    assert window.current_view_name() == "Schedules" and window.zoom_factor() == 1.25
    assert window.theme_name() == "High contrast"
    assert [s.kind for s in window.view("Schedules").schedules] == ["linear", "sigmoid", "cosine"]
    window.set_theme(themes.DEFAULT_THEME)
    window.set_zoom(zoom.DEFAULT_ZOOM)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"format": "diffusion-lab-session", "version": 1, "views": {"Gener', "damaged: it is not valid JSON (line 1"),
        ('{"format": "something-else", "version": 1}', "not a Diffusion Lab session file"),
        ('{"format": "diffusion-lab-session", "version": 7}', "newer Diffusion Lab (session version 7"),
        ('{"format": "diffusion-lab-session"}', "no version number"),
        ('{"format": "diffusion-lab-session", "version": 1, "views": {"Generate": {"steps_spin": "many"}}}',
         "Generate: steps_spin should be a whole number, not 'many'"),
        ('{"format": "diffusion-lab-session", "version": 1, "views": {"Painting": {}}}', "view this app does not have: Painting"),
        ('{"format": "diffusion-lab-session", "version": 1, "appearance": {"theme": "Neon"}}', "no theme 'Neon'"),
    ],
    ids=["truncated", "foreign", "newer", "no-version", "wrong-value", "unknown-view", "unknown-theme"],
)  # fmt: skip
def test_a_bad_file_gets_a_clear_message_and_changes_nothing(window, tmp_path, warnings, content, words):
    window.show_view("Forward process")
    before = _state(window)
    path = tmp_path / "bad.dlsession"
    path.write_text(content, encoding="utf-8")
    assert not window.teacher.open_session(path)
    assert len(warnings) == 1 and words in warnings[0] and "bad.dlsession" in warnings[0], warnings
    assert _state(window) == before


def test_a_file_that_is_not_text_is_refused(window, tmp_path, warnings):
    path = tmp_path / "picture.dlsession"
    path.write_bytes(bytes(range(256)) * 4)
    assert not window.teacher.open_session(path)
    assert "not text" in warnings[0]


def test_the_shipped_presets_open_as_they_say(window, warnings):
    presets = sorted(presets_dir().glob(f"*{session.SUFFIX}"))
    assert len(presets) >= 4
    for path in presets:
        assert window.teacher.open_session(path), warnings
        assert not warnings, f"{path.name}: {warnings}"
        wanted = session.read_session(path)
        assert window.current_view_name() == wanted.view
        for title, state in wanted.views.items():
            shown = view_state.capture_view(window.view(title))
            for name, value in state.items():
                if isinstance(value, list):  # panels that come and go: the preset names some of their controls
                    assert len(shown[name]) == len(value), f"{path.name}: {name}"
                    for panel, wanted in zip(shown[name], value, strict=True):
                        assert {k: panel[k] for k in wanted} == wanted, f"{path.name}: {name}"
                elif not name.endswith("model_combo"):  # a model is named by its file, shown by its label
                    assert shown[name] == value, f"{path.name}: {name}"
    forward = window.view("Forward process")
    window.teacher.open_session(presets_dir() / "forward_cosine_t500.dlsession")
    assert forward.current_t() == 500 and forward.kind_combo.currentText() == "cosine"
    window.teacher.open_session(presets_dir() / "schedules_linear_vs_cosine.dlsession")
    assert [s.kind for s in window.view("Schedules").schedules] == ["linear", "cosine"]
    window.teacher.open_session(presets_dir() / "generate_ddim_20_steps.dlsession")
    generate = window.view("Generate")
    assert generate.model_panel.current is not None and "fmnist_unet" in generate.model_combo.currentData()
    assert generate.sampler_combo.currentData() == "ddim" and generate.steps_spin.value() == 20


def test_a_checkpoint_the_list_does_not_offer_is_opened_from_its_path(window, tmp_path, warnings):
    import shutil

    copy = tmp_path / "my_garments.safetensors"  # a checkpoint saved somewhere else on another day
    shutil.copy(presets_dir().parent / "models" / "gallery" / "lesson_garments_step_00150.safetensors", copy)
    generate = window.view("Generate")
    assert generate.model_combo.findData(f"file:{copy}") < 0
    path = tmp_path / "own_model.dlsession"
    state = {"model_combo": f"file:{copy}", "sampler_combo": "ddim", "steps_spin": 15}
    path.write_text(json.dumps({"format": session.FORMAT, "version": 1, "views": {"Generate": state}}), "utf-8")
    assert window.teacher.open_session(path) and not warnings, warnings
    assert generate.model_combo.currentData() == f"file:{copy}"
    assert generate.model_panel.current is not None and generate.steps_spin.value() == 15
