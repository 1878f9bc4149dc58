"""The in-process `vllm` backend's exact choice probabilities, through prompt log-probs.

After a tick's `LLM.generate`, ONE more `LLM.generate` call scores every option of every
answered request: for each label, the prompt's tokens, then the answer's tokens before the
choice position, then the tokenizer's encoding of the label (with the text of the crossing
token before it), then, for the `choice` and `regex` forms, the end-of-sequence token the
grammar requires after the label. Each such sequence is sent as a token prompt
(`{"prompt_token_ids": ...}`) with `SamplingParams(max_tokens=1, prompt_logprobs=0)`, and
the log-probs vLLM returns for the prompt's own tokens are summed over the continuation.

This scores the tokenizer's own tokenization of each label, at temperature 1 (vLLM's prompt
log-probs are the model's raw distribution); the `hf` backend also sums the other
tokenizations a sampler could take. With the free and `json` forms a label is not followed
by an end token: the probabilities of the listed labels that extend it (`10`..`12` for `1`)
are taken out of it. Probabilities are normalised over the labels (`choice_prob_mass` 1.0).

`prompt_logprobs` and token prompts are in `LLM.generate` in every release the backend
accepts (read in vLLM 0.8.5, 0.11.0, 0.20.0 and 0.33.0): `RequestOutput.prompt_logprobs` is a
list, per prompt position, of {token id: Logprob} (or None), or in 0.20 on, when
`flat_logprobs` is set, a `FlatLogprobs` whose positions index to the same dicts.
"""

from __future__ import annotations

import math
from typing import Any

from agents.backends.logprob_scoring import split_at_choice
from agents.choice_probs import (
    CONDITIONAL,
    DIRECT,
    choice_position,
    direct_targets,
    option_labels,
)
from agents.types import Completion, DecisionRequest


def scoring_sequences(tokenizer: Any, request: DecisionRequest, prompt_ids: list[int],
                      answer_ids: list[int], text: str | None, mode: str,
                      eos_id: int | None) -> tuple[list[tuple[list[int], int]], str] | None:
    """Per label: (token sequence, where its continuation starts); and the kind. None when
    the answer has no choice position."""
    labels = option_labels(request)
    if mode == "choice":
        prefix, targets, kind = list(prompt_ids), direct_targets(labels), DIRECT
    else:
        position = choice_position(text)
        if position is None:
            return None
        kept, lead = split_at_choice(
            lambda ids: tokenizer.decode(ids, skip_special_tokens=True), answer_ids,
            text or "", position)
        prefix = list(prompt_ids) + list(answer_ids[:kept])
        targets, kind = [lead + label for label in labels], CONDITIONAL
    ends = [eos_id] if mode in ("choice", "regex") and eos_id is not None else []
    sequences = [(prefix + tokenizer.encode(target, add_special_tokens=False) + ends,
                  len(prefix)) for target in targets]
    return sequences, kind


def continuation_logprob(prompt_logprobs: Any, sequence: list[int], start: int) -> float:
    """Sum of the returned log-probs of `sequence[start:]` (each given what precedes it)."""
    total = 0.0
    for position in range(start, len(sequence)):
        entry = prompt_logprobs[position]
        if entry is None:
            raise ValueError(f"vLLM returned no prompt log-prob at position {position}")
        logprob = entry[sequence[position]]
        total += float(getattr(logprob, "logprob", logprob))
    return total


def attach_vllm_probs(backend: Any, requests: list[DecisionRequest], outputs: list[Any],
                      completions: list[Completion]) -> None:
    """Score every answered request's options in one `LLM.generate` call; set the probs."""
    mode = backend.options.structured_output
    eos_id = getattr(backend.tokenizer, "eos_token_id", None)
    prompts: list[dict[str, list[int]]] = []
    plan: list[tuple[int, str, list[tuple[list[int], int]]]] = []
    for row, (request, output, completion) in enumerate(
            zip(requests, outputs, completions, strict=True)):
        if completion.failure is not None or not output.outputs:
            continue
        built = scoring_sequences(backend.tokenizer, request,
                                  list(output.prompt_token_ids or ()),
                                  list(output.outputs[0].token_ids or ()), completion.text,
                                  mode, eos_id)
        if built is None:
            continue
        sequences, kind = built
        plan.append((row, kind, sequences))
        prompts.extend({"prompt_token_ids": seq} for seq, _ in sequences)
    if not prompts:
        return
    params = backend._sampling_params(max_tokens=1, temperature=1.0, prompt_logprobs=0)
    scored = backend.llm.generate(prompts, [params] * len(prompts), use_tqdm=False)
    at = 0
    labels_of = {row: option_labels(requests[row]) for row, _, _ in plan}
    for row, kind, sequences in plan:
        logps = [continuation_logprob(scored[at + k].prompt_logprobs, seq, start)
                 for k, (seq, start) in enumerate(sequences)]
        at += len(sequences)
        raw = [math.exp(v) for v in logps]
        if mode not in ("choice", "regex"):
            raw = _without_extensions(raw, labels_of[row])
        total = sum(raw)
        if total <= 0:
            continue
        completions[row].choice_probs = tuple(p / total for p in raw)
        completions[row].choice_prob_mass = 1.0
        completions[row].choice_probs_kind = kind


def _without_extensions(raw: list[float], labels: tuple[str, ...]) -> list[float]:
    """P(label, ended) ~ P(label's tokens) minus the listed labels that extend it."""
    out = []
    for k, label in enumerate(labels):
        longer = sum(raw[j] for j, other in enumerate(labels)
                     if other != label and other.startswith(label))
        out.append(max(0.0, raw[k] - longer))
    return out
