"""The lesson panel in the main window: live bindings, the guided tour, predict-then-reveal, the dock."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QKeySequence  # noqa: E402

from core.diffusion import make_schedule  # noqa: E402
from desktop_app.lessons import vocabulary  # noqa: E402
from desktop_app.lessons.guesses import GuessLog  # noqa: E402
from desktop_app.lessons.install import install_lessons  # noqa: E402
from desktop_app.lessons.lesson_format import load_lessons  # noqa: E402
from desktop_app.main_window import MainWindow  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_unexpected_dialogs")


@pytest.fixture(scope="module")
def window(qapp, tmp_path_factory):
    """One window for the module (building every view takes a while); its lesson dock shown."""
    settings = QSettings(str(tmp_path_factory.mktemp("lessons") / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings)
    window.resize(1280, 800)
    window.show()
    window.lessons.show()
    yield window
    window.close()
    window.deleteLater()


def _shown_value(values: dict, key: str):
    """The lesson value that mirrors the state key ``key`` (Train's 'steps' reads back as 'total_steps')."""
    return values[{"steps": "total_steps"}.get(key, key) if "total_steps" in values else key]


def test_every_view_a_lesson_names_gives_exactly_its_declared_values(window):
    bound = [title for title, declared in vocabulary.VALUES.items() if declared]
    assert bound == [
        "Forward process",
        "Schedules",
        "Train",
        "Generate",
        "Guidance",
        "Latent diffusion",
        "Compare models",
    ]
    for title in bound:
        view = window.views[title]
        values = view.lesson_values()
        assert set(values) == set(vocabulary.VALUES[title]), title
        for name, declared in vocabulary.VALUES[title].items():  # a question's answer is always one of its keys
            value = values[name]  # None while the view cannot know it yet (no run)
            assert not declared.domain or value is None or value in declared.domain, (title, name, value)
        for name in ("values_changed", "apply_lesson_state"):
            assert hasattr(view, name), (title, name)
    for lesson in load_lessons().lessons:
        view = window.views[lesson.view]
        values = view.lesson_values() if lesson.bindings() or lesson.questions else {}
        assert {b.name for b in lesson.bindings()} <= set(values), lesson.name


def test_next_walks_the_tour_and_each_step_opens_its_view_in_its_state(window, qtbot):
    panel = window.lessons.panel
    lessons = panel.tour.lessons
    panel.step_combo.activated.emit(0)  # the student picks step 1 from the list
    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    for index, lesson in enumerate(lessons):
        if index:
            qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
        assert panel.tour.index == index and panel.step_combo.currentIndex() == index
        assert window.current_view_name() == lesson.view
        values = panel.values()  # {} for a view a lesson opens without binding to it
        for key, wanted in lesson.state.items():
            shown = _shown_value(values, key)
            if isinstance(wanted, bool):
                wanted = "yes" if wanted else "no"
            if lesson.view == "Generate" and key == "steps":
                wanted = min(wanted, window.views["Generate"].steps_spin.maximum())
            assert shown == pytest.approx(wanted) if isinstance(wanted, float) else shown == wanted, (lesson.name, key)
        assert f"Step {index + 1} of {len(lessons)}" in panel.view_note.text()
        assert panel.text_html() == lesson.body.fill(values)
    assert not panel.next_button.isEnabled()
    qtbot.mouseClick(panel.previous_button, Qt.MouseButton.LeftButton)
    assert panel.tour.index == len(lessons) - 2


def test_the_forward_lesson_text_follows_the_timeline(window, qtbot):
    panel = window.lessons.panel
    panel.tour.go_to(0)
    forward = window.views["Forward process"]
    assert forward.lesson_values()["t"] == 412 and forward.lesson_values()["schedule"] == "linear"
    alphas_cumprod = make_schedule("linear", 1000).alphas_cumprod
    for t in (100, 900, 412):
        with qtbot.waitSignal(panel._refresh_timer.timeout, timeout=2000):
            forward.scrubber.setValue(t)
        text = panel.text_html()
        alpha_bar = float(alphas_cumprod[t])
        assert re.search(rf"<i>t</i> = {t}</span>", text)
        assert f"= {alpha_bar:.2f}</span>" in text
        assert f"{alpha_bar * 100:.0f}\u00a0% of the signal's variance is left" in text


def test_predict_then_reveal_records_the_guess_and_the_live_answer(window, qtbot, tmp_path):
    panel = window.lessons.panel
    panel.guesses = GuessLog(tmp_path / "guesses.json")
    step = next(i for i, lesson in enumerate(panel.tour.lessons) if lesson.name == "02_schedules")
    panel.tour.go_to(step)
    schedules = window.views["Schedules"]
    (question,) = panel.questions
    assert question.result.isHidden() and not question.commit_button.isEnabled()
    radio = question.radios["linear"]
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))  # on its circle
    assert question.result.isHidden()  # nothing is revealed before the guess is committed
    with qtbot.waitSignal(panel.guess_recorded, timeout=2000) as recorded:
        qtbot.mouseClick(question.commit_button, Qt.MouseButton.LeftButton)
    linear, cosine = make_schedule("linear", 1000), make_schedule("cosine", 1000)
    right = "cosine" if cosine.alphas_cumprod[500] > linear.alphas_cumprod[500] else "linear"
    assert right == "cosine"
    entry = recorded.args[0]
    assert (entry["guess"], entry["answer"], entry["correct"], entry["values"]["t"]) == ("linear", "cosine", False, 500)
    saved = json.loads((tmp_path / "guesses.json").read_text(encoding="utf-8"))
    assert [(e["lesson"], e["question"], e["guess"]) for e in saved] == [("02_schedules", "more_signal_at_t", "linear")]
    assert not question.result.isHidden() and "Not quite" in question.result.text()
    assert not question.radios["cosine"].isEnabled()
    # the answer is live: with schedule 1 set to cosine and 2 to linear the words follow the view
    schedules.apply_lesson_state({"schedule_1": "cosine", "schedule_2": "linear"})
    qtbot.waitUntil(lambda: "cosine keeps 49.2" in question.result.text().replace("\u00a0", " "), timeout=2000)
    qtbot.mouseClick(question.again_button, Qt.MouseButton.LeftButton)
    assert question.result.isHidden() and question.chosen() is None
    schedules.apply_lesson_state({"schedule_1": "linear", "schedule_2": "cosine"})


def test_opening_a_view_from_the_sidebar_shows_its_lesson(window):
    panel = window.lessons.panel
    panel.tour.go_to(0)
    window.sidebar.setCurrentRow(window.titles.index("Guidance"))
    assert panel.lesson().view == "Guidance"
    window.sidebar.setCurrentRow(window.titles.index("Edit"))  # no lesson for Edit: the step stays
    assert panel.lesson().view == "Guidance" and "you are in Edit" in panel.view_note.text()


def test_f2_and_the_view_menu_toggle_the_dock(window, qtbot):
    lessons = window.lessons
    assert lessons.action.shortcut() == QKeySequence("F2")
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    assert lessons.action in view_menu.actions()
    assert lessons.button.defaultAction() is lessons.action and lessons.button.toolTip()
    assert lessons.dock.isVisible()
    lessons.action.trigger()
    assert not lessons.dock.isVisible() and window.settings.value("lessons/visible", type=bool) is False
    lessons.action.trigger()
    assert lessons.dock.isVisible() and window.settings.value("lessons/visible", type=bool) is True
    assert lessons.dock.isAreaAllowed(Qt.DockWidgetArea.RightDockWidgetArea)
    assert window.dockWidgetArea(lessons.dock) == Qt.DockWidgetArea.RightDockWidgetArea


def test_a_broken_lesson_file_is_named_with_its_line_in_the_panel(window, tmp_path):
    (tmp_path / "01_mine.md").write_text("---\ntitle: Mine\nview: Forward process\nt: 10\n---\nAt {{t}}.\n", "utf-8")
    (tmp_path / "02_typo.md").write_text("---\ntitle: Typo\nview: Forward process\n---\n\n{{alpha_bra}}\n", "utf-8")
    extra = install_lessons(window, folder=tmp_path, guesses=GuessLog(tmp_path / "g.json"))
    try:
        panel = extra.panel
        assert [lesson.name for lesson in panel.tour.lessons] == ["01_mine"]
        assert not panel.errors.isHidden()
        assert "02_typo.md, line 6: the Forward process view has no live value 'alpha_bra'" in panel.errors.text()
        empty = install_lessons(window, folder=tmp_path / "none", guesses=GuessLog(tmp_path / "g.json"))
        empty.panel.on_views_ready()
        assert "No lesson files were found" in empty.panel.text_html() and not empty.panel.next_button.isEnabled()
        window.removeDockWidget(empty.dock)
        window.statusBar().removeWidget(empty.button)
        empty.dock.deleteLater()
        empty.button.deleteLater()
    finally:
        window.removeDockWidget(extra.dock)
        window.statusBar().removeWidget(extra.button)
        extra.dock.deleteLater()
        extra.button.deleteLater()


def test_a_step_opened_while_the_views_load_gets_its_state_once_they_exist(qtbot, tmp_path):
    """The app starts with its views still loading (torch on a thread): the panel shows at once and a
    step chosen then is applied when the views are built."""
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, load_views=False)
    qtbot.addWidget(window)
    window.show()
    panel = window.lessons.panel
    assert panel.lesson().name == "01_forward_process" and "\u2014" in panel.text_html()  # "—": no values yet
    step = next(i for i, lesson in enumerate(panel.tour.lessons) if lesson.name == "02_schedules")
    panel.tour.go_to(step)
    with qtbot.waitSignal(window.views_ready, timeout=120_000):
        window.load_views_async()
    values = window.views["Schedules"].lesson_values()
    assert (values["t"], values["schedule_1"], values["schedule_2"]) == (500, "linear", "cosine")
    assert "\u2014" not in panel.text_html() and "49.2" in panel.text_html()
    window.close()
