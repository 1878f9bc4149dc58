"""How much memory a scenario needs, estimated before anything is allocated.

A scenario with a billion customers validates as well as one with ten; without this check it
is found only when numpy runs out of memory half-way through building the population. The
estimate is deliberately rough (an upper-bound order of magnitude of the arrays and objects
the engine builds) and is compared with the memory this machine has available.
"""

from __future__ import annotations

import os

from agents.errors import ScenarioError
from sim.scenario.schema import Scenario

BYTES_PER_CUSTOMER_PRODUCT = 8 * 8
"""Float64 customer x product matrices built by the population and each tick's batch."""

BYTES_PER_CUSTOMER = 1024
"""Ids, request text, trust per company and the per-customer vectors."""

BYTES_PER_AGENT = 8 * 1024
"""One shopping agent object with its persona and prompt prefix."""


def estimated_bytes(scenario: Scenario) -> int:
    """Rough bytes needed to build and run `scenario` (customers x products arrays, agents)."""
    customers = sum(group.count for group in scenario.customers)
    agents = sum(spec.count for spec in scenario.agents)
    products = len(scenario.products)
    companies = len(scenario.companies)
    attributes = len({name for p in scenario.products for name in p.attributes})
    per_customer = (BYTES_PER_CUSTOMER + BYTES_PER_CUSTOMER_PRODUCT * products
                    + 8 * 4 * (attributes + companies))
    return customers * per_customer + agents * BYTES_PER_AGENT


def available_bytes() -> int | None:
    """Memory this machine has available now (MemAvailable), or its physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'; large counts in GiB, astronomically large ones in powers of ten."""
    if count >= 1024**6:
        return f"about 10^{len(str(int(count))) - 1} bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} PiB"  # pragma: no cover - loop always returns


def check_fits(scenario: Scenario, source: str, available: int | None = None) -> None:
    """Raise `ScenarioError` (one line) when the scenario cannot fit in available memory."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    needed = estimated_bytes(scenario)
    if needed <= available:
        return
    customers = sum(group.count for group in scenario.customers)
    agents = sum(spec.count for spec in scenario.agents)
    raise ScenarioError(
        f"{source}: customers[].count / agents[].count: this scenario needs "
        f"{format_bytes(needed)} of memory ({customers} customers x "
        f"{len(scenario.products)} products, {agents} agents) but this machine has "
        f"{format_bytes(available)} available; lower the counts")
