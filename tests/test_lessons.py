"""Lesson files: the parser, its error messages (file and line), bindings, formulas and the guess log (no Qt)."""

from __future__ import annotations

import json

import pytest

from desktop_app.lessons import vocabulary
from desktop_app.lessons.formula import FormulaError, render_formula
from desktop_app.lessons.guesses import GuessLog
from desktop_app.lessons.lesson_format import Binding, LessonError, load_lessons, parse_lesson

HEADER = "---\ntitle: A lesson\nview: Forward process\n---\n"


def parse(text: str, name: str = "my_lesson.md"):
    return parse_lesson(text, name)


def error_of(text: str, name: str = "my_lesson.md") -> LessonError:
    with pytest.raises(LessonError) as info:
        parse(text, name)
    return info.value


# --- the shipped lessons --------------------------------------------------------------------------


def test_every_shipped_lesson_loads_and_every_binding_resolves_against_its_view():
    loaded = load_lessons()
    assert [str(e) for e in loaded.errors] == []
    assert len(loaded.lessons) >= 8
    for lesson in loaded.lessons:
        known = vocabulary.VALUES[lesson.view]
        for binding in lesson.bindings():
            assert binding.name in known, f"{lesson.name}: {binding.name}"
        for question in lesson.questions:
            assert vocabulary.VALUES[lesson.view][question.answer].kind == "text"


def test_the_tour_follows_the_chapter():
    titles = [lesson.title for lesson in load_lessons().lessons]
    chapter = ["forward process", "schedules", "training", "ddpm", "ddim", "guidance", "latent", "gan"]
    positions = [next(i for i, t in enumerate(titles) if word in t.lower()) for word in chapter]
    assert positions == sorted(positions)
    views = [lesson.view for lesson in load_lessons().lessons]
    assert views[-2:] == ["Latent diffusion", "Compare models"]


def test_vocabulary_agrees_with_core_and_the_window():
    from core.diffusion import SAMPLERS, SCHEDULE_KINDS
    from desktop_app.window.view_specs import VIEW_SPECS

    assert tuple(SCHEDULE_KINDS) == vocabulary.SCHEDULE_KINDS
    assert set(vocabulary.SAMPLER_NAMES) <= set(SAMPLERS)  # a lesson may name these; newer ones once listed
    titles = [title for title, _module, _cls in VIEW_SPECS]
    assert set(vocabulary.VALUES) <= set(titles)
    assert set(vocabulary.STATE) == set(vocabulary.VALUES)


# --- front matter ---------------------------------------------------------------------------------


def test_front_matter_gives_the_view_and_its_typed_state():
    lesson = parse("---\ntitle: T\nview: Forward process\nt: 412\nschedule: cosine\nmode: Markov chain\n---\nHi\n")
    assert lesson.view == "Forward process"
    assert lesson.state == {"t": 412, "schedule": "cosine", "mode": "Markov chain"}
    lesson = parse("---\ntitle: T\nview: Schedules\nalign_by_snr: yes\n---\n")
    assert lesson.state == {"align_by_snr": True}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("title: x\n", 1, "starts with a front matter block"),
        ("---\ntitle: x\nview: Forward process\n", 1, "never closed"),
        ("---\ntitle: x\nthis is not a pair\n---\n", 3, "is not a 'key: value' line"),
        (
            "---\ntitle: x\nview: Forward proces\n---\n",
            3,
            "no view called 'Forward proces' (did you mean 'Forward process'?)",
        ),
        ("---\nview: Forward process\n---\n", 3, "no 'title: …' line"),
        ("---\ntitle: x\n---\n", 3, "no 'view: …' line"),
        ("---\ntitle: x\nview: Forward process\nschedule: cosin\n---\n", 4, "'cosin' is not a choice for 'schedule'"),
        ("---\ntitle: x\nview: Forward process\nt: four\n---\n", 4, "'t' must be a whole number, not 'four'"),
        ("---\ntitle: x\nview: Forward process\nt: 5000\n---\n", 4, "between 0 and 4000"),
        ("---\ntitle: x\nview: Forward process\nsampler: ddim\n---\n", 4, "has no setting 'sampler'"),
        ("---\ntitle: x\nview: Schedules\nalign_by_snr: maybe\n---\n", 4, "must be yes or no"),
        ("---\ntitle: x\ntitle: y\n---\n", 3, "given twice"),
    ],
)
def test_bad_front_matter_names_file_and_line(text, line, words):
    error = error_of(text, "05_ddim.md")
    assert error.line == line
    assert str(error).startswith(f"05_ddim.md, line {line}: ")
    assert words in str(error)


# --- bindings -------------------------------------------------------------------------------------


def test_an_unknown_binding_names_file_line_and_the_near_miss():
    error = error_of(HEADER + "First line.\n\nAt t = {{t}}, alpha = {{alpha_barr:.2f}}.\n", "01_forward.md")
    assert str(error).startswith("01_forward.md, line 7: the Forward process view has no live value 'alpha_barr'")
    assert "did you mean 'alpha_bar'?" in str(error)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{{alpha_bar|percentage}}", "'|percentage' is not a filter"),
        ("{{schedule|percent}}", "is text, so it cannot be shown as a percentage"),
        ("{{schedule:.2f}}", "is not a format for text 'schedule'"),
        ("{{alpha_bar:.2f", "a binding is not closed"),
        ("{{alpha bar}}", "is not a binding"),
        ("$x_t = \\foo$", "the formula command \\foo is not one this app can draw"),
        ("price $5", "a formula is not closed"),
    ],
)
def test_bad_bindings_and_formulas_are_reported_on_their_line(body, words):
    error = error_of(HEADER + "\n" + body + "\n")
    assert error.line == 6
    assert words in str(error)


def test_bindings_format_live_values():
    lesson = parse(
        HEADER
        + "At t = {{t}}, {{alpha_bar:.2f}}: {{alpha_bar|percent}} left ({{snr|percent:.1f}}); {{seed}} {{schedule}}\n"
    )
    html = lesson.body.fill({"t": 412, "alpha_bar": 0.3123, "snr": 0.45399, "seed": None, "schedule": "a<b"})
    assert "At t = 412, 0.31: 31\u00a0% left (45.4\u00a0%); — a&lt;b" in html
    again = lesson.body.fill({"t": 900, "alpha_bar": 0.0003, "snr": 0.0, "seed": 3, "schedule": "cosine"})
    assert "At t = 900, 0.00: 0\u00a0% left (0.0\u00a0%); 3 cosine" in again


def test_a_float_without_format_shows_three_significant_digits():
    assert Binding("x", None, None, 1).format({"x": 0.123456}) == "0.123"
    assert Binding("x", None, None, 1).format({"x": True}) == "yes"


def test_latex_braces_next_to_a_binding_are_not_a_binding():
    lesson = parse(HEADER + "$\\frac{x_t}{\\sqrt{\\bar\\alpha_t}}$ at {{t}}\n")
    assert [b.name for b in lesson.bindings()] == ["t"]


# --- questions ------------------------------------------------------------------------------------

QUESTION = """:::question dominant
Is there more signal or noise at t = {{t}}?
- signal: more signal
- noise: more noise
answer: dominant
reveal: ᾱ = {{alpha_bar:.2f}},
so **{{dominant}}**.
:::
"""


def test_a_question_has_its_prompt_choices_answer_and_reveal():
    lesson = parse(HEADER + "Before.\n" + QUESTION + "After.\n")
    (question,) = lesson.questions
    assert question.id == "dominant" and question.answer == "dominant" and question.line == 6
    assert [key for key, _label in question.choices] == ["signal", "noise"]
    values = {"t": 700, "alpha_bar": 0.04, "dominant": "noise"}
    assert "t = 700" in question.prompt.fill(values)
    assert "ᾱ = 0.04, so <b>noise</b>" in question.reveal.fill(values)
    assert "Before." in lesson.body.html and "After." in lesson.body.html and "more signal" not in lesson.body.html


@pytest.mark.parametrize(
    ("change", "line", "words"),
    [
        (lambda q: q.replace(":::\n", ""), 6, "never closed"),
        (
            lambda q: q.replace("answer: dominant", "answer: dominat"),
            10,
            "no live value 'dominat' (did you mean 'dominant'?)",
        ),
        (lambda q: q.replace("answer: dominant", "answer: alpha_bar"), 10, "must be a text value"),
        (lambda q: q.replace("answer: dominant\n", ""), 6, "needs an 'answer:"),
        (lambda q: q.replace("- noise: more noise\n", ""), 6, "at least two choices"),
        (lambda q: q.replace("- noise: more noise", "- signal: again"), 9, "given twice"),
        (lambda q: q.replace(":::question dominant", ":::quiz dominant"), 6, "':::quiz' is not a block"),
        (
            lambda q: q.replace("- noise:", "- nois:"),
            10,
            "keys must be the values 'dominant' can take (signal, noise); "
            "not a value of it: nois; no choice for: noise",
        ),
    ],
)
def test_bad_questions_name_the_line(change, line, words):
    error = error_of(HEADER + "\n" + change(QUESTION))
    assert (error.line, words in str(error)) == (line, True), str(error)


def test_load_lessons_collects_every_broken_file_and_keeps_the_good_ones(tmp_path):
    (tmp_path / "01_good.md").write_text(HEADER + "{{t}}\n", encoding="utf-8")
    (tmp_path / "02_bad.md").write_text(HEADER + "\n\n{{tt}}\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("not a lesson", encoding="utf-8")
    loaded = load_lessons(tmp_path)
    assert [lesson.name for lesson in loaded.lessons] == ["01_good"]
    assert [str(e).split(":")[0] for e in loaded.errors] == ["02_bad.md, line 7"]


# --- formulas -------------------------------------------------------------------------------------


def test_formulas_become_rich_text_with_sub_superscripts_and_greek():
    html = render_formula(r"x_t = \sqrt{\bar\alpha_t} x_0 + \sqrt{1 - \bar\alpha_t}\,\epsilon")
    assert "<i>x</i><sub><i>t</i></sub> = √(ᾱ<sub><i>t</i></sub>)" in html
    assert "√(1 − ᾱ<sub><i>t</i></sub>)" in html and html.endswith("ε</span>")
    assert "‖ε − ε<sub>θ</sub>" in render_formula(r"\|\epsilon - \epsilon_\theta\|^2")
    assert "<sup>2</sup>" in render_formula("x^2")
    assert "<i>x̂</i><sub>0</sub>" in render_formula(r"\hat{x}_0")
    assert "SNR" in render_formula(r"\text{SNR}") and "𝒩" in render_formula(r"\mathcal{N}")
    assert "(<i>a</i> + <i>b</i>)/<i>c</i>" in render_formula(r"\frac{a + b}{c}")


def test_broken_formulas_raise():
    for source in (r"\frac{a}{b", "x}", "x_", r"\nope"):
        with pytest.raises(FormulaError):
            render_formula(source)


# --- guesses --------------------------------------------------------------------------------------


def test_guesses_are_recorded_and_a_damaged_file_is_kept_aside(tmp_path):
    log = GuessLog(tmp_path / "lessons" / "guesses.json")
    log.record("02_schedules", "more_signal_at_t", "linear", "cosine", {"t": 500, "curve": object()})
    entry = log.record("02_schedules", "more_signal_at_t", "cosine", "cosine", {"t": 500})
    assert entry["correct"] is True
    saved = json.loads(log.path.read_text(encoding="utf-8"))
    assert [(e["guess"], e["correct"]) for e in saved] == [("linear", False), ("cosine", True)]
    assert saved[0]["values"] == {"t": 500}
    assert log.last_guess("02_schedules", "more_signal_at_t")["guess"] == "cosine"
    log.path.write_text("{not json", encoding="utf-8")
    assert log.entries() == []
    assert (tmp_path / "lessons" / "guesses.damaged.json").exists()


def test_markdown_blocks_headings_lists_notes_and_emphasis():
    text = "# Title\n\n1. one\n2. *two*\n\n- a\n- **b** `c`\n\n> a note\n> goes on\n\n> another\nplain $x^2$\n"
    html = parse(HEADER + text).body.html
    assert "<h2>Title</h2>" in html
    assert "<ol><li>one</li><li><i>two</i></li></ol>" in html
    assert "<ul><li>a</li><li><b>b</b> <code>c</code></li></ul>" in html
    assert "<i>a note goes on</i></p>" in html and "<i>another</i></p>" in html
    assert "<p>plain " in html and "<sup>2</sup>" in html
    assert "&lt;b&gt;" in parse(HEADER + "<b>not a tag</b>\n").body.html  # the teacher's text is text
