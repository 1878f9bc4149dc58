"""The order in which conditions are shown: the design's order, not the alphabet.

Disclosure conditions appear as the design lists them (none, customer, company, both), with
any other value after them in alphabetical order. Tables (`summarise`), reports, plots and the
notebook all sort with `condition_order`, so a condition sits in the same place everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

DISCLOSURE_ORDER = ("none", "customer", "company", "both")
"""Disclosure conditions in the design's order: nobody, the customer, the company, both."""


def condition_order(value: object) -> tuple[int, str]:
    """Sort key putting disclosure conditions in their natural order (none, customer,
    company, both) and anything else after them, alphabetically."""
    text = str(value)
    return (DISCLOSURE_ORDER.index(text) if text in DISCLOSURE_ORDER else len(DISCLOSURE_ORDER),
            text)


def sort_by_design(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """`frame` sorted by `keys`, disclosure columns in the design's order (stable)."""
    keys = [k for k in keys if k in frame]
    if not keys or frame.empty:
        return frame.reset_index(drop=True)

    def key(column: pd.Series) -> pd.Series:
        if column.name == "disclosure":
            return column.map(condition_order)
        return column

    return frame.sort_values(keys, key=key, kind="stable").reset_index(drop=True)
