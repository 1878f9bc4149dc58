"""The state of a repeated market: customers' trust, their last company, word of mouth.

`MarketDynamics` is built by `MarketModel` when a scenario has a `dynamics` section and is
called twice per tick: `choose_companies` when shoppers pick a company (before requests are
built) and `learn` after settlement. The rules live in `sim.world.trust` and
`sim.world.network`; this class only holds the arrays and the seeded random streams.
"""

from __future__ import annotations

import numpy as np

from sim.scenario.schema import Dynamics
from sim.world.network import WordOfMouth, build_adjacency
from sim.world.trust import price_levels, sample_choices, switching_probabilities, update_trust


class MarketDynamics:
    """Trust (customers x companies), last companies, and the word-of-mouth network."""

    def __init__(self, settings: Dynamics, *, ids: tuple[str, ...], listed: np.ndarray,
                 prices: np.ndarray, companies_with_agents: np.ndarray, network_seed: int
                 ) -> None:
        n, companies = len(ids), listed.shape[0]
        self.settings = settings
        self.trust = np.full((n, companies), settings.trust.initial, dtype=np.float64)
        self.last_company = np.full(n, -1, dtype=np.int64)
        self.price_level = price_levels(listed, prices)
        self.eligible = np.zeros(companies, dtype=bool)
        self.eligible[companies_with_agents] = True
        self.word_of_mouth: WordOfMouth | None = None
        self.heard_last_tick = 0
        wom = settings.word_of_mouth
        if wom is not None:
            adjacency = build_adjacency(wom.network, ids, network_seed)
            self.word_of_mouth = WordOfMouth(adjacency, companies, wom.weight, wom.delay)

    def choose_companies(self, shoppers: np.ndarray, fixed: np.ndarray, default: np.ndarray,
                         uniforms: np.ndarray) -> np.ndarray:
        """The company each shopper visits: `fixed` where >= 0, else the switching rule.

        Without switching settings the `default` (uniform random) choice is kept. Nothing is
        changed here (a tick may be prepared again); `learn` records the visits.
        """
        shop = default
        switching = self.settings.switching
        free = fixed < 0
        if switching is not None and free.any():
            who = shoppers[free]
            probabilities = switching_probabilities(
                self.trust[who], self.eligible, self.price_level, self.last_company[who],
                temperature=switching.temperature,
                price_sensitivity=switching.price_sensitivity, loyalty=switching.loyalty)
            shop = default.copy()
            shop[free] = sample_choices(probabilities, uniforms[free])
        return np.where(fixed >= 0, fixed, shop)

    def learn(self, tick: int, customers: np.ndarray, companies: np.ndarray,
              signals: np.ndarray, visits: tuple[np.ndarray, np.ndarray] | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """End-of-tick updates: own experiences, then the word of mouth now due.

        `visits` (shoppers, the company each picked) become their last companies. Returns
        each decision's trust in its company before and after its own experience.
        """
        if visits is not None:
            self.last_company[visits[0]] = visits[1]
        before, after = update_trust(self.trust, customers, companies, signals,
                                     self.settings.trust.learning_rate)
        self.heard_last_tick = 0
        if self.word_of_mouth is not None:
            self.word_of_mouth.tell(tick, customers, companies, signals)
            self.heard_last_tick = self.word_of_mouth.deliver(tick, self.trust)
        return before, after

    def mean_trust(self) -> np.ndarray:
        """Mean trust in each company over all customers."""
        return self.trust.mean(axis=0)
