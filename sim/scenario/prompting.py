"""The names a scenario's prompt templates see, and one agent's rendering of them.

`AgentPrompt` renders an agent's chat messages from its compiled prompt. The listing and every
message that names no per-decision variable are rendered once per listing order and reused
(the same string object each time, which keeps memory flat and lets the recorder store it
once); only the per-decision messages render per decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agents.templates import (
    CompiledPrompt,
    PromptTemplates,
    TemplateError,
    default_templates,
    listing_product,
    template_context,
)
from agents.types import Message
from sim.scenario.schema import AgentSpec, PromptSpec, Scenario
from sim.scenario.visibility import seen_by, visible_attributes


def prompt_templates(scenario: Scenario, spec: AgentSpec | None = None
                     ) -> tuple[str, PromptTemplates]:
    """The dotted key and templates an agent spec's prompt resolves to.

    An agent's `prompt` overrides the scenario's; a string names an entry of `prompts` (or
    `default`, the shipped prompt); nothing at all means the shipped default.
    """
    chosen: PromptSpec | str | None = scenario.prompt
    key = "prompt"
    if spec is not None and spec.prompt is not None:
        chosen = spec.prompt
        key = f"agents.{scenario.agents.index(spec)}.prompt"
    if isinstance(chosen, str):
        if chosen in scenario.prompts:
            return f"prompts.{chosen}", PromptTemplates.from_mapping(
                scenario.prompts[chosen].model_dump())
        return "prompt", default_templates()  # `default`, checked by the schema
    if chosen is None:
        return "prompt", default_templates()
    return key, PromptTemplates.from_mapping(chosen.model_dump())


def compile_prompt(scenario: Scenario, spec: AgentSpec | None = None) -> CompiledPrompt:
    """Compile an agent spec's prompt (templates are cached by source, so this is cheap)."""
    key, templates = prompt_templates(scenario, spec)
    return CompiledPrompt(templates, key, scenario.information.disclosure)


def product_rows(scenario: Scenario, reader: str = "agent", company: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every product as a mapping, with only what `reader` may see.

    Attributes the reader does not see are left out; so is `price` when it is hidden from
    the reader. `margin` (the company's margin) is there only when the reader sees margins.
    """
    info = scenario.information
    shows_price = reader in seen_by(info, "price")
    shows_margin = reader in seen_by(info, "margin")
    rows = []
    for product in scenario.products:
        visible = visible_attributes(info, product.attributes, reader)
        row = {"id": product.id, "name": product.name, "description": product.description,
               "attributes": {k: v for k, v in product.attributes.items() if k in visible},
               "seller_text": product.seller_text, "fields": dict(product.fields)}
        if shows_price:
            row["price"] = product.price
        if shows_margin:
            row["margin"] = product.margins.get(company or "", 0.0)
        rows.append(row)
    return rows


class AgentPrompt:
    """One agent's prompt renderer, with its shared parts cached per listing order."""

    def __init__(self, scenario: Scenario, spec: AgentSpec, company_index: int,
                 contract: Mapping[str, Any] | None = None) -> None:
        self.compiled = compile_prompt(scenario, spec)
        company = scenario.companies[company_index]
        self.products = product_rows(scenario, "agent", company.id)
        self.company = {"id": company.id, "name": company.name, "persona": company.persona}
        self.contract = dict(contract or {})
        self.agent: dict[str, Any] = {"id": spec.id, "persona": spec.persona, "warnings": []}
        self._shared: dict[tuple[bytes, int | None], tuple[dict[str, Any], list[str | None]]] = {}
        self._notes: dict[str, str] = {}
        self._per_customer: dict[tuple[int, Any], str] = {}

    def set_agent(self, name: str, persona: str, warnings: Sequence[str]) -> None:
        """Set what `agent` holds (after a warning or a replacement); clears the caches."""
        self.agent = {"id": name, "persona": persona, "warnings": list(warnings)}
        self._shared.clear()
        self._notes.clear()
        self._per_customer.clear()

    def _shared_context(self, order: np.ndarray) -> tuple[dict[str, Any], list[str | None]]:
        key = (order.tobytes(), None)
        cached = self._shared.get(key)
        if cached is None:
            products = [listing_product(number, self.products[i])
                        for number, i in enumerate(order.tolist(), start=1)]
            base = template_context({"company": self.company, "agent": self.agent,
                                     "contract": self.contract})
            context = {**base, "products": products,
                       "listing": self.compiled.listing(products, base)}
            cached = (context, self.compiled.shared_parts(context))
            self._shared[key] = cached
        return cached

    def messages(self, order: np.ndarray, customer: Mapping[str, Any], disclosure: str,
                 tick: int) -> tuple[Message, ...]:
        """The chat messages of one decision.

        A per-decision message that depends only on the customer, the disclosure and the
        agent is rendered once per (customer, disclosure) and reused when the customer
        returns to this agent; the rest render now.
        """
        shared, parts = self._shared_context(order)
        compiled = self.compiled
        memo = self._per_customer
        memo_key = (customer["id"], disclosure)
        context: dict[str, Any] | None = None
        out = []
        for i, (role, _template, _) in enumerate(compiled.messages):
            text = parts[i]
            if text is None:
                reusable = compiled.per_customer[i]
                if reusable:
                    text = memo.get((i, memo_key))
                if text is None:
                    if context is None:
                        context = self._decision_context(shared, customer, disclosure, tick)
                    text = compiled.render_message(i, context)
                    if reusable:
                        memo[(i, memo_key)] = text
            out.append({"role": role, "content": text})
        return tuple(out)

    def _decision_context(self, shared: Mapping[str, Any], customer: Mapping[str, Any],
                          disclosure: str, tick: int) -> dict[str, Any]:
        context = {**shared, "customer": customer, "disclosure": disclosure, "tick": tick}
        note = self._notes.get(disclosure)
        if note is None:
            note = self.compiled.note(disclosure, context)
            if self.compiled.notes[disclosure][1]:
                self._notes[disclosure] = note
        context["disclosure_note"] = note
        return context


def check_prompts(scenario: Scenario, source: str) -> list[str]:
    """Render every template of every agent once against the scenario; return warnings.

    Raises `TemplateError` (with its dotted key) for the first template that fails.
    """
    from sim.scenario.edge_list import customer_ids

    warnings: list[str] = []
    ids = customer_ids(scenario)
    seen: set[str] = set()
    for spec in scenario.agents:
        company_index = scenario.company_index()[spec.company]
        prompt = AgentPrompt(scenario, spec, company_index, contract_context(spec))
        prompt.set_agent(spec.id, spec.persona, [])
        order = np.arange(len(scenario.products))
        for g, group in enumerate(scenario.customers):
            customer = {"id": ids[sum(c.count for c in scenario.customers[:g])],
                        "group": group.group, "request": group.request or "a product",
                        "budget": 1.0, "fields": dict(group.fields)}
            for disclosure in scenario.information.disclosure:
                prompt.messages(order, customer, disclosure, 1)
        late = prompt.compiled.decision_text_before_listing()
        if late is not None and late not in seen:
            seen.add(late)
            warnings.append(f"{source}: {late}: per-decision text comes before the listing, so "
                            "requests share less prefix (see prefix_share in ticks.csv)")
    return warnings


def contract_context(spec: AgentSpec) -> dict[str, Any]:
    """What the `contract` template name holds for an agent spec (empty without one)."""
    contract = getattr(spec, "contract", None)
    return {} if contract is None else contract.model_dump()


__all__ = ["AgentPrompt", "TemplateError", "check_prompts", "compile_prompt", "product_rows",
           "prompt_templates"]
