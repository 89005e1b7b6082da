"""Text for text-to-image: a word tokeniser with a fixed vocabulary and a tiny Transformer text encoder.

Qt-free and download-free: the vocabulary is the words of the coloured-shapes captions
(``core.data.captions``), the encoder is trained by the project (``scripts/train_text_to_image.py``).
"""

from core.text.encoder import TextEncoder, TextEncoderConfig
from core.text.vocabulary import PAD, SPECIAL_TOKENS, START, EncodedPrompts, PromptError, Vocabulary

__all__ = [
    "PAD",
    "SPECIAL_TOKENS",
    "START",
    "EncodedPrompts",
    "PromptError",
    "TextEncoder",
    "TextEncoderConfig",
    "Vocabulary",
]
