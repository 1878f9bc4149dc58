"""Decision seeds: consecutive for decisions that ask one agent the identical question.

Every decision of a tick draws a seed from the tick's generator (`MarketModel._prepare`).
Decisions of one agent whose prompts are identical are then renumbered: in the tick's
shopper order, the k-th of them (from 0) gets the first one's drawn seed plus k. The seeds
stay a pure function of the root seed and the tick, and distinct for every prompt, so every
answer is still an independent draw; but such decisions can now travel as one request with
`n` samples, which vLLM seeds exactly so (`agents.backends.request_groups`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

from agents.backends.request_groups import prompt_key
from agents.types import DecisionRequest

SEED_LIMIT = 2**31 - 1
"""Drawn seeds lie in [0, SEED_LIMIT); renumbered ones stay there too."""


def consecutive_seeds(requests: Sequence[DecisionRequest],
                      agents: Sequence[Hashable]) -> list[DecisionRequest]:
    """`requests` with the seeds described in the module docstring; `agents[i]` names the
    agent answering request i (decisions of different agents are never renumbered together)."""
    members: dict[tuple[Hashable, tuple[object, ...]], list[int]] = {}
    for i, (request, agent) in enumerate(zip(requests, agents, strict=True)):
        members.setdefault((agent, prompt_key(request)), []).append(i)
    out = list(requests)
    for indices in members.values():
        if len(indices) == 1:
            continue
        base = min(requests[indices[0]].seed, SEED_LIMIT - len(indices))
        for k, i in enumerate(indices):
            out[i] = dataclasses.replace(requests[i], seed=base + k)
    return out
