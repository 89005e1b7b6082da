"""A word tokeniser with a fixed vocabulary: prompts → token ids, unknown words explained in words.

Stable Diffusion tokenises with CLIP's byte-pair encoding over ~49k sub-words; the coloured-shapes
captions use about thirty words, so one token per word is enough and every token stays readable in
the attention maps. Every prompt starts with the start token ``<start>`` (CLIP's ``<|startoftext|>``):
the empty prompt is then a sequence of one token, the "no text" condition that classifier-free
guidance needs, and every cross-attention has at least one key to attend to. Shorter prompts are
padded with ``<pad>`` up to a fixed length; the mask says which positions are real words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

PAD, START = "<pad>", "<start>"
SPECIAL_TOKENS = (PAD, START)
_WORD = re.compile(r"[a-z]+")
_SEPARATORS = re.compile(r"[\s,.;:!?'\"()-]+")


class PromptError(ValueError):
    """A prompt the text model cannot read; the message says why and lists the words it knows."""


@dataclass
class EncodedPrompts:
    """Token ids (B, L) long, padded with ``<pad>``, and a mask (B, L) bool: True where a token is real."""

    ids: torch.Tensor
    mask: torch.Tensor
    tokens: list[list[str]]  # the tokens of each prompt, ``<start>`` first, without padding


class Vocabulary:
    """A fixed list of words; ids 0 and 1 are ``<pad>`` and ``<start>``."""

    def __init__(self, words, max_tokens: int = 12):
        words = [str(w) for w in words]
        if not words or any(not _WORD.fullmatch(w) for w in words):
            raise ValueError("A vocabulary is a non-empty list of lower-case words (letters only).")
        if len(set(words)) != len(words):
            raise ValueError("A vocabulary must not list a word twice.")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 2:
            raise ValueError(f"max_tokens must be a whole number of at least 2, not {max_tokens!r}.")
        self.words = tuple(words)
        self.tokens = SPECIAL_TOKENS + self.words
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.max_tokens = max_tokens  # including <start>

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and (self.words, self.max_tokens) == (other.words, other.max_tokens)

    def to_dict(self) -> dict:
        return {"words": list(self.words), "max_tokens": self.max_tokens}

    @classmethod
    def from_dict(cls, d) -> Vocabulary:
        if not isinstance(d, dict) or not isinstance(d.get("words"), list):
            raise ValueError("A vocabulary is stored as {'words': [...], 'max_tokens': n}.")
        return cls(d["words"], d.get("max_tokens", 12))

    def split(self, prompt: str) -> list[str]:
        """The prompt's words, lower-cased, punctuation dropped (no check against the vocabulary)."""
        if not isinstance(prompt, str):
            raise PromptError(f"A prompt is text, not {type(prompt).__name__}.")
        return [w for w in _SEPARATORS.split(prompt.strip().lower()) if w]

    def check(self, prompt: str, *, allow_empty: bool = False) -> list[str]:
        """The prompt's tokens (``<start>`` first); ``PromptError`` in words for anything it cannot read."""
        words = self.split(prompt)
        if not words and not allow_empty:
            raise PromptError(
                "The prompt is empty. Type a description such as "
                "'a small red circle at the top left'. (An empty prompt is what classifier-free guidance "
                "uses as 'no text': the model then draws any shape, and the guidance scale has nothing to "
                f"push towards.) The words the model knows are: {self.word_list()}."
            )
        unknown = [w for w in dict.fromkeys(words) if w not in self.index or w in SPECIAL_TOKENS]
        if unknown:
            quoted = ", ".join(f"'{w}'" for w in unknown)
            raise PromptError(
                f"The model does not know the word{'s' if len(unknown) > 1 else ''} {quoted}: it learnt only "
                f"the words of its training captions. Use only these words: {self.word_list()}."
            )
        if len(words) + 1 > self.max_tokens:
            raise PromptError(
                f"The prompt has {len(words)} words; this model reads at most {self.max_tokens - 1}. "
                "Shorten it, e.g. 'a large blue square at the bottom right'."
            )
        return [START, *words]

    def word_list(self) -> str:
        return ", ".join(self.words)

    def encode(self, prompts: str | list[str], *, allow_empty: bool = False) -> EncodedPrompts:
        """Token ids and mask for one prompt or a list, padded to ``max_tokens``."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts:
            raise PromptError("Give at least one prompt.")
        tokens = [self.check(p, allow_empty=allow_empty) for p in prompts]
        ids = torch.full((len(prompts), self.max_tokens), self.index[PAD], dtype=torch.long)
        for row, toks in enumerate(tokens):
            ids[row, : len(toks)] = torch.tensor([self.index[t] for t in toks])
        return EncodedPrompts(ids, ids != self.index[PAD], tokens)
