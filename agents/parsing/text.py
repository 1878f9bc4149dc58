"""Text clean-up shared by every reading: case, quotes, dashes and markdown."""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- text clean-up

_CHAR_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u02bc": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "\uff1a": ":",
        "\u200b": None,
        "\ufeff": None,
    }
)
# Markdown emphasis and code marks; underscores only when they are not inside a word.
_MARKUP_RE = re.compile(r"[*`]+|(?<![^\W_])_+|_+(?![^\W_])")
_SPACE_RE = re.compile(r"\s+")


def _plain(text: str) -> str:
    """Lower-case the text, unify quotes and dashes, and drop markdown emphasis."""
    if not text.isascii():  # translate is slow, and ASCII text has nothing to unify
        text = text.translate(_CHAR_MAP)
    return _MARKUP_RE.sub("", text.lower())


def _squash(text: str) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    return _SPACE_RE.sub(" ", text).strip()
