"""Revealed loyalty λ̂: the conditional logit against statsmodels, and recovery of a known λ."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.rational import rational_choices
from analysis import load_run
from analysis.loyalty import choice_sets, fit_clogit, revealed_loyalty
from tests.analysis.conftest import run_into
from tests.conftest import mini_scenario


def rational_frame(lam: float, n: int, seed: int, noise: float = 0.25,
                   refuse_every: int = 0) -> pd.DataFrame:
    """Decision rows of the rational baseline's own choice function (penalties 0)."""
    rng = np.random.default_rng(seed)
    cu = rng.normal(size=(n, 4))
    ku = rng.normal(size=(n, 4))
    feasible = rng.random((n, 4)) < 0.85
    feasible[:, 0] = True
    zeros = np.zeros(n)
    pick = rational_choices(cu, ku, feasible, zeros, zeros, np.full(n, lam), zeros, zeros,
                            np.full(n, noise), rng.integers(0, 2**31, size=n).astype(np.uint64))
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    choice = ids[pick].astype(object)
    if refuse_every:
        choice[::refuse_every] = None
    return pd.DataFrame({
        "run_id": "r", "customer_id": [f"c{i % 30}" for i in range(n)], "valid": True,
        "listing": "a|b|c|d", "choice": choice,
        "option_customer_utility": list(cu), "option_company_utility": list(ku),
        "option_affordable": list(feasible),
    })


def test_the_fit_matches_statsmodels_conditional_logit():
    from statsmodels.discrete.conditional_models import ConditionalLogit

    frame = rational_frame(0.4, 400, seed=3, refuse_every=9)
    sets = choice_sets(frame)
    beta, cov, _, ok = fit_clogit(sets.x, sets.decision, sets.chosen)
    model = ConditionalLogit(sets.chosen.astype(float), sets.x, groups=sets.decision)
    reference = model.fit(disp=False)
    assert ok
    # statsmodels' own score vanishes at our estimate and its optimiser lands within 1e-3
    assert np.abs(model.score(beta)).max() < 1e-8
    assert model.loglike(beta) >= model.loglike(reference.params)
    assert beta == pytest.approx(reference.params, abs=1e-3)
    expected_cov = np.linalg.inv(-model.hessian(beta))
    assert cov == pytest.approx(expected_cov, rel=1e-5, abs=1e-9)


def test_choice_sets_rescale_like_the_rational_baseline():
    frame = pd.DataFrame({"valid": [True, True, False], "listing": ["a|b|c"] * 3,
                          "choice": ["c", None, "a"],
                          "option_customer_utility": [[1.0, 3.0, 2.0]] * 3,
                          "option_company_utility": [[-1.0, 1.0, 0.0]] * 3,
                          "option_affordable": [[True, False, True]] * 3})
    sets = choice_sets(frame)
    assert sets.left_out == 1 and sets.rows.tolist() == [0, 1]
    first = sets.x[sets.decision == 0]
    # affordable a (1, -1) and c (2, 0) rescale to (0, 0) and (1, 1); nothing (0, 0) maps
    # to ((0 - 1) / 1, (0 + 1) / 1) with its constant
    assert first.tolist() == [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 1.0, 1.0]]
    assert sets.chosen[sets.decision == 0].tolist() == [False, True, False]
    assert sets.chosen[sets.decision == 1].tolist() == [False, False, True]


def test_lambda_hat_covers_the_true_weight_on_rational_choices():
    lam, covered = 0.5, 0
    hats = []
    for seed in range(12):
        row = revealed_loyalty(rational_frame(lam, 300, seed)).iloc[0]
        hats.append(row["lambda_hat"])
        covered += row["lambda_lo"] <= lam <= row["lambda_hi"]
    assert covered >= 10                       # 95% intervals: 11.4 expected of 12
    assert np.mean(hats) == pytest.approx(lam, abs=0.02)


def test_a_real_rational_run_recovers_its_company_weight(tmp_path):
    data = mini_scenario(run={"ticks": 2, "seed": 5, "listing_order": "shuffled"})
    data["products"].append({"id": "hybrid", "name": "Prius", "price": 30000,
                             "attributes": {"electric": True}, "margins": {"oil": 2500}})
    data["customers"][0].update(count=150, product_values={"ev": 1.0, "suv": 0.3,
                                                           "hybrid": 0.7})
    data["agents"][0]["rational"] = {"company_weight": 0.7, "penalty_customer": 0.0,
                                     "penalty_company": 0.0, "noise": 0.3}
    decisions = load_run(run_into(tmp_path / "run", data=data)).decisions
    first = decisions.iloc[0]
    listing = first["listing"].split("|")
    assert len(first["option_customer_utility"]) == len(listing) == 3
    bought = decisions[decisions["purchased"]].iloc[0]
    at = bought["listing"].split("|").index(bought["choice"])
    assert bought["option_customer_utility"][at] == pytest.approx(bought["customer_utility"])
    assert bought["option_company_utility"][at] == pytest.approx(bought["company_utility"])
    table = revealed_loyalty(decisions, "disclosure", cluster="customer")
    assert (table["cluster"] == "customer").all()
    overall = revealed_loyalty(decisions).iloc[0]
    assert overall["n_decisions"] == 300 and not overall["outside_option"]
    assert overall["lambda_lo"] <= 0.7 <= overall["lambda_hi"]


def test_deterministic_choices_are_flagged_not_reported():
    frame = rational_frame(0.5, 200, seed=1, noise=0.0)
    row = revealed_loyalty(frame).iloc[0]
    assert np.isnan(row["lambda_hat"]) and "not identified" in row["note"]


def test_two_product_listings_do_not_identify_lambda(tin_men_run):
    row = revealed_loyalty(load_run(tin_men_run).decisions).iloc[0]
    assert np.isnan(row["lambda_hat"]) and "only β_customer − β_company" in row["note"]


def test_runs_without_option_columns_give_an_empty_table():
    assert revealed_loyalty(pd.DataFrame({"valid": [True]}), "model").empty
