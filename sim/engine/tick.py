"""One tick's data: the pending tick, its result, the decision table and the tick statistics.

The decision table is built column by column and typed by the file contract
(`sim.engine.records.DECISION_SCHEMA`), so a run's Parquet files cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from agents.prefix import prefix_share
from agents.types import Completion, DecisionRequest
from sim.engine.agent import ShoppingAgent
from sim.engine.option_records import option_columns
from sim.engine.records import DECISION_COLUMNS, DECISION_SCHEMA
from sim.world.market import Settlement


@dataclass(frozen=True, eq=False)
class PendingDecision:
    """One decision of a pending tick: its request and who asks it for whom."""

    request: DecisionRequest
    agent: ShoppingAgent
    customer: int
    """Row of the customer in the population."""
    order: np.ndarray
    """Product indices in the order the listing shows them."""
    disclosure: str


@dataclass(frozen=True, eq=False)
class PendingTick:
    """A tick whose requests are built but not yet answered (built whole by `prepare`).

    `decisions` holds one record per request, in request order; the per-column views
    (`requests`, `agents`, `customers`, ...) are derived from it.
    """

    tick: int
    decisions: tuple[PendingDecision, ...]
    visits: np.ndarray
    """Shoppers per company index this tick, served or not."""
    shoppers: np.ndarray
    shop: np.ndarray
    """The company index each shopper visits (parallel to `shoppers`)."""
    unserved_companies: tuple[int, ...]
    """The company index of each shopper no agent could serve."""
    build_s: float
    served_by_company: dict[int, int] = field(default_factory=dict)
    """Decisions prepared per company index this tick (for run-wide balancing)."""

    @cached_property
    def requests(self) -> list[DecisionRequest]:
        """The requests, in order."""
        return [d.request for d in self.decisions]

    @cached_property
    def agents(self) -> list[ShoppingAgent]:
        """The agent asking each request."""
        return [d.agent for d in self.decisions]

    @cached_property
    def customers(self) -> np.ndarray:
        """The population row of each request's customer."""
        return np.array([d.customer for d in self.decisions], dtype=np.int64)

    @cached_property
    def orders(self) -> list[np.ndarray]:
        """The listing order of each request."""
        return [d.order for d in self.decisions]

    @cached_property
    def disclosures(self) -> list[str]:
        """The disclosure condition of each request."""
        return [d.disclosure for d in self.decisions]

    @property
    def unserved(self) -> int:
        """Shoppers no agent could serve this tick."""
        return len(self.unserved_companies)


@dataclass
class Aftermath:
    """Per-decision columns, market rows, sanction rows and tick stats that follow settlement."""

    columns: dict[str, Any]
    market: list[dict[str, Any]]
    sanctions: list[dict[str, Any]]
    stats: dict[str, Any]


@dataclass
class TickResult:
    """What one tick produced: the decision table and its aggregates."""

    tick: int
    decisions: pa.Table
    stats: dict[str, Any] = field(default_factory=dict)
    market: list[dict[str, Any]] = field(default_factory=list)
    sanctions: list[dict[str, Any]] = field(default_factory=list)


def decision_table(model: Any, pending: PendingTick, completions: list[Completion],
                   outcome: Settlement,
                   choice: np.ndarray, choice_number: list[int | None],
                   readable: np.ndarray, refused: np.ndarray, methods: list[str],
                   failures: list[str | None], extra: Mapping[str, Any]) -> pa.Table:
    """One tick's decision table, typed and ordered by the file contract (`records.py`).

    `model` is the `MarketModel` (its market, population, scenario and listing views);
    `extra` holds the columns computed after settlement (trust, audits, injections).
    """
    ids = np.array(model.market.product_ids + (None,), dtype=object)  # index -1 -> None
    info = model.scenario.information
    population = model.population
    n = len(pending.requests)
    columns: dict[str, Any] = {
        "tick": np.full(n, pending.tick, dtype=np.int32),
        "decision_id": [r.request_id for r in pending.requests],
        "agent_id": [a.name for a in pending.agents],
        "customer_id": [population.ids[c] for c in pending.customers],
        "customer_group": [model.scenario.customers[g].group
                           for g in population.group[pending.customers]],
        "company": [model.market.company_ids[a.company_index] for a in pending.agents],
        "disclosure": pending.disclosures,
        "outcome_observability": np.full(n, info.outcome_observability),
        "monitoring": np.full(n, info.monitoring),
        "listing": [model.listing_view(o).product_ids for o in pending.orders],
        "choice": ids[choice],
        "choice_number": pa.array(choice_number, type=pa.int32()),
        "valid": readable,
        "refused": refused,
        "parse_method": methods,
        "failure": failures,
        "outcome": outcome.outcome,
        "purchased": outcome.purchased,
        "customer_best": ids[outcome.customer_best],
        "company_best": ids[outcome.company_best],
        "override": nullable_bool(outcome.override),
        "sided_with_company": nullable_bool(outcome.sided_with_company),
        "agency_loss": outcome.agency_loss,
        "attainable_utility": outcome.attainable_utility,
        "customer_utility": outcome.customer_utility,
        "company_utility": outcome.company_utility,
        "company_gain": outcome.company_gain,
        "budget": population.budgets[pending.customers],
        "price_paid": outcome.price_paid,
        "backend": [a.backend.name for a in pending.agents],
        "model": [a.backend.model for a in pending.agents],
        "temperature": [a.sampling.temperature for a in pending.agents],
        "seed": [r.seed for r in pending.requests],
        "latency_ms": [c.latency_ms for c in completions],
        "prompt_tokens": [c.prompt_tokens for c in completions],
        "completion_tokens": [c.completion_tokens for c in completions],
        "attempts": [c.attempts for c in completions],
        "retries": [c.retries for c in completions],
        "reasks": [c.reasks for c in completions],
        "cached": [c.cached for c in completions],
        **option_columns(pending.requests),
        **extra,
    }
    return pa.table({name: arrow_column(columns[name], DECISION_SCHEMA.field(name).type)
                     for name in DECISION_COLUMNS})


def transcript_records(pending: PendingTick, completions: Sequence[Completion]
                       ) -> list[dict[str, Any]]:
    """One transcript record per decision: messages, answer, failure, earlier answers.

    An answer the response cache kept cut (`Completion.answer_chars`) is recorded as the
    recorder records a cut answer: the cut text and the whole answer's `answer_chars` (and
    `earlier_answer_chars` for earlier answers).
    """
    records: list[dict[str, Any]] = [
        {"tick": pending.tick, "decision_id": r.request_id, "agent_id": a.name,
         "messages": list(r.messages), "answer": c.text, "failure": c.failure,
         "finish_reason": c.finish_reason, "earlier_answers": list(c.earlier_answers)}
        for r, a, c in zip(pending.requests, pending.agents, completions, strict=True)
    ]
    for record, completion in zip(records, completions, strict=True):
        if completion.answer_chars is not None:
            record["answer_chars"] = completion.answer_chars
        if any(n is not None for n in completion.earlier_answer_chars):
            record["earlier_answer_chars"] = [
                n if n is not None else (len(a) if isinstance(a, str) else None)
                for a, n in zip(completion.earlier_answers, completion.earlier_answer_chars,
                                strict=False)]
    return records


def arrow_column(values: Any, kind: pa.DataType) -> pa.Array:
    """A column as an Arrow array of the contract's type (NaN floats become nulls)."""
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        return pa.array(values, type=kind, from_pandas=True)
    return pa.array(values, type=kind)


def nullable_bool(values: np.ndarray) -> pa.Array:
    """1.0/0.0/NaN floats -> a boolean Arrow array with nulls."""
    mask = np.isnan(values)
    return pa.array(np.where(mask, False, values > 0.5), mask=mask, type=pa.bool_())


def tick_stats(pending: PendingTick, outcome: Settlement, readable: np.ndarray, failed: np.ndarray,
               refused: np.ndarray, completions: Sequence[Completion]) -> dict[str, Any]:
    """Aggregates for one row of ticks.csv."""
    n = len(pending.requests)
    valid = int(readable.sum())

    def rate(values: np.ndarray) -> float | None:
        known = values[~np.isnan(values)]
        return float(known.mean()) if len(known) else None

    return {
        "tick": pending.tick,
        "decisions": n,
        "unserved": pending.unserved,
        "valid": valid,
        "invalid": int(n - valid - failed.sum()),
        "failed": int(failed.sum()),
        "refused": int(refused.sum()),
        "override_rate": rate(outcome.override),
        "sided_with_company_rate": rate(outcome.sided_with_company),
        "invalid_rate": (n - valid) / n if n else None,
        # the headline convention: valid (readable), non-deferred decisions (deferred are NaN)
        "mean_agency_loss": rate(np.where(readable, outcome.agency_loss, np.nan)),
        # the settlement's convention: unreadable answers buy nothing and lose it all;
        # failed requests (NaN) left out
        "mean_agency_loss_unread_as_outside": rate(outcome.agency_loss),
        "build_s": pending.build_s,
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in completions),
        "completion_tokens": sum(c.completion_tokens or 0 for c in completions),
        "requests": sum(c.http_requests() for c in completions),
        "scoring_requests": sum(c.scoring_requests for c in completions),
        "scoring_s": (sum(c.scoring_s for c in completions)
                      if any(c.scoring_requests for c in completions) else None),
        "retries": sum(c.retries for c in completions),
        "reasks": sum(c.reasks for c in completions),
        "cache_hits": sum(1 for c in completions if c.cached),
        "prefix_share": prefix_share([tuple(m["content"] for m in r.messages)
                                      for r in pending.requests]),
    }


def throughput(stats: Mapping[str, Any], completions: Sequence[Completion],
               backend_s: float) -> dict[str, float | None]:
    """Requests and tokens per second of backend time, counting only work done now.

    `requests_per_s` is generation requests per second of generation time: a scoring pass's
    seconds (`scoring_s`) are taken out of `backend_s` for it.

    Cached answers cost no inference, so their tokens are left out of the rates (they stay
    in the `prompt_tokens` / `completion_tokens` totals, which describe the answers).
    """
    if backend_s <= 0:
        return {"requests_per_s": None, "prompt_tokens_per_s": None,
                "completion_tokens_per_s": None}
    fresh = [c for c in completions if not c.cached]
    generation_s = backend_s - (stats.get("scoring_s") or 0.0)
    return {
        "requests_per_s": (stats.get("requests", 0) / generation_s
                           if generation_s > 0 else None),
        "prompt_tokens_per_s": sum(c.prompt_tokens or 0 for c in fresh) / backend_s,
        "completion_tokens_per_s": sum(c.completion_tokens or 0 for c in fresh) / backend_s,
    }
