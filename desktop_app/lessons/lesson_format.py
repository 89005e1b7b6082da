"""Lesson files: Markdown with live bindings, parsed and validated on load (pure Python, no Qt).

One file per step of the tour, in ``resources/lessons/``, read in file-name order::

    ---
    title: How much signal is left?
    view: Forward process          # the view the step opens (see vocabulary.VALUES)
    t: 412                         # the rest is that view's state (vocabulary.STATE)
    schedule: cosine
    ---
    # The forward process
    At $t = {{t}}$, $\\bar\\alpha_t = {{alpha_bar:.2f}}$: {{alpha_bar|percent}} of the signal's variance is left.

    :::question signal_left
    Which schedule keeps more signal at $t = {{t}}$?
    - linear: the linear schedule
    - cosine: the cosine schedule
    answer: more_signal
    reveal: At t = {{t}}, linear keeps {{alpha_bar_1|percent}} and cosine {{alpha_bar_2|percent}}.
    :::

Bindings are ``{{name}}``, ``{{name:.2f}}`` (a Python format spec), ``{{name|percent}}`` (0.31 → "31 %")
and ``{{name|percent:.1f}}``; ``name`` is one of the live values of the view the lesson names.
Formulas between ``$…$`` (or a line ``$$…$$``) use the LaTeX subset of ``formula.py``; the Markdown
(headings, lists, notes, emphasis) is that of ``markdown.py``.
A question's ``answer`` names a text value of the view whose live value is one of the choices' keys.

Every problem raises ``LessonError`` naming the file and the line (an unknown binding, view, state
key or formula command, a bad value, an unclosed block), in words a teacher can act on.
"""

from __future__ import annotations

import difflib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from desktop_app.lessons import vocabulary
from desktop_app.lessons.formula import PLACEHOLDER_END, PLACEHOLDER_START
from desktop_app.lessons.markdown import markdown_to_rich_text

BINDING = re.compile(r"\{\{(\s*[A-Za-z_][^{}]*?)\}\}")  # "{{" then a name: LaTeX's "}}" is no binding
UNCLOSED = re.compile(r"\{\{\s*[A-Za-z_]")
BINDING_BODY = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\|\s*(\w+)\s*)?(?::\s*(\S.*?))?\s*$")
PLACEHOLDER = re.compile(PLACEHOLDER_START + r"(\d+)" + PLACEHOLDER_END)
FILTERS = ("percent",)
MISSING = "—"  # shown for a value the view cannot know yet (no loss before training)


class LessonError(ValueError):
    """A problem in a lesson file; ``str()`` reads "<file>, line <n>: <what is wrong>"."""

    def __init__(self, path: str | Path, line: int, message: str):
        self.path, self.line, self.message = Path(path), line, message
        super().__init__(f"{Path(path).name}, line {line}: {message}")


@dataclass(frozen=True)
class Binding:
    name: str
    filter: str | None
    spec: str | None
    line: int

    def format(self, values: dict) -> str:
        """The value as the lesson shows it (HTML-escaped); "—" when the view cannot know it yet."""
        value = values.get(self.name)
        if value is None:
            return MISSING
        if isinstance(value, bool):
            value = "yes" if value else "no"
        if self.filter == "percent":
            return f"{format(float(value) * 100, self.spec or '.0f')}\u00a0%"
        if self.spec:
            text = format(value, self.spec)
        elif isinstance(value, float):
            text = f"{value:.3g}"
        else:
            text = str(value)
        return html.escape(text)


@dataclass
class Template:
    """Rich text with placeholders where the live values go; ``fill`` is cheap (done at each change)."""

    html: str
    bindings: list[Binding]

    def fill(self, values: dict) -> str:
        return PLACEHOLDER.sub(lambda m: self.bindings[int(m.group(1))].format(values), self.html)


@dataclass
class Question:
    id: str
    prompt: Template
    choices: list[tuple[str, Template]]  # (key, label)
    answer: str  # the name of the view's value that holds the right key
    reveal: Template
    line: int


@dataclass
class Lesson:
    path: Path
    title: str
    view: str
    state: dict
    body: Template
    questions: list[Question] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem

    def bindings(self) -> list[Binding]:
        found = list(self.body.bindings)
        for q in self.questions:
            found += q.prompt.bindings + q.reveal.bindings
            for _key, label in q.choices:
                found += label.bindings
        return found


@dataclass
class LessonSet:
    lessons: list[Lesson]
    errors: list[LessonError]


def lessons_dir() -> Path:
    from desktop_app.paths import resources_dir

    return resources_dir() / "lessons"


def load_lessons(folder: str | Path | None = None) -> LessonSet:
    """Every ``*.md`` lesson of ``folder`` (default: the shipped ones), in file-name order, and the errors."""
    folder = Path(folder) if folder is not None else lessons_dir()
    lessons, errors = [], []
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        try:
            lessons.append(parse_lesson(path.read_text(encoding="utf-8"), path))
        except LessonError as error:
            errors.append(error)
        except (OSError, UnicodeDecodeError) as error:
            errors.append(LessonError(path, 1, f"the file cannot be read as UTF-8 text ({error})"))
    return LessonSet(lessons, errors)


def parse_lesson(text: str, path: str | Path) -> Lesson:
    """Parse and validate one lesson; raises ``LessonError`` (file and line) on the first problem."""
    path = Path(path)
    lines = text.splitlines()
    meta, meta_lines, body_start = _front_matter(lines, path)
    view = meta.get("view")
    if not meta.get("title"):
        raise LessonError(path, body_start - 1, "the front matter has no 'title: …' line")
    if view is None:
        raise LessonError(path, body_start - 1, "the front matter has no 'view: …' line naming the view to open")
    if view not in vocabulary.VALUES:
        raise LessonError(
            path, meta_lines["view"], f"there is no view called '{view}'{_did_you_mean(view, vocabulary.VALUES)}"
        )
    state = _state(meta, meta_lines, view, path)
    context = _Context(path, view)
    body_lines, questions = _split_questions(lines, body_start, context)
    body = context.template(body_lines)
    return Lesson(path, meta["title"], view, state, body, questions)


# --- front matter -------------------------------------------------------------------------------


def _front_matter(lines: list[str], path: Path) -> tuple[dict, dict, int]:
    if not lines or lines[0].strip() != "---":
        raise LessonError(
            path, 1, "a lesson starts with a front matter block: a line '---', 'title: …', 'view: …', '---'"
        )
    meta, meta_lines = {}, {}
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if line == "---":
            return meta, meta_lines, number + 1
        if not line or line.startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or not key:
            raise LessonError(path, number, f"'{line}' is not a 'key: value' line")
        if key in meta:
            raise LessonError(path, number, f"'{key}' is given twice in the front matter")
        meta[key] = value.split(" #")[0].strip()
        meta_lines[key] = number
    raise LessonError(path, 1, "the front matter is never closed: add a line '---' after it")


def _state(meta: dict, meta_lines: dict, view: str, path: Path) -> dict:
    allowed = vocabulary.STATE.get(view, {})
    state = {}
    for key, raw in meta.items():
        if key in vocabulary.FRONT_MATTER_KEYS:
            continue
        spec = allowed.get(key)
        line = meta_lines[key]
        if spec is None:
            known = ", ".join(allowed) or "none"
            raise LessonError(
                path, line, f"the {view} view has no setting '{key}'{_did_you_mean(key, allowed)} (settings: {known})"
            )
        state[key] = _state_value(raw, key, spec, path, line)
    return state


def _state_value(raw: str, key: str, spec: vocabulary.StateKey, path: Path, line: int):
    if spec.kind == "text":
        if not raw.strip():
            raise LessonError(path, line, f"'{key}' needs some text")
        return raw.strip()
    if spec.kind == "choice":
        if raw not in spec.choices:
            raise LessonError(path, line, f"'{raw}' is not a choice for '{key}' (choices: {', '.join(spec.choices)})")
        return raw
    try:
        if spec.kind == "integer":
            value = int(raw)
        elif spec.kind == "number":
            value = float(raw)
        else:
            if raw.lower() not in ("yes", "no", "true", "false"):
                raise ValueError
            return raw.lower() in ("yes", "true")
    except ValueError:
        kind = {"integer": "a whole number", "number": "a number", "boolean": "yes or no"}[spec.kind]
        raise LessonError(path, line, f"'{key}' must be {kind}, not '{raw}'") from None
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        raise LessonError(path, line, f"'{key}' must lie between {spec.low:g} and {spec.high:g}, not {raw}")
    return value


# --- body -------------------------------------------------------------------------------------


class _Context:
    """Turns numbered lines of one lesson into templates, checking bindings against its view."""

    def __init__(self, path: Path, view: str):
        self.path, self.view = path, view
        self.values = vocabulary.VALUES[view]

    def error(self, line: int, message: str) -> LessonError:
        return LessonError(self.path, line, message)

    def template(self, numbered: list[tuple[int, str]]) -> Template:
        bindings: list[Binding] = []
        marked = [(n, self._mark_bindings(text, n, bindings)) for n, text in numbered]
        return Template(markdown_to_rich_text(marked, self.error), bindings)

    def _mark_bindings(self, text: str, line: int, bindings: list[Binding]) -> str:
        def replace(match: re.Match) -> str:
            bindings.append(self.binding(match.group(1), line))
            return f"{PLACEHOLDER_START}{len(bindings) - 1}{PLACEHOLDER_END}"

        marked = BINDING.sub(replace, text)
        if UNCLOSED.search(marked):
            raise self.error(line, "a binding is not closed: write {{name}}, {{name:.2f}} or {{name|percent}}")
        return marked

    def binding(self, inside: str, line: int) -> Binding:
        match = BINDING_BODY.match(inside)
        if match is None:
            raise self.error(
                line,
                f"'{{{{{inside}}}}}' is not a binding: write {{{{name}}}}, {{{{name:.2f}}}} or {{{{name|percent}}}}",
            )
        name, filter_, spec = match.groups()
        value = self.values.get(name)
        if value is None:
            raise self.error(
                line,
                f"the {self.view} view has no live value '{name}'{_did_you_mean(name, self.values)} "
                f"(values: {', '.join(self.values)})",
            )
        if filter_ is not None and filter_ not in FILTERS:
            raise self.error(line, f"'|{filter_}' is not a filter (filters: {', '.join(FILTERS)})")
        if filter_ == "percent" and value.kind == "text":
            raise self.error(line, f"'{name}' is text, so it cannot be shown as a percentage")
        sample = {"number": 0.5, "integer": 7, "text": "x"}[value.kind if filter_ is None else "number"]
        if spec:
            try:
                format(float(sample) * 100 if filter_ else sample, spec)
            except (ValueError, TypeError):
                raise self.error(line, f"':{spec}' is not a format for {value.kind} '{name}' (try :.2f)") from None
        return Binding(name, filter_, spec, line)


def _split_questions(lines: list[str], start: int, context: _Context) -> tuple[list[tuple[int, str]], list[Question]]:
    body: list[tuple[int, str]] = []
    questions: list[Question] = []
    block: list[tuple[int, str]] | None = None
    for number, raw in enumerate(lines[start - 1 :], start=start):
        stripped = raw.strip()
        if block is None and stripped.startswith(":::"):
            kind, _, ident = stripped[3:].strip().partition(" ")
            if kind != "question":
                raise context.error(number, f"':::{kind}' is not a block this app knows (write ':::question <id>')")
            if not re.fullmatch(r"[A-Za-z0-9_-]+", ident.strip()):
                raise context.error(
                    number, "a question needs an id of letters, digits, - or _: ':::question signal_left'"
                )
            if any(q.id == ident.strip() for q in questions):
                raise context.error(number, f"the question id '{ident.strip()}' is used twice in this lesson")
            block = [(number, ident.strip())]
        elif block is not None and stripped == ":::":
            questions.append(_question(block, context))
            block = None
        elif block is not None:
            block.append((number, raw))
        else:
            body.append((number, raw))
    if block is not None:
        raise context.error(block[0][0], "this question block is never closed: end it with a line ':::'")
    return body, questions


def _question(block: list[tuple[int, str]], context: _Context) -> Question:
    (first, ident), rest = block[0], block[1:]
    prompt, choices, reveal = [], [], []
    answer, section = None, "prompt"
    for number, raw in rest:
        line = raw.strip()
        if line.startswith("- ") and section in ("prompt", "choices"):
            key, colon, label = line[2:].partition(":")
            if not colon or not key.strip():
                raise context.error(number, "a choice reads '- key: what the student sees'")
            if any(k == key.strip() for k, _ in choices):
                raise context.error(number, f"the choice '{key.strip()}' is given twice")
            choices.append((key.strip(), context.template([(number, label.strip())])))
            section = "choices"
        elif line.startswith("answer:"):
            answer = (number, line[len("answer:") :].strip())
            section = "answer"
        elif line.startswith("reveal:"):
            reveal.append((number, line[len("reveal:") :].strip()))
            section = "reveal"
        elif section == "reveal":
            reveal.append((number, raw))
        elif section == "prompt":
            prompt.append((number, raw))
        elif line:
            raise context.error(
                number, f"'{line}' is out of place: a question is prompt, '- choices', 'answer:', 'reveal:'"
            )
    if len(choices) < 2:
        raise context.error(first, "a question needs at least two choices ('- key: label' lines)")
    if answer is None:
        raise context.error(
            first, "a question needs an 'answer: <value name>' line naming the live value that holds the right key"
        )
    line, name = answer
    value = context.values.get(name)
    if value is None:
        raise context.error(
            line, f"the {context.view} view has no live value '{name}'{_did_you_mean(name, context.values)}"
        )
    if value.kind != "text":
        raise context.error(line, f"the answer '{name}' must be a text value whose live value is a choice's key")
    keys = [key for key, _label in choices]
    if value.domain and set(keys) != set(value.domain):
        unknown, missing = [k for k in keys if k not in value.domain], [d for d in value.domain if d not in keys]
        detail = "; ".join(
            part
            for part in (f"not a value of it: {', '.join(unknown)}" if unknown else "",
                         f"no choice for: {', '.join(missing)}" if missing else "")
            if part
        )  # fmt: skip
        raise context.error(
            line, f"the choices' keys must be the values '{name}' can take ({', '.join(value.domain)}); {detail}"
        )
    if not any(text.strip() for _n, text in prompt):
        raise context.error(first, "the question has no prompt: write it on the lines after ':::question'")
    return Question(ident, context.template(prompt), choices, name, context.template(reveal), first)


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
