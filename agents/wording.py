"""Wording shared by every layer's messages (standard library only, like `agents.errors`)."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """`1 tick`, `0 ticks`, `2 ticks`: the plural (`many`, default word + s) unless count is 1."""
    return f"{count} {word}" if count == 1 else f"{count} {many or word + 's'}"
