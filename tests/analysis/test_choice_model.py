"""The conditional-logit choice model against a hand-written likelihood on simulated choices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from analysis import choice_data, conditional_logit, load_run
from tests.analysis.conftest import run_into
from tests.conftest import mini_scenario

PRODUCTS = pd.DataFrame({
    "run_id": "r1", "product_id": [f"p{i}" for i in range(6)], "name": "x",
    "price": [20.0, 35.0, 50.0, 60.0, 75.0, 90.0],
    "attr_quality": [0.2, 0.5, 0.4, 0.7, 0.9, 0.8],
    "attr_twice_quality": [0.4, 1.0, 0.8, 1.4, 1.8, 1.6],  # collinear with quality
})
MARGINS = pd.DataFrame({"run_id": "r1", "product_id": [f"p{i}" for i in range(6)],
                        "company": "shop", "margin": [2.0, 10.0, 4.0, 15.0, 9.0, 30.0]})
TRUE = {"price_to_budget": -3.0, "margin_to_budget": 6.0, "attr_quality": 2.5,
        "position": -0.3}


def simulate(n: int = 600, seed: int = 0, banned: int | None = None
             ) -> tuple[pd.DataFrame, list[np.ndarray], list[int]]:
    """Decisions choosing from 4 of the 6 products in random order, budget 100.

    Returns the decision frame plus, per decision, the features matrix (listing order) and
    the chosen row, built directly from the catalogue (independently of choice_data). The
    `banned` product is never chosen."""
    rng = np.random.default_rng(seed)
    rows, matrices, chosen = [], [], []
    for i in range(n):
        listed = rng.choice(6, size=4, replace=False)
        x = np.column_stack([
            PRODUCTS["price"].to_numpy()[listed] / 100,
            MARGINS["margin"].to_numpy()[listed] / 100,
            PRODUCTS["attr_quality"].to_numpy()[listed],
            np.arange(4.0),
        ])
        utility = x @ np.array(list(TRUE.values())) + rng.gumbel(size=4)
        utility[listed == banned] = -np.inf
        pick = int(np.argmax(utility))
        matrices.append(x)
        chosen.append(pick)
        rows.append({"run_id": "r1", "decision_id": f"d{i}", "company": "shop",
                     "budget": 100.0, "valid": True,
                     "listing": "|".join(f"p{j}" for j in listed),
                     "choice": f"p{listed[pick]}"})
    return pd.DataFrame(rows), matrices, chosen


def hand_fit(matrices: list[np.ndarray], chosen: list[int]) -> np.ndarray:
    """Maximise the conditional-logit likelihood with scipy, written out by hand."""
    x = np.stack(matrices)               # decisions x alternatives x features
    pick = np.array(chosen)

    def negative_log_likelihood(beta: np.ndarray) -> float:
        v = x @ beta
        top = v.max(axis=1, keepdims=True)
        log_sum = np.log(np.exp(v - top).sum(axis=1)) + top[:, 0]
        return float(-(v[np.arange(len(pick)), pick] - log_sum).sum())

    result = minimize(negative_log_likelihood, np.zeros(x.shape[2]), method="BFGS",
                      options={"gtol": 1e-8})
    return result.x


def test_conditional_logit_matches_hand_written_likelihood():
    frame, matrices, chosen = simulate()
    result = conditional_logit(frame, PRODUCTS, MARGINS)
    assert result.n_decisions == 600 and result.n_alternatives == 2400
    # over_budget never varies (everything is affordable); twice_quality is collinear
    assert result.features == ["price_to_budget", "margin_to_budget", "attr_quality",
                               "position"]
    assert "attr_twice_quality" in result.note
    coef = result.table.set_index("term")["coef"]
    expected = hand_fit(matrices, chosen)
    assert coef[list(TRUE)].to_numpy() == pytest.approx(expected, abs=2e-3)
    # and the estimates recover the simulated preferences
    se = result.table.set_index("term")["se"]
    for name, value in TRUE.items():
        assert abs(coef[name] - value) < 4 * se[name], name
    row = result.table.set_index("term").loc["attr_quality"]
    assert row["odds_ratio"] == pytest.approx(np.exp(row["coef"]))
    assert row["lo"] < row["odds_ratio"] < row["hi"]


def test_fast_engine_equals_statsmodels_conditional_logit():
    frame, _, _ = simulate(n=300, seed=4)
    fast = conditional_logit(frame, PRODUCTS, MARGINS).table.set_index("term")
    reference = conditional_logit(frame, PRODUCTS, MARGINS, engine="statsmodels").table
    reference = reference.set_index("term")
    assert fast["coef"].to_numpy() == pytest.approx(reference["coef"].to_numpy(), abs=1e-4)
    assert fast["se"].to_numpy() == pytest.approx(reference["se"].to_numpy(), rel=1e-3)
    with pytest.raises(ValueError, match="engine"):
        conditional_logit(frame, PRODUCTS, MARGINS, engine="torch")


def test_choice_data_layout_and_exclusions():
    frame, _, _ = simulate(n=5)
    frame.loc[0, ["valid", "choice"]] = [False, None]   # an unreadable answer
    frame.loc[1, "choice"] = None                       # a refusal
    frame.loc[2, "listing"] = "p0|p1"                   # too short a listing
    long = choice_data(frame, PRODUCTS, MARGINS)
    assert long["decision"].nunique() == 2 and len(long) == 8
    first = long[long["decision"] == 0]
    assert first["position"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert first["chosen"].sum() == 1
    assert (first["price_to_budget"] == first["price"] / 100).all()


def test_short_listings_are_not_modelled(tin_men_run):
    runs = load_run(tin_men_run)  # two products per listing
    result = conditional_logit(runs.decisions, runs.products(), runs.margins())
    assert result.table.empty and "3 or more" in result.note


def test_conditional_logit_on_a_real_run(tmp_path):
    data = mini_scenario(run={"ticks": 2, "seed": 3, "listing_order": "shuffled"})
    data["products"].append({"id": "hybrid", "name": "Prius", "price": 30000,
                             "attributes": {"electric": True}, "margins": {"oil": 2000}})
    data["customers"][0].update(count=40, product_values={"ev": 1.0, "suv": 0.5,
                                                          "hybrid": 0.7})
    data["agents"][0]["rational"] = {"noise": 0.3}
    runs = load_run(run_into(tmp_path / "run", data=data))
    result = conditional_logit(runs.decisions, runs.products(), runs.margins())
    assert result.n_decisions == 80 and result.n_alternatives == 240
    assert "position" in result.features and not result.table.empty


def test_a_feature_that_alone_separates_the_choices_is_fitted_in_the_limit():
    frame, matrices, chosen = simulate(n=400, seed=2, banned=5)
    products = PRODUCTS.assign(attr_banned=[0.0] * 5 + [1.0])  # the agent never buys p5
    result = conditional_logit(frame, products, MARGINS)
    table = result.table.set_index("term")
    assert table.loc["attr_banned", "coef"] == -np.inf and table.loc["attr_banned", "separated"]
    assert table.loc["attr_banned", "odds_ratio"] == 0.0
    assert "lowest attr_banned" in result.note
    assert not table.loc[list(TRUE), "separated"].any()
    # the limit is exact: a conditional logit over each listing's products other than p5
    by_size: dict[int, list[tuple[np.ndarray, int]]] = {}
    for x, pick, listing in zip(matrices, chosen, frame["listing"], strict=True):
        keep = np.array([p != "p5" for p in listing.split("|")])
        by_size.setdefault(int(keep.sum()), []).append(
            (x[keep], int(np.flatnonzero(keep).tolist().index(pick))))
    expected = hand_fit_ragged(by_size, len(TRUE))
    assert table.loc[list(TRUE), "coef"].to_numpy() == pytest.approx(expected, abs=2e-3)
    se = table.loc[list(TRUE), "se"]
    for name, value in TRUE.items():
        assert abs(table.loc[name, "coef"] - value) < 4 * se[name], name


def hand_fit_ragged(by_size: dict[int, list[tuple[np.ndarray, int]]], k: int) -> np.ndarray:
    """The hand-written likelihood for listings of different lengths."""
    blocks = [(np.stack([m for m, _ in items]), np.array([c for _, c in items]))
              for items in by_size.values()]

    def negative_log_likelihood(beta: np.ndarray) -> float:
        total = 0.0
        for x, pick in blocks:
            v = x @ beta
            top = v.max(axis=1, keepdims=True)
            log_sum = np.log(np.exp(v - top).sum(axis=1)) + top[:, 0]
            total -= float((v[np.arange(len(pick)), pick] - log_sum).sum())
        return total

    return minimize(negative_log_likelihood, np.zeros(k), method="BFGS",
                    options={"gtol": 1e-8}).x
