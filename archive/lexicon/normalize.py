"""Text normalisation and tokenisation for lexicon matching, with offsets into the original.

Every character of the original text is normalised on its own:

1. NFKC (fullwidth letters -> ASCII, the ``fi`` ligature -> ``fi``, ``1/2`` -> ``1`` ``2``);
2. casefold (``Straße`` -> ``strasse``);
3. NFD, then every nonspacing mark (category Mn) is dropped: diacritics fold away
   (``garantía`` -> ``garantia``);
4. format characters (Cf: soft hyphen, zero-width joiner...) are dropped too, so
   ``guar\\u00adantee`` still reads ``guarantee``.

The comparison keys stay decomposed (what NFC would compose back is the same text; keeping
NFD also equates a precomposed Hangul syllable with its conjoining jamo). Patterns go
through the very same function, so a pattern and a text always agree.

A token is a run of word characters (letters, digits and the marks that survive step 3).
Anything else (whitespace, punctuation, symbols, emoji) separates tokens, so
``off-the-record``, ``off  the\\nrecord`` and ``OFF, THE RECORD`` are the same three tokens.
An apostrophe (U+0027, U+2019, U+02BC, fullwidth U+FF07) between two word characters stays
inside the token and is keyed as ``'``: ``don't`` typed with either apostrophe is one token,
``dont`` is another.

Each token remembers the half-open character range ``[start, end)`` of the original text it
came from, so a hit reports exactly what the writer wrote.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_APOSTROPHE_KEY = "'"
_APOSTROPHE_FORMS = str.maketrans({"\u2019": _APOSTROPHE_KEY, "\u02bc": _APOSTROPHE_KEY})


@dataclass(frozen=True)
class Token:
    key: str  # the normalised comparison key
    start: int  # offset of the first original character
    end: int  # offset after the last original character


@lru_cache(maxsize=4096)
def fold_char(char: str) -> str:
    """The normalised form of one original character ('' when it folds away entirely)."""
    folded = unicodedata.normalize("NFKC", char).translate(_APOSTROPHE_FORMS).casefold()
    decomposed = unicodedata.normalize("NFD", folded)
    return "".join(
        c for c in decomposed if unicodedata.category(c) not in ("Mn", "Cf")
    )


def _is_word(char: str) -> bool:
    return unicodedata.category(char)[0] in "LNM"


def tokenize(text: str) -> tuple[Token, ...]:
    """The tokens of ``text`` in order, each with its original character range."""
    tokens: list[Token] = []
    key: list[str] = []
    start = end = 0
    pending_apostrophe: int | None = None  # original offset of an apostrophe inside a word

    def close() -> None:
        if key:
            tokens.append(Token("".join(key), start, end))
            key.clear()

    for index, original in enumerate(text):
        folded = fold_char(original)
        if not folded:
            # A dropped mark or format character continues the token it sits in.
            if key and pending_apostrophe is None:
                end = index + 1
            continue
        for char in folded:
            if _is_word(char):
                if pending_apostrophe is not None:
                    key.append(_APOSTROPHE_KEY)
                    pending_apostrophe = None
                if not key:
                    start = index
                key.append(char)
                end = index + 1
            elif char == _APOSTROPHE_KEY and key and pending_apostrophe is None:
                pending_apostrophe = index
            else:
                pending_apostrophe = None
                close()
    close()
    return tuple(tokens)


def normalize(text: str) -> str:
    """The token keys of ``text`` joined by single spaces (for display and tests)."""
    return " ".join(token.key for token in tokenize(text))
