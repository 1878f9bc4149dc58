"""Exact choice probabilities from the hf backend, on the tiny random-weight model."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import stats

from agents.backends.hf_local import HFBackend
from agents.backends.options import BackendOptions
from agents.parsing import parse_choice
from tests.conftest import make_request

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "xgrammar")),
    reason="the hf extra is not installed")

SAMPLES = 200


def merged(observed: np.ndarray, expected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pool the bins expected to hold fewer than 5 draws, as the chi-square test needs."""
    small = expected < 5
    return (np.append(observed[~small], observed[small].sum()),
            np.append(expected[~small], expected[small].sum()))


def test_choice_form_frequencies_match_the_probabilities_of_a_12_product_listing(tiny_lm):
    backend = HFBackend(str(tiny_lm), options=BackendOptions(
        structured_output="choice", choice_probs="exact", micro_batch_size=SAMPLES))
    batch = [make_request(seed=s, options=12, temperature=1.0, max_tokens=16)
             for s in range(SAMPLES)]
    answers = backend.generate(batch)
    probs = np.array(answers[0].choice_probs)
    assert len(probs) == 13 and answers[0].choice_probs_kind == "direct"
    assert answers[0].choice_prob_mass == 1.0 and probs.sum() == pytest.approx(1.0)
    assert all(a.choice_probs == answers[0].choice_probs for a in answers)  # one prompt
    drawn = []
    for answer in answers:
        parsed = parse_choice(answer.text, batch[0].context.options)
        assert parsed.choice is not None or parsed.refused, answer.text
        drawn.append(12 if parsed.refused else parsed.choice - 1)
    counts = np.bincount(drawn, minlength=13)
    assert counts[9:].sum() > 0 and counts[12] > 0  # two-digit numbers and `none` are drawn
    assert stats.chisquare(*merged(counts, probs * SAMPLES)).pvalue > 0.01
    # the same test rejects a reversed mapping from labels to options
    assert stats.chisquare(*merged(counts, probs[::-1] * SAMPLES)).pvalue < 1e-6
    backend.close()


def test_free_text_probabilities_are_read_at_the_written_choice(tiny_lm):
    backend = HFBackend(str(tiny_lm), options=BackendOptions(
        structured_output="regex", choice_probs="exact", explanation_max_chars=12,
        micro_batch_size=4))
    batch = [make_request(seed=s, options=3, temperature=1.0, max_tokens=40) for s in range(4)]
    for request, answer in zip(batch, backend.generate(batch), strict=True):
        parsed = parse_choice(answer.text, request.context.options)
        assert answer.choice_probs_kind == "conditional" and len(answer.choice_probs) == 4
        assert sum(answer.choice_probs) == pytest.approx(1.0)
        position = 3 if parsed.refused else parsed.choice - 1
        assert answer.choice_probs[position] > 0  # what it wrote had probability
    backend.close()


def test_off_by_default(tiny_lm):
    backend = HFBackend(str(tiny_lm), options=BackendOptions(micro_batch_size=2))
    answer = backend.generate([make_request(seed=1, max_tokens=8)])[0]
    assert answer.choice_probs is None and answer.choice_prob_mass is None
    backend.close()
