"""Grouping columns as the analysis functions take them: None, one name or several."""

from __future__ import annotations

from collections.abc import Sequence


def group_keys(by: str | Sequence[str] | None) -> list[str]:
    """Grouping columns as a list: None -> [], "a" -> ["a"]."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)
