"""Who knows what: which readers see each product attribute, and what use reveals.

Pure functions over the scenario's `information.attributes` (no Mesa, no I/O). Readers are
`customer` and `agent`. By default every reader sees every product attribute and the price,
and nobody but the company sees margins (today's structure). An attribute a customer cannot
see before purchase may be `revealed_after_purchase`: then outcome observation (drawn with
`information.outcome_observability`) can reveal a deviation that only it shows; a hidden
attribute never revealed (a credence good) can never be detected by the customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

READERS = ("customer", "agent")
DEFAULT_SEEN_BY = ("customer", "agent")
MARGIN = "margin"
PRICE = "price"


def seen_by(information: Any, attribute: str) -> tuple[str, ...]:
    """The readers who see `attribute` before purchase."""
    rule = information.attributes.get(attribute)
    if rule is not None:
        return tuple(rule.seen_by)
    return () if attribute == MARGIN else DEFAULT_SEEN_BY


def visible_attributes(information: Any, attributes: Iterable[str], reader: str
                       ) -> frozenset[str]:
    """The names among `attributes` that `reader` sees before purchase."""
    return frozenset(a for a in attributes if reader in seen_by(information, a))


def revealed_after_purchase(information: Any, attribute: str) -> bool:
    """Whether using the product shows the customer an attribute it could not see before."""
    rule = information.attributes.get(attribute)
    return True if rule is None else bool(rule.revealed_after_purchase)


def observable_by_customer(information: Any, attribute: str) -> bool:
    """Whether the customer can ever learn `attribute`: seen before, or revealed by use."""
    return "customer" in seen_by(information, attribute) or revealed_after_purchase(
        information, attribute)


def customer_weights(weights: Mapping[str, float], information: Any) -> dict[str, float]:
    """The part of a customer's attribute weights whose attributes it can ever observe."""
    return {a: w for a, w in weights.items() if observable_by_customer(information, a)}


def saw_label(information: Any, attributes: Iterable[str], reader: str) -> str:
    """What `reader` saw, as a `|`-joined sorted list of names (price included when seen)."""
    names = sorted(visible_attributes(information, attributes, reader))
    if reader in seen_by(information, PRICE):
        names = [PRICE, *names]
    if reader in seen_by(information, MARGIN):
        names.append(MARGIN)
    return "|".join(names)


def never_observed(information: Any, attribute_names: Iterable[str]) -> list[bool]:
    """Per attribute: the customer neither sees it before purchase nor learns it by use."""
    return [not observable_by_customer(information, a) for a in attribute_names]


def observable_utility(utility: Any, weights: Any, attributes: Any, hidden: Any) -> Any:
    """Customer utility counting only attributes the customer can ever observe.

    `utility` is (customers, products), `weights` (customers, attributes), `attributes`
    (products, attributes), `hidden` a boolean mask over attributes. A deviation that lowers
    only hidden attributes (a credence good) leaves this utility unchanged, so an outcome
    observation cannot reveal it.
    """
    import numpy as np

    hidden = np.asarray(hidden, dtype=bool)
    if not hidden.any():
        return utility
    return utility - weights[:, hidden] @ attributes[:, hidden].T


def commissions(contract: Any, product_ids: Sequence[str], margins: Any) -> Any:
    """The agent's pay per product bought under its contract (zeros without one).

    commission(p) = per_product[p] + margin_share * margin(p) + flat_fee, where margin is the
    agent's company's margin on p.
    """
    import numpy as np

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
    import numpy as np

    steered = np.nan_to_num(override) > 0.5
    return disclosed & (commission_paid > 0) & steered & (uniforms < probability)


def observable_satisfaction(observable_rows: Any, feasible: Any, choice: Any, purchased: Any,
                            outcome_failed: Any) -> Any:
    """Outcome satisfaction judged on what the customer can observe (see `sim.trust`).

    `observable_rows` is (decisions, products): each customer's observable utility.
    """
    import numpy as np

    from sim.trust import outcome_satisfaction, worst_feasible

    rows = np.arange(len(choice))
    realised = np.where(purchased, observable_rows[rows, np.maximum(choice, 0)], 0.0)
    best = np.where(feasible, observable_rows, -np.inf).max(axis=1, initial=-np.inf)
    best = np.maximum(np.where(np.isfinite(best), best, 0.0), 0.0)
    satisfaction = outcome_satisfaction(realised, best, worst_feasible(observable_rows, feasible))
    return np.where(outcome_failed, np.nan, satisfaction)
