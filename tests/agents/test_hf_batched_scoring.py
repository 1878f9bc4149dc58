"""Batched exact scoring (agents.backends.tree_passes) against a brute force without caches.

The reference runs every path's whole token sequence alone, with no cache, no padding and no
custom mask; the batched runner must give the same probabilities, also when a level is split
over several passes and the prefixes differ in length.
"""

from __future__ import annotations

import importlib.util

import pytest

from agents.backends.hf_local import HFBackend
from agents.backends.logprob_scoring import ScoreJob, score_targets, vocab_from_xgrammar
from agents.backends.options import BackendOptions
from agents.backends.tree_passes import BatchedLevels
from agents.choice_probs import direct_targets

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "xgrammar")),
    reason="the hf extra is not installed")


class FullPasses:
    """Reference runner: every path's whole sequence (prefix + path) run alone, no cache."""

    def __init__(self, lm, torch, jobs, **_) -> None:
        self.lm, self.torch, self.jobs = lm, torch, list(jobs)

    def level(self, paths):
        """Next-token log-probabilities after each path, one full forward pass per path."""
        torch = self.torch
        rows = []
        for path in paths:
            job = self.jobs[path.job]
            ids = torch.tensor([list(job.prefix) + list(path.tokens)], dtype=torch.long)
            with torch.inference_mode():
                logits = self.lm(input_ids=ids, use_cache=False).logits[0, -1, :].float()
            temperature = job.temperature if job.temperature > 0 else 1.0
            rows.append(torch.log_softmax(logits / temperature, dim=-1))
        return rows


class Counting(BatchedLevels):
    """BatchedLevels that records how many paths each level ran and its passes."""

    seen: list[tuple[int, int]] = []

    def level(self, paths):
        """Record (paths, passes so far) after the level."""
        rows = super().level(paths)
        Counting.seen.append((len(paths), self.passes))
        return rows


@pytest.fixture(scope="module")
def backend(tiny_lm):
    """The tiny model, loaded once, with its scoring vocabulary."""
    hf = HFBackend(str(tiny_lm), options=BackendOptions(structured_output="choice",
                                                        choice_probs="exact"))
    hf._vocab = vocab_from_xgrammar(hf._tokenizer_info(), hf.vocab_size, hf.eos_ids, hf.torch)
    threads = hf.torch.get_num_threads()
    hf.torch.set_num_threads(1)  # many tiny passes: faster on one thread (results the same)
    yield hf
    hf.torch.set_num_threads(threads)
    hf.close()


def jobs_of(backend, texts, targets, grammar, temperatures):
    """Score jobs whose prefixes are `texts` encoded: different lengths, so rows are padded."""
    return [ScoreJob(tuple(backend.tokenizer(text, add_special_tokens=False)["input_ids"]),
                     tuple(targets), grammar, temperature)
            for text, temperature in zip(texts, temperatures, strict=True)]


def score(backend, jobs, runner, rows_per_pass=2, tokens_per_pass=5):
    """score_targets on the backend's model with `runner` (small passes: several a level)."""
    return score_targets(backend.lm, backend.torch, backend._vocab, jobs, pad_id=backend.pad_id,
                         device=backend.device, rows_per_pass=rows_per_pass,
                         tokens_per_pass=tokens_per_pass, runner=runner)


TEXTS = ["I need a car.", "Products on offer: 1: Product A, 2: Product B. Which one?",
         "A much longer prompt about shopping for a car with a budget and a family of four."]


def test_choice_form_matches_full_passes_for_multi_digit_labels_and_none(backend):
    labels = ["1", "2", "10", "12", "none"]
    jobs = jobs_of(backend, TEXTS, direct_targets(labels), True, [1.0, 0.7, 0.0])
    batched = score(backend, jobs, BatchedLevels)
    reference = score(backend, jobs, FullPasses)
    for got, want in zip(batched, reference, strict=True):
        assert sum(want) > 0.5  # the grammar leaves little mass outside the targets
        assert got == pytest.approx(want, abs=1e-9, rel=1e-5)


def test_free_form_labels_match_full_passes(backend):
    jobs = jobs_of(backend, TEXTS, [" 1", " 2", " 3", " none"], False, [1.0, 1.3, 1.0])
    batched = score(backend, jobs, BatchedLevels, rows_per_pass=1, tokens_per_pass=2)
    reference = score(backend, jobs, FullPasses)
    for got, want in zip(batched, reference, strict=True):
        assert any(p > 0 for p in want)
        assert got == pytest.approx(want, abs=1e-9, rel=1e-5)


def test_one_level_runs_all_decisions_paths_together(backend):
    labels = [str(n) for n in range(1, 13)] + ["none"]
    jobs = jobs_of(backend, TEXTS, direct_targets(labels), True, [1.0, 1.0, 1.0])
    Counting.seen = []
    score(backend, jobs, Counting, rows_per_pass=1000, tokens_per_pass=100000)
    paths, passes = zip(*Counting.seen, strict=True)
    # the bodies once, then one pass per level, however many decisions share it
    assert passes == tuple(range(2, 2 + len(paths)))
    assert max(paths) > len(jobs)


def test_one_token_prefixes_need_no_body_pass(backend):
    jobs = [ScoreJob((5,), tuple(direct_targets(["1", "2"])), True, 1.0),
            ScoreJob((7,), tuple(direct_targets(["1", "2"])), True, 1.0)]
    batched = score(backend, jobs, BatchedLevels)
    for got, want in zip(batched, score(backend, jobs, FullPasses), strict=True):
        assert got == pytest.approx(want, abs=1e-9, rel=1e-5)
