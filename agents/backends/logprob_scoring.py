"""Exact choice probabilities from a local causal LM: every option's continuation, scored.

`score_targets` takes jobs (a token prefix and the texts that may follow it, one per label)
and returns P(text, then the label ends) for every target, summed over EVERY tokenization of
the text, not only the tokenizer's own: a sampler may write `Choice: 12` as
`Choice|:| 1|2` or `Choice|:| |1|2`, and each path carries probability. The paths form a
tree (a trie over the target texts); it is expanded level by level, and each level is one
padded forward pass over the open paths of all the jobs together, one new token per path (up
to `tokens_per_pass` a pass), on top of the cached keys and values of each job's prefix and
of the path's ancestors, with tree attention (see `agents.backends.tree_passes`).

Two ways for a label to end, matching how the answer was decoded:

- `grammar` (the `choice` and `regex` forms): decoding was constrained, so each step's
  distribution is the model's renormalised over the tokens that keep the text a prefix of
  some target (the mask xgrammar applies), and a target ends with an end-of-sequence token;
- free (no constraint, `json`): a target ends when the next token does not go on with a
  letter or digit (or a token spells the target and then leaves it, like `1\\n`).

Probabilities are at the request's temperature (1 at temperature 0, where sampling is the
argmax of the same distribution); top-p is not applied. Paths below `floor` are dropped.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ScoreJob:
    """One decision to score: its prefix tokens, its target texts, and how labels end."""

    prefix: tuple[int, ...]
    targets: tuple[str, ...]
    grammar: bool
    temperature: float = 1.0


class VocabIndex:
    """The text of every token, indexed for `which tokens spell a prefix of this text`."""

    def __init__(self, texts: Sequence[str | None], eos_ids: Sequence[int], torch: Any,
                 width: int) -> None:
        self.texts = list(texts) + [None] * (width - len(texts))
        self.eos_ids = [int(e) for e in eos_ids]
        self.by_text: dict[str, list[int]] = {}
        for token, text in enumerate(self.texts):
            if text:
                self.by_text.setdefault(text, []).append(token)
        self.sorted_texts = sorted(self.by_text)
        self.continues_label = torch.tensor(
            [bool(t) and t[0].isalnum() for t in self.texts], dtype=torch.bool)

    def exact(self, text: str) -> list[int]:
        """Tokens whose text is exactly `text`."""
        return self.by_text.get(text, [])

    def starting_with(self, text: str) -> list[str]:
        """Token texts that start with `text` and are longer."""
        out = []
        index = bisect.bisect_right(self.sorted_texts, text)
        while index < len(self.sorted_texts) and self.sorted_texts[index].startswith(text):
            out.append(self.sorted_texts[index])
            index += 1
        return out


def vocab_from_xgrammar(tokenizer_info: Any, vocab_size: int, eos_ids: Sequence[int],
                        torch: Any) -> VocabIndex:
    """A `VocabIndex` from xgrammar's decoded vocabulary (the bytes its grammars match)."""
    special = set(getattr(tokenizer_info, "special_token_ids", []) or [])
    texts: list[str | None] = []
    for token, raw in enumerate(tokenizer_info.decoded_vocab):
        if token in special or token in eos_ids:
            texts.append(None)
            continue
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
        texts.append(text or None)
    return VocabIndex(texts, eos_ids, torch, vocab_size)


@dataclass(slots=True)
class _Path:
    job: int
    tokens: tuple[int, ...]
    text: str
    logp: float


def score_targets(lm: Any, torch: Any, vocab: VocabIndex, jobs: Sequence[ScoreJob], *,
                  pad_id: int, device: Any, rows_per_pass: int = 64,
                  tokens_per_pass: int | None = None, floor: float = 1e-7,
                  max_depth: int = 48, runner: Any = None) -> list[list[float]]:
    """P(each target) per job (see the module docstring); batched passes per tree level.

    Identical jobs (replicates of one prompt) are scored once. `runner` builds the object
    whose `level(paths)` gives the next-token log-probabilities after every open path
    (default `agents.backends.tree_passes.BatchedLevels`: prompts `rows_per_pass` at a time,
    tree levels `tokens_per_pass` new tokens at a time, 16 * rows_per_pass by default).
    """
    unique: dict[ScoreJob, int] = {}
    for job in jobs:
        unique.setdefault(job, len(unique))
    if len(unique) < len(jobs):
        scored = score_targets(lm, torch, vocab, list(unique), pad_id=pad_id, device=device,
                               rows_per_pass=rows_per_pass, tokens_per_pass=tokens_per_pass,
                               floor=floor, max_depth=max_depth, runner=runner)
        return [list(scored[unique[job]]) for job in jobs]
    if runner is None:
        from agents.backends.tree_passes import BatchedLevels

        runner = BatchedLevels
    levels = runner(lm, torch, jobs, pad_id=pad_id, device=device, rows_per_pass=rows_per_pass,
                    tokens_per_pass=tokens_per_pass)
    results = [[0.0] * len(job.targets) for job in jobs]
    paths = [_Path(j, (), "", 0.0) for j in range(len(jobs))]
    log_floor = math.log(floor)
    depth = 0
    while paths and depth <= max_depth:
        logprobs = levels.level(paths)
        children: list[_Path] = []
        for path, row in zip(paths, logprobs, strict=True):
            job = jobs[path.job]
            if job.grammar:
                children.extend(_grow_grammar(path, row, job, vocab, results[path.job], torch))
            else:
                children.extend(_grow_free(path, row, job, vocab, results[path.job], torch))
        paths = [c for c in children if c.logp > log_floor]
        depth += 1
    return results


def _steps(path: _Path, job: ScoreJob, vocab: VocabIndex) -> dict[int, str]:
    """Tokens that keep the path's text a prefix of (or equal to) some target -> new text."""
    out: dict[int, str] = {}
    for target in job.targets:
        if not target.startswith(path.text) or target == path.text:
            continue
        left = target[len(path.text):]
        for cut in range(1, len(left) + 1):
            for token in vocab.exact(left[:cut]):
                out[token] = path.text + left[:cut]
    return out


def _grow_grammar(path: _Path, row: Any, job: ScoreJob, vocab: VocabIndex,
                  result: list[float], torch: Any) -> list[_Path]:
    steps = _steps(path, job, vocab)
    complete = [k for k, t in enumerate(job.targets) if t == path.text]
    allowed = list(steps) + (vocab.eos_ids if complete else [])
    if not allowed:
        return []
    values = row[torch.tensor(allowed, dtype=torch.long)]
    norm = torch.logsumexp(values, dim=0)
    masked = (values - norm).tolist()
    if complete:
        eos_logp = math.log(sum(math.exp(v) for v in masked[len(steps):]))
        for k in complete:
            result[k] += math.exp(path.logp + eos_logp)
    return [_Path(path.job, path.tokens + (token,), steps[token], path.logp + lp)
            for token, lp in zip(steps, masked[:len(steps)], strict=False)]


def _grow_free(path: _Path, row: Any, job: ScoreJob, vocab: VocabIndex,
               result: list[float], torch: Any) -> list[_Path]:
    for k, target in enumerate(job.targets):
        if target == path.text:  # the label is spelled: it ends unless the next token goes on
            goes_on = float(row[vocab.continues_label[:row.shape[0]]].exp().sum())
            result[k] += math.exp(path.logp) * max(0.0, 1.0 - goes_on)
        elif target.startswith(path.text):
            left = target[len(path.text):]
            for text in vocab.starting_with(left):
                if not text[len(left)].isalnum():  # spells the label and leaves it
                    for token in vocab.exact(text):
                        result[k] += math.exp(path.logp + float(row[token]))
    steps = _steps(path, job, vocab)
    return [_Path(path.job, path.tokens + (token,), text, path.logp + float(row[token]))
            for token, text in steps.items()]


def split_at_choice(decode: Any, tokens: Sequence[int], text: str, position: int
                    ) -> tuple[int, str]:
    """How many generated tokens lie wholly before character `position`, and the text left.

    `decode(tokens)` must give the answer text of a token list. The token that crosses the
    position (` 1` in `Choice: 1`) is not kept: the text of it before the position is
    returned, and the scored targets start with it.
    """
    kept = 0
    for count in range(1, len(tokens) + 1):
        if len(decode(tokens[:count])) > position:
            break
        kept = count
    written = decode(tokens[:kept])
    if not text.startswith(written):
        written = text[:len(written)]
    return kept, text[len(written):position]
