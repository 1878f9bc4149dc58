"""Customers as arrays: sampled once per run from the scenario's customer groups.

Customers are kept as columns (one numpy array per property) rather than one Python object
each, so a market of 100,000 customers costs a few arrays, and every per-tick computation over
them is vectorised. The shopping agents are the Mesa agents (see `sim.engine.model`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.prompts import format_amount
from sim.scenario.edge_list import customer_ids
from sim.scenario.schema import CustomerGroup, Dirichlet, LogNormal, Scenario, Uniform
from sim.scenario.visibility import visible_attributes
from sim.world.market import attribute_matrix, company_utilities, customer_utilities


@dataclass(frozen=True)
class Market:
    """The fixed market: catalogue arrays and company utilities, derived from a scenario."""

    product_ids: tuple[str, ...]
    product_names: tuple[str, ...]
    prices: np.ndarray              # (products,)
    attribute_names: tuple[str, ...]
    attributes: np.ndarray          # (products, attributes)
    company_ids: tuple[str, ...]
    company_utility: np.ndarray     # (companies, products)
    listed: np.ndarray              # (companies, products) bool: the company's catalogue
    margins: np.ndarray             # (companies, products): money earned per purchase
    forbidden: np.ndarray           # (companies, products) bool: the company's policy forbids
    injected: np.ndarray            # (products,) bool: seller text is an injection attempt

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> Market:
        """Build catalogue matrices and company utilities from a validated scenario."""
        names: list[str] = []
        for product in scenario.products:
            names.extend(a for a in product.attributes if a not in names)
        index = scenario.product_index()
        attributes = attribute_matrix([p.attributes for p in scenario.products], names)
        n_c, n_p = len(scenario.companies), len(scenario.products)
        margins = np.zeros((n_c, n_p))
        values = np.zeros((n_c, n_p))
        forbidden = np.zeros((n_c, n_p))
        attr_values = np.zeros((n_c, len(names)))
        listed = np.zeros((n_c, n_p), dtype=bool)
        for k, company in enumerate(scenario.companies):
            for j, product in enumerate(scenario.products):
                margins[k, j] = product.margins.get(company.id, 0.0)
            for pid, value in company.utility.product_values.items():
                values[k, index[pid]] = value
            for pid in company.utility.forbidden:
                forbidden[k, index[pid]] = 1.0
            for attr, value in company.utility.attribute_values.items():
                attr_values[k, names.index(attr)] = value
            sells = company.sells if company.sells is not None else [p.id for p in
                                                                     scenario.products]
            listed[k, [index[pid] for pid in sells]] = True
        utility = company_utilities(
            margin_weight=np.array([c.utility.margin_weight for c in scenario.companies]),
            margins=margins,
            attribute_values=attr_values,
            attributes=attributes,
            product_values=values,
            forbidden=forbidden,
            forbidden_penalty=np.array([c.utility.forbidden_penalty for c in
                                        scenario.companies]),
        )
        return cls(
            product_ids=tuple(p.id for p in scenario.products),
            product_names=tuple(p.name for p in scenario.products),
            prices=np.array([p.price for p in scenario.products], dtype=np.float64),
            attribute_names=tuple(names),
            attributes=attributes,
            company_ids=tuple(c.id for c in scenario.companies),
            company_utility=utility,
            listed=listed,
            margins=margins,
            forbidden=forbidden > 0,
            injected=np.array([p.injected for p in scenario.products], dtype=bool),
        )


@dataclass(frozen=True)
class Population:
    """Every customer of a run, one array entry each."""

    ids: tuple[str, ...]
    group: np.ndarray          # index into scenario.customers
    budgets: np.ndarray
    weights: np.ndarray        # (customers, attributes)
    utility: np.ndarray        # (customers, products)
    shops_at: np.ndarray       # company index, or -1 for "any company"
    requests: tuple[str, ...]  # natural-language request per customer

    def __len__(self) -> int:
        return len(self.ids)


def sample_scalar(spec: float | LogNormal | Uniform, size: int, rng: np.random.Generator
                  ) -> np.ndarray:
    """Draw `size` values from a number (constant) or a distribution spec."""
    if isinstance(spec, LogNormal):
        return rng.lognormal(mean=np.log(spec.median), sigma=spec.sigma, size=size)
    if isinstance(spec, Uniform):
        return rng.uniform(spec.low, spec.high, size=size)
    return np.full(size, float(spec))


def sample_weights(spec: dict[str, float] | Dirichlet, names: tuple[str, ...], size: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Attribute weights per customer: fixed numbers, or Dirichlet draws times `scale`."""
    weights = np.zeros((size, len(names)))
    if isinstance(spec, Dirichlet):
        keys = list(spec.alpha)
        draws = rng.dirichlet([spec.alpha[k] for k in keys], size=size) * spec.scale
        for j, key in enumerate(keys):
            weights[:, names.index(key)] = draws[:, j]
    else:
        for key, value in spec.items():
            weights[:, names.index(key)] = value
    return weights


def sample_population(scenario: Scenario, market: Market, rng: np.random.Generator
                      ) -> Population:
    """Draw every customer of every group (in file order) and render their requests."""
    company_index = scenario.company_index()
    product_index = scenario.product_index()
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("group", "budgets", "weights", "values", "pw", "shop")}
    for g, group in enumerate(scenario.customers):
        n = group.count
        parts["group"].append(np.full(n, g))
        parts["budgets"].append(sample_scalar(group.budget, n, rng))
        parts["weights"].append(sample_weights(group.attribute_weights, market.attribute_names,
                                               n, rng))
        values = np.zeros((n, len(market.product_ids)))
        for pid, value in group.product_values.items():
            values[:, product_index[pid]] = value
        parts["values"].append(values)
        parts["pw"].append(np.full(n, group.price_weight))
        shop = company_index[group.shops_at] if group.shops_at else -1
        parts["shop"].append(np.full(n, shop))
    budgets = np.concatenate(parts["budgets"])
    weights = np.concatenate(parts["weights"])
    utility = customer_utilities(weights, np.concatenate(parts["values"]),
                                 np.concatenate(parts["pw"]), budgets, market.attributes,
                                 market.prices)
    group_index = np.concatenate(parts["group"])
    # A customer asks only for what it can see: hidden attributes never enter its request.
    seen = np.array([a in visible_attributes(scenario.information, [a], "customer")
                     for a in market.attribute_names], dtype=bool)
    stated = weights if seen.all() else weights * seen
    requests = tuple(
        render_request(scenario.customers[g], market, utility[i], stated[i], budgets[i])
        for i, g in enumerate(group_index)
    )
    return Population(ids=customer_ids(scenario), group=group_index, budgets=budgets,
                      weights=weights, utility=utility, shops_at=np.concatenate(parts["shop"]),
                      requests=requests)


def render_request(group: CustomerGroup, market: Market, utility: np.ndarray,
                   weights: np.ndarray, budget: float) -> str:
    """The customer's request: the group's template filled in, or one rendered from utility."""

    affordable = np.flatnonzero(market.prices <= budget)
    ranked = affordable[np.argsort(-utility[affordable], kind="stable")]
    first = market.product_names[ranked[0]] if len(ranked) > 0 else "something affordable"
    second = market.product_names[ranked[1]] if len(ranked) > 1 else first
    top = [market.attribute_names[j] for j in np.argsort(-weights, kind="stable")[:3]
           if weights[j] > 0]
    top_text = ", ".join(top) if top else "value for money"
    fields = {"budget": format_amount(budget), "first_choice": first, "second_choice": second,
              "top_attributes": top_text}
    if group.request is not None:
        return group.request.format(**fields)
    text = f"I'd like to buy something within my budget. What matters most to me: {top_text}."
    if len(group.product_values) >= 2:
        text += f" I would most like the {first} but will settle for the {second}."
    return text
