"""Who knows what: which readers see each product attribute, and what use reveals.

Pure functions over the scenario's `information.attributes` (no Mesa, no I/O). Readers are
`customer` and `agent`. By default every reader sees every product attribute and the price,
and nobody but the company sees margins (today's structure). An attribute a customer cannot
see before purchase may be `revealed_after_purchase`: then outcome observation (drawn with
`information.outcome_observability`) can reveal a deviation that only it shows; a hidden
attribute never revealed (a credence good) can never be detected by the customer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
