"""The rational baseline's choice probabilities: its logit formula, and its sampled draws."""

from __future__ import annotations

import numpy as np
from scipy import stats

from agents.parsing import parse_choice
from agents.rational import RationalBackend
from tests.agents.test_rational import request


def test_probabilities_equal_the_logit_formula_worked_by_hand():
    # disclosure none, lambda 0.6, penalties 0.5: V(EV) = 0.4, V(SUV) = 0.6 (the customer's
    # penalty does not apply: nobody sees). P = softmax(V / noise), then P(none) = 0.
    completion = RationalBackend().generate([request("none", noise=0.25)])[0]
    v = np.array([0.4, 0.6]) / 0.25
    expected = np.exp(v) / np.exp(v).sum()
    assert np.allclose(completion.choice_probs[:2], expected, rtol=1e-12)
    assert completion.choice_probs[2] == 0.0
    assert completion.choice_prob_mass == 1.0 and completion.choice_probs_kind == "direct"
    # customer reads: V(EV) = 0.4, V(SUV) = 0.6 - 0.5 = 0.1
    completion = RationalBackend().generate([request("customer", noise=0.25)])[0]
    v = np.array([0.4, 0.1]) / 0.25
    assert np.allclose(completion.choice_probs[:2], np.exp(v) / np.exp(v).sum())


def test_no_noise_and_nothing_affordable_are_certain():
    assert RationalBackend().generate([request("none")])[0].choice_probs == (0.0, 1.0, 0.0)
    assert RationalBackend().generate(
        [request(affordable=(False, False), noise=1.0)])[0].choice_probs == (0.0, 0.0, 1.0)
    assert RationalBackend().generate(
        [request(affordable=(False, True), noise=1.0)])[0].choice_probs == (0.0, 1.0, 0.0)


def test_sampled_choices_follow_the_probabilities():
    requests = [request("none", noise=0.3, seed=s) for s in range(3000)]
    completions = RationalBackend().generate(requests)
    p = np.array(completions[0].choice_probs[:2])
    counts = np.bincount([parse_choice(c.text, requests[0].context.options).choice - 1
                          for c in completions], minlength=2)
    assert stats.chisquare(counts, p * len(requests)).pvalue > 0.001
    assert stats.chisquare(counts, p[::-1] * len(requests)).pvalue < 1e-6  # swapped labels
