"""The shopping agent: a Mesa agent deployed by a company that turns customers into requests."""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from agents.backends.base import Backend
from agents.types import DecisionContext, DecisionRequest
from sim.scenario.prompting import AgentPrompt, contract_context
from sim.scenario.schema import AgentSpec
from sim.world.visibility import commissions


class ShoppingAgent(mesa.Agent):
    """An LLM shopping agent deployed by a company; it turns customers into requests."""

    def __init__(self, model: mesa.Model, spec: AgentSpec, name: str, company_index: int,
                 backend: Backend) -> None:
        super().__init__(model)
        self.name = name
        self.spec = spec
        self.company_index = company_index
        self.company = model.scenario.companies[company_index]
        self.backend = backend
        self.sampling = spec.sampling.params()
        self.policy = spec.rational.policy()
        self.generation = 1
        self.warnings: list[str] = []
        self.prompt = AgentPrompt(model.scenario, spec, company_index, contract_context(spec))
        self.prompt.set_agent(name, self.persona, self.warnings)
        self.commission = commissions(spec.contract, model.market.product_ids,
                                      model.market.margins[company_index])
        self.contract_disclosed = spec.contract is not None and spec.contract.disclosed
        self._company_rows: dict[bytes, np.ndarray] = {}

    @property
    def persona(self) -> str:
        """The agent's persona: its spec's text, then any warnings from its company."""
        return "\n\n".join(p for p in (self.spec.persona.strip(), *self.warnings) if p)

    def warn(self, text: str) -> None:
        """Append a company warning to the persona; prompts change from the next request."""
        self.warnings.append(text)
        self.prompt.set_agent(self.name, self.persona, self.warnings)

    def replace(self) -> None:
        """Deploy a fresh agent in this one's place: persona reset, next generation."""
        self.warnings = []
        self.generation += 1
        self.prompt.set_agent(self.name, self.persona, self.warnings)

    def company_row(self, order: np.ndarray) -> np.ndarray:
        """The company's utility for each product of a listing order (cached per order)."""
        key = order.tobytes()
        row = self._company_rows.get(key)
        if row is None:
            row = self.model.market.company_utility[self.company_index, order]
            self._company_rows[key] = row
        return row

    def build_request(self, decision_id: str, customer: int, order: np.ndarray,
                      disclosure: str, seed: int, customer_row: np.ndarray,
                      affordable_row: np.ndarray, tick: int = 0) -> DecisionRequest:
        """One decision: the prompt for this customer plus the context a non-LLM needs.

        `customer_row` / `affordable_row` are the customer's utility and affordability per
        listed product, sliced for the whole tick at once by `MarketModel._build_requests`.
        """
        model = self.model
        info = model.scenario.information
        messages = self.prompt.messages(order, model.customer_context(customer), disclosure,
                                        tick)
        view = model.listing_view(order)
        context = DecisionContext(
            option_numbers=view.numbers,
            option_names=view.names,
            customer_utility=customer_row,
            company_utility=self.company_row(order),
            affordable=affordable_row,
            company_name=self.company.name,
            disclosure=disclosure,
            outcome_observability=info.outcome_observability,
            monitoring=info.monitoring,
            explanation_reveals=model.reveals_customer,
            policy=self.policy,
            option_map=view.options,
            **model.structure_context(self, customer, order),
        )
        return DecisionRequest(request_id=decision_id, messages=messages,
                               sampling=self.sampling, seed=seed, context=context,
                               model=self.spec.model, replicate=model.replicate,
                               max_stored_chars=model.scenario.run.max_stored_answer_chars)


@dataclass(frozen=True)
class ListingView:
    """What a listing order looks like to the agent, computed once per distinct order."""

    numbers: tuple[int, ...]
    names: tuple[str, ...]
    options: dict[int, str]
    product_ids: str  # "|"-joined, as recorded in the `listing` column
