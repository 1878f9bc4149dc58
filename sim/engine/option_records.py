"""Per-option columns of a decision row: what every listed product was worth to each principal.

The revealed-loyalty estimate (`analysis.loyalty`) needs, for each decision, the customer's and
the company's utility of every listed product and which of them were affordable, in listing
order. The requests already carry them (`DecisionContext`); this turns them into the three
list columns of `decisions.parquet` (see `sim.engine.records.OPTION_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agents.types import DecisionRequest


def option_columns(requests: Sequence[DecisionRequest]) -> dict[str, list[Any]]:
    """`option_customer_utility`, `option_company_utility`, `option_affordable` per request."""
    contexts = [r.context for r in requests]
    return {
        "option_customer_utility": [[float(v) for v in c.customer_utility] for c in contexts],
        "option_company_utility": [[float(v) for v in c.company_utility] for c in contexts],
        "option_affordable": [[bool(v) for v in c.affordable] for c in contexts],
    }
