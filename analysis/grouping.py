"""Grouping columns as the analysis functions take them: None, one name or several."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd


def group_keys(by: str | Sequence[str] | None) -> list[str]:
    """Grouping columns as a list: None -> [], "a" -> ["a"]."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def iter_groups(frame: pd.DataFrame, keys: list[str]
                ) -> Iterator[tuple[dict[str, object], pd.DataFrame]]:
    """(group key as a dict, group frame) pairs; the whole frame when there are no keys."""
    if not keys:
        yield {}, frame
        return
    for key, group in frame.groupby(keys, dropna=False, sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        yield dict(zip(keys, key, strict=True)), group
