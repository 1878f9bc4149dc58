"""Per-decision columns derived from the backend's choice probabilities.

A backend that reads choice probabilities (`Completion.choice_probs`: the listed options in
listing order, then `none`) gives every decision the exact probability of each outcome, not
only the one that was drawn. This module turns them into the decision table's probability
columns by settling every option as if it had been chosen (the same `settle` the sampled
answer goes through, so the expected and the sampled columns share one definition):

- `p_customer_best`: P(the answer is customer-best: the best feasible product, or buying
  nothing when nothing is worth buying);
- `p_company_best`: P(the answer is a company-best product);
- `expected_override` = 1 - `p_customer_best`;
- `expected_agency_loss` = sum over options of P(option) * agency loss(option).

Probabilities are divided by `choice_prob_mass` (the expectation given a readable answer);
an expectation that needs an unknown probability (an option outside a server's top-k) is
null, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agents.types import Completion

SettleAs = Callable[[np.ndarray], Any]
"""Settles the tick's decisions as if each had chosen the given product index (-1: none)."""


def probability_matrix(completions: Sequence[Completion], lengths: Sequence[int]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(decisions, widest listing + 1) probabilities (NaN unknown or absent) and the masses.

    Column j < len(listing) is listing position j + 1; the last column is `none`. A row whose
    backend gave no probabilities (or a vector of the wrong length) is all NaN.
    """
    width = max(lengths, default=0)
    probs = np.full((len(completions), width + 1), np.nan)
    mass = np.full(len(completions), np.nan)
    for i, (completion, length) in enumerate(zip(completions, lengths, strict=True)):
        row = completion.choice_probs
        if completion.failure is not None or row is None or len(row) != length + 1:
            continue
        values = np.array([np.nan if p is None else p for p in row], dtype=np.float64)
        probs[i, :length] = values[:length]
        probs[i, width] = values[length]
        mass[i] = completion.choice_prob_mass if completion.choice_prob_mass else np.nan
    return probs, mass


def _expect(weights: np.ndarray, values: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Row sums of weights * values over present entries; NaN where a needed weight is unknown.

    An entry is needed when it is present and its value is not 0.
    """
    needed = present & (values != 0)
    unknown = (needed & np.isnan(weights)).any(axis=1)
    total = np.where(present, np.nan_to_num(weights) * np.nan_to_num(values), 0.0).sum(axis=1)
    return np.where(unknown, np.nan, total)


def choice_probability_columns(completions: Sequence[Completion], orders: Sequence[np.ndarray],
                               settle_as: SettleAs) -> dict[str, Any]:
    """The decision table's eight probability columns for one tick."""
    lengths = [len(order) for order in orders]
    n = len(completions)
    probs, mass = probability_matrix(completions, lengths)
    width = probs.shape[1] - 1
    columns: dict[str, Any] = {
        "choice_probs": [None if np.isnan(mass[i]) else list(c.choice_probs or ())
                         for i, c in enumerate(completions)],
        "choice_prob_mass": mass,
        "choice_probs_kind": [None if np.isnan(mass[i]) else c.choice_probs_kind
                              for i, c in enumerate(completions)],
        "choice_probs_error": [c.choice_probs_error if np.isnan(mass[i]) else None
                               for i, c in enumerate(completions)],
    }
    if n == 0 or np.isnan(mass).all():
        for name in ("p_customer_best", "p_company_best", "expected_override",
                     "expected_agency_loss"):
            columns[name] = np.full(n, np.nan)
        return columns
    weights = probs / mass[:, None]
    customer_best = np.zeros((n, width + 1))
    company_best = np.zeros((n, width + 1))
    loss = np.zeros((n, width + 1))
    present = np.zeros((n, width + 1), dtype=bool)
    for j in range(width + 1):
        if j < width:
            shown = np.array([j < length for length in lengths])
            chosen = np.array([int(order[j]) if j < len(order) else -1 for order in orders],
                              dtype=np.int64)
        else:
            shown = np.ones(n, dtype=bool)
            chosen = np.full(n, -1, dtype=np.int64)
        outcome = settle_as(chosen)
        present[:, j] = shown
        customer_best[:, j] = 1.0 - np.nan_to_num(outcome.override, nan=1.0)
        company_best[:, j] = (outcome.purchased & (chosen == outcome.company_best)
                              & (chosen >= 0)).astype(np.float64)
        loss[:, j] = np.nan_to_num(outcome.agency_loss)
    p_customer = _expect(weights, customer_best, present)
    columns["p_customer_best"] = p_customer
    columns["p_company_best"] = _expect(weights, company_best, present)
    columns["expected_override"] = 1.0 - p_customer
    columns["expected_agency_loss"] = _expect(weights, loss, present)
    return columns
