"""The `hf` backend's exact choice probabilities: scoring jobs built from its answers.

With the `choice` form the whole answers (`Choice: <label>`) are scored from the prompt
under the grammar's mask: the *direct* distribution, the one sampling draws from. With any
other form the labels are scored at the choice position of the answer written (the prompt,
then the generated tokens before it): the distribution *conditional* on the explanation.
Probabilities are normalised over the labels, so they sum to 1 (`choice_prob_mass` 1.0).
"""

from __future__ import annotations

from typing import Any

from agents.backends.logprob_scoring import ScoreJob, score_targets, split_at_choice
from agents.choice_probs import (
    CONDITIONAL,
    DIRECT,
    choice_position,
    direct_targets,
    option_labels,
)
from agents.types import Completion, DecisionRequest


def attach_exact_probs(backend: Any, requests: list[DecisionRequest], encoded: list[list[int]],
                       written: list[list[int]], completions: list[Completion]) -> None:
    """Score every answered request of a micro-batch and set its `choice_probs`."""
    mode = backend.options.structured_output
    jobs: list[ScoreJob] = []
    rows: list[tuple[int, str]] = []
    for row, (request, completion) in enumerate(zip(requests, completions, strict=True)):
        labels = option_labels(request)
        temperature = request.sampling.temperature
        if mode == "choice":
            jobs.append(ScoreJob(tuple(encoded[row]), tuple(direct_targets(labels)), True,
                                 temperature))
            rows.append((row, DIRECT))
            continue
        position = choice_position(completion.text)
        if position is None:
            continue  # no choice position: nothing to read the probabilities at
        kept, lead = split_at_choice(
            lambda ids: backend.tokenizer.decode(ids, skip_special_tokens=True),
            written[row], completion.text or "", position)
        jobs.append(ScoreJob(tuple(encoded[row]) + tuple(written[row][:kept]),
                             tuple(lead + label for label in labels), mode == "regex",
                             temperature))
        rows.append((row, CONDITIONAL))
    if not jobs:
        return
    scores = score_targets(backend.lm, backend.torch, backend._vocab, jobs,
                           pad_id=backend.pad_id, device=backend.device,
                           rows_per_pass=max(backend.options.micro_batch_size, 16))
    for (row, kind), raw in zip(rows, scores, strict=True):
        total = sum(raw)
        if total <= 0:
            continue
        completion = completions[row]
        completion.choice_probs = tuple(p / total for p in raw)
        completion.choice_prob_mass = 1.0
        completion.choice_probs_kind = kind
