"""A small LaTeX subset rendered as Qt rich text (HTML with <sub>, <sup>, <i>): no MathJax, no network.

What a lesson's ``$…$`` may contain::

    \\alpha … \\omega, \\Sigma, \\nabla, \\cdot, \\times, \\approx, \\leq, \\to, \\sim, \\infty, \\log, …
    x_t   x_{t-1}   x^2   \\bar{\\alpha}_t   \\hat{x}_0   \\tilde{\\epsilon}   \\sqrt{1 - \\bar\\alpha_t}
    \\frac{a}{b}   \\text{SNR}   \\mathbf{x}   \\mathcal{N}   \\|x\\|   \\, (thin space)

Single Latin letters are set in italics (variables), numbers and words upright. An unknown command
raises ``FormulaError`` with the command's name, which the lesson parser reports with the file and
line. Characters in the private-use range (the lesson parser's placeholders for live values) pass
through untouched and are never split.
"""

from __future__ import annotations

import html

SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "zeta": "ζ",
    "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ",
    "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ",
    "omega": "ω", "Gamma": "Γ", "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Pi": "Π", "Sigma": "Σ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω", "nabla": "∇", "partial": "∂", "cdot": "·", "times": "×",
    "approx": "≈", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥", "neq": "≠", "to": "→", "gets": "←",
    "sim": "~", "infty": "∞", "pm": "±", "in": "∈", "sum": "∑", "prod": "∏", "int": "∫", "propto": "∝",
    "mid": "|", "ldots": "…", "dots": "…", "emptyset": "∅", "varnothing": "∅", "|": "‖",
    ",": "\u2009", ";": "\u2005", "quad": "\u2003", " ": " ", "{": "{", "}": "}",
}  # fmt: skip
FUNCTIONS = {"log", "exp", "min", "max", "arg", "sin", "cos", "softmax", "E"}
ACCENTS = {"bar": "\u0304", "hat": "\u0302", "tilde": "\u0303", "dot": "\u0307"}
PRECOMPOSED = {("α", "\u0304"): "ᾱ", ("x", "\u0302"): "x̂"}
CALLIGRAPHIC = {"N": "𝒩", "L": "ℒ", "D": "𝒟", "O": "𝒪", "E": "ℰ"}
PLACEHOLDER_START, PLACEHOLDER_END = "\ue000", "\ue001"


class FormulaError(ValueError):
    """A formula uses something this renderer does not know (the message names it)."""


def render_formula(source: str) -> str:
    """Qt rich text for the LaTeX-subset ``source`` (raises ``FormulaError`` on unknown commands)."""
    parser = _Parser(source)
    out = parser.sequence(top=True).replace("\u2009 ", " ").replace(" \u2009", " ").replace("  ", " ")
    out = out.replace("\u2009\u2009", "\u2009").strip()
    return f'<span style="font-family: serif;">{out}</span>'


class _Parser:
    def __init__(self, source: str):
        self.s = source
        self.i = 0

    def sequence(self, top: bool = False) -> str:
        parts: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "}":
                if top:
                    raise FormulaError("a '}' closes a group that was never opened")
                return "".join(parts)
            if c == " ":  # a space between two atoms stays a (thin) space, as a reader expects
                self._skip_spaces()
                if parts and not parts[-1].endswith(" "):
                    parts.append("\u2009")
                continue
            if c in "_^":
                self.i += 1
                tag = "sub" if c == "_" else "sup"
                parts.append(f"<{tag}>{self.atom()}</{tag}>")
                continue
            parts.append(self.atom())
        if not top:
            raise FormulaError("a '{' is never closed")
        return "".join(parts)

    def group(self) -> str:
        """The contents of ``{…}`` (the '{' is current)."""
        self.i += 1
        inner = self.sequence()
        self.i += 1  # the '}'
        return inner

    def raw_group(self) -> str:
        if self.i >= len(self.s) or self.s[self.i] != "{":
            raise FormulaError("\\text needs its words in braces: \\text{…}")
        end = self.s.find("}", self.i)
        if end < 0:
            raise FormulaError("a '{' is never closed")
        text = self.s[self.i + 1 : end]
        self.i = end + 1
        return text

    def atom(self) -> str:
        """One unit: a group, a command, a placeholder, a word, a number or one character."""
        self._skip_spaces()
        if self.i >= len(self.s):
            raise FormulaError("a '_' or '^' at the end has nothing to attach to")
        c = self.s[self.i]
        if c == "{":
            return self.group()
        if c == "\\":
            return self.command()
        if c == PLACEHOLDER_START:
            end = self.s.find(PLACEHOLDER_END, self.i)
            token, self.i = self.s[self.i : end + 1], end + 1
            return token
        if c.isascii() and c.isalpha():
            j = self.i
            while j < len(self.s) and self.s[j].isascii() and self.s[j].isalpha():
                j += 1
            word, self.i = self.s[self.i : j], j
            return f"<i>{word}</i>" if len(word) == 1 else html.escape(word)
        if c.isdigit() or c == ".":
            j = self.i
            while j < len(self.s) and (self.s[j].isdigit() or self.s[j] == "."):
                j += 1
            number, self.i = self.s[self.i : j], j
            return number
        self.i += 1
        if c == ",":
            return ", "
        if c in "-=+<>":
            return f" {html.escape('−' if c == '-' else c)} "  # binary operators get room around them
        return html.escape(c)

    def command(self) -> str:
        self.i += 1
        j = self.i
        while j < len(self.s) and self.s[j].isalpha():
            j += 1
        if j == self.i:  # a one-character command: \, \; \| \{ \}
            name, self.i = self.s[self.i : self.i + 1], self.i + 1
        else:
            name, self.i = self.s[self.i : j], j
        if name in SYMBOLS:
            return html.escape(SYMBOLS[name])
        if name in FUNCTIONS:
            return name
        if name in ACCENTS:
            base = self.atom()
            return PRECOMPOSED.get((base, ACCENTS[name]), _accent(base, ACCENTS[name]))
        if name == "sqrt":
            inner = self.atom()
            return f"√{inner}" if _is_simple(inner) else f"√({inner})"
        if name == "frac":
            numerator, denominator = self.atom(), self.atom()
            return f"{_bracket(numerator)}/{_bracket(denominator)}"
        if name in ("text", "mathrm", "operatorname"):
            return html.escape(self.raw_group())
        if name in ("mathbf", "boldsymbol"):
            return f"<b>{self.atom()}</b>"
        if name == "mathcal":
            letter = self.raw_group()
            return CALLIGRAPHIC.get(letter, html.escape(letter))
        if name in ("left", "right", "big", "Big"):
            return ""
        raise FormulaError(f"the formula command \\{name} is not one this app can draw")

    def _skip_spaces(self) -> None:
        while self.i < len(self.s) and self.s[self.i] == " ":
            self.i += 1


def _accent(base: str, mark: str) -> str:
    """Put a combining ``mark`` after the first visible character of ``base`` (skipping <i> tags)."""
    if base.startswith("<i>") and len(base) > 4:
        return f"<i>{base[3]}{mark}{base[4:]}"
    return base[:1] + mark + base[1:] if base else mark


def _is_simple(rendered: str) -> bool:
    text = rendered.replace("<i>", "").replace("</i>", "")
    return len(text) <= 2 and "<" not in text or text.startswith(PLACEHOLDER_START) and text.count(PLACEHOLDER_END) == 1


def _bracket(rendered: str) -> str:
    return rendered if _is_simple(rendered) else f"({rendered})"
