"""The trust update and the switching rule, on cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.world.trust import (
    experience_signals,
    observe,
    outcome_satisfaction,
    price_levels,
    sample_choices,
    switching_probabilities,
    update_trust,
    worst_feasible,
)


def test_trust_moves_towards_the_signal_by_the_learning_rate():
    trust = np.full((3, 2), 0.5)
    before, after = update_trust(trust, np.array([0, 1, 2]), np.array([1, 0, 1]),
                                 np.array([1.0, 0.0, np.nan]), learning_rate=0.3)
    assert before.tolist() == [0.5, 0.5, 0.5]
    assert after == pytest.approx([0.65, 0.35, 0.5])  # 0.5 + 0.3 (1 - 0.5), 0.5 - 0.15, none
    assert trust == pytest.approx(np.array([[0.5, 0.65], [0.35, 0.5], [0.5, 0.5]]))
    update_trust(trust, np.array([0]), np.array([1]), np.array([1.0]), learning_rate=0.3)
    assert trust[0, 1] == pytest.approx(0.65 + 0.3 * 0.35)  # 0.755


def test_satisfaction_is_the_share_of_the_attainable_range():
    utility = np.array([[4.0, 2.0, -2.0], [4.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    feasible = np.array([[True, True, True], [True, True, True], [True, True, True]])
    worst = worst_feasible(utility, feasible)
    assert worst.tolist() == [-2.0, 0.0, 0.0]  # the outside option (0) counts
    satisfaction = outcome_satisfaction(np.array([2.0, 2.0, 0.0]), np.array([4.0, 4.0, 1.0]),
                                        worst)
    assert satisfaction == pytest.approx([4 / 6, 0.5, 0.0])
    # nothing better than the worst: fully satisfied; realised above best is clipped to 1
    assert outcome_satisfaction(np.array([0.0, 5.0]), np.array([0.0, 4.0]),
                                np.array([0.0, 0.0])).tolist() == [1.0, 1.0]


def test_infeasible_products_do_not_count_as_worst():
    utility = np.array([[4.0, -9.0]])
    assert worst_feasible(utility, np.array([[True, False]])).tolist() == [0.0]


def test_signal_is_the_mean_of_what_was_observed():
    observed = np.array([True, True, False, False])
    satisfaction = np.array([0.5, 0.5, 0.9, 0.9])
    seen = np.array([True, False, True, False])
    override = np.array([1.0, 1.0, 0.0, np.nan])
    signal = experience_signals(observed, satisfaction, seen, override)
    assert signal[:3] == pytest.approx([0.25, 0.5, 1.0]) and np.isnan(signal[3])


def test_observation_draws_follow_the_knobs_and_disclosure():
    uniforms = np.array([[0.1, 0.1], [0.6, 0.1], [0.1, 0.9], [0.6, 0.1]])
    seen = observe(uniforms, np.array(["customer", "both", "customer", "company"], dtype=object),
                   readable=np.array([True, True, True, True]), outcome_observability=0.5,
                   explanation_reveals=0.8, satisfaction=np.full(4, 0.4),
                   override=np.array([0.0, 1.0, 0.0, 0.0]))
    assert seen.outcome_observed.tolist() == [True, False, True, False]
    assert seen.explanation_seen.tolist() == [True, True, False, False]  # company-only: no
    assert seen.signal[:3] == pytest.approx([(0.4 + 1.0) / 2, 0.0, 0.4])
    assert np.isnan(seen.signal[3])


def test_unreadable_answers_reveal_no_explanation():
    seen = observe(np.zeros((1, 2)), np.array(["both"], dtype=object), np.array([False]),
                   0.0, 1.0, np.array([0.3]), np.array([np.nan]))
    assert not seen.explanation_seen[0] and np.isnan(seen.signal[0])


def test_switching_logit_by_hand():
    trust = np.array([[0.9, 0.5]])
    eligible = np.array([True, True])
    last = np.array([-1])
    p = switching_probabilities(trust, eligible, np.zeros(2), last, temperature=0.2)
    assert p[0, 0] == pytest.approx(1 / (1 + math.exp(-2.0)))  # (0.9 - 0.5) / 0.2 = 2
    p = switching_probabilities(trust, eligible, np.array([1.2, 0.8]), last, temperature=0.2,
                                price_sensitivity=0.5)
    assert p[0, 0] == pytest.approx(1 / (1 + math.exp(-1.0)))  # (0.3 - 0.1) / 0.2 = 1
    p = switching_probabilities(trust, eligible, np.zeros(2), np.array([1]), temperature=0.2,
                                loyalty=0.1)
    assert p[0, 0] == pytest.approx(1 / (1 + math.exp(-1.5)))  # (0.9 - 0.6) / 0.2
    assert p.sum() == pytest.approx(1.0)


def test_companies_without_agents_are_never_chosen():
    p = switching_probabilities(np.array([[0.2, 0.99, 0.4]]), np.array([True, False, True]),
                                np.zeros(3), np.array([-1]), temperature=0.1)
    assert p[0, 1] == 0.0 and p[0, 0] == pytest.approx(1 / (1 + math.exp(2.0)))


def test_equal_trust_gives_uniform_choice():
    p = switching_probabilities(np.full((2, 3), 0.5), np.ones(3, dtype=bool), np.zeros(3),
                                np.array([-1, -1]), temperature=0.05)
    assert p == pytest.approx(np.full((2, 3), 1 / 3))


def test_price_level_is_mean_listed_price_over_catalogue_mean():
    listed = np.array([[True, True, False], [False, True, True]])
    assert price_levels(listed, np.array([10.0, 20.0, 30.0])) == pytest.approx([0.75, 1.25])


def test_inverse_cdf_sampling_skips_zero_probability_columns():
    probabilities = np.array([[0.2, 0.0, 0.8]] * 4)
    choices = sample_choices(probabilities, np.array([0.0, 0.19, 0.2, 0.999999]))
    assert choices.tolist() == [0, 0, 2, 2]
