"""The data that crosses the engine/backend boundary: requests in, completions out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Message = dict[str, str]
"""One chat message: {"role": ..., "content": ...}."""


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """How an agent's answers are sampled: the one sampling type, shared by every request.

    The scenario's `agents[].sampling` section is validated by the schema and converted to
    this type once (`sim.scenario.schema.Sampling.params`); the defaults here are the
    schema's defaults.
    """

    temperature: float = 0.7
    """Sampling temperature (0 = greedy)."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_tokens: int = 256
    """Longest answer, in tokens."""
    seed: int | None = None
    """A fixed seed for every request; None derives one per decision (`DecisionRequest.seed`
    is the seed actually sent)."""


@dataclass(frozen=True, slots=True)
class RationalPolicy:
    """Parameters of the rational baseline (see `agents.rational`).

    The scenario's `agents[].rational` section converts to this type
    (`sim.scenario.schema.RationalParams.policy`) and takes its defaults from here.
    """

    company_weight: float = 0.5
    penalty_customer: float = 0.5
    penalty_company: float = 0.5
    noise: float = 0.05
    commission_weight: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class DecisionContext:
    """The structured facts behind a prompt, for backends that do not read text.

    Arrays are indexed by listing position: entry i describes the option shown as number
    `option_numbers[i]`. LLM backends ignore all of this; it never enters a cache key.
    """

    option_numbers: tuple[int, ...]
    option_names: tuple[str, ...]
    customer_utility: np.ndarray
    company_utility: np.ndarray
    affordable: np.ndarray
    company_name: str
    disclosure: str
    outcome_observability: float = 0.0
    monitoring: float = 0.0
    explanation_reveals: float = 1.0
    policy: RationalPolicy = field(default_factory=RationalPolicy)
    option_map: Mapping[int, str] | None = None
    customer_observable_utility: np.ndarray | None = None
    """The customer's utility over what it can ever observe (None: all of it)."""
    commission: np.ndarray | None = None
    """The agent's own pay per option under its contract (None: no contract)."""
    contract_disclosed: bool = False
    contract_detection: float = 0.0
    explanation_reveals_company: float | None = None
    """`explanation_reveals` for the company when it differs from the customer's."""

    @property
    def options(self) -> Mapping[int, str]:
        """Listing number -> product name, the mapping `parse_choice` expects.

        Engines that reuse one listing for many requests pass the mapping in `option_map`
        so it is built once, not once per request.
        """
        if self.option_map is not None:
            return self.option_map
        return dict(zip(self.option_numbers, self.option_names, strict=True))


@dataclass(frozen=True, slots=True, eq=False)
class DecisionRequest:
    """One decision an agent must make: the prompt, how to sample, and its context."""

    request_id: str
    messages: tuple[Message, ...]
    sampling: SamplingParams
    seed: int
    context: DecisionContext
    model: str | None = None
    replicate: int = 0
    max_stored_chars: int | None = None
    """Longest answer text a response cache keeps (the run's `run.max_stored_answer_chars`);
    a longer one is stored cut, with the reading of the whole answer. None keeps it whole."""


@dataclass(slots=True)
class Completion:
    """What a backend returns for one request. `text` is None exactly when `failure` is set.

    Accounting: `attempts` counts every request sent to the model for this decision,
    `retries` those repeated after a transport fault (429, 5xx, timeout, dropped connection,
    unreadable body) and `reasks` those repeated because the answer named no listed product;
    `earlier_answers` keeps the answers that were asked again. `latency_ms` and the token
    counts add up every attempt. `finish_reason` is the model's (`stop`, `length`) when known.
    `cached` marks an answer read from the response cache rather than computed now.
    `parsed` is `agents.parsing.parse_choice(text, options)` when a wrapper has already parsed
    the answer (the re-asking wrapper does), so it is parsed once. A response cache stores it
    only with an answer it cuts, and gives it back with the cut text, whose reading it is;
    `answer_chars` is then the whole answer's length (None when `text` is the whole answer),
    and `earlier_answer_chars` those of `earlier_answers` (None for one kept whole).

    `choice_probs`, when the backend read them, are the probabilities of the listed options
    in listing order, then of `none` (see `agents.choice_probs`); an entry is None when its
    probability is unknown (outside a server's top-k). `choice_prob_mass` is the total they
    cover (1.0 when normalised over the options; `openai` with `exact` leaves them raw, so it
    is their sum, see `agents.backends.server_scoring`) and `choice_probs_kind` is
    `conditional` (read at the choice position of the answer written) or `direct` (the
    answer is only the choice line).
    `choice_probs_error` says why probabilities that were asked for could not be read (a
    scoring request that failed, a server without exact scoring); the answer stands.

    Per-tick HTTP accounting (summed over a tick's completions in `ticks.csv`): `requests`
    is the number of generation requests this decision accounts for; a request shared by
    several decisions (`n` samples, a prompt list) counts on the first of them only, the
    others carry 0. None means `attempts` (one request per attempt). `scoring_requests` and
    `scoring_s` are the requests (`/tokenize` and scoring, retries included) and seconds of
    a scoring pass after the answers (`choice_probs: exact` on a server), carried by the
    first completion of the backend call; 0 elsewhere.
    """

    text: str | None
    failure: str | None = None
    latency_ms: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 1
    cached: bool = False
    retries: int = 0
    reasks: int = 0
    finish_reason: str | None = None
    earlier_answers: tuple[str | None, ...] = ()
    choice_probs: tuple[float | None, ...] | None = None
    choice_prob_mass: float | None = None
    choice_probs_kind: str | None = None
    choice_probs_error: str | None = None
    parsed: Any = field(default=None, compare=False, repr=False)
    answer_chars: int | None = None
    earlier_answer_chars: tuple[int | None, ...] = ()
    requests: int | None = None
    scoring_requests: int = 0
    scoring_s: float = 0.0

    def http_requests(self) -> int:
        """The generation requests this decision accounts for (see `requests`)."""
        return self.attempts if self.requests is None else self.requests

    @classmethod
    def failed(cls, reason: str, *, latency_ms: float = 0.0, attempts: int = 1,
               retries: int = 0) -> Completion:
        """A completion recording that the request could not be answered, and why."""
        return cls(text=None, failure=reason, latency_ms=latency_ms, attempts=attempts,
                   retries=retries)
