"""What customers observe, how they learn to trust a company's agent, and how they switch.

Pure, vectorised functions over one tick's decisions (no Mesa, no I/O). The rule, also in
the README ("Market dynamics"):

Observation. After each decision the customer may learn two things, each drawn per decision:
  - the outcome, with probability `information.outcome_observability`: its satisfaction
        s_outcome = (u_realised - u_worst) / (u_best - u_worst), clipped to [0, 1],
    where u_best is the utility of its best feasible product (the attainable utility),
    u_worst the lowest of its feasible products' utilities and the outside option (0), and
    u_realised what it got (0 when nothing was bought). With u_best <= u_worst, s = 1;
  - the explanation, when the agent's explanation is disclosed to it (disclosure `customer`
    or `both`), the answer was readable, and a draw with probability
    `information.explanation_reveals` succeeds: s_explanation = 1 if the choice was
    customer-best, else 0.
Its experience signal is the mean of what it learned (NaN when it learned nothing).

Learning. trust[i, k] <- trust[i, k] + learning_rate * (signal - trust[i, k]) for the company
k whose agent served customer i; nothing changes without a signal. Word of mouth then passes
the signal to i's neighbours (see `sim.world.network`).

Switching. A shopping customer picks company k with probability proportional to
exp((trust[i, k] - price_sensitivity * price_level[k] + loyalty * [k = last company]) / T)
over the companies that deploy agents, price_level[k] being the mean price of k's listed
products over the catalogue's mean price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.world.market import TIE_TOLERANCE

CUSTOMER_READS = frozenset({"customer", "both"})
"""Disclosure conditions under which the customer reads the agent's explanation."""


@dataclass(frozen=True)
class Observations:
    """What each decision's customer observed; one entry per decision."""

    outcome_observed: np.ndarray    # bool
    explanation_seen: np.ndarray    # bool
    signal: np.ndarray              # float in [0, 1], NaN when nothing was observed


def worst_feasible(utility_rows: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Per row, the lowest utility among feasible products and the outside option (0)."""
    lowest = np.where(feasible, utility_rows, np.inf).min(axis=1)
    return np.minimum(lowest, 0.0)


def outcome_satisfaction(realised: np.ndarray, best: np.ndarray, worst: np.ndarray
                         ) -> np.ndarray:
    """(realised - worst) / (best - worst) clipped to [0, 1]; 1 where best <= worst."""
    span = best - worst
    safe = np.where(span > TIE_TOLERANCE, span, 1.0)
    share = np.where(span > TIE_TOLERANCE, (realised - worst) / safe, 1.0)
    return np.clip(share, 0.0, 1.0)


def experience_signals(outcome_observed: np.ndarray, satisfaction: np.ndarray,
                       explanation_seen: np.ndarray, override: np.ndarray) -> np.ndarray:
    """Mean of the observed parts (satisfaction; 1 - override); NaN when nothing observed.

    `override` is 1.0 / 0.0 per decision (NaN for unreadable answers, which are never
    `explanation_seen`).
    """
    verdict = np.where(explanation_seen, 1.0 - np.nan_to_num(override), 0.0)
    total = np.where(outcome_observed, satisfaction, 0.0) + verdict
    count = outcome_observed.astype(np.float64) + explanation_seen.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1.0), np.nan)


def observe(uniforms: np.ndarray, disclosures: np.ndarray, readable: np.ndarray,
            outcome_observability: float, explanation_reveals: float,
            satisfaction: np.ndarray, override: np.ndarray) -> Observations:
    """Draw what each customer observes; `uniforms` is (decisions, 2) in [0, 1)."""
    outcome_observed = uniforms[:, 0] < outcome_observability
    reads = np.isin(disclosures, list(CUSTOMER_READS))
    explanation_seen = reads & readable & (uniforms[:, 1] < explanation_reveals)
    signal = experience_signals(outcome_observed, satisfaction, explanation_seen, override)
    return Observations(outcome_observed, explanation_seen, signal)


def update_trust(trust: np.ndarray, customers: np.ndarray, companies: np.ndarray,
                 signals: np.ndarray, learning_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Move trust[customer, company] towards each signal, in place; return (before, after).

    Each (customer, company) pair appears at most once per tick (a customer shops once).
    Pairs with a NaN signal are left as they are.
    """
    before = trust[customers, companies].copy()
    known = ~np.isnan(signals)
    after = np.where(known, before + learning_rate * (np.nan_to_num(signals) - before), before)
    trust[customers, companies] = after
    return before, after


def price_levels(listed: np.ndarray, prices: np.ndarray) -> np.ndarray:
    """Per company, the mean price of its listed products over the catalogue's mean price."""
    overall = prices.mean() if len(prices) and prices.mean() > 0 else 1.0
    counts = np.maximum(listed.sum(axis=1), 1)
    return (listed @ prices) / counts / overall


def switching_probabilities(trust_rows: np.ndarray, eligible: np.ndarray,
                            price_level: np.ndarray, last: np.ndarray, *, temperature: float,
                            price_sensitivity: float = 0.0, loyalty: float = 0.0) -> np.ndarray:
    """Logit choice probabilities over companies, one row per shopper.

    `trust_rows` is (shoppers, companies); `eligible` (companies,) marks companies with
    agents; `last` is each shopper's previous company (-1 for none).
    """
    value = trust_rows - price_sensitivity * price_level[None, :]
    if loyalty:
        columns = np.arange(trust_rows.shape[1])[None, :]
        value = value + loyalty * (columns == last[:, None])
    value = np.where(eligible[None, :], value / temperature, -np.inf)
    value = value - value.max(axis=1, keepdims=True)
    weights = np.exp(value)
    return weights / weights.sum(axis=1, keepdims=True)


def sample_choices(probabilities: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw of one column per row, given one uniform in [0, 1) per row.

    Columns of probability 0 are never drawn (the uniform is scaled by the row's total, so
    rounding cannot fall off the end).
    """
    cumulative = np.cumsum(probabilities, axis=1)
    target = uniforms * cumulative[:, -1]
    return (cumulative <= target[:, None]).sum(axis=1)
