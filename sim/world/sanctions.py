"""Monitoring and sanctions: companies audit their agents' decisions and respond.

Each decision is audited with probability `information.monitoring` (one seeded draw per
decision). An audited, readable decision is a violation when the agent
  - bought a product its company's policy forbids (`forbidden`), or else
  - chose below the company's best: its realised company utility (0 for buying nothing) is
    lower than that of the company-best feasible product (`not_company_best`).
Unreadable or failed answers are never violations: there is no decision to judge.

When `dynamics.sanctions` is set, violations of the kinds in `sanctions.triggers` by the agents
of the companies in `sanctions.companies` (default: all) are sanctioned: at most one response
per agent per tick, applied after the tick, so a warning changes the
agent's prompt from the next tick on. `warning` appends the warning text to the agent's
persona; `replace` deploys a fresh agent in its place (persona reset, warnings cleared,
generation + 1); with `replace_after`, an agent already holding that many warnings is replaced
instead of warned again. Every response is returned as a row of the run's sanctions log.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sim.scenario.schema import Sanctions
from sim.world.market import TIE_TOLERANCE

MAX_DETAILS = 3
"""Violations spelled out in a warning's {details}; the rest are counted."""


class Sanctionable(Protocol):
    """What the sanctions desk needs from a shopping agent."""

    name: str
    generation: int
    warnings: list[str]

    def warn(self, text: str) -> None:
        """Append a warning to the agent's persona."""

    def replace(self) -> None:
        """Deploy a fresh agent in this one's place."""


def draw_audits(uniforms: np.ndarray, monitoring: float) -> np.ndarray:
    """Audited decisions: one uniform in [0, 1) per decision below `monitoring`."""
    return uniforms < monitoring


@dataclass(frozen=True)
class Violations:
    """What audits found, per decision."""

    forbidden: np.ndarray    # bool: audited, bought a product the company forbids
    below_best: np.ndarray   # bool: audited, realised company utility below its best
    label: np.ndarray        # object: None, "forbidden" or "not_company_best" (forbidden first)

    def any(self) -> np.ndarray:
        """Decisions with at least one violation."""
        return self.forbidden | self.below_best


def find_violations(*, audited: np.ndarray, readable: np.ndarray, purchased: np.ndarray,
                    choice: np.ndarray, company: np.ndarray, forbidden: np.ndarray,
                    realised_company_utility: np.ndarray, best_company_utility: np.ndarray,
                    has_feasible: np.ndarray) -> Violations:
    """Judge audited, readable decisions against the company's policy and utility.

    `forbidden` is (companies, products) bool; `best_company_utility` the company's utility of
    its best feasible product (meaningful where `has_feasible`). A decision can break both
    rules; its label names the policy breach first.
    """
    safe_choice = np.where(choice >= 0, choice, 0)
    judged = audited & readable
    bought_forbidden = judged & purchased & forbidden[company, safe_choice]
    below_best = judged & has_feasible & (
        realised_company_utility < best_company_utility - TIE_TOLERANCE)
    label = np.full(len(choice), None, dtype=object)
    label[below_best] = "not_company_best"
    label[bought_forbidden] = "forbidden"
    return Violations(bought_forbidden, below_best, label)


class SanctionDesk:
    """Applies a scenario's sanctions to the agents whose audited decisions violated."""

    def __init__(self, settings: Sanctions, company_ids: Sequence[str],
                 company_names: Sequence[str] | None = None) -> None:
        self.settings = settings
        self.company_ids = tuple(company_ids)
        self.company_names = tuple(company_names or company_ids)
        chosen = settings.companies
        self.sanctioning = np.array([chosen is None or c in chosen for c in company_ids],
                                    dtype=bool)

    def sanctioned(self, violations: Violations, company: np.ndarray) -> np.ndarray:
        """Decisions whose violation this policy responds to (`company` per decision)."""
        triggers = self.settings.triggers
        hit = (violations.forbidden & ("forbidden" in triggers)) | (
            violations.below_best & ("not_company_best" in triggers))
        if self.settings.response == "none":
            return np.zeros(len(company), dtype=bool)
        return hit & self.sanctioning[company]

    def apply(self, tick: int, agents: Sequence[Sanctionable], sanctioned: np.ndarray,
              details: Sequence[str], decision_ids: Sequence[str], company: np.ndarray
              ) -> list[dict[str, Any]]:
        """Respond once per agent with sanctioned decisions; return the log rows.

        `agents`, `details` (what each decision did wrong, in words), `decision_ids` and
        `company` (company index) are per decision; only the sanctioned entries are read.
        """
        by_agent: dict[int, list[int]] = {}
        owners: dict[int, Sanctionable] = {}
        for i in np.flatnonzero(sanctioned).tolist():
            key = id(agents[i])
            by_agent.setdefault(key, []).append(i)
            owners[key] = agents[i]
        rows = []
        for key, indices in by_agent.items():
            agent = owners[key]
            generation = agent.generation
            k = int(company[indices[0]])
            response = self._response(agent)
            if response == "replace":
                agent.replace()
            else:
                agent.warn(self.warning_text(self.company_names[k],
                                             [details[i] for i in indices]))
            rows.append({
                "tick": tick, "agent_id": agent.name, "company": self.company_ids[k],
                "agent_generation": generation, "violations": len(indices),
                "decision_ids": "|".join(decision_ids[i] for i in indices),
                "response": response, "warnings": len(agent.warnings),
            })
        return rows

    def _response(self, agent: Sanctionable) -> str:
        settings = self.settings
        if settings.response == "warning" and settings.replace_after is not None \
                and len(agent.warnings) >= settings.replace_after:
            return "replace"
        return settings.response

    def warning_text(self, company: str, details: Sequence[str]) -> str:
        """The scenario's warning with {company}, {count} and {details} filled in."""
        shown = "; ".join(details[:MAX_DETAILS])
        if len(details) > MAX_DETAILS:
            shown += f"; and {len(details) - MAX_DETAILS} more"
        return self.settings.warning.format(company=company, count=len(details), details=shown)


def violation_details(violations: Violations, purchased: np.ndarray, choice: np.ndarray,
                      company_best: np.ndarray, product_names: Sequence[str],
                      company_names: Sequence[str]) -> list[str]:
    """A short description of each violation ("" where there is none), for warnings."""
    details = [""] * len(choice)
    for i in np.flatnonzero(violations.any()).tolist():
        bought = product_names[choice[i]] if purchased[i] else "nothing"
        if violations.forbidden[i]:
            details[i] = f"bought {bought}, which {company_names[i]}'s policy forbids"
        else:
            best = product_names[company_best[i]] if company_best[i] >= 0 else "nothing"
            details[i] = f"bought {bought} instead of {best}"
    return details
