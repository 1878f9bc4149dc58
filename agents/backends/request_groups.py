"""Which decisions of a tick travel together in one HTTP request to an OpenAI-compatible server.

Two ways of sharing a request, both answer-preserving:

- **samples (`n`)**: decisions with an identical prompt, the same sampling settings and answer
  constraint, and *consecutive* seeds s, s+1, ..., s+k-1 are sent as one request with
  `seed: s, n: k`. vLLM (read in 0.8.5, 0.11.0, 0.20.0, 0.33.0: `ParentRequest` in
  `vllm/v1/engine/parallel_sampling.py`, and in 0.8.5's V0 engine
  `ParallelSampleSequenceGroup`) fans such a request out into k child requests whose seeds
  are s + i, so sample i is exactly the answer the single request (prompt, seed s + i)
  gets. The engine gives decisions with identical prompts consecutive seeds
  (`sim.engine.seeds`) so that these runs exist.
- **prompt lists** (`api: completions`): prompts that share sampling settings, seed, answer
  constraint and sample count travel as one list; vLLM seeds every prompt of a list with the
  request's seed, and sample i of every prompt with seed + i.

A `Job` holds the decision indices of one request in the order of its choices: prompt-major,
then sample (vLLM numbers choice `index` = prompt position * n + sample).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from agents.types import Completion, DecisionRequest


@dataclass(frozen=True, slots=True)
class Job:
    """One HTTP request: `indices` in choice order, `n` samples per distinct prompt."""

    indices: tuple[int, ...]
    n: int = 1

    @property
    def prompts(self) -> int:
        """How many distinct prompts the request carries."""
        return len(self.indices) // self.n

    def firsts(self) -> tuple[int, ...]:
        """The index of each prompt's first sample (its seed is the request's seed)."""
        return self.indices[::self.n]


def prompt_key(request: DecisionRequest) -> tuple[Any, ...]:
    """What makes two decisions' prompts identical: every message's role and content."""
    return tuple((m.get("role"), m.get("content")) for m in request.messages)


def seed_runs(requests: Sequence[DecisionRequest], indices: Sequence[int],
              most: int) -> list[tuple[int, ...]]:
    """`indices` (decisions with one prompt and settings) cut into runs of consecutive seeds,
    each at most `most` long, ordered by seed; a repeated seed starts a new run."""
    ordered = sorted(indices, key=lambda i: (requests[i].seed, i))
    runs: list[list[int]] = []
    for i in ordered:
        last = runs[-1] if runs else None
        if (last is not None and len(last) < most
                and requests[i].seed == requests[last[-1]].seed + 1):
            last.append(i)
        else:
            runs.append([i])
    return [tuple(run) for run in runs]


def plan_jobs(requests: Sequence[DecisionRequest], *, lists: bool, prompts_per_request: int,
              samples_per_request: int,
              constraint_key: Callable[[DecisionRequest], Hashable]) -> list[Job]:
    """Every decision in exactly one job (see the module docstring).

    `lists` allows several prompts per request (`api: completions`), up to
    `prompts_per_request`; `samples_per_request` caps `n` (1: no samples are shared).
    Jobs come out in the order of their first decision, so a tick's requests go out in the
    order the decisions arrived.
    """
    settings: dict[tuple[Any, ...], list[int]] = {}
    for i, r in enumerate(requests):
        settings.setdefault((r.sampling, constraint_key(r), r.model), []).append(i)
    runs: list[tuple[int, ...]] = []
    for members in settings.values():
        if samples_per_request <= 1:
            runs.extend((i,) for i in members)
            continue
        by_prompt: dict[tuple[Any, ...], list[int]] = {}
        for i in members:
            by_prompt.setdefault(prompt_key(requests[i]), []).append(i)
        for same in by_prompt.values():
            runs.extend(seed_runs(requests, same, samples_per_request))
    runs.sort(key=lambda run: run[0])
    if not lists:
        return [Job(run, len(run)) for run in runs]
    together: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for run in runs:
        r = requests[run[0]]
        together.setdefault((r.sampling, constraint_key(r), r.model, r.seed, len(run)),
                            []).append(run)
    jobs = []
    for group in together.values():
        for start in range(0, len(group), prompts_per_request):
            chunk = group[start:start + prompts_per_request]
            jobs.append(Job(tuple(i for run in chunk for i in run), len(chunk[0])))
    jobs.sort(key=lambda job: job.indices[0])
    return jobs


def check_samples(options: Any) -> None:
    """Refuse `samples_per_request` > 1 with `server: openai`, in one line: a hosted API
    promises no seed rule for `n`, so its samples could not stand for separate requests."""
    if options.samples_per_request > 1 and options.server == "openai":
        from agents.errors import BackendCreationError

        raise BackendCreationError(
            f"backend_options.samples_per_request: {options.samples_per_request} with server: "
            "openai: a hosted API does not seed sample i with seed + i, so samples of one "
            "request cannot stand for separate decisions; set samples_per_request: 1 (or "
            "--samples-per-request 1), or serve the model with vLLM (server: vllm)")


def share_request(completions: list[Completion]) -> list[Completion]:
    """One job's completions with its HTTP requests (one per attempt) counted once, on the
    first of them, and 0 on the others (`Completion.requests`, summed in `ticks.csv`)."""
    for k, completion in enumerate(completions):
        completion.requests = completion.attempts if k == 0 else 0
    return completions
