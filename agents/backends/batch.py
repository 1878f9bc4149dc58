"""Dispatch of one batch of requests to several backends: one `generate` call per backend.

Used by every driver of the engine (a single run and a lockstep sweep), so a tick's requests
always travel as one batch per backend, in input order, whatever drives the models.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from agents.backends.base import Backend
from agents.errors import FatalBackendError
from agents.types import Completion, DecisionRequest


def generate_batched(requests: Sequence[DecisionRequest], backends: Sequence[Backend]
                     ) -> tuple[list[Completion], int]:
    """Answer requests with ONE `generate` call per distinct backend, keeping input order.

    Returns the completions and the number of backend calls made.
    """
    groups: dict[int, list[int]] = defaultdict(list)
    by_key: dict[int, Backend] = {}
    for index, backend in enumerate(backends):
        groups[id(backend)].append(index)
        by_key[id(backend)] = backend
    answers: list[Completion] = [Completion.failed("not answered")] * len(requests)
    for key, indices in groups.items():
        batch = [requests[i] for i in indices]
        for i, completion in zip(indices, call_backend(by_key[key], batch), strict=True):
            answers[i] = completion
    return answers, len(groups)


def call_backend(backend: Backend, batch: list[DecisionRequest]) -> list[Completion]:
    """Call `backend.generate` once; an exception or a wrong count fails the whole batch.

    `FatalBackendError` (e.g. replay without an answer) is the one exception that ends the run.
    """
    if not batch:
        return []
    try:
        completions = list(backend.generate(batch))
    except FatalBackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backend bug must not end the run
        reason = f"backend error: {type(exc).__name__}: {exc}".splitlines()[0]
        return [Completion.failed(reason) for _ in batch]
    if len(completions) != len(batch):
        reason = f"backend returned {len(completions)} answers for {len(batch)} requests"
        return [Completion.failed(reason) for _ in batch]
    return completions
