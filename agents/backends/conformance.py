"""A conformance check for backends, shipped as library code so any backend can be tested.

`check_backend(backend)` sends small batches and checks the protocol's promises: one
`Completion` per request in input order, failures returned (not raised), `text` None exactly
when `failure` is set, an empty batch answered with an empty list, and `name`, `model`,
`cacheable` and `describe()` well-formed. It raises `AssertionError` naming the broken rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from agents.backends.base import Backend
from agents.types import Completion, DecisionContext, DecisionRequest, SamplingParams


def probe_requests(n: int = 4, *, temperature: float = 0.7,
                   max_tokens: int = 64) -> list[DecisionRequest]:
    """`n` stand-alone decision requests with listings of different lengths and seeds.

    Request i lists `2 + i % 3` products, and its customer prefers a different one, so a
    backend that mixed up the order of a batch gives visibly different answers.
    """
    requests = []
    for i in range(n):
        size = 2 + i % 3
        names = tuple(f"Product {chr(65 + j)}" for j in range(size))
        listing = "\n".join(f"{j + 1}: {name} (price {100 * (j + 1)})"
                            for j, name in enumerate(names))
        utility = np.zeros(size)
        utility[i % size] = 1.0
        context = DecisionContext(
            option_numbers=tuple(range(1, size + 1)), option_names=names,
            customer_utility=utility, company_utility=np.zeros(size),
            affordable=np.ones(size, dtype=bool), company_name="Shop", disclosure="none")
        messages = ({"role": "system", "content": "Products on offer:\n" + listing},
                    {"role": "user", "content": f"I need product number {i % size + 1}."})
        requests.append(DecisionRequest(
            f"probe-{i}", messages, SamplingParams(temperature=temperature,
                                                   max_tokens=max_tokens),
            seed=1000 + i, context=context))
    return requests


def _answers(backend: Backend, requests: Sequence[DecisionRequest]) -> list[Completion]:
    try:
        answers = backend.generate(requests)
    except Exception as exc:  # noqa: BLE001 - raising is exactly what is being checked
        raise AssertionError(f"{backend.name}: generate raised {type(exc).__name__}: {exc}; "
                             "failures must be returned as Completion.failed(reason)") from exc
    assert isinstance(answers, list), f"{backend.name}: generate returned {type(answers)}"
    assert len(answers) == len(requests), (
        f"{backend.name}: {len(answers)} completions for {len(requests)} requests")
    for request, answer in zip(requests, answers, strict=True):
        assert isinstance(answer, Completion), (
            f"{backend.name}: {request.request_id} got {type(answer).__name__}")
        assert (answer.text is None) == (answer.failure is not None), (
            f"{backend.name}: {request.request_id}: text is None exactly when failure is set "
            f"(text={answer.text!r}, failure={answer.failure!r})")
    return answers


def check_backend(backend: Backend, requests: Sequence[DecisionRequest] | None = None, *,
                  check_order: bool = True) -> None:
    """Check that `backend` keeps the backend protocol; `AssertionError` names what broke.

    `requests` default to `probe_requests()`. With `check_order`, the batch is also sent
    reversed and one request at a time, and each request must get the same answer text every
    time; leave it off for backends whose answers depend on their neighbours in a batch.
    """
    assert isinstance(backend.name, str) and backend.name, "name must be a non-empty string"
    assert backend.model is None or isinstance(backend.model, str), "model: str or None"
    assert isinstance(backend.cacheable, bool), f"{backend.name}: cacheable must be a bool"
    settings = backend.describe()
    assert isinstance(settings, dict), f"{backend.name}: describe() must return a dict"
    assert all(isinstance(k, str) for k in settings), f"{backend.name}: describe() keys: str"
    try:
        json.dumps(settings)
    except TypeError as exc:
        raise AssertionError(f"{backend.name}: describe() is not JSON: {exc}") from exc

    assert _answers(backend, []) == [], f"{backend.name}: an empty batch needs no answers"
    batch = list(requests) if requests is not None else probe_requests()
    forward = _answers(backend, batch)
    if check_order:
        backward = _answers(backend, batch[::-1])[::-1]
        alone = [_answers(backend, [request])[0] for request in batch]
        for request, a, b, c in zip(batch, forward, backward, alone, strict=True):
            assert a.text == b.text == c.text, (
                f"{backend.name}: {request.request_id} answered {a.text!r} in one order, "
                f"{b.text!r} in the other and {c.text!r} alone; answers must follow their "
                "requests")
