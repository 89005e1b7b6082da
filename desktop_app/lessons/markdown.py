"""The small Markdown of lesson files, as Qt rich text (pure Python, no Qt).

``#``/``##``/``###`` headings, paragraphs, ``-`` and ``1.`` lists, ``> `` notes (consecutive lines make
one), ``**bold**``, ``*italic*``, ```code```, ``$…$`` formulas inline and ``$$…$$`` on a line of their
own (``formula.py``). Everything else is text: a teacher's ``<b>`` shows as typed. Problems go to
``error(line, message)``, which the lesson parser turns into an error naming the file and line.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from desktop_app.lessons.formula import FormulaError, render_formula

NOTE_START, NOTE_END = '<p style="margin-left: 12px;"><i>', "</i></p>"


def markdown_to_rich_text(lines: list[tuple[int, str]], error: Callable[[int, str], Exception]) -> str:
    """Qt rich text for a small Markdown: headings, paragraphs, lists, notes, emphasis, code, formulas."""
    out: list[str] = []
    paragraph: list[tuple[int, str]] = []
    items: list[str] = []
    list_tag = ["ul"]
    note_open = False  # the previous line was a '> ' note: the next one continues it

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{' '.join(_inline(t, n, error) for n, t in paragraph)}</p>")
            paragraph.clear()
        if items:
            tag = list_tag[0]
            out.append(f"<{tag}>" + "".join(f"<li>{item}</li>" for item in items) + f"</{tag}>")
            items.clear()

    for number, raw in lines:
        line = raw.strip()
        heading = re.match(r"^(#{1,3})\s+(.*)$", line)
        continues_note, note_open = note_open, line.startswith("> ")
        if not line:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1)) + 1  # '#' is the lesson's own heading: h2 sits well in a side panel
            out.append(f"<h{level}>{_inline(heading.group(2), number, error)}</h{level}>")
        elif line.startswith("$$") and line.endswith("$$") and len(line) > 4:
            flush()
            out.append(f'<p align="center">{_formula(line[2:-2], number, error)}</p>')
        elif line.startswith(("- ", "* ")) or re.match(r"^\d+\.\s", line):
            ordered = "ol" if line[0].isdigit() else "ul"
            if paragraph or (items and list_tag[0] != ordered):
                flush()
            list_tag[0] = ordered
            items.append(_inline(line.split(" ", 1)[1].strip(), number, error))
        elif line.startswith("> "):
            note = _inline(line[2:], number, error)
            if continues_note:
                out[-1] = out[-1][: -len(NOTE_END)] + " " + note + NOTE_END
            else:
                flush()
                out.append(NOTE_START + note + NOTE_END)
        elif items and raw.startswith("  "):
            items[-1] += " " + _inline(line, number, error)
        else:
            if items:
                flush()
            paragraph.append((number, line))
    flush()
    return "\n".join(out)


def _inline(text: str, line: int, error) -> str:
    parts = text.split("$")
    if len(parts) % 2 == 0:
        raise error(line, "a formula is not closed: every '$' needs a partner")
    rendered = []
    for i, part in enumerate(parts):
        rendered.append(_formula(part, line, error) if i % 2 else _emphasis(html.escape(part, quote=False)))
    return "".join(rendered)


def _emphasis(text: str) -> str:
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<i>\1</i>", text)


def _formula(source: str, line: int, error) -> str:
    try:
        return render_formula(source)
    except FormulaError as problem:
        raise error(line, f"in the formula ${source}$: {problem}") from None
