"""The rational baseline: a moral-hazard agent that needs no language model.

For each listed, affordable product a the agent scores

    V(a) = (1 - lambda) * u_customer(a) + lambda * u_company(a)
           - penalty_customer * P_customer * [a is not a customer-best product]
           - penalty_company  * P_company  * [a is not a company-best product]
           + commission_weight * commission(a) / max feasible commission

where both utilities are rescaled to [0, 1] over the affordable listed products (so lambda and
the penalties are in comparable units), and the chance that a deviation is seen follows the
information structure:

    P_customer = 1 - (1 - r * [customer reads the explanation]) * (1 - outcome_observability)
    P_company  = 1 - (1 - r * [company reads the explanation])  * (1 - monitoring)

with r = `explanation_reveals` (per reader; 0 is cheap talk). When the customer cannot observe
every attribute, or the agent's contract is disclosed to it, P_customer becomes per option:

    P_customer(a) = 1 - (1 - r * [reads]) * (1 - outcome_observability * [a is worse in
                    what the customer can ever observe]) * (1 - contract_detection *
                    [contract disclosed and a pays the agent])

It then picks argmax V(a) + noise * Gumbel (a logit choice).
The Gumbel draws come from a hash of the request's seed and the option's position, so an
answer depends only on its own request, never on what else is in the batch.

Its choice probabilities are those of the logit choice, softmax(V / noise) over the feasible
options (`logit_probabilities`), recorded with every answer at no cost.

It answers in the text format a model would ("...\\nChoice: 2") so the whole pipeline, parser
included, runs as it would with an LLM.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.types import Completion, DecisionRequest

_CUSTOMER_READS = {"customer": 1.0, "both": 1.0}
_COMPANY_READS = {"company": 1.0, "both": 1.0}


def seeded_uniforms(seeds: np.ndarray, width: int) -> np.ndarray:
    """Uniforms in (0, 1), shape (len(seeds), width), a pure function of (seed, column).

    SplitMix64 finaliser over seed * 2^32 + column: cheap, vectorised, and independent of
    batch composition.
    """
    with np.errstate(over="ignore"):
        z = (seeds.astype(np.uint64)[:, None] << np.uint64(32)) + np.arange(
            width, dtype=np.uint64
        )[None, :]
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / float(1 << 53)


def _rescale(values: np.ndarray, feasible: np.ndarray) -> np.ndarray:
    """Min-max rescale each row over its feasible entries; a flat row becomes all ones."""
    masked_low = np.where(feasible, values, np.inf).min(axis=1, keepdims=True)
    masked_high = np.where(feasible, values, -np.inf).max(axis=1, keepdims=True)
    span = masked_high - masked_low
    safe = np.where(span > 0, span, 1.0)
    scaled = np.where(span > 0, (values - masked_low) / safe, 1.0)
    return np.where(feasible, scaled, 0.0)


def rational_values(
    customer_utility: np.ndarray,
    company_utility: np.ndarray,
    feasible: np.ndarray,
    p_customer_sees: np.ndarray,
    p_company_sees: np.ndarray,
    company_weight: np.ndarray,
    penalty_customer: np.ndarray,
    penalty_company: np.ndarray,
    customer_detection: np.ndarray | None = None,
    commission: np.ndarray | None = None,
    commission_weight: np.ndarray | None = None,
) -> np.ndarray:
    """V(a) of every option (see the module docstring), -inf where a is not feasible.

    Matrices are (batch, options); the other arguments are (batch,).

    `customer_detection` (batch, options), when given, replaces `p_customer_sees` with a
    per-option chance that the customer sees the deviation (for hidden attributes and
    disclosed contracts). `commission` (batch, options) adds the agent's own term
    commission_weight * commission(a) / max feasible commission.
    """
    cu = _rescale(customer_utility, feasible)
    ku = _rescale(company_utility, feasible)
    best_c = np.where(feasible, customer_utility, -np.inf).max(axis=1, keepdims=True)
    best_k = np.where(feasible, company_utility, -np.inf).max(axis=1, keepdims=True)
    deviates_c = customer_utility < best_c
    deviates_k = company_utility < best_k
    lam = company_weight[:, None]
    if customer_detection is None:
        customer_term = (penalty_customer * p_customer_sees)[:, None] * deviates_c
    else:
        customer_term = penalty_customer[:, None] * customer_detection * deviates_c
    value = (
        (1.0 - lam) * cu
        + lam * ku
        - customer_term
        - (penalty_company * p_company_sees)[:, None] * deviates_k
    )
    if commission is not None and commission_weight is not None:
        top = np.where(feasible, commission, 0.0).max(axis=1, keepdims=True)
        share = np.where(top > 0, commission / np.where(top > 0, top, 1.0), 0.0)
        value = value + commission_weight[:, None] * share
    return np.where(feasible, value, -np.inf)


def logit_probabilities(value: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """P(argmax V + noise * Gumbel = a) = softmax(V / noise) per row, with a `none` column.

    Rows with no feasible option put probability 1 on `none` (the last column); a row with
    noise 0 puts all its mass on its first best option, as the argmax does.
    """
    n, width = value.shape
    out = np.zeros((n, width + 1))
    any_feasible = np.isfinite(value).any(axis=1)
    out[~any_feasible, width] = 1.0
    noisy = any_feasible & (noise > 0)
    if noisy.any():
        scaled = value[noisy] / noise[noisy][:, None]
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        weights = np.exp(scaled)
        out[noisy, :width] = weights / weights.sum(axis=1, keepdims=True)
    exact = any_feasible & ~(noise > 0)
    if exact.any():
        rows = np.flatnonzero(exact)
        out[rows, value[rows].argmax(axis=1)] = 1.0
    return out


def rational_choices(
    customer_utility: np.ndarray,
    company_utility: np.ndarray,
    feasible: np.ndarray,
    p_customer_sees: np.ndarray,
    p_company_sees: np.ndarray,
    company_weight: np.ndarray,
    penalty_customer: np.ndarray,
    penalty_company: np.ndarray,
    noise: np.ndarray,
    seeds: np.ndarray,
    customer_detection: np.ndarray | None = None,
    commission: np.ndarray | None = None,
    commission_weight: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """Vectorised choice for a batch of decisions with the same number of options.

    Matrices are (batch, options); the other arguments are (batch,). Returns the chosen
    column per row, or -1 where no option is feasible. `values`, when given, are the
    `rational_values` of these arguments, already worked out (see it for
    `customer_detection` and the commission terms).
    """
    value = values if values is not None else rational_values(
        customer_utility, company_utility, feasible, p_customer_sees, p_company_sees,
        company_weight, penalty_customer, penalty_company, customer_detection, commission,
        commission_weight)
    gumbel = -np.log(-np.log(seeded_uniforms(seeds, value.shape[1])))
    value = value + noise[:, None] * gumbel
    value = np.where(feasible, value, -np.inf)
    choice = value.argmax(axis=1)
    return np.where(feasible.any(axis=1), choice, -1)


def detection_probabilities(request: DecisionRequest) -> tuple[float, float]:
    """P(customer sees a deviation), P(company sees one) for one request's context."""
    ctx = request.context
    r = ctx.explanation_reveals
    r_k = r if ctx.explanation_reveals_company is None else ctx.explanation_reveals_company
    p_c = 1.0 - (1.0 - r * _CUSTOMER_READS.get(ctx.disclosure, 0.0)) * (
        1.0 - ctx.outcome_observability
    )
    p_k = 1.0 - (1.0 - r_k * _COMPANY_READS.get(ctx.disclosure, 0.0)) * (1.0 - ctx.monitoring)
    return p_c, p_k


def customer_detection(batch: Sequence[DecisionRequest]) -> np.ndarray | None:
    """Per request and option, the chance the customer sees a deviation to that option.

    Three channels, independent: reading a revealing explanation (r, when the customer reads
    it), observing the outcome (outcome_observability, only where the option is worse in
    what the customer can ever observe), and a disclosed contract (contract_detection, only
    for options that pay the agent). None when every request has the plain structure, so
    the classic formula stays bit for bit.
    """
    contexts = [r.context for r in batch]
    if all(c.customer_observable_utility is None and not c.contract_disclosed
           for c in contexts):
        return None
    rows = []
    for ctx in contexts:
        width = len(ctx.option_numbers)
        reads = ctx.explanation_reveals * _CUSTOMER_READS.get(ctx.disclosure, 0.0)
        observable = (ctx.customer_observable_utility if ctx.customer_observable_utility
                      is not None else ctx.customer_utility)
        feasible = ctx.affordable
        best = np.where(feasible, observable, -np.inf).max() if feasible.any() else 0.0
        seen_worse = observable < best - 1e-9
        miss = (1.0 - reads) * (1.0 - ctx.outcome_observability * seen_worse)
        if ctx.contract_disclosed and ctx.commission is not None:
            miss = miss * (1.0 - ctx.contract_detection * (ctx.commission > 0))
        rows.append(np.broadcast_to(1.0 - miss, (width,)))
    return np.stack(rows)


def explain(request: DecisionRequest, column: int, best_for_customer: bool) -> str:
    """A one-line explanation in the agent's voice, then the choice line."""
    ctx = request.context
    if column < 0:
        return "Explanation: none of the listed products fits the customer's budget.\nChoice: none"
    if best_for_customer:
        why = "it is the best match for the customer's request within budget"
    else:
        why = f"it balances the customer's request with the priorities of {ctx.company_name}"
    return (f"Explanation: I chose {ctx.option_names[column]} because {why}.\n"
            f"Choice: {ctx.option_numbers[column]}")


def _parameter_rows(batch: Sequence[DecisionRequest]) -> list[tuple[float, ...]]:
    """Per request: P(customer sees), P(company sees), lambda, both penalties, noise.

    A tick has few distinct (information structure, policy) combinations, so each is worked
    out once and shared.
    """
    known: dict[tuple[object, ...], tuple[float, ...]] = {}
    rows = []
    for request in batch:
        ctx = request.context
        key = (ctx.disclosure, ctx.outcome_observability, ctx.monitoring,
               ctx.explanation_reveals, ctx.explanation_reveals_company, ctx.policy)
        row = known.get(key)
        if row is None:
            policy = ctx.policy
            row = (*detection_probabilities(request), policy.company_weight,
                   policy.penalty_customer, policy.penalty_company, policy.noise)
            known[key] = row
        rows.append(row)
    return rows


def _commission_terms(contexts: Sequence[object]) -> dict[str, np.ndarray]:
    """The agent's own pay term, when any request carries a contract and a weight on it."""
    if all(c.commission is None or not c.policy.commission_weight for c in contexts):
        return {}
    return {
        "commission": np.stack([c.commission if c.commission is not None
                                else np.zeros(len(c.option_numbers)) for c in contexts]),
        "commission_weight": np.array([c.policy.commission_weight for c in contexts]),
    }


class RationalBackend:
    """Backend that answers with the rational baseline's choice, in model-like text."""

    name = "rational"
    cacheable = False  # computed, not sampled: nothing worth caching

    def __init__(self, model: str | None = None) -> None:
        self.model = model or "rational-baseline"

    def generate(self, requests: Sequence[DecisionRequest]) -> list[Completion]:
        """Answer each request; requests are grouped by listing length and solved in bulk."""
        started = time.perf_counter()
        groups: dict[int, list[int]] = defaultdict(list)
        for index, request in enumerate(requests):
            groups[len(request.context.option_numbers)].append(index)
        columns = np.empty(len(requests), dtype=np.int64)
        for_customer = np.empty(len(requests), dtype=bool)
        probs: list[tuple[float, ...]] = [()] * len(requests)
        for indices in groups.values():
            columns[indices], for_customer[indices], group_probs = self._solve(
                [requests[i] for i in indices])
            for i, row in zip(indices, group_probs.tolist(), strict=True):
                probs[i] = tuple(row)
        elapsed_ms = (time.perf_counter() - started) * 1000.0 / max(len(requests), 1)
        return [
            Completion(text=explain(request, column, best), latency_ms=elapsed_ms,
                       choice_probs=p, choice_prob_mass=1.0, choice_probs_kind="direct")
            for request, column, best, p in zip(requests, columns.tolist(),
                                                 for_customer.tolist(), probs, strict=True)
        ]

    @staticmethod
    def _solve(batch: list[DecisionRequest]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Choices for requests with equal listing length, whether each is customer-best, and
        every option's choice probability (listing order, then `none`)."""
        contexts = [r.context for r in batch]
        params = np.array(_parameter_rows(batch), dtype=np.float64)
        customer_utility = np.stack([c.customer_utility for c in contexts])
        feasible = np.stack([c.affordable for c in contexts])
        arguments = dict(
            customer_utility=customer_utility,
            company_utility=np.stack([c.company_utility for c in contexts]),
            feasible=feasible,
            p_customer_sees=params[:, 0],
            p_company_sees=params[:, 1],
            company_weight=params[:, 2],
            penalty_customer=params[:, 3],
            penalty_company=params[:, 4],
            customer_detection=customer_detection(batch),
            **_commission_terms(contexts),
        )
        values = rational_values(**arguments)
        columns = rational_choices(**arguments, noise=params[:, 5],
                                   seeds=np.array([r.seed for r in batch], dtype=np.uint64),
                                   values=values)
        best = np.where(feasible, customer_utility, -np.inf).max(axis=1)
        chosen = customer_utility[np.arange(len(batch)), np.maximum(columns, 0)]
        probs = logit_probabilities(values, params[:, 5])
        return columns, (columns >= 0) & (chosen >= best), probs

    def describe(self) -> dict[str, Any]:
        """No settings: the baseline has none."""
        return {}

    def close(self) -> None:
        """Nothing to release."""
