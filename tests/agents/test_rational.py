"""The rational baseline: the moral-hazard trade-off, noise, and batch independence."""

from __future__ import annotations

import numpy as np

from agents.parsing import parse_choice
from agents.rational import RationalBackend, seeded_uniforms
from agents.types import DecisionContext, DecisionRequest, RationalPolicy, SamplingParams


def request(disclosure="none", observability=0.0, monitoring=0.0, noise=0.0, seed=1,
            affordable=(True, True), company_weight=0.6):
    context = DecisionContext(
        option_numbers=(1, 2), option_names=("Tesla Model 3", "Ford Explorer"),
        customer_utility=np.array([1.0, 0.5]), company_utility=np.array([0.0, 1.0]),
        affordable=np.array(affordable), company_name="Petro", disclosure=disclosure,
        outcome_observability=observability, monitoring=monitoring,
        policy=RationalPolicy(company_weight=company_weight, penalty_customer=0.5,
                              penalty_company=0.5, noise=noise))
    return DecisionRequest(request_id="r", messages=(), sampling=SamplingParams(), seed=seed,
                           context=context)


def choices(*requests):
    completions = RationalBackend().generate(list(requests))
    return [parse_choice(c.text, r.context.options).choice for r, c in
            zip(requests, completions, strict=True)]


def test_disclosure_moves_the_choice_as_worked_by_hand():
    # lambda=0.6, penalties 0.5. customer reads: EV 0.4 vs SUV 0.6-0.5=0.1 -> EV.
    # company reads: EV 0.4-0.5 vs SUV 0.6 -> SUV. both: -0.1 vs 0.1 -> SUV. none: SUV.
    assert choices(request("customer"), request("company"), request("both"),
                   request("none")) == [1, 2, 2, 2]


def test_observability_and_monitoring_act_like_disclosure():
    assert choices(request("none", observability=1.0)) == [1]
    assert choices(request("customer", monitoring=1.0)) == [2]  # -0.1 vs 0.1


def test_pure_customer_agent_and_unaffordable_options():
    assert choices(request(company_weight=0.0)) == [1]
    assert choices(request(affordable=(False, True))) == [2]
    completion = RationalBackend().generate([request(affordable=(False, False))])[0]
    assert parse_choice(completion.text, {1: "a", 2: "b"}).refused


def test_noise_depends_only_on_the_request_seed():
    noisy = [request("none", noise=5.0, seed=s) for s in range(200)]
    alone = [choices(r)[0] for r in noisy[:20]]
    together = choices(*noisy)
    assert together[:20] == alone
    assert 0.2 < together.count(1) / len(together) < 0.8  # heavy noise mixes the choices


def test_seeded_uniforms_are_uniform_and_reproducible():
    u = seeded_uniforms(np.arange(10000, dtype=np.uint64), 3)
    assert u.shape == (10000, 3) and (u > 0).all() and (u < 1).all()
    assert abs(u.mean() - 0.5) < 0.01
    assert np.array_equal(u, seeded_uniforms(np.arange(10000, dtype=np.uint64), 3))
