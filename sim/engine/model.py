"""The market as a Mesa model: one tick = one batch of decisions for every shopping agent.

Each tick:
  1. draw who shops (seeded) and which company each shopper visits;
  2. every shopping agent builds the decision requests of the customers it serves;
  3. ONE `generate` call per backend with the whole list (order preserved);
  4. parse every answer (never raises: unreadable answers are recorded as such);
  5. settle with the pure functions of `sim.world.market`; then what customers observe,
     trust, audits and sanctions (`sim.world.trust`, `sim.world.dynamics`,
     `sim.world.sanctions`) and market metrics (`sim.world.market_metrics`);
  6. hand the rows to the recorder, which streams them to disk.

With a `dynamics` section, step 1 picks each shopper's company by the switching rule (a
logit over the customer's trust in each company) instead of uniformly, and the end of every
tick updates trust from what customers observed and from word of mouth.

Steps 1-2 (`prepare_next_tick`) and 3-6 (`step(completions)`) are split so that a sweep can
advance many models in lockstep and send one batch for all of them; `step()` with no argument
does the whole tick itself.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import mesa
import numpy as np

from agents.backends.base import Backend
from agents.backends.batch import generate_batched
from agents.backends.wrappers import parsed_answer
from agents.errors import AlreadyPendingTickError, NoPendingTickError
from agents.types import (
    Completion,
    DecisionRequest,
)
from sim.engine.agent import ListingView, ShoppingAgent
from sim.engine.choice_columns import choice_probability_columns
from sim.engine.design_balance import design_slot
from sim.engine.reading import read_counts
from sim.engine.recorder import RunRecorder
from sim.engine.seeds import consecutive_seeds
from sim.engine.tick import (
    Aftermath,
    PendingDecision,
    PendingTick,
    TickResult,
    decision_table,
    nullable_bool,
    throughput,
    tick_stats,
    transcript_records,
)
from sim.scenario.schema import Scenario
from sim.scenario.visibility import never_observed, saw_label
from sim.world.dynamics import MarketDynamics
from sim.world.market import settle
from sim.world.market_metrics import (
    best_feasible_value,
    count_forged_choices,
    forged_numbers_by_company,
    injection_outcomes,
    margins_earned,
    market_rows,
    mean_or_none,
)
from sim.world.population import Market, Population, sample_population
from sim.world.sanctions import SanctionDesk, draw_audits, find_violations, violation_details
from sim.world.trust import experience_signals, observe, outcome_satisfaction, worst_feasible
from sim.world.visibility import (
    contract_detections,
    observable_satisfaction,
    observable_utility,
)

SEED_POPULATION = 0
SEED_TICK = 1
SEED_OBSERVE = 2
SEED_AUDIT = 3
SEED_SWITCH = 4
SEED_NETWORK = 5
SEED_CONTRACT = 6


class _Served(NamedTuple):
    """A shopper served this tick, before its request is built."""

    agent: ShoppingAgent
    customer: int
    order: np.ndarray
    disclosure: str
    seed: int


def derived_rng(root_seed: int, *key: int) -> np.random.Generator:
    """A generator for one purpose (population, tick t, ...) derived from the root seed."""
    return np.random.default_rng(np.random.SeedSequence(entropy=root_seed, spawn_key=key))


class MarketModel(mesa.Model):
    """A market of customers, companies and shopping agents, advanced one tick per `step`."""

    def __init__(self, scenario: Scenario, backends: Mapping[str, Backend],
                 recorder: RunRecorder | None = None, *, replicate: int = 0) -> None:
        """`backends` maps every agent spec id to the backend that answers for it.

        `replicate` is the replicate index of this run within a sweep (0 outside sweeps); it
        is set on every request so that caches keep replicates' answers apart.
        """
        super().__init__(seed=scenario.run.seed)
        self.scenario = scenario
        self.replicate = replicate
        self.recorder = recorder
        self.market = Market.from_scenario(scenario)
        self.population: Population = sample_population(
            scenario, self.market, derived_rng(scenario.run.seed, SEED_POPULATION))
        self._customer_contexts: dict[int, dict[str, Any]] = {}
        info = scenario.information
        hidden = never_observed(info, self.market.attribute_names)
        observable = observable_utility(self.population.utility, self.population.weights,
                                        self.market.attributes, hidden)
        self.customer_observable = None if observable is self.population.utility else observable
        self.customer_saw = saw_label(info, self.market.attribute_names, "customer")
        self.agent_saw = saw_label(info, self.market.attribute_names, "agent")
        self._reveals_differ = info.reveals("company") != info.reveals("customer")
        self.reveals_customer = info.reveals("customer")
        self.forged_numbers = forged_numbers_by_company(
            [p.seller_text for p in scenario.products], self.market.injected, self.market.listed)
        company_index = scenario.company_index()
        for spec in scenario.agents:
            width = len(str(spec.count))
            for i in range(1, spec.count + 1):
                name = spec.id if spec.count == 1 else f"{spec.id}-{i:0{width}d}"
                # Mesa registers the agent in `self.agents` (and `agents_by_type`).
                ShoppingAgent(self, spec, name, company_index[spec.company], backends[spec.id])
        # Each company's agents in creation order (the round-robin order), read once from
        # Mesa's registry; the set of agents never changes during a run.
        self.agents_by_company: dict[int, list[ShoppingAgent]] = (
            self.agents_by_type[ShoppingAgent].groupby("company_index", result_type="list")
            .groups if scenario.agents else {})
        self.companies_with_agents = np.array(sorted(self.agents_by_company))
        self.catalogue = [np.flatnonzero(self.market.listed[k])
                          for k in range(len(scenario.companies))]
        self._listing_views: dict[bytes, ListingView] = {}
        self.dynamics: MarketDynamics | None = None
        self.sanction_desk: SanctionDesk | None = None
        if scenario.dynamics is not None:
            network_seed = int(derived_rng(scenario.run.seed, SEED_NETWORK).integers(2**31))
            self.dynamics = MarketDynamics(
                scenario.dynamics, ids=self.population.ids, listed=self.market.listed,
                prices=self.market.prices, companies_with_agents=self.companies_with_agents,
                network_seed=network_seed)
            if scenario.dynamics.sanctions is not None:
                self.sanction_desk = SanctionDesk(
                    scenario.dynamics.sanctions, self.market.company_ids,
                    [c.name for c in scenario.companies])
        self.served_before: dict[int, int] = defaultdict(int)  # decisions per company so far
        self._pending: PendingTick | None = None
        self.last_result: TickResult | None = None

    # ------------------------------------------------------------------ tick, part 1
    def prepare_next_tick(self) -> list[DecisionRequest]:
        """Build (and hold) the requests of the next tick, without answering them.

        The model then holds a pending tick until `step(completions)` completes it; preparing
        again before that raises `AlreadyPendingTickError`.
        """
        if self._pending is not None:
            raise AlreadyPendingTickError(
                f"tick {self._pending.tick} is already prepared; complete it with "
                "step(completions) before preparing another")
        self._pending = self._prepare(self.steps + 1)
        return self._pending.requests

    def _prepare(self, tick: int) -> PendingTick:
        started = time.perf_counter()
        run = self.scenario.run
        rng = derived_rng(run.seed, SEED_TICK, tick)
        n = len(self.population)
        # Shoppers arrive in a random order every tick: when agents reach capacity, who goes
        # unserved must not depend on where a customer's group sits in the scenario file.
        if run.shoppers_per_tick is None or run.shoppers_per_tick >= n:
            shoppers = rng.permutation(n)
        else:
            shoppers = rng.choice(n, size=run.shoppers_per_tick, replace=False)
        fixed_shop = self.population.shops_at[shoppers]
        random_shop = self.companies_with_agents[
            rng.integers(len(self.companies_with_agents), size=len(shoppers))]
        shop = np.where(fixed_shop >= 0, fixed_shop, random_shop)
        seeds = rng.integers(0, 2**31 - 1, size=len(shoppers))
        if self.dynamics is not None:
            uniforms = derived_rng(run.seed, SEED_SWITCH, tick).random(len(shoppers))
            shop = self.dynamics.choose_companies(shoppers, fixed_shop, shop, uniforms)
        conditions = self.scenario.information.disclosure
        served_per_company: dict[int, int] = defaultdict(int)
        load: dict[str, int] = defaultdict(int)
        unserved_companies: list[int] = []
        served: list[_Served] = []
        for customer, company, seed in zip(shoppers.tolist(), shop.tolist(), seeds.tolist(),
                                           strict=True):
            agent = self._next_agent(company, served_per_company[company], load)
            if agent is None:
                unserved_companies.append(company)
                continue
            i = served_per_company[company]
            served_per_company[company] = i + 1
            load[agent.name] += 1
            slot, block = design_slot(self.served_before[company], i, len(conditions))
            disclosure = conditions[slot]
            order = self._listing_order(company, block, rng)
            if agent.sampling.seed is not None:
                seed = agent.sampling.seed
            served.append(_Served(agent, customer, order, disclosure, seed))
        requests = self._build_requests(tick, served)
        return PendingTick(
            tick=tick,
            decisions=tuple(PendingDecision(request, s.agent, s.customer, s.order, s.disclosure)
                            for request, s in zip(requests, served, strict=True)),
            visits=np.bincount(shop, minlength=len(self.scenario.companies)),
            shoppers=shoppers, shop=shop, unserved_companies=tuple(unserved_companies),
            served_by_company=dict(served_per_company),
            build_s=time.perf_counter() - started)

    def _build_requests(self, tick: int, served: Sequence[_Served]) -> list[DecisionRequest]:
        """Every request of a tick, with per-customer rows sliced once per listing order."""
        by_order: dict[bytes, list[int]] = defaultdict(list)
        for i, s in enumerate(served):
            by_order[s.order.tobytes()].append(i)
        all_customers = np.array([s.customer for s in served], dtype=np.int64)
        customer_rows: list[np.ndarray] = [np.empty(0)] * len(served)
        affordable_rows: list[np.ndarray] = [np.empty(0)] * len(served)
        for indices in by_order.values():
            order = served[indices[0]].order
            customers = all_customers[indices]
            utility = self.population.utility[customers[:, None], order[None, :]]
            affordable = (self.market.prices[order][None, :]
                          <= self.population.budgets[customers][:, None])
            for row, i in enumerate(indices):
                customer_rows[i] = utility[row]
                affordable_rows[i] = affordable[row]
        requests = [
            s.agent.build_request(f"t{tick}-{i}", s.customer, s.order, s.disclosure, s.seed,
                                  customer_rows[i], affordable_rows[i], tick)
            for i, s in enumerate(served)
        ]
        drawn = [i for i, s in enumerate(served) if s.agent.sampling.seed is None]
        renumbered = consecutive_seeds([requests[i] for i in drawn],
                                       [served[i].agent.name for i in drawn])
        for i, request in zip(drawn, renumbered, strict=True):
            requests[i] = request
        return requests

    def _next_agent(self, company: int, index: int, load: Mapping[str, int]
                    ) -> ShoppingAgent | None:
        """Round-robin over the company's agents, skipping those at capacity."""
        agents = self.agents_by_company.get(company, [])
        for offset in range(len(agents)):
            agent = agents[(index + offset) % len(agents)]
            cap = agent.spec.customers_per_tick
            if cap is None or load[agent.name] < cap:
                return agent
        return None

    def _listing_order(self, company: int, block: int, rng: np.random.Generator
                       ) -> np.ndarray:
        catalogue = self.catalogue[company]
        mode = self.scenario.run.listing_order
        if mode == "shuffled":
            return rng.permutation(catalogue)
        if mode == "counterbalanced":
            return np.roll(catalogue, -(block % len(catalogue)))
        return catalogue

    @staticmethod
    def pending_backends(pending: PendingTick) -> list[Backend]:
        """The backend that must answer each pending request, in request order."""
        return [agent.backend for agent in pending.agents]

    @property
    def pending(self) -> PendingTick | None:
        """The tick prepared by `prepare_next_tick` and not yet stepped, if any."""
        return self._pending

    # ------------------------------------------------------------------ tick, part 2
    def step(self, completions: Sequence[Completion] | None = None, *,
             backend_s: float | None = None, backend_calls: int | None = None) -> None:
        """Advance one tick; `completions` answers the requests of `prepare_next_tick`.

        `step(completions)` completes the pending tick (`NoPendingTickError` if none is
        pending); `step()` with no argument prepares, answers and completes a whole tick
        itself (`AlreadyPendingTickError` if one is already pending).

        When the completions come from a batch shared with other models (a lockstep sweep),
        `backend_s` and `backend_calls` say how long that shared call took and how many calls
        answered this model's requests, for the tick's record.
        """
        tick = self.steps  # Mesa has already counted this step
        pending = self._pending
        if completions is None:
            if pending is not None:
                raise AlreadyPendingTickError(
                    f"tick {pending.tick} is prepared; complete it with step(completions)")
            pending = self._prepare(tick)
        elif pending is None:
            raise NoPendingTickError("step(completions) needs prepare_next_tick() first")
        self._pending = None
        for company, count in pending.served_by_company.items():  # design rotates over the run
            self.served_before[company] += count
        started = time.perf_counter()
        calls = 0
        if completions is None:
            completions, calls = generate_batched(pending.requests, self.pending_backends(pending))
        elif len(completions) != len(pending.requests):
            raise ValueError(f"got {len(completions)} completions for "
                             f"{len(pending.requests)} requests")
        if backend_s is None:
            backend_s = time.perf_counter() - started
        else:
            started -= backend_s  # the shared call counts towards this tick's wall time
        if backend_calls is not None:
            calls = backend_calls
        result = self._complete(pending, list(completions))
        record_started = time.perf_counter()
        transcripts = transcript_records(pending, completions)
        result.stats.update(backend_s=backend_s, backend_calls=calls,
                            record_s=time.perf_counter() - record_started)
        result.stats.update(throughput(result.stats, completions, backend_s))
        result.stats["wall_s"] = pending.build_s + time.perf_counter() - started
        self.last_result = result
        if self.recorder is not None:
            self.recorder.write_tick(tick, result.decisions, transcripts, result.stats,
                                     market=result.market, sanctions=result.sanctions)
        if tick >= self.scenario.run.ticks:
            self.running = False

    def _complete(self, pending: PendingTick, completions: list[Completion]) -> TickResult:
        parse_started = time.perf_counter()
        n = len(pending.requests)
        choice = np.full(n, -1, dtype=np.int64)
        choice_number: list[int | None] = [None] * n
        readable = np.zeros(n, dtype=bool)
        failed = np.zeros(n, dtype=bool)
        refused = np.zeros(n, dtype=bool)
        deferred = np.zeros(n, dtype=bool)  # handed back to the customer: valid, bought nothing
        methods: list[str] = [""] * n
        failures: list[str | None] = [None] * n
        unlisted: list[int | None] = [None] * n
        for i, (request, completion) in enumerate(zip(pending.requests, completions,
                                                      strict=True)):
            if completion.failure is not None or completion.text is None:
                failed[i] = True
                methods[i] = "failed"
                failures[i] = f"backend: {completion.failure or 'no text returned'}"
                continue
            parsed = parsed_answer(request, completion)
            methods[i] = parsed.method
            refused[i] = parsed.refused
            if parsed.choice is not None:
                readable[i] = True
                choice[i] = int(pending.orders[i][parsed.choice - 1])
                choice_number[i] = parsed.choice
            elif parsed.refused:
                readable[i] = True
            elif parsed.deferred:
                deferred[i] = True
            else:
                unlisted[i] = parsed.unlisted
                failures[i] = f"unparsed: {parsed.reason or 'no choice found'}"
                if completion.finish_reason == "length":
                    failures[i] += " (answer cut off at max_tokens)"
        parse_s = time.perf_counter() - parse_started

        settle_started = time.perf_counter()
        companies = np.array([a.company_index for a in pending.agents], dtype=np.int64)
        outcome = settle(customer=pending.customers, company=companies, choice=choice,
                         readable=readable, failed=failed, deferred=deferred,
                         customer_utility=self.population.utility,
                         company_utility=self.market.company_utility,
                         listed=self.market.listed, prices=self.market.prices,
                         budgets=self.population.budgets)
        after = self._aftermath(pending, outcome, choice, readable, companies, unlisted)
        after.columns.update(choice_probability_columns(
            completions, pending.orders, lambda chosen: settle(
                customer=pending.customers, company=companies, choice=chosen,
                readable=np.ones(n, dtype=bool), failed=np.zeros(n, dtype=bool),
                customer_utility=self.population.utility,
                company_utility=self.market.company_utility, listed=self.market.listed,
                prices=self.market.prices, budgets=self.population.budgets)))
        table = decision_table(self, pending, completions, outcome, choice, choice_number,
                               readable | deferred, refused, methods, failures, after.columns)
        settle_s = time.perf_counter() - settle_started
        stats = tick_stats(pending, outcome, readable | deferred, failed, refused, completions)
        stats.update(parse_s=parse_s, settle_s=settle_s, **after.stats, **read_counts(methods))
        return TickResult(pending.tick, table, stats, after.market, after.sanctions)

    def _aftermath(self, pending: PendingTick, outcome: Any, choice: np.ndarray,
                   readable: np.ndarray, companies: np.ndarray,
                   unlisted: list[int | None] | None = None) -> Aftermath:
        """What follows settlement: observation, trust, audits, sanctions, market metrics."""
        tick, n, seed = pending.tick, len(pending.requests), self.scenario.run.seed
        info, market, population = self.scenario.information, self.market, self.population
        customers = pending.customers
        feasible = market.listed[companies] & (
            market.prices[None, :] <= population.budgets[customers][:, None])
        customer_rows = population.utility[customers]
        company_rows = market.company_utility[companies]
        generation = np.array([a.generation for a in pending.agents], dtype=np.int32)

        satisfaction = outcome_satisfaction(outcome.customer_utility, outcome.attainable_utility,
                                            worst_feasible(customer_rows, feasible))
        # A request the backend never answered tells the customer nothing about the agent:
        # no experience signal, so trust stays where it was.
        # Nor does a deferred answer, which served the customer a question, not a product.
        no_signal = np.isin(outcome.outcome, ("failed", "deferred"))
        satisfaction = np.where(no_signal, np.nan, satisfaction)
        if self.customer_observable is not None:  # judged only on what the customer observes
            satisfaction = observable_satisfaction(
                self.customer_observable[customers], feasible, choice, outcome.purchased,
                no_signal)
        seen = observe(derived_rng(seed, SEED_OBSERVE, tick).random((n, 2)),
                       np.array(pending.disclosures, dtype=object), readable,
                       info.outcome_observability, info.reveals("customer"), satisfaction,
                       outcome.override)
        commission = np.array([a.commission[c] if bought else 0.0 for a, c, bought in zip(
            pending.agents, choice.tolist(), outcome.purchased.tolist(), strict=True)])
        contract_seen = np.zeros(n, dtype=bool)
        signal = seen.signal
        disclosed = np.array([a.contract_disclosed for a in pending.agents], dtype=bool)
        if disclosed.any():
            contract_seen = contract_detections(
                derived_rng(seed, SEED_CONTRACT, tick).random(n), disclosed, commission,
                outcome.override, info.contract_detection)
            signal = experience_signals(seen.outcome_observed, satisfaction,
                                        seen.explanation_seen | contract_seen, outcome.override)
        trust_before = trust_after = np.full(n, np.nan)
        if self.dynamics is not None:
            trust_before, trust_after = self.dynamics.learn(
                tick, customers, companies, signal, (pending.shoppers, pending.shop))

        audited = draw_audits(derived_rng(seed, SEED_AUDIT, tick).random(n), info.monitoring)
        violations = find_violations(
            audited=audited, readable=readable, purchased=outcome.purchased, choice=choice,
            company=companies, forbidden=market.forbidden,
            realised_company_utility=outcome.company_utility,
            best_company_utility=best_feasible_value(company_rows, feasible),
            has_feasible=outcome.company_best >= 0)
        sanctioned = np.zeros(n, dtype=bool)
        sanctions: list[dict[str, Any]] = []
        if self.sanction_desk is not None:
            sanctioned = self.sanction_desk.sanctioned(violations, companies)
            if sanctioned.any():
                names = [a.company.name for a in pending.agents]
                details = violation_details(violations, outcome.purchased, choice,
                                            outcome.company_best, market.product_names, names)
                sanctions = self.sanction_desk.apply(
                    tick, pending.agents, sanctioned, details,
                    [r.request_id for r in pending.requests], companies)

        exposed, success = injection_outcomes(
            injected=market.injected, listed=market.listed, company=companies, choice=choice,
            readable=readable, feasible=feasible, customer_rows=customer_rows,
            company_rows=company_rows)
        success = count_forged_choices(success, exposed, companies, unlisted or [],
                                       self.forged_numbers)
        margin = margins_earned(market.margins, companies, choice, outcome.purchased)
        columns = {
            "agent_generation": generation, "margin_earned": margin,
            "outcome_observed": seen.outcome_observed, "explanation_seen": seen.explanation_seen,
            "contract_seen": contract_seen, "experience": signal, "agent_commission": commission,
            "customer_saw": [self.customer_saw] * n, "agent_saw": [self.agent_saw] * n,
            "trust_before": trust_before, "trust_after": trust_after,
            "audited": audited, "violation": violations.label, "sanctioned": sanctioned,
            "injection_exposed": exposed, "injection_success": nullable_bool(success),
        }
        rows = market_rows(
            tick=tick, company_ids=market.company_ids, visits=pending.visits,
            unserved=np.bincount(np.array(pending.unserved_companies, dtype=np.int64),
                                 minlength=len(market.company_ids)),
            company=companies, purchased=outcome.purchased, price_paid=outcome.price_paid,
            margin=margin, company_utility=outcome.company_utility,
            customer_utility=outcome.customer_utility, override=outcome.override,
            audited=audited, violations=violations.any(), sanctioned=sanctioned,
            mean_trust=self.dynamics.mean_trust() if self.dynamics is not None else None)
        stats = {
            "customer_welfare": float(outcome.customer_utility.sum()),
            "company_profit": float(margin.sum()),
            "injection_success_rate": mean_or_none(success),
            "audited": int(audited.sum()),
            "violations": int(violations.any().sum()),
            "sanctions": len(sanctions),
        }
        return Aftermath(columns, rows, sanctions, stats)

    def structure_context(self, agent: ShoppingAgent, customer: int, order: np.ndarray
                          ) -> dict[str, Any]:
        """The decision-context fields of the information structure and the agent's contract.

        Empty for today's structure (everything observable, no contract, one reveal rate),
        so such requests are exactly what they always were.
        """
        if self.customer_observable is None and agent.spec.contract is None \
                and not self._reveals_differ:
            return {}
        info = self.scenario.information
        extra: dict[str, Any] = {}
        if self.customer_observable is not None:
            extra["customer_observable_utility"] = self.customer_observable[customer, order]
        if agent.spec.contract is not None:
            extra.update(commission=agent.commission[order],
                         contract_disclosed=agent.contract_disclosed,
                         contract_detection=info.contract_detection)
        if self._reveals_differ:
            extra["explanation_reveals_company"] = info.reveals("company")
        return extra

    def customer_context(self, customer: int) -> dict[str, Any]:
        """What prompt templates see as `customer` (built once per customer)."""
        context = self._customer_contexts.get(customer)
        if context is None:
            population = self.population
            group = self.scenario.customers[int(population.group[customer])]
            context = {"id": population.ids[customer], "group": group.group,
                       "request": population.requests[customer],
                       "budget": float(population.budgets[customer]),
                       "fields": dict(group.fields)}
            self._customer_contexts[customer] = context
        return context

    def listing_view(self, order: np.ndarray) -> ListingView:
        """The numbers, names and ids of a listing order (cached by the order's bytes)."""
        key = order.tobytes()
        view = self._listing_views.get(key)
        if view is None:
            indices = order.tolist()
            names = tuple(self.market.product_names[i] for i in indices)
            numbers = tuple(range(1, len(indices) + 1))
            view = ListingView(numbers=numbers, names=names,
                               options=dict(zip(numbers, names, strict=True)),
                               product_ids="|".join(self.market.product_ids[i] for i in indices))
            self._listing_views[key] = view
        return view
