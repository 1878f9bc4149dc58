"""Who knows what, as array maths: observable utility, agent pay and contract detection.

Pure numpy functions over the arrays the world builds (no Mesa, no I/O). The readers of the
declared information structure (who sees which attribute, what use reveals) live in
`sim.scenario.visibility`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.world.trust import outcome_satisfaction, worst_feasible


def observable_utility(utility: Any, weights: Any, attributes: Any, hidden: Any) -> Any:
    """Customer utility counting only attributes the customer can ever observe.

    `utility` is (customers, products), `weights` (customers, attributes), `attributes`
    (products, attributes), `hidden` a boolean mask over attributes. A deviation that lowers
    only hidden attributes (a credence good) leaves this utility unchanged, so an outcome
    observation cannot reveal it.
    """
    hidden = np.asarray(hidden, dtype=bool)
    if not hidden.any():
        return utility
    return utility - weights[:, hidden] @ attributes[:, hidden].T


def commissions(contract: Any, product_ids: Sequence[str], margins: Any) -> Any:
    """The agent's pay per product bought under its contract (zeros without one).

    commission(p) = per_product[p] + margin_share * margin(p) + flat_fee, where margin is the
    agent's company's margin on p.
    """
    pay = np.zeros(len(product_ids))
    if contract is None:
        return pay
    pay += np.array([contract.per_product.get(p, 0.0) for p in product_ids])
    pay += contract.margin_share * np.asarray(margins, dtype=np.float64)
    return pay + contract.flat_fee


def contract_detections(uniforms: Any, disclosed: Any, commission_paid: Any, override: Any,
                        probability: float) -> Any:
    """Which customers see through a purchase steered towards the agent's pay.

    A customer told of the agent's contract (`disclosed`) whose agent bought a product that
    paid it a commission and was not the customer's best detects the deviation with
    `probability` (one uniform per decision).
    """
    steered = np.nan_to_num(override) > 0.5
    return disclosed & (commission_paid > 0) & steered & (uniforms < probability)


def observable_satisfaction(observable_rows: Any, feasible: Any, choice: Any, purchased: Any,
                            outcome_failed: Any) -> Any:
    """Outcome satisfaction judged on what the customer can observe (see `sim.world.trust`).

    `observable_rows` is (decisions, products): each customer's observable utility.
    """
    rows = np.arange(len(choice))
    realised = np.where(purchased, observable_rows[rows, np.maximum(choice, 0)], 0.0)
    best = np.where(feasible, observable_rows, -np.inf).max(axis=1, initial=-np.inf)
    best = np.maximum(np.where(np.isfinite(best), best, 0.0), 0.0)
    satisfaction = outcome_satisfaction(realised, best, worst_feasible(observable_rows, feasible))
    return np.where(outcome_failed, np.nan, satisfaction)
